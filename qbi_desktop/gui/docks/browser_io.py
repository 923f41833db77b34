"""The Browser's import, export and file check: run on workers, their reports shown in boxes
that take the focus (so Enter answers them instead of opening the item behind)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from qbi_desktop.core.catalog import ImportRejected, Project
from qbi_desktop.core.jobs import Job
from qbi_desktop.gui.docks.browser_dialogs import (
    ExportDialog,
    ImportDialog,
    ProblemsDialog,
    present,
)

log = logging.getLogger("qbi_desktop")
#: the export dialog's last "Annotations" choice (item | every)
EXPORT_ANNOTATIONS_KEY = "export/annotations"


class BrowserTransfer:
    """Mixed into BrowserPanel: Dataset > Import…, Export… and Verify Files."""

    def import_dialog(self) -> None:
        if self.project is None:
            return
        dialog = ImportDialog(self, self._start_dir())
        if dialog.exec():
            kind, sources, options = dialog.values()
            if not sources:
                self.window.report_error("Import: choose at least one file or folder")
                return
            self.run_import(kind, sources, **options)

    def run_import(self, kind: str, sources: list[str | Path], **options: Any):
        from qbi_desktop.core.formats import import_job

        def make(project: Project) -> Job[Any]:
            try:
                return (yield from import_job(project, kind, sources, **options))
            except ImportRejected as exc:  # the whole list of problems, not just its text
                return exc

        def done(result: Any) -> None:
            if isinstance(result, ImportRejected):
                self.last_problems = ProblemsDialog(
                    "Import refused",
                    f"Nothing was imported from {result.source}: "
                    f"{len(result.problems)} problem(s). Fix them and import again.",
                    result.problems,
                    self.window,
                )
                present(self.last_problems)
                self.window.statusBar().showMessage("Import refused: see the problem list", 8000)
                return
            log.info("%s", result)
            self.window.statusBar().showMessage(str(result).splitlines()[0], 8000)
            self._data_changed()

        return self._run(f"Import {kind}", make, done)

    def export_dialog(self) -> None:
        if self.project is None:
            return
        rejected = self.project.count({"review": "rejected"})
        settings = self.window.settings
        dialog = ExportDialog(
            self,
            self._start_dir(),
            self.model.rowCount(),
            rejected,
            len(self.project),
            annotations=str(settings.value(EXPORT_ANNOTATIONS_KEY, "item") or "item"),
        )
        if dialog.exec():
            kind, out, datapackage, only_shown, leave_out_rejected = dialog.values()
            annotations = dialog.annotations.currentData()
            settings.setValue(EXPORT_ANNOTATIONS_KEY, annotations)
            if not out:
                self.window.report_error("Export: choose a folder")
                return
            self.run_export(
                kind, out, datapackage, only_shown, leave_out_rejected, annotations=annotations
            )

    def run_export(
        self,
        kind: str,
        out: str | Path,
        datapackage: bool = True,
        only_shown: bool = False,
        leave_out_rejected: bool = False,
        annotations: str = "item",
    ):
        from qbi_desktop.core.formats import export_job

        filters = self.current_filters() if only_shown else None

        def done(report) -> None:
            log.info("%s", report)
            self.window.statusBar().showMessage(str(report).splitlines()[0], 8000)
            if report.warnings:  # what the format could not hold: say it, not only in the log
                box = QMessageBox(
                    QMessageBox.Icon.Information,
                    f"Export {kind}",
                    str(report),
                    QMessageBox.StandardButton.Ok,
                    self.window,
                )
                box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                box.setModal(False)
                present(box)
                self.last_export_note = box

        return self._run(
            f"Export {kind}",
            lambda p: export_job(
                p,
                kind,
                out,
                filters=filters,
                datapackage=datapackage,
                leave_out_rejected=leave_out_rejected,
                annotations=annotations,
            ),
            done,
        )

    def verify_files(self):
        if self.project is None:
            return None

        def done(problems) -> None:
            if not problems:
                self.window.statusBar().showMessage("All image and mask files are in place", 5000)
                return
            self.last_problems = ProblemsDialog(
                "Project files", f"{len(problems)} file problem(s) found", problems, self.window
            )
            present(self.last_problems)

        return self._run("Verify project files", lambda p: p.verify_job(True), done)
