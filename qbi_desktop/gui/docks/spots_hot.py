"""The Spots dock's hot pixels: chosen frames, references found beside the image, the hint.

A camera's hot pixels look exactly like one-pixel gamma spots in one frame
(:mod:`qbi_desktop.core.spots.hot_pixels`). :class:`HotPixelsMixin` gives the
:class:`~qbi_desktop.gui.docks.spots.SpotsPanel` its hot-pixel controls: "Hot pixels…" (a
dark-current frame or other frames, remembered in the settings), "Find hot pixels beside the
image" (the series' other frames or a dark frame, looked for once per image), "Skip lone
pixels", and the hint shown when most proposals are lone bright pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.spots import (
    HotPixels,
    auto_hot_pixels_job,
    detect_spots_job,
    find_hot_pixel_references,
    hot_pixels_job,
)

SETTINGS_GROUP = "spots"
HOT_FRAMES_KEY = f"{SETTINGS_GROUP}/hot_pixel_frames"
AUTO_HOT_KEY = f"{SETTINGS_GROUP}/hot_pixels_beside_image"


def hot_pixel_job(paths: list[str]):
    """Job: the :class:`HotPixels` of a dark frame or of other frames (all one shape)."""
    return hot_pixels_job(paths)


def detection_job(image, method, params, exclude, auto_path, name):
    """Job: hot pixels found beside the image at ``auto_path`` (when given), then the
    detection; returns (SpotDetection, AutoHotPixels or None). Messages name the image."""
    try:
        auto = None
        if auto_path is not None:
            auto = yield from auto_hot_pixels_job(auto_path, image.shape)
            exclude = auto.hot
        detection = yield from detect_spots_job(image, method, exclude=exclude, **params)
    except UserFacingError as e:
        message = str(e)
        if name and name not in message:
            message = f"{name}: {message.removeprefix('image: ')}"
        raise UserFacingError(message) from None
    return detection, auto


class HotPixelsMixin:
    """Hot-pixel state and controls of the Spots panel (needs ``window``, ``review``,
    ``detection``, ``detect()`` and ``_params_changed()`` from the panel)."""

    def _init_hot_pixels(self) -> None:
        self.hot_paths: list[str] = []  # frames the chosen hot pixels come from
        self.hot: HotPixels | None = None  # chosen with "Hot pixels…"
        self.hot_task = None
        self._hot_warned = None
        self.auto: dict[str, object] = {}  # image path -> AutoHotPixels found beside it

    def _build_hot_pixels(self, form) -> None:
        self.hot_button = QPushButton("Hot pixels…")
        self.hot_button.setToolTip(
            "Choose a dark-current frame (dc.tif) or other frames of the same detector: the "
            "hot pixels they show are removed before detecting"
        )
        self.hot_button.clicked.connect(self.choose_hot_pixel_frames)
        self.hot_clear = QPushButton("Clear")
        self.hot_clear.setToolTip("Stop excluding hot pixels")
        self.hot_clear.clicked.connect(self.clear_hot_pixels)
        self.hot_clear.setEnabled(False)
        hot_row = QHBoxLayout()
        hot_row.addWidget(self.hot_button, 1)
        hot_row.addWidget(self.hot_clear)
        form.addRow(hot_row)
        self.auto_hot = QCheckBox("Find hot pixels beside the image")
        self.auto_hot.setToolTip(
            "Before detecting, look in the image's folder for other frames of its numbered "
            "series (else a dark-current frame such as dc.tif) and remove the hot pixels they "
            "show. Frames chosen with 'Hot pixels…' take precedence."
        )
        auto_on = self.window.settings.value(AUTO_HOT_KEY, "true")
        self.auto_hot.setChecked(str(auto_on).lower() not in ("false", "0"))
        self.auto_hot.toggled.connect(self._auto_hot_toggled)
        self.skip_lone = QCheckBox("Skip lone pixels")
        self.skip_lone.setToolTip(
            "Leave out proposals that are one lone bright pixel (what hot pixels look like). "
            "Also drops the ~10 % of gamma spots that are one sharp pixel."
        )
        self.skip_lone.toggled.connect(self._params_changed)
        checks = QHBoxLayout()
        checks.addWidget(self.auto_hot)
        checks.addWidget(self.skip_lone)
        checks.addStretch(1)
        form.addRow(checks)
        self.hot_label = QLabel("No hot pixels excluded")
        self.hot_label.setWordWrap(True)
        form.addRow(self.hot_label)
        # shown when most proposals look like hot pixels: what to do about it
        self.hint = QFrame()
        self.hint.setFrameShape(QFrame.Shape.StyledPanel)
        self.hint.setStyleSheet("QFrame { background: #fff4d0; color: #202020; }")
        hint_col = QVBoxLayout(self.hint)
        hint_col.setContentsMargins(6, 4, 6, 4)
        self.hint_text = QLabel()
        self.hint_text.setWordWrap(True)
        hint_col.addWidget(self.hint_text)
        self.use_series_button = QPushButton()
        self.use_series_button.clicked.connect(lambda: self._use_reference("series"))
        self.use_dark_button = QPushButton()
        self.use_dark_button.clicked.connect(lambda: self._use_reference("dark"))
        self.hint_choose_button = QPushButton("Choose frames…")
        self.hint_choose_button.clicked.connect(self.choose_hot_pixel_frames)
        self.hint_lone_button = QPushButton("Skip lone pixels")
        self.hint_lone_button.clicked.connect(lambda: self.skip_lone.setChecked(True))
        # two columns: the hint must leave the queue in view on a 768 px high screen
        grid = QGridLayout()
        grid.setSpacing(4)
        for i, b in enumerate(
            (
                self.use_series_button,
                self.use_dark_button,
                self.hint_choose_button,
                self.hint_lone_button,
            )
        ):
            grid.addWidget(b, i // 2, i % 2)
        hint_col.addLayout(grid)
        self.hint.setVisible(False)

    def choose_hot_pixel_frames(self) -> None:
        """Ask for the other frames (multi-select) and compute their hot-pixel map."""
        start = str(Path(self.hot_paths[0]).parent) if self.hot_paths else ""
        if not start and self.window.current is not None:
            start = str(Path(self.window.current.path).parent)
        paths, _ = QFileDialog.getOpenFileNames(
            self,
            "A dark-current frame, or other frames of the same detector",
            start,
            "Images (*.tif *.tiff *.png);;All files (*)",
        )
        if paths:
            self.set_hot_pixel_frames(paths)

    def set_hot_pixel_frames(self, paths, *, remember: bool = True):
        """Compute the hot-pixel map of ``paths`` in a worker; returns the Task (None when
        ``paths`` is empty: that clears the exclusion). Re-detects when detections are shown."""
        paths = [str(p) for p in paths]
        if not paths:
            self.clear_hot_pixels()
            return None
        if self.hot_task is not None and not self.hot_task.finished:
            self.hot_task.cancel()
        if remember:
            self.window.settings.setValue(HOT_FRAMES_KEY, json.dumps(paths))
        self.hot_label.setText(f"Computing hot pixels from {len(paths)} frame(s)…")

        def done(hot, paths=paths) -> None:
            if task is not self.hot_task:  # a newer choice superseded this one
                return
            self.hot_paths, self.hot = paths, hot
            self._hot_warned = None
            self.hot_clear.setEnabled(True)
            self._update_hot_label()
            if self.review is not None:  # the candidates shown are stale: detect again
                self.detect()

        def failed(message: str) -> None:
            if task is self.hot_task:
                self._update_hot_label()
            self.window.report_error(message)

        task = self.window.tasks.submit(
            "Hot-pixel map", lambda: hot_pixel_job(paths), on_result=done, on_error=failed
        )
        self.hot_task = task
        return task

    def clear_hot_pixels(self) -> None:
        """Stop excluding hot pixels (and forget the frames in the settings)."""
        if self.hot_task is not None and not self.hot_task.finished:
            self.hot_task.cancel()
        self.hot_task = None
        had = self.hot is not None
        self.hot_paths, self.hot = [], None
        self.window.settings.remove(HOT_FRAMES_KEY)
        self.hot_clear.setEnabled(False)
        self._update_hot_label()
        if had and self.review is not None:
            self.detect()

    @property
    def hot_map(self) -> np.ndarray | None:
        """The chosen frames' hot pixels (> 5 sigma), or None."""
        return None if self.hot is None else self.hot.mask

    def _update_hot_label(self) -> None:
        det = self.detection
        removed = det.hot_pixels if det is not None else 0
        if self.hot is not None:
            k = len(self.hot_paths)
            what = "a dark frame" if k == 1 else f"{k} frames"
            n = removed if det is not None and det.hot_pixels else self.hot.count
            self.hot_label.setText(f"{n} hot pixels excluded (from {what} you chose)")
            self.hot_label.setToolTip("\n".join(self.hot_paths))
            return
        auto = self._auto_for_current()
        if self.auto_hot.isChecked() and auto is not None:
            if auto.hot is not None:
                self.hot_label.setText(
                    f"{removed} hot pixels excluded (from {auto.source}, found beside the image)"
                )
                self.hot_label.setToolTip("\n".join(str(p) for p in auto.paths))
            else:
                self.hot_label.setText(
                    "No hot pixels excluded: the frames beside the image do not fit (see "
                    "the tooltip)"
                    if auto.problems
                    else f"No hot pixels excluded ({auto.source})"
                )
                self.hot_label.setToolTip("\n".join(auto.problems))
            return
        self.hot_label.setText("No hot pixels excluded")
        self.hot_label.setToolTip("")

    def _current_path(self) -> str | None:
        doc = self.window.current
        path = getattr(doc, "path", None) if doc is not None else None
        return str(path) if path else None

    def _auto_for_current(self):
        path = self._current_path()
        return None if path is None else self.auto.get(path)

    def _auto_hot_toggled(self, on: bool) -> None:
        self.window.settings.setValue(AUTO_HOT_KEY, "true" if on else "false")
        if self.review is not None:
            self.detect()
        else:
            self._update_hot_label()

    def _use_reference(self, kind: str) -> None:
        """A hint button: take the series' other frames or the dark frame found beside the
        image as the chosen hot-pixel frames."""
        path = self._current_path()
        if path is None:
            return
        refs = find_hot_pixel_references(path)
        paths = refs.series if kind == "series" else refs.dark
        if paths:
            self.set_hot_pixel_frames(paths)

    def _update_hint(self) -> None:
        """Say so when most proposals look like hot pixels, and offer what would remove them."""
        det = self.detection
        if det is None or self.review is None or not det.looks_like_hot_pixels():
            self.hint.setVisible(False)
            return
        n, lone = len(det.candidates), det.isolated
        text = (
            f"Most proposals ({lone} of {n}) are lone bright pixels, like the camera's hot "
            "pixels (bright in every frame)."
        )
        if det.hot_pixels:
            text += " Removing the hot pixels of the frames used so far was not enough."
        text += " A dark frame or other frames of the series remove them:"
        self.hint_text.setText(text)
        path = self._current_path()
        refs = find_hot_pixel_references(path) if path else None
        used = {str(p) for p in self.hot_paths}
        auto = self._auto_for_current()
        if auto is not None and auto.hot is not None and self.hot is None:
            used |= {str(p) for p in auto.paths}
        series = refs.series if refs is not None and len(refs.series) >= 2 else []
        dark = refs.dark if refs is not None else []
        self.use_series_button.setVisible(bool(series) and not {str(p) for p in series} <= used)
        if series:
            self.use_series_button.setText(f"Use {len(series)} frames of the series")
            self.use_series_button.setToolTip(
                f"Other frames of {refs.pattern}:\n" + "\n".join(p.name for p in series)
            )
        self.use_dark_button.setVisible(bool(dark) and not {str(p) for p in dark} <= used)
        if dark:
            names = ", ".join(p.name for p in dark[:2]) + ("…" if len(dark) > 2 else "")
            self.use_dark_button.setText(f"Use dark frame {names}")
            self.use_dark_button.setToolTip("\n".join(str(p) for p in dark))
        self.hint_lone_button.setVisible(not self.skip_lone.isChecked())
        self.hint.setVisible(True)

    def _restore_hot_pixels(self) -> None:
        text = self.window.settings.value(HOT_FRAMES_KEY, "")
        try:
            paths = json.loads(text) if text else []
        except (TypeError, ValueError):
            paths = []  # a stale setting from another version
        if not isinstance(paths, list) or not paths:
            return
        paths = [str(p) for p in paths]
        if all(Path(p).is_file() for p in paths):  # regular files only (not FIFOs)
            self.set_hot_pixel_frames(paths, remember=False)
        else:
            missing = next(p for p in paths if not Path(p).is_file())
            self.hot_label.setText(f"Hot-pixel frame not found: {missing}; choose them again")

    def _exclude_for(self, image: np.ndarray) -> HotPixels | None:
        """The chosen hot pixels when they fit ``image``; otherwise None (and the user is
        told)."""
        hot = self.hot
        if hot is None:
            return None
        if hot.shape != image.shape[:2]:
            doc = self.window.current
            name = str(doc.path) if doc is not None else "the current image"
            warned = (name, image.shape[:2], hot.shape)
            if warned == self._hot_warned:  # say it once, not at every live re-detection
                return None
            self._hot_warned = warned
            self.window.report_error(
                f"Hot pixels not excluded: {name} has shape {image.shape[:2]}, but the "
                f"hot-pixel frames ({self.hot_paths[0]}, …) have {hot.shape}"
            )
            return None
        return hot
