"""The pixel read-out follows the unit switched with the key while the mouse stays still (before,
it kept the counts value next to an image shown in transmission until the mouse moved)."""

from __future__ import annotations

import numpy as np
import tifffile
from PySide6.QtCore import QPointF, Qt

from tests.conftest import RADIOGRAPHS, need, open_and_wait


def _hover(qtbot, window, x, y):
    canvas = window.canvas
    for dx in (5, 0):  # in from beside it, so the canvas sees a move
        scene = canvas.view.mapViewToScene(QPointF(x + dx + 0.5, y + 0.5))
        qtbot.mouseMove(canvas.viewport(), canvas.mapFromScene(scene))
    qtbot.waitUntil(lambda: window.readout.text().startswith(f"x {x}  y {y} "), timeout=3000)
    return window.readout.text()


def test_unit_key_updates_the_readout_without_moving_the_mouse(qtbot, main_window):
    path = need(RADIOGRAPHS / "edge20mm_0000.tif")
    open_and_wait(qtbot, main_window, path)
    panel = main_window.panels["radiography"]
    task = panel.set_references(
        [str(need(RADIOGRAPHS / "ob.tif"))], [str(need(RADIOGRAPHS / "dc.tif"))]
    )
    qtbot.waitUntil(lambda: task.finished and panel.refs is not None, timeout=10000)
    rect = main_window.canvas.view.viewRect()
    x, y = int(rect.center().x()), int(rect.center().y())
    raw = tifffile.imread(path).astype(np.float64)
    ob = tifffile.imread(RADIOGRAPHS / "ob.tif").astype(np.float64)
    dc = tifffile.imread(RADIOGRAPHS / "dc.tif").astype(np.float64)
    t = (raw[y, x] - dc[y, x]) / (ob[y, x] - dc[y, x])
    assert _hover(qtbot, main_window, x, y).split()[-1] == str(int(raw[y, x]))  # counts
    main_window.activateWindow()
    qtbot.keyClick(main_window, Qt.Key.Key_U)  # transmission; the mouse has not moved
    qtbot.waitUntil(lambda: panel.unit.currentData() == "transmission", timeout=3000)
    words = main_window.readout.text().split()
    assert words[:4] == ["x", str(x), "y", str(y)]
    assert words[-1] == "(transmission)"
    assert abs(float(words[-2]) - t) < 1e-5 * max(1.0, abs(t))
    qtbot.keyClick(main_window, Qt.Key.Key_U)  # attenuation
    words = main_window.readout.text().split()
    assert words[-1] == "(attenuation)" and abs(float(words[-2]) + np.log(t)) < 1e-3
