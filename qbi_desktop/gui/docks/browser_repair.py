"""Repairing a damaged catalog from the Browser: offered when a project is refused as damaged,
and in the Dataset menu (mixed into the Browser panel; the work is core/catalog/repair.py).

Dataset > Repair Project… with a project open offers to check that project (saying what the
check and the repair do; the project closes for it and opens again after, its progress in the
status bar); a folder is asked for only when no project is open or the user chooses another."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from qbi_desktop.core.catalog.repair import repair_job
from qbi_desktop.gui.question import ask

log = logging.getLogger("qbi_desktop")


class BrowserRepair:
    """Mixed into BrowserPanel: Dataset > Repair Project… and the offer after a refused open."""

    repair_question: QMessageBox | None = None  # the offer, while it waits for an answer
    repair_task = None

    def repair_project_dialog(self) -> None:
        """Dataset > Repair Project…: the open project is offered first; a folder is asked for
        only when none is open (or the user chooses another)."""
        if self.project is None:
            self._repair_folder_dialog()
        else:
            self.offer_check(self.project.root)

    def _repair_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Repair project folder", self._start_dir())
        if path:
            self.repair_project(path)

    def offer_check(self, root: Path) -> QMessageBox:
        """Ask whether to check the open project ``root`` and repair it if it is damaged, saying
        what will happen; Cancel (the default) does nothing, "Another Folder…" asks for one."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Repair Project",
            f"Check the catalog of the open project {root.name} and repair it if it is damaged?",
            QMessageBox.StandardButton.Cancel,
            self.window,
        )
        box.setInformativeText(
            f"{root.name} closes while SQLite checks its catalog ({root / 'catalog.sqlite'}); "
            "the progress shows in the status bar. A whole catalog is left as it is. A damaged "
            "one is copied row by row into a new catalog with its indexes rebuilt, and the "
            "damaged file is kept beside it. The project opens again when the check is done."
        )
        check = box.addButton("Check and Repair", QMessageBox.ButtonRole.AcceptRole)
        other = box.addButton("Another Folder…", QMessageBox.ButtonRole.ActionRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(_result: int) -> None:
            self.repair_question = None
            clicked = box.clickedButton()
            if clicked is check:
                self.check_open_project()
            elif clicked is other:
                self._repair_folder_dialog()

        box.finished.connect(answered)
        self.repair_question = box
        box.open()  # window-modal, not blocking
        return box

    def check_open_project(self):
        """Close the open project (an unsaved mask of its items is asked about first; Cancel
        keeps it open), check and repair its catalog on a worker, and open it again."""
        if self.project is None:
            return None
        root = self.project.root
        if not self.close_project_asked():
            return None
        self.window.statusBar().showMessage(f"{root.name}: checking the catalog…", 15000)
        return self.repair_project(root, reopen_on_error=True)

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

    def repair_project(self, path: str | Path, reopen_on_error: bool = False):
        """Repair on a worker (a large catalog takes a while), then open the project;
        ``reopen_on_error``: it was open before the check, and opens again if the repair is
        refused (another program using the catalog, a read-only disk)."""
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
            gone = len(result.leftover_reviews)  # spot reviews of items no longer there
            if gone:
                message += f"; {gone} spot review(s) of deleted items removed"
            if self.open_project(root):
                self.window.statusBar().showMessage(message, 15000)

        def failed(message: str) -> None:
            self.repair_task = None
            self.window.report_error(message)
            if reopen_on_error and self.project is None:
                self.open_project(root)

        self.repair_task = self.window.tasks.submit(
            f"Repair {root.name}", lambda: repair_job(root), on_result=done, on_error=failed
        )
        return self.repair_task
