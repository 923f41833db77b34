"""The "Write augmented dataset…" dialog and the job it starts.

Inputs: the open project (or any project folder), a folder of images (with an optional folder of
masks matched by file name), or an .npz/.npy array file. Destination: an output folder, or — for
a project — the project itself (copies become items of provenance ``augmented``). The job runs
through ``window.tasks`` (progress in the Tasks dock, cancel), and re-running the same request
resumes: outputs already recorded in the folder's manifest are skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.augment import Pipeline
from qbi_desktop.core.augment.options import changing_options
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job
from qbi_desktop.core.limits import MAX_COPIES
from qbi_desktop.gui.docks.augment_editors import in_dock_words, pretty
from qbi_desktop.gui.docks.augment_files import SETTINGS_GROUP
from qbi_desktop.gui.question import ask

INPUT_KINDS = ("project", "folder", "array")
INPUT_TITLES = {
    "project": "Project",
    "folder": "Folder of images",
    "array": "Array file (.npz / .npy)",
}


@dataclass
class BatchRequest:
    """What the user asked for in the dialog."""

    kind: str  # project | folder | array
    input: str
    output: str = ""
    masks: str = ""
    into_project: bool = False
    items: str = "train"  # project input: train (val/test not augmented) or all
    copies: int = 4
    workers: int = 1
    scheduler: str = ""

    def check(self) -> None:
        """Refuse incomplete requests with a message naming the field."""
        if self.kind not in INPUT_KINDS:
            raise UserFacingError(f"input kind {self.kind!r}: use one of {', '.join(INPUT_KINDS)}")
        if not self.input.strip():
            raise UserFacingError("input: choose what to augment")
        if not (self.into_project and self.kind == "project") and not self.output.strip():
            raise UserFacingError("output folder: choose where to write the copies")
        if self.scheduler.strip() and "://" not in self.scheduler:
            raise UserFacingError(
                f"scheduler: {self.scheduler!r} is not an address like tcp://host:8786"
            )

    @property
    def title(self) -> str:
        where = "project" if self.into_project else Path(self.output).name
        return f"Augment {Path(self.input).name} x{self.copies} → {where}"


def batch_job(request: BatchRequest, pipeline: Pipeline) -> Job[Any]:
    """The job for a request (opens its inputs on the worker thread)."""
    from qbi_desktop.core.augment.batch import augment_dataset, open_source
    from qbi_desktop.core.augment.catalog_source import (
        ProjectSource,
        augment_into_project_job,
    )

    scheduler = request.scheduler.strip() or None
    if request.kind == "project" and request.into_project:
        return (
            yield from augment_into_project_job(
                request.input,
                pipeline,
                request.copies,
                workers=request.workers,
                scheduler=scheduler,
                items=request.items,
            )
        )
    source = None
    project = None
    try:
        if request.kind == "project":
            from qbi_desktop.core.catalog import open_project

            project = open_project(request.input)
            source = ProjectSource.from_project(project, items=request.items)
        else:
            source = open_source(request.input, request.masks.strip() or None)
        return (
            yield from augment_dataset(
                source,
                pipeline,
                request.output,
                request.copies,
                workers=request.workers,
                scheduler=scheduler,
            )
        )
    finally:
        if isinstance(source, ProjectSource):
            source.close()
        if project is not None:
            project.close()


class BatchDialog(QDialog):
    """Collects a :class:`BatchRequest`; ``project_root`` prefills the project input."""

    def __init__(
        self,
        parent: QWidget | None = None,
        project_root: str | None = None,
        last: dict[str, Any] | None = None,
        pipeline: Pipeline | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Write augmented dataset")
        last = last or {}
        self.project_root = project_root
        self.kind = QComboBox()
        for kind in INPUT_KINDS:
            self.kind.addItem(INPUT_TITLES[kind], kind)
        self.input = QLineEdit(str(last.get("input", "")))
        self.input_browse = QPushButton("Browse…")
        self.masks = QLineEdit(str(last.get("masks", "")))
        self.masks.setPlaceholderText("optional: masks with the same file names")
        self.masks_browse = QPushButton("Browse…")
        self.output = QLineEdit(str(last.get("output", "")))
        self.output_browse = QPushButton("Browse…")
        self.into_project = QCheckBox("Add the copies to the project as new items")
        self.into_project.setToolTip(
            "Written under <project>/augmented/<run>/ and added with provenance 'augmented', "
            "their parent item, the drawn parameters and the seed; label and split follow the "
            "parent"
        )
        # which items of a project: copies of val/test items would be scored on near-duplicates
        from qbi_desktop.core.augment.catalog_source import ITEMS

        self.items = QComboBox()
        self.items.addItem("Training items only (and items without a split)", "train")
        self.items.addItem("All items (copies of val/test items stay in val/test)", "all")
        self.items.setToolTip(f"Training items: {ITEMS['train']}.\nAll: {ITEMS['all']}.")
        self.items.setCurrentIndex(max(0, self.items.findData(last.get("items", "train"))))
        self.copies = QSpinBox(minimum=1, maximum=MAX_COPIES, value=int(last.get("copies", 4)))
        self.workers = QSpinBox(
            minimum=1, maximum=max(1, os.cpu_count() or 1), value=int(last.get("workers", 1))
        )
        self.workers.setToolTip("Worker processes on this machine (the result is the same)")
        self.scheduler = QLineEdit(str(last.get("scheduler", "")))
        self.scheduler.setPlaceholderText("optional dask scheduler, e.g. tcp://host:8786")
        self.note = QLabel(
            "Re-running the same request into the same folder resumes where it stopped."
        )
        self.note.setWordWrap(True)
        # Which regression targets the copies keep (project input): said before writing
        self.pipeline = pipeline
        self.targets_note = QLabel("")
        self.targets_note.setWordWrap(True)
        self.targets_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        def row(*widgets):
            w = QWidget()
            h = QHBoxLayout(w)
            h.setContentsMargins(0, 0, 0, 0)
            for x in widgets:
                h.addWidget(x)
            return w

        form = QFormLayout()
        form.addRow("Input", self.kind)
        form.addRow("", row(self.input, self.input_browse))
        self.masks_row = row(self.masks, self.masks_browse)
        form.addRow("Masks", self.masks_row)
        form.addRow("", self.into_project)
        form.addRow("Augment", self.items)
        form.addRow("Output folder", row(self.output, self.output_browse))
        form.addRow("Copies per item", self.copies)
        form.addRow("Workers", self.workers)
        form.addRow("Dask scheduler", self.scheduler)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Write")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.targets_note)
        layout.addWidget(buttons)

        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.into_project.toggled.connect(self._kind_changed)
        self.input.editingFinished.connect(self._describe_targets)
        self.input_browse.clicked.connect(self._browse_input)
        self.masks_browse.clicked.connect(lambda: self._browse_dir(self.masks, "Masks folder"))
        self.output_browse.clicked.connect(lambda: self._browse_dir(self.output, "Output folder"))
        kind = last.get("kind", "project" if project_root else "folder")
        self.set_kind(kind)
        if project_root and kind == "project":
            self.input.setText(project_root)
            self.into_project.setChecked(bool(last.get("into_project", True)))
        self._describe_targets()

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))
        if kind == "project" and self.project_root and not self.input.text():
            self.input.setText(self.project_root)
        self._kind_changed()

    def _kind_changed(self, *_args) -> None:
        kind = self.kind.currentData()
        self.masks_row.setEnabled(kind == "folder")
        self.into_project.setEnabled(kind == "project")
        self.items.setEnabled(kind == "project")
        into = kind == "project" and self.into_project.isChecked()
        self.output.setEnabled(not into)
        self.output_browse.setEnabled(not into)
        self._describe_targets()

    def _describe_targets(self) -> None:
        """Say which of the project's regression targets the copies keep, and why not others."""
        text = ""
        if self.kind.currentData() == "project" and self.pipeline is not None:
            root = self.input.text().strip()
            if root and (Path(root) / "catalog.sqlite").is_file():
                from qbi_desktop.core.augment.targets import describe, project_target_fates

                try:
                    fates = project_target_fates(root, self.pipeline)
                except UserFacingError as exc:
                    text = f"Targets: cannot tell ({in_dock_words(str(exc))})"
                else:  # the options named as the dock's labels name them
                    text = (
                        "Regression targets of the copies:\n" + describe(fates, pretty)
                        if fates
                        else ""
                    )
        self.targets_note.setText(text)
        self.targets_note.setVisible(bool(text))

    def _browse_input(self) -> None:
        kind = self.kind.currentData()
        if kind == "array":
            path, _ = QFileDialog.getOpenFileName(
                self, "Array file", self.input.text(), "Arrays (*.npz *.npy)"
            )
            if path:
                self.input.setText(path)
        else:
            self._browse_dir(self.input, "Project folder" if kind == "project" else "Images")
            self._describe_targets()

    def _browse_dir(self, edit: QLineEdit, title: str) -> None:
        path = QFileDialog.getExistingDirectory(self, title, edit.text())
        if path:
            edit.setText(path)

    def request(self) -> BatchRequest:
        kind = self.kind.currentData()
        return BatchRequest(
            kind=kind,
            input=self.input.text().strip(),
            output=self.output.text().strip(),
            masks=self.masks.text().strip() if kind == "folder" else "",
            into_project=kind == "project" and self.into_project.isChecked(),
            items=self.items.currentData() if kind == "project" else "train",
            copies=self.copies.value(),
            workers=self.workers.value(),
            scheduler=self.scheduler.text().strip(),
        )


class BatchRunMixin:
    """The panel's batch row: the dialog, the running task, its progress and the result (a mixin
    of the panel; needs ``batch_button``, ``batch_progress``, ``batch_cancel``, ``batch_task``,
    ``pipeline_label``, ``items_added``, ``window`` and ``pipeline()``)."""

    batch_question: QMessageBox | None = None  # open while identical copies wait for an answer

    def project_root(self) -> str | None:
        """The folder of the project open in the window (datasets panel), if any."""
        candidates = [getattr(self.window, "project", None)]
        for panel in getattr(self.window, "panels", {}).values():
            candidates.append(getattr(panel, "project", None))
            candidates.append(getattr(getattr(panel, "model", None), "project", None))
        for obj in candidates:
            root = getattr(obj, "root", None)
            if root is not None:
                return str(root)
        return None

    def open_batch_dialog(self) -> None:
        s = self.window.settings
        last = s.value(f"{SETTINGS_GROUP}/batch", "")
        try:
            last = json.loads(last) if last else {}
        except ValueError:
            last = {}
        try:  # the dialog says which regression targets this pipeline keeps
            pipeline = self.pipeline()
        except UserFacingError:
            pipeline = None
        dialog = BatchDialog(self, self.project_root(), last, pipeline)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        request = dialog.request()
        s.setValue(f"{SETTINGS_GROUP}/batch", json.dumps(request.__dict__))
        if pipeline is not None and not changing_options(pipeline.options):
            self._ask_identical(request)
            return
        self.start_batch(request)

    def _ask_identical(self, request: BatchRequest) -> None:
        """A pipeline that changes nothing would write copies equal to their originals (a
        user who opened the dock and wrote at once, with every step off): ask first."""
        ask(
            self.window,
            "Write identical copies?",
            f"The pipeline changes nothing: no geometry, intensity or noise step is on, so each "
            f"of the {request.copies} copies of every item would equal its original.\n\n"
            "Turn on the steps you want in the Augment panel first, or write them anyway.",
            "Write anyway",
            lambda: self.start_batch(request),
            lambda: self.window.statusBar().showMessage("Nothing written", 5000),
            keep=lambda box: setattr(self, "batch_question", box),
        )

    def start_batch(self, request: BatchRequest):
        """Start writing; returns the Task (None when the request or pipeline is refused)."""
        try:
            request.check()
            pipeline = self.pipeline()
            pipeline.check()
        except UserFacingError as exc:
            self.window.report_error(in_dock_words(str(exc)))
            return None
        if self.batch_task is not None and not self.batch_task.finished:
            self.window.report_error("A batch is already being written; cancel it or wait")
            return None
        task = self.window.tasks.submit(
            request.title,
            lambda: batch_job(request, pipeline),
            on_result=lambda result: self._batch_done(request, result),
            on_error=lambda message: self.window.report_error(in_dock_words(message)),
            on_progress=self._batch_progress,
        )
        task.ended.connect(self._batch_ended)
        self.batch_task = task
        self.batch_progress.setRange(0, 0)
        self.batch_progress.setFormat("starting")
        self.batch_progress.show()
        self.batch_cancel.show()
        self.batch_button.setEnabled(False)  # the progress shows on the row under it
        return task

    def cancel_batch(self) -> None:
        if self.batch_task is not None:
            self.batch_task.cancel()

    def _batch_progress(self, progress) -> None:
        if progress.total > 0:
            self.batch_progress.setRange(0, progress.total)
            self.batch_progress.setValue(progress.done)
        self.batch_progress.setFormat(progress.message or "%v / %m")

    def _batch_ended(self) -> None:
        self.batch_progress.hide()
        self.batch_cancel.hide()
        self.batch_button.setEnabled(True)
        task = self.batch_task
        if task is not None and task.state == "cancelled":
            self.window.statusBar().showMessage(
                "Augmentation cancelled; the copies written so far are complete. Run it again "
                "to resume.",
                10000,
            )

    def _batch_done(self, request: BatchRequest, result: Any) -> None:
        new_ids = getattr(result, "new_ids", None)
        batch = getattr(result, "batch", result)
        text = (
            f"Augmented: {batch.written} written, {batch.skipped} already there, {batch.total} "
            f"in total → {batch.output}"
        )
        if new_ids is not None:
            text += f"; {len(new_ids)} items added to the project"
            left_out = getattr(result, "left_out", 0)
            if left_out:
                text += f" ({left_out} val/test items not augmented)"
            self.items_added.emit(list(new_ids))
            self._reload_project_views()
        self.window.statusBar().showMessage(text, 15000)

    def _reload_project_views(self) -> None:
        """Let a project browser show the new items (if one is open and can reload)."""
        for panel in getattr(self.window, "panels", {}).values():
            model = getattr(panel, "model", None)
            for obj in (panel, model):
                fn = getattr(obj, "reload", None)
                if callable(fn) and getattr(obj, "project", None) is not None:
                    try:
                        fn()
                    except Exception:  # noqa: BLE001 - another panel's refresh must not break ours
                        pass
                    break
