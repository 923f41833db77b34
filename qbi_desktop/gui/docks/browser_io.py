"""The Browser's import, export and file check: run on workers, their reports shown in boxes
that take the focus (so Enter answers them instead of opening the item behind)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from qbi_desktop.core.catalog import ImportRejected, Project
from qbi_desktop.core.catalog.queries import NONE
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.named import message
from qbi_desktop.core.jobs import Job
from qbi_desktop.gui.docks.browser_dialogs import (
    EXPORT_KINDS,
    EXPORT_NAMES,
    EXPORT_WORDS,
    IMPORT_KINDS,
    IMPORT_NAMES,
    IMPORT_WORDS,
    ExportDialog,
    ImportDialog,
    ProblemsDialog,
    present,
)
from qbi_desktop.gui.settings import read_setting

log = logging.getLogger("qbi_desktop")
#: the export dialog's last "Annotations" choice (item | every)
EXPORT_ANNOTATIONS_KEY = "export/annotations"
#: the kind chosen last and the folder data came from (went to) last, per dialog
IMPORT_KIND_KEY, IMPORT_DIR_KEY = "import/kind", "import/last_dir"
EXPORT_KIND_KEY, EXPORT_DIR_KEY = "export/kind", "export/last_dir"


def remembered_kind(settings, key: str, kinds) -> str:
    """The kind chosen last, if it is still one of ``kinds`` (else the first)."""
    default = next(iter(kinds))
    kind = read_setting(settings, key, default)
    return kind if kind in kinds else default


def _in_dialog_words(exc: UserFacingError, words: dict[str, str]) -> None:
    """Let ``exc`` say the kinds and options it names as the dialogs do (core names them as
    the command line does: formats.named.Named); its type and cause stay."""
    text = message(exc, words)
    if text != str(exc):
        exc.args = (text,)


def _existing_dir(text: object) -> str | None:
    try:
        path = Path(str(text)).expanduser()
        return str(path) if text and path.is_absolute() and path.is_dir() else None
    except (OSError, ValueError):  # a NUL, a name too long: not a folder of this machine
        return None


def _folder_of(paths) -> str | None:
    """The folder a list of picked sources came from: a folder itself, or a file's folder."""
    for text in paths:
        path = Path(text)
        folder = _existing_dir(path) or _existing_dir(path.parent)
        if folder:
            return folder
    return None


class BrowserTransfer:
    """Mixed into BrowserPanel: Dataset > Import…, Export… and Verify Files."""

    def import_dialog(self) -> None:
        if self.project is None:
            return
        settings = self.window.settings
        dialog = ImportDialog(self, self._data_dir(IMPORT_DIR_KEY))
        dialog.kind.setCurrentIndex(
            dialog.kind.findData(remembered_kind(settings, IMPORT_KIND_KEY, IMPORT_KINDS))
        )
        if dialog.exec():
            kind, sources, options = dialog.values()
            settings.setValue(IMPORT_KIND_KEY, kind)
            folder = _folder_of(sources)
            if folder:
                settings.setValue(IMPORT_DIR_KEY, folder)
            if not sources:
                self.window.report_error("Import: choose at least one file or folder")
                return
            self.run_import(kind, sources, **options)

    def _data_dir(self, key: str) -> str:
        """Where the dialog's file pickers start: the folder remembered under ``key``, else
        the projects' folder, else the home folder (never the working directory)."""
        remembered = read_setting(self.window.settings, key, "")
        return _existing_dir(remembered) or _existing_dir(self._start_dir()) or str(Path.home())

    def run_import(self, kind: str, sources: list[str | Path], **options: Any):
        from qbi_desktop.core.formats import import_job

        def make(project: Project) -> Job[Any]:
            try:
                return (yield from import_job(project, kind, sources, **options))
            except ImportRejected as exc:  # the whole list of problems, not just its text
                return exc
            except UserFacingError as exc:
                _in_dialog_words(exc, IMPORT_WORDS)
                raise

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
            text = result.text(IMPORT_WORDS)  # the kinds as the dialog names them
            log.info("%s", text)
            self.window.statusBar().showMessage(text.splitlines()[0], 8000)
            self.last_import_report = text
            self._data_changed()

        return self._run(f"Import {IMPORT_NAMES.get(kind, kind)}", make, done)

    def export_dialog(self) -> None:
        if self.project is None:
            return
        rejected = self.project.count({"review": "rejected"})
        unlabelled = self.project.count({"label": NONE})
        settings = self.window.settings
        dialog = ExportDialog(
            self,
            self._data_dir(EXPORT_DIR_KEY),
            self.model.rowCount(),
            rejected,
            len(self.project),
            annotations=str(settings.value(EXPORT_ANNOTATIONS_KEY, "item") or "item"),
            unlabelled=unlabelled,
        )
        dialog.kind.setCurrentIndex(
            dialog.kind.findData(remembered_kind(settings, EXPORT_KIND_KEY, EXPORT_KINDS))
        )
        if dialog.exec():
            kind, out, datapackage, only_shown, leave_out_rejected = dialog.values()
            annotations = dialog.annotations.currentData()
            settings.setValue(EXPORT_ANNOTATIONS_KEY, annotations)
            settings.setValue(EXPORT_KIND_KEY, kind)
            # the folder the export went into: the next one is likely its sibling
            folder = _existing_dir(Path(out).expanduser().parent) if out else None
            if folder:
                settings.setValue(EXPORT_DIR_KEY, folder)
            if not out:
                self.window.report_error("Export: choose a folder")
                return
            self.run_export(
                kind,
                out,
                datapackage,
                only_shown,
                leave_out_rejected,
                annotations=annotations,
                leave_out_unlabelled=dialog.leave_out_unlabelled.isChecked(),
            )

    def run_export(
        self,
        kind: str,
        out: str | Path,
        datapackage: bool = True,
        only_shown: bool = False,
        leave_out_rejected: bool = False,
        annotations: str = "item",
        leave_out_unlabelled: bool = False,
    ):
        from qbi_desktop.core.formats import export_job

        filters = self.current_filters() if only_shown else None

        name = EXPORT_NAMES.get(kind, kind)

        def make(project: Project) -> Job[Any]:
            try:
                return (
                    yield from export_job(
                        project,
                        kind,
                        out,
                        filters=filters,
                        datapackage=datapackage,
                        leave_out_rejected=leave_out_rejected,
                        leave_out_unlabelled=leave_out_unlabelled,
                        annotations=annotations,
                    )
                )
            except UserFacingError as exc:
                _in_dialog_words(exc, EXPORT_WORDS)
                raise

        def done(report) -> None:
            text = report.text(EXPORT_WORDS)  # the kinds as the dialog names them
            log.info("%s", text)
            self.window.statusBar().showMessage(text.splitlines()[0], 8000)
            if report.warnings:  # what the format could not hold: say it, not only in the log
                box = QMessageBox(
                    QMessageBox.Icon.Information,
                    f"Export: {name}",
                    text,
                    QMessageBox.StandardButton.Ok,
                    self.window,
                )
                box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                box.setModal(False)
                present(box)
                self.last_export_note = box

        return self._run(f"Export {name}", make, done)

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
