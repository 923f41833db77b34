"""Levels belong to each open image: a new image with another value range shows with its own
auto levels, never with the previous image's window clamped into the new histogram."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import tifffile
from conftest import MNIST, RADIOGRAPHS, need, open_and_wait
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication


def _shown_pixels(canvas) -> np.ndarray:
    """The grey values drawn over the image's area of the canvas (as on screen)."""
    QApplication.processEvents()
    plane = canvas.plane
    top_left = canvas.mapFromScene(canvas.view.mapViewToScene(QPointF(0, 0)))
    bottom_right = canvas.mapFromScene(
        canvas.view.mapViewToScene(QPointF(plane.width, plane.height))
    )
    image = canvas.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * height)
    data = data.reshape(height, image.bytesPerLine())[:, :width]
    x0, y0 = max(0, top_left.x() + 2), max(0, top_left.y() + 2)
    x1, y1 = min(width, bottom_right.x() - 2), min(height, bottom_right.y() - 2)
    assert x1 - x0 > 20 and y1 - y0 > 20, "the image is not on the canvas"
    return data[y0:y1, x0:x1].copy()  # a view would outlive the QImage that holds its pixels


def _assert_auto_levels(window, data: np.ndarray) -> None:
    """Auto levels of ``data`` in the document, the dock and the canvas, and a picture drawn."""
    document = window.current
    finite = data[np.isfinite(data)]
    lo, hi = np.percentile(finite, [0.5, 99.5])
    span = float(finite.max() - finite.min())
    assert not document.levels_manual, "auto levels on open were counted as a user edit"
    vmin, vmax = document.levels
    assert abs(vmin - lo) <= 0.02 * span and abs(vmax - hi) <= 0.02 * span, (
        document.levels,
        lo,
        hi,
    )
    shown = window.levels_panel.levels()
    assert shown == pytest.approx((vmin, vmax), abs=0.01 * span)
    assert window.canvas.levels == pytest.approx((vmin, vmax))
    pixels = _shown_pixels(window.canvas)
    assert pixels.std() > 20, "the image is drawn as a nearly constant frame"
    assert len(np.unique(pixels)) > 16


def _mnist_digit(index: int = 0) -> np.ndarray:
    path = need(MNIST / "train-images-idx3-ubyte.gz")
    with gzip.open(path) as f:
        raw = f.read(16 + 784 * (index + 1))
    return np.frombuffer(raw[16 + 784 * index :], np.uint8).reshape(28, 28).copy()


@pytest.fixture
def value_ranges(tmp_path):
    """A 16-bit radiograph, an 8-bit PNG and a float32 transmission image (0..1) of it."""
    radiograph = need(RADIOGRAPHS / "edge20mm_0000.tif")
    edge = tifffile.imread(radiograph).astype(np.float64)
    ob = tifffile.imread(need(RADIOGRAPHS / "ob.tif")).astype(np.float64)
    dc = tifffile.imread(need(RADIOGRAPHS / "dc.tif")).astype(np.float64)
    transmission = np.clip((edge - dc) / np.maximum(ob - dc, 1), 0, 1).astype(np.float32)
    tif = tmp_path / "transmission.tif"
    tifffile.imwrite(tif, transmission)
    eight = (np.clip(edge / 40000, 0, 1) * 255).astype(np.uint8)
    png = tmp_path / "edge8.png"
    Image.fromarray(eight).save(png)
    return radiograph, png, tif


def _click_file_row(qtbot, window, row: int) -> None:
    window.docks["files"].raise_()
    files = window.files_list
    rect = files.visualItemRect(files.item(row))
    qtbot.mouseClick(files.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QApplication.processEvents()
    assert window.current is window.documents[row]


def test_each_new_value_range_opens_with_its_own_auto_levels(qtbot, main_window, value_ranges):
    radiograph, png, tif = value_ranges
    assert main_window.levels_panel.auto_on_open.isChecked()
    open_and_wait(qtbot, main_window, radiograph)
    _assert_auto_levels(main_window, tifffile.imread(radiograph))
    first_levels = main_window.current.levels

    open_and_wait(qtbot, main_window, png)
    _assert_auto_levels(main_window, np.asarray(Image.open(png)))
    open_and_wait(qtbot, main_window, tif)
    _assert_auto_levels(main_window, tifffile.imread(tif))
    digit = _mnist_digit()
    main_window.open_array(digit, "mnist train 0")
    _assert_auto_levels(main_window, digit)

    # back to the radiograph: its own levels, still automatic
    _click_file_row(qtbot, main_window, 0)
    assert main_window.current.levels == first_levels
    _assert_auto_levels(main_window, tifffile.imread(radiograph))


def test_levels_typed_for_one_image_stay_with_it(qtbot, main_window, value_ranges):
    radiograph, png, _tif = value_ranges
    open_and_wait(qtbot, main_window, radiograph)
    panel = main_window.levels_panel
    for box, value in ((panel.vmin, 8000), (panel.vmax, 20000)):
        box.setFocus()
        box.selectAll()
        qtbot.keyClicks(box, str(value))
        qtbot.keyClick(box, Qt.Key.Key_Return)
    assert main_window.current.levels == (8000, 20000) and main_window.current.levels_manual

    open_and_wait(qtbot, main_window, png)
    _assert_auto_levels(main_window, np.asarray(Image.open(png)))

    _click_file_row(qtbot, main_window, 0)
    assert main_window.current.levels == (8000, 20000) and main_window.current.levels_manual
    assert panel.levels() == (8000, 20000) and main_window.canvas.levels == (8000, 20000)
    _click_file_row(qtbot, main_window, 1)
    _assert_auto_levels(main_window, np.asarray(Image.open(png)))


def test_min_max_boxes_show_whole_numbers_for_integer_images(qtbot, main_window, value_ranges):
    radiograph, _png, tif = value_ranges
    open_and_wait(qtbot, main_window, radiograph)
    vmin, vmax = main_window.current.levels
    assert main_window.levels_panel.vmin.text() == f"{vmin:.0f}"
    assert main_window.levels_panel.vmax.text() == f"{vmax:.0f}"
    open_and_wait(qtbot, main_window, tif)  # 0..1: the decimals that tell values apart
    vmin, vmax = main_window.current.levels
    text = main_window.levels_panel.vmin.text()
    assert "." in text and float(text) == pytest.approx(vmin, abs=1e-3)


def test_auto_levels_on_open_unticked_keeps_the_window_shown(qtbot, main_window, value_ranges):
    radiograph, _png, _tif = value_ranges
    open_and_wait(qtbot, main_window, radiograph)
    first = main_window.current.levels
    main_window.levels_panel.auto_on_open.click()
    assert not main_window.levels_panel.auto_on_open.isChecked()
    other = need(RADIOGRAPHS / "edge20mm_0003.tif")
    open_and_wait(qtbot, main_window, other)
    assert main_window.current.levels == first
    assert main_window.levels_panel.levels() == pytest.approx(first)
    # the Auto button still levels this image on its own data
    qtbot.mouseClick(main_window.levels_panel.auto_button, Qt.MouseButton.LeftButton)
    _assert_auto_levels(main_window, tifffile.imread(other))
