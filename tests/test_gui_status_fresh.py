"""The status bar tells of the image shown now: no read-out of the last image's pixel, no error
that a later successful open has answered."""

from __future__ import annotations

import re

import numpy as np
import tifffile
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QMessageBox

try:
    from tests.conftest import open_and_wait
except ImportError:  # pragma: no cover
    from conftest import open_and_wait


def _image(path, size):
    yy, xx = np.mgrid[0:size, 0:size]
    tifffile.imwrite(path, (xx + 7 * yy).astype(np.uint16))
    return path


def _viewport_point(canvas, x: float, y: float):
    scene = canvas.view.mapViewToScene(QPointF(x + 0.5, y + 0.5))
    return canvas.mapFromScene(scene)


def _shown_position(text: str):
    match = re.search(r"x (\d+)\s+y (\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def _near(shown, wanted, by=2) -> bool:
    return shown is not None and all(abs(a - b) <= by for a, b in zip(shown, wanted, strict=True))


def test_readout_follows_the_new_image(qtbot, main_window, tmp_path):
    big = _image(tmp_path / "big.tif", 1200)
    small = _image(tmp_path / "small.tif", 600)
    open_and_wait(qtbot, main_window, big)
    canvas = main_window.canvas
    viewport = canvas.viewport()
    # Real mouse moves over the image, ending on a pixel beyond the next image's size (zoomed
    # out, a screen pixel spans ~2 image pixels: the read-out is the one under the pointer).
    for x, y in ((300, 300), (700, 650), (987, 951)):
        qtbot.mouseMove(viewport, _viewport_point(canvas, x, y))
        qtbot.waitUntil(
            lambda x=x, y=y: _near(_shown_position(main_window.readout.text()), (x, y)),
            timeout=2000,
        )
    old = _shown_position(main_window.readout.text())
    assert min(old) > 900 and f"value {old[0] + 7 * old[1]}" in main_window.readout.text()

    open_and_wait(qtbot, main_window, small)
    qtbot.wait(50)
    text = main_window.readout.text()
    shown = _shown_position(text)
    # Either no read-out (the pointer has not moved yet) or the pixel of the new image that is
    # under the pointer now: never the old image's position, which the new one does not have.
    assert shown != old, text
    if shown is not None:
        x, y = shown
        assert 0 <= x < 600 and 0 <= y < 600, text
        assert f"value {x + 7 * y}" in text

    # The next move reads the new image.
    qtbot.mouseMove(viewport, _viewport_point(canvas, 123, 45))
    qtbot.waitUntil(lambda: _near(_shown_position(main_window.readout.text()), (123, 45)))
    x, y = _shown_position(main_window.readout.text())
    assert f"value {x + 7 * y}" in main_window.readout.text()

    # Closing the images leaves no read-out of them behind.
    main_window.close_current()
    assert main_window.current.path.name == "big.tif"
    main_window.close_current()
    assert main_window.current is None
    assert main_window.readout.text() == ""


def test_successful_open_replaces_an_earlier_error(qtbot, main_window, tmp_path):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00\x08")
    good = _image(tmp_path / "good.tif", 64)
    bar = main_window.statusBar()

    task = main_window.open_file(broken)
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    assert task.state != "done"
    error = bar.currentMessage()
    assert "broken.tif" in error  # the error is said in the status bar

    # Close the warning box the error also showed (as the user does), then open a good file.
    for box in main_window.findChildren(QMessageBox):
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    open_and_wait(qtbot, main_window, good)
    assert main_window.current.path.name == "good.tif"
    assert "broken.tif" not in bar.currentMessage()
    assert error not in bar.currentMessage()
