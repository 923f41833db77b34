"""The viewer as a user drives it: open, look, read values, step slices, keep the layout."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import RADIOGRAPHS, need, open_and_wait
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QDockWidget, QPushButton

from qbi_desktop.core.levels import to_uint8

REAL_FILES = [
    "edge20mm_0000.tif",
    "edge20mm_0003.tif",
    "ob.tif",
    "dc.tif",
    "spotprojection_0001.tif",
]


def _viewport_point(canvas, x: float, y: float) -> QPoint:
    """Viewport pixel showing the centre of image pixel (x, y)."""
    scene = canvas.view.mapViewToScene(QPointF(x + 0.5, y + 0.5))
    return canvas.mapFromScene(scene)


def _drawn_grey(canvas, x: int, y: int) -> int:
    image = canvas.grab().toImage()
    return image.pixelColor(_viewport_point(canvas, x, y)).red()


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_radiograph_opens_with_auto_levels(qtbot, main_window, name):
    path = need(RADIOGRAPHS / name)
    document = open_and_wait(qtbot, main_window, path)
    data = tifffile.imread(path)
    assert document.source.slice_shape == data.shape
    lo, hi = np.percentile(data, [0.5, 99.5])
    vmin, vmax = main_window.levels_panel.levels()
    span = float(data.max()) - float(data.min())
    assert abs(vmin - lo) <= 0.01 * span and abs(vmax - hi) <= 0.01 * span
    assert main_window.canvas.base_item.image is not None
    assert main_window.info_panel.value("Pixel type") == str(data.dtype)


def test_drawn_pixels_follow_chosen_levels(qtbot, main_window):
    path = need(RADIOGRAPHS / "edge20mm_0000.tif")
    open_and_wait(qtbot, main_window, path)
    data = tifffile.imread(path)
    canvas = main_window.canvas
    qtbot.keyClick(main_window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)  # 1:1
    assert canvas.screen_scale() == pytest.approx(1.0, rel=0.02)
    # The user types a window into the Levels dock.
    panel = main_window.levels_panel
    for box, value in ((panel.vmin, 5000), (panel.vmax, 25000)):
        box.setFocus()
        box.selectAll()
        qtbot.keyClicks(box, str(value))
        qtbot.keyClick(box, Qt.Key.Key_Return)
    assert main_window.current.levels == (5000, 25000)
    QApplication.processEvents()
    rect = canvas.view.viewRect()
    points = [
        (int(rect.center().x()) + dx, int(rect.center().y()) + dy)
        for dx in (-40, 0, 40)
        for dy in (-30, 0, 30)
    ]
    for x, y in points:
        # the screen pixel may fall on a neighbour (1:1 is within 2 %): any of the 3x3 around
        near = to_uint8(data[y - 1 : y + 2, x - 1 : x + 2], 5000, 25000).astype(int)
        drawn = _drawn_grey(canvas, x, y)
        assert np.abs(near - drawn).min() <= 2, (x, y, drawn, near.tolist())
    # A colour map changes what is drawn, not the data.
    panel.cmap.setCurrentText("Inverted grey")
    QApplication.processEvents()
    x, y = points[4]
    expected = 255 - int(to_uint8(data[y : y + 1, x : x + 1], 5000, 25000)[0, 0])
    assert abs(_drawn_grey(canvas, x, y) - expected) <= 2


def test_readout_shows_raw_value_under_cursor(qtbot, main_window):
    path = need(RADIOGRAPHS / "spotprojection_0001.tif")  # float32
    open_and_wait(qtbot, main_window, path)
    data = tifffile.imread(path)
    canvas = main_window.canvas
    for x, y in ((10, 5), (300, 20), (477, 35)):
        qtbot.mouseMove(canvas.viewport(), _viewport_point(canvas, x, y))
        qtbot.waitUntil(
            lambda x=x, y=y: f"x {x}  y {y} " in main_window.readout.text(), timeout=2000
        )
        assert f"{float(data[y, x]):.6g}" in main_window.readout.text()


def test_slice_slider_and_keys_change_displayed_slice(qtbot, main_window):
    path = need(RADIOGRAPHS / "multiframe.tif")
    document = open_and_wait(qtbot, main_window, path)
    stack = tifffile.imread(path)
    bar = main_window.slice_bar
    assert bar.isVisible() and bar.slider.maximum() == 4
    bar.slider.setFocus()
    qtbot.keyClick(bar.slider, Qt.Key.Key_End)
    assert document.index == 4
    np.testing.assert_array_equal(main_window.canvas.base_array, stack[4])
    main_window.canvas.setFocus()
    qtbot.keyClick(main_window.canvas, Qt.Key.Key_Comma)  # previous slice
    assert document.index == 3 and bar.slider.value() == 3
    np.testing.assert_array_equal(main_window.canvas.base_array, stack[3])


def test_zoom_shortcuts(qtbot, main_window):
    open_and_wait(qtbot, main_window, need(RADIOGRAPHS / "ob.tif"))
    canvas = main_window.canvas
    qtbot.keyClick(main_window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.screen_scale() == pytest.approx(1.0, rel=0.02)
    qtbot.keyClick(main_window, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert canvas.screen_scale() == pytest.approx(1.25, rel=0.02)
    qtbot.keyClick(main_window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    rect = canvas.view.viewRect()
    assert rect.width() >= 600 * 0.99 and rect.height() >= 600 * 0.99  # the whole image fits
    assert min(rect.width(), rect.height()) <= 600 * 1.1


def test_layout_and_recent_files_persist_across_restart(qtbot, settings_dir):
    from qbi_desktop.gui.main_window import MainWindow

    path = need(RADIOGRAPHS / "dc.tif")
    first = MainWindow()
    qtbot.addWidget(first)
    first.resize(1200, 800)
    first.show()
    open_and_wait(qtbot, first, path)
    first.docks["info"].hide()
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, first.docks["levels"])
    first.resize(731, 611)  # within the offscreen screen (800x800)
    saved_size = (first.size().width(), first.size().height())
    assert saved_size != (1200, 800)
    first.close()

    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    assert (second.size().width(), second.size().height()) == saved_size
    assert not second.docks["info"].isVisible()
    assert second.dockWidgetArea(second.docks["levels"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    recent = [a.text() for a in second.recent_menu.actions()]
    assert recent[0] == str(path.absolute())
    second.recent_menu.actions()[0].trigger()  # reopen from the menu
    qtbot.waitUntil(lambda: second.current is not None, timeout=5000)
    assert second.current.path == path.absolute()
    # Reset layout brings every dock back.
    second.reset_layout()
    assert second.docks["info"].isVisible()
    second.close()


def test_cancelled_background_load_leaves_app_usable(qtbot, main_window, tmp_path):
    big = np.random.default_rng(0).integers(0, 60000, (4096, 4096), dtype=np.uint16)
    path = tmp_path / "big_tiled.tif"
    tifffile.imwrite(path, big, compression="zlib", tile=(64, 64))
    open_and_wait(qtbot, main_window, path)
    decode = main_window._decode_task
    assert decode is not None
    qtbot.waitUntil(lambda: decode.state == "running", timeout=5000)
    # The user presses Cancel on the task's row in the Tasks dock.
    table = main_window.tasks_panel.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text().startswith("Decode"))
    button = table.cellWidget(row, 3)
    assert isinstance(button, QPushButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: decode.finished, timeout=5000)
    assert decode.state == "cancelled"
    assert table.item(row, 1).text() == "cancelled"
    # Still usable: another image opens and shows.
    document = open_and_wait(qtbot, main_window, need(RADIOGRAPHS / "ob.tif"))
    assert main_window.current is document and main_window.canvas.plane is document.plane()


def test_progressive_decode_fills_in_and_finishes(qtbot, main_window, tmp_path):
    data = np.random.default_rng(1).integers(1000, 60000, (3000, 2500), dtype=np.uint16)
    path = tmp_path / "lzw_tiled.tif"
    tifffile.imwrite(path, data, compression="lzw", tile=(256, 256))
    document = open_and_wait(qtbot, main_window, path)
    task = main_window._decode_task
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "done"
    np.testing.assert_array_equal(document.plane().array, data)
    qtbot.waitUntil(lambda: main_window.canvas.base_array.max() > 0, timeout=2000)
    # Levels were recomputed from the decoded data, not from the empty plane.
    assert main_window.current.levels[1] > 1000


def test_bad_file_reports_and_app_carries_on(qtbot, main_window, tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage")
    with qtbot.waitSignal(main_window.error_reported, timeout=5000) as signal:
        main_window.open_file(bad)
    message = signal.args[0]
    assert str(bad) in message and "TIFF" in message
    assert str(bad) in main_window.statusBar().currentMessage()
    assert str(bad) in main_window.tasks_panel.log_view.toPlainText()
    document = open_and_wait(qtbot, main_window, need(RADIOGRAPHS / "dc.tif"))
    assert main_window.current is document


def test_drag_and_drop_opens_files(qtbot, main_window):
    path = need(RADIOGRAPHS / "ob.tif")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    main_window.dropEvent(event)
    qtbot.waitUntil(lambda: main_window.current is not None, timeout=5000)
    assert main_window.current.path == path.absolute()


def test_demo_opens_simulated_stack(qtbot, main_window):
    task = main_window.open_demo()
    qtbot.waitUntil(lambda: main_window.current is not None, timeout=30000)
    assert task.state == "done"
    document = main_window.current
    assert document.source.n_slices == 4 and document.source.dtype == np.uint16
    assert main_window.slice_bar.isVisible()


def test_docks_can_be_hidden_and_restored_from_view_menu(qtbot, main_window):
    action = main_window.docks["levels"].toggleViewAction()
    assert action in main_window.panels_menu.actions()
    action.trigger()
    assert not main_window.docks["levels"].isVisible()
    action.trigger()
    assert main_window.docks["levels"].isVisible()
    assert all(isinstance(d, QDockWidget) for d in main_window.docks.values())
