"""Boxes follow the image in the Augment preview: a box drawn on the canvas with the Box tool
is outlined on each preview sample where the sample's geometry put it (horizontal flip)."""

from __future__ import annotations

import numpy as np
import tifffile
from PySide6.QtCore import Qt

from qbi_desktop.core.annotation.boxes import class_colour

try:
    from tests.conftest import open_and_wait
    from tests.test_gui_augment import _fresh_preview, _panel
    from tests.test_gui_boxes import drag, key, type_class
except ImportError:  # pragma: no cover
    from conftest import open_and_wait
    from test_gui_augment import _fresh_preview, _panel
    from test_gui_boxes import drag, key, type_class


def _columns_with(rgb: np.ndarray, colour) -> np.ndarray:
    hit = (np.abs(rgb.astype(int) - np.array(colour)).max(axis=2) <= 8).any(axis=0)
    return np.flatnonzero(hit)


def test_preview_outlines_boxes_where_the_flip_moved_them(qtbot, main_window, tmp_path):
    image = tmp_path / "plate.tif"
    grey = np.full((200, 300), 20000, np.uint16)  # flat grey: no pixel has a class colour
    tifffile.imwrite(image, grey)
    panel = _panel(main_window)
    open_and_wait(qtbot, main_window, image)
    main_window.panels["annotate"].unsaved_answer = "discard"
    main_window.canvas.view.setRange(xRange=(0, 300), yRange=(0, 200), padding=0)
    key(qtbot, main_window, Qt.Key.Key_W)
    boxes = main_window.panels["annotate"].boxes
    drag(qtbot, main_window, (20, 30), (80, 120))  # the left fifth of the image
    type_class(qtbot, boxes, "cell")
    assert [(b.x, b.y, b.w, b.h) for b in boxes.session.boxes] == [(20, 30, 60, 90)]
    # the previews started before the box (on open) are done: the next one is the one asked for
    qtbot.waitUntil(lambda: panel.result is not None and not panel.runner.busy, timeout=5000)

    panel.form.editors["horizontal_flip"].box.setChecked(True)
    result = _fresh_preview(qtbot, panel, lambda: boxes.boxes_changed.emit())
    colour = class_colour("cell")
    width = result.original_rgb.shape[1]
    cols = _columns_with(result.original_rgb, colour)
    assert cols.size and cols.max() < width / 2  # the original: on the left
    flips = [p["flip_horizontal"] for p in result.params]
    assert any(flips) and not all(flips)  # both cases are checked
    for rgb, flipped in zip(result.sample_rgb, flips, strict=True):
        cols = _columns_with(rgb, colour)
        assert cols.size, "the box is outlined on every sample"
        if flipped:
            assert cols.min() > width / 2
        else:
            assert cols.max() < width / 2
