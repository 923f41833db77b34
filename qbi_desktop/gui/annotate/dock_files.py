"""The Annotate dock's files: new, save (Ctrl+S), save as, load, import, and the close guard.

A new mask is proposed in the masks folder (the folder chosen last, remembered in the settings
as ``annotate/mask_folder``, else the user's data area), never by default in the raw-data
folder beside the image, which is often read-only at a beamline.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QMessageBox,
    QSpinBox,
)

from qbi_desktop.core.annotation import mask_index
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.maskio import TooManyLabelsError, import_mask
from qbi_desktop.gui.annotate.session import MaskSession

log = logging.getLogger("qbi_desktop")

MASK_FILTER = "Masks (*.tif *.tiff *.png);;All files (*)"
IMPORT_FILTER = "Images (*.tif *.tiff *.png *.jpg *.jpeg *.bmp);;All files (*)"


class FilesMixin:
    """Part of :class:`~qbi_desktop.gui.docks.annotate.AnnotatePanel`: mask files and closing."""

    # -- files ------------------------------------------------------------------------------------
    def _need_session(self) -> MaskSession | None:
        if self.session is None:
            self.window.report_error("Open an image first: a mask belongs to an image")
            return None
        if self.session.read_only is not None:
            self.window.report_error(self.session.read_only)
            return None
        if not self.session.ready:
            self.window.report_error("The mask is not ready yet (recovery pending or preparing)")
            return None
        return self.session

    def new_mask(self) -> None:
        s = self._need_session()
        if s is not None:
            self._apply(s.replace(np.zeros(s.editor.shape, dtype=s.editor.mask.dtype)))

    def save(self) -> bool:
        """Ctrl+S: into the project item (on a worker), the mask's file, or ask for a file."""
        s = self._need_session()
        if s is None:
            return False
        if s.store is not None:
            return self.save_to_project(s) is not None
        if s.mask_path is None:
            return self.save_as_dialog()
        return self.save_to(s.mask_path)

    def save_to(self, path) -> bool:
        """Save the mask atomically; a failure is reported and nothing painted is lost.

        For a project item's mask this writes a copy; the item is saved with :meth:`save`."""
        s = self._need_session()
        if s is None:
            return False
        if s.store is not None:
            try:
                written = s.export(Path(path))
            except UserFacingError as e:
                self.window.report_error(str(e))
                return False
            self.window.statusBar().showMessage(
                f"Copy of the mask written to {written}; Ctrl+S saves it into the project", 8000
            )
            return True
        try:
            saved = s.save(Path(path))
        except UserFacingError as e:
            self.window.report_error(str(e))
            return False
        self.window.statusBar().showMessage(f"Mask saved to {saved}", 5000)
        self._update_status()
        self.session_saved(s, saved)
        return True

    def session_saved(self, session: MaskSession, path: Path | None) -> None:
        """Hook for other panels (the Spots dock writes its review with the mask): ``path`` is
        the mask file written, None for a project item's mask saved into its project."""
        for callback in list(getattr(self, "save_hooks", [])):
            try:
                callback(session, path)
            except UserFacingError as e:
                self.window.report_error(str(e))

    def save_as_dialog(self) -> bool:
        s = self._need_session()
        if s is None:
            return False
        title = "Save a copy of the mask" if s.store is not None else "Save mask"
        # a recovered journal's record of the file is only ever proposed here, for the user to
        # confirm; never written to on its own
        suggested = s.proposed_path or s.suggested_path()
        if suggested.parent == self.masks_folder():  # the default folder exists once proposed
            with contextlib.suppress(OSError):
                suggested.parent.mkdir(parents=True, exist_ok=True)
        path, _ = QFileDialog.getSaveFileName(self.window, title, str(suggested), MASK_FILTER)
        if not path or not self.save_to(path):
            return False
        self.remember_masks_folder(Path(path).parent)
        return True

    def masks_folder(self) -> Path:
        """Where a new mask is proposed: the folder masks were last saved to (remembered in
        the settings), else the masks folder in the user's data area — not the raw-data
        folder, often read-only at a beamline."""
        chosen = str(self.settings.value("annotate/mask_folder", "") or "")
        if chosen and Path(chosen).is_dir():
            return Path(chosen)
        return mask_index.default_folder()

    def remember_masks_folder(self, folder: Path) -> None:
        self.settings.setValue("annotate/mask_folder", str(folder))
        for session in self.sessions.values():
            session.masks_folder = folder

    def load_dialog(self) -> None:
        s = self._need_session()
        if s is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Load mask", str(s.suggested_path().parent), MASK_FILTER
        )
        if path:
            self.load_from(path)

    def load_from(self, path) -> bool:
        s = self._need_session()
        if s is None:
            return False
        try:
            rect = s.load(Path(path))
        except TooManyLabelsError as e:
            if not self.ask_yes_no(
                "Mask has more labels",
                f"{e}\n\nAdd placeholder labels for them and load the mask?",
            ):
                return False
            s.labels.ensure(e.extra_labels)
            self._labels_changed()
            return self.load_from(path)
        except UserFacingError as e:
            self.window.report_error(str(e))
            return False
        self.overlay.set_mask(s.editor.mask, s.labels)
        self._refresh_labels()
        self._apply(rect)
        return True

    def import_from(self, path, **options) -> bool:
        """Import a mask painted elsewhere (see :func:`qbi_desktop.core.maskio.import_mask`)."""
        s = self._need_session()
        if s is None:
            return False
        options.setdefault("label", self.controller.label)
        try:
            mask = import_mask(Path(path), s.image.shape[:2], labels=s.labels, **options)
            rect = s.replace(mask)
        except TooManyLabelsError as e:
            if not self.ask_yes_no(
                "Mask has more labels", f"{e}\n\nAdd placeholder labels for them and import?"
            ):
                return False
            s.labels.ensure(e.extra_labels)
            self._labels_changed()
            return self.import_from(path, **options)
        except UserFacingError as e:
            self.window.report_error(str(e))
            return False
        self._apply(rect)
        return True

    def import_dialog(self) -> None:
        s = self._need_session()
        if s is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import mask", str(s.suggested_path().parent), IMPORT_FILTER
        )
        if not path:
            return
        dialog = ImportDialog(self.window, self.controller.label)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.import_from(path, **dialog.options())

    def ask_yes_no(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self.window, title, text)
        return answer == QMessageBox.StandardButton.Yes

    # -- closing ----------------------------------------------------------------------------------
    def close_guard(self, document) -> bool:
        """Asked before an image (or, with None, the window) closes: Save / Discard / Cancel."""
        if document is None:
            keys = list(self.sessions)
        else:
            keys = [k for k in self.sessions if k[0] == id(document)]
        if self.controller._stroke is not None:
            self.controller.end_stroke()
        modified = [self.sessions[k] for k in keys if self.sessions[k].modified]
        if modified:
            titles = sorted({s.title for s in modified})
            names = ", ".join(titles[:5]) + (f" and {len(titles) - 5} more" if titles[5:] else "")
            several = len(titles) > 1
            box = QMessageBox(
                QMessageBox.Icon.Warning,
                "Unsaved masks" if several else "Unsaved mask",
                f"The masks ({names}) have unsaved changes. Save them before closing?"
                if several
                else f"The mask ({names}) has unsaved changes. Save before closing?",
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
                self.window,
            )
            box.setDefaultButton(QMessageBox.StandardButton.Save)
            answer = self._preset_answer(box)
            if answer == QMessageBox.StandardButton.Cancel:
                return False
            if answer == QMessageBox.StandardButton.Save:
                for s in modified:
                    try:
                        if s.store is not None:  # closing: wait for it, then carry on
                            mask, state = s.snapshot()
                            names = s.label_names()
                            outcome = run_job(s.store.save_job(mask, names, s.saved_names))
                            self._item_stored(s, state, names, outcome)
                            self.window.statusBar().showMessage(outcome.message(), 8000)
                        else:
                            target = s.suggested_path()
                            with contextlib.suppress(OSError):
                                target.parent.mkdir(parents=True, exist_ok=True)
                            s.save(target)
                    except UserFacingError as e:
                        self.window.report_error(str(e))
                        return False  # keep the window open: nothing is lost
        for k in keys:
            self.sessions.pop(k).close()
            task = self._prepare_tasks.pop(k, None)
            if task is not None:
                task.cancel()
        if document is not None:
            self.stores.pop(id(document), None)
            self.boxes.forget_document(document)  # boxes are saved with every edit
        if document is None:
            self.save_settings()
            self.boxes.close()
        return True

    def _preset_answer(self, box: QMessageBox):
        """``unsaved_answer`` ("save" / "discard" / "cancel") answers without asking (scripts,
        tests: a modal question during an automated close would wait forever)."""
        preset = (self.unsaved_answer or "").lower()
        buttons = {
            "save": QMessageBox.StandardButton.Save,
            "discard": QMessageBox.StandardButton.Discard,
            "cancel": QMessageBox.StandardButton.Cancel,
        }
        if preset in buttons:
            box.deleteLater()
            return buttons[preset]
        return box.exec()

    def discard_all(self) -> None:
        """Drop every mask's unsaved changes and journals without asking (scripts and tests)."""
        if self.controller._stroke is not None:
            self.controller.cancel()
        for key in list(self.sessions):
            self.sessions.pop(key).close()
        self._show_session(None, None)


class ImportDialog(QDialog):
    """How to read a mask painted elsewhere: label image, binary, a colour, or a channel."""

    MODES = [
        ("auto", "Automatic (binary or label image)"),
        ("binary", "Binary: every non-zero pixel"),
        ("labels", "Label image: values kept"),
        ("colour", "Colour: pixels of one colour"),
        ("channel", "Channel above a threshold"),
    ]

    def __init__(self, parent, label: int):
        super().__init__(parent)
        self.setWindowTitle("Import mask")
        self.mode = QComboBox()
        for _key, text in self.MODES:
            self.mode.addItem(text)
        self.label = QSpinBox(minimum=1, maximum=65535, value=label)
        self.colour = [QSpinBox(minimum=0, maximum=255) for _ in range(3)]
        self.colour[0].setValue(255)
        self.tolerance = QSpinBox(minimum=0, maximum=255)
        self.channel = QComboBox()
        self.channel.addItems(["Red", "Green", "Blue", "Alpha"])
        self.threshold = QDoubleSpinBox(minimum=-1e9, maximum=1e9, value=0)
        form = QFormLayout(self)
        form.addRow("Read as", self.mode)
        form.addRow("Label for marked pixels", self.label)
        row = QHBoxLayout()
        for w in self.colour:
            row.addWidget(w)
        form.addRow("Colour (R G B)", row)
        form.addRow("Colour tolerance", self.tolerance)
        form.addRow("Channel", self.channel)
        form.addRow("Channel threshold", self.threshold)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def options(self) -> dict:
        mode = self.MODES[self.mode.currentIndex()][0]
        opts: dict = {"mode": mode, "label": self.label.value()}
        if mode == "colour":
            opts["colour"] = tuple(w.value() for w in self.colour)
            opts["tolerance"] = self.tolerance.value()
        if mode == "channel":
            opts["channel"] = self.channel.currentIndex()
            opts["threshold"] = self.threshold.value()
        return opts
