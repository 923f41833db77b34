"""The Browser's import, export and file check: run on workers, their reports shown in boxes
that take the focus (so Enter answers them instead of opening the item behind)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from qbi_desktop.core.catalog import ImportRejected, Project
from qbi_desktop.core.catalog.queries import NONE
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.named import message, named
from qbi_desktop.core.formats.returning import Returned, take_back
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
from qbi_desktop.gui.undo import undo_router

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
                # each reason names the kinds and options as the dialog shows them
                problems = [
                    replace(p, reason=named(p.reason, IMPORT_WORDS)) for p in result.problems
                ]
                self.last_problems = ProblemsDialog(
                    "Import refused",
                    f"Nothing was imported from {result.source}: "
                    f"{len(problems)} problem(s). Fix them and import again.",
                    problems,
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
            returned = getattr(result, "returned", None)
            if returned:  # copies put onto their originals: Ctrl+Z in the Browser takes it back
                self._record_returned(returned)

        return self._run(f"Import {IMPORT_NAMES.get(kind, kind)}", make, done)

    def _record_returned(self, returned: Returned) -> None:
        """Put what "Update the items these files are copies of" changed on the Browser's undo
        stack: undo gives the items their earlier class, boxes, masks and targets back (items
        edited again since are left alone), redo gives them the files' again."""
        project = self.project
        what = "update of the items the imported files are copies of"
        state = {"returned": returned}

        def flip(which: str) -> str:
            if self.project is not project:
                raise UserFacingError("the project this import was made in is closed")
            now = state["returned"]
            restored = take_back(project, now)
            state["returned"] = Returned(
                changes=[c.inverse() for c in reversed(now.changes)],
                masks=[(item, after, before) for item, before, after in now.masks],
                what=now.what,
            )
            self._data_changed()
            done = "Undid" if which == "undo" else "Redid"
            return f"{done} the {what}: {restored:,} item(s) (Browser)"

        self.undo_stack.push(what, lambda: flip("undo"), lambda: flip("redo"))
        undo_router(self.window).activate(self.undo_context)

    def export_dialog(self) -> None:
        if self.project is None:
            return
        rejected = self.project.count({"review": "rejected"})
        unlabelled = self.project.count({"label": NONE})
        no_mask = self.project.count({"has_mask": False})
        bare = self.project.count({"has_mask": False, "has_boxes": False})
        settings = self.window.settings
        dialog = ExportDialog(
            self,
            self._data_dir(EXPORT_DIR_KEY),
            self.model.rowCount(),
            rejected,
            len(self.project),
            annotations=str(settings.value(EXPORT_ANNOTATIONS_KEY, "item") or "item"),
            unlabelled=unlabelled,
            unannotated={"coco": bare, "labelme": bare, "masks": no_mask},
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
                leave_out_unannotated=(
                    dialog.leave_out_unannotated.isEnabled()
                    and dialog.leave_out_unannotated.isChecked()
                ),
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
        leave_out_unannotated: bool = False,
    ):
        from qbi_desktop.core.formats import export_job
        from qbi_desktop.core.formats.selection import export_filters

        filters = self.current_filters() if only_shown else None
        if leave_out_unannotated:  # items with no boxes and no mask (COCO, labelme, masks)
            filters = export_filters(filters, leave_out_unannotated=True)

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
