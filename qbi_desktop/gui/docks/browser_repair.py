"""Repairing a damaged catalog from the Browser: offered when a project is refused as damaged,
and in the Dataset menu (mixed into the Browser panel; the work is core/catalog/repair.py)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from qbi_desktop.core.catalog.repair import repair_job
from qbi_desktop.gui.question import ask

log = logging.getLogger("qbi_desktop")


class BrowserRepair:
    """Mixed into BrowserPanel: Dataset > Repair Project… and the offer after a refused open."""

    repair_question: QMessageBox | None = None  # the offer, while it waits for an answer
    repair_task = None

    def repair_project_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Repair project folder", self._start_dir())
        if path:
            self.repair_project(path)

    def offer_repair(self, path: str | Path, message: str) -> QMessageBox:
        """Say why the catalog was refused, with a Repair button (window-modal, answered later;
        Close, the default, leaves the file as it is)."""
        self.window.last_error = message
        log.error(message)
        self.window.statusBar().showMessage(message, 15000)
        return ask(
            self.window,
            "Damaged project catalog",
            message,
            "Repair",
            lambda: self.repair_project(path),
            keep=lambda box: setattr(self, "repair_question", box),
            icon=QMessageBox.Icon.Warning,
            refusal=QMessageBox.StandardButton.Close,
        )

    def repair_project(self, path: str | Path):
        """Repair on a worker (a large catalog takes a while), then open the project."""
        root = Path(path)

        def done(result) -> None:
            self.repair_task = None
            if not result.repaired:  # Dataset > Repair Project… on a whole catalog
                message = f"{root.name}: the catalog is whole; nothing needed repair"
            else:
                items = result.rows.get("items", 0)
                message = (
                    f"{root.name}: catalog repaired, {items:,} items; the damaged file is kept "
                    f"as {result.damaged.name}"
                )
            if self.open_project(root):
                self.window.statusBar().showMessage(message, 15000)

        def failed(message: str) -> None:
            self.repair_task = None
            self.window.report_error(message)

        self.repair_task = self.window.tasks.submit(
            f"Repair {root.name}", lambda: repair_job(root), on_result=done, on_error=failed
        )
        return self.repair_task
