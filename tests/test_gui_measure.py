"""Measure menu on the real window: a line profile and region statistics equal numpy on the
same pixels, follow handle drags live and the unit switch (counts -> transmission), and the
scale bar has the right length for a known pixel size."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import RADIOGRAPHS, need, open_and_wait
from PySide6.QtCore import QPoint, QPointF, Qt
from skimage import draw


def _tools(window):
    return window.panels["measure"]


def _viewport_point(canvas, x: float, y: float) -> QPoint:
    return canvas.mapFromScene(canvas.view.mapViewToScene(QPointF(x, y)))


def _drag(qtbot, canvas, start, end, steps=12, burst=10):
    """Drag with the left button from view point ``start`` to ``end`` through real mouse events,
    ``burst`` moves at a time with a frame (30 ms) of event loop between bursts."""
    viewport = canvas.viewport()
    a = _viewport_point(canvas, *start)
    qtbot.mouseMove(viewport, a)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    for i in range(1, steps + 1):
        t = i / steps
        p = QPointF(start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
        qtbot.mouseMove(viewport, _viewport_point(canvas, p.x(), p.y()))
        if i % burst == 0:
            qtbot.wait(30)
    b = _viewport_point(canvas, *end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)


@pytest.fixture
def edge_window(qtbot, main_window):
    path = need(RADIOGRAPHS / "edge20mm_0000.tif")
    open_and_wait(qtbot, main_window, path)
    return main_window, tifffile.imread(path)


def test_line_profile_key_plots_numpy_values_and_follows_a_handle_drag(qtbot, edge_window):
    window, raw = edge_window
    tools = _tools(window)
    assert tools.pane.isHidden()
    window.canvas.setFocus()
    annotate = window.panels["annotate"]
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)  # the brush owns the left button...
    assert annotate.controller.tool is not None
    qtbot.keyClick(window.canvas, Qt.Key.Key_I)  # Measure ▸ Line Profile
    assert tools.line is not None and tools.pane.isVisible()
    assert annotate.controller.tool is None  # ...until a measure tool is placed: Navigate
    # Put the line across the edge: from pixel centre (50, 300) to (550, 300).
    tools.line.movePoint(tools.line.getHandles()[0], QPointF(50.5, 300.5), finish=False)
    tools.line.movePoint(tools.line.getHandles()[1], QPointF(550.5, 300.5))
    qtbot.waitUntil(lambda: tools.profile is not None and tools.profile.length == 500, timeout=2000)
    x, y = tools.pane.curve.getData()
    np.testing.assert_allclose(y, raw[300, 50:551].astype(float))  # one sample per pixel centre
    assert x[-1] == pytest.approx(500)
    assert window.canvas.plane is not None and tools.pane.plot.isVisible()

    # Drag the end handle with the mouse to (550.5, 100.5): the plot follows, bilinear values.
    updates = tools.updates
    _drag(qtbot, window.canvas, (550.5, 300.5), (550.5, 100.5), steps=40)
    qtbot.waitUntil(lambda: abs(tools.line_ends()[1][1] - 100.5) < 2, timeout=2000)
    qtbot.wait(50)
    start, end = tools.line_ends()
    from scipy import ndimage

    _d, y = tools.pane.curve.getData()
    n = len(y)
    xs, ys = np.linspace(start[0], end[0], n), np.linspace(start[1], end[1], n)
    expected = ndimage.map_coordinates(raw.astype(float), [ys - 0.5, xs - 0.5], order=1)
    np.testing.assert_allclose(y, expected, rtol=1e-9)
    # Live while dragging (after each burst of moves) but at most once per frame: 4 bursts of
    # 10 moves give about 4 updates (+1 at the release), not 40.
    assert 3 <= tools.updates - updates <= 8


def test_region_statistics_equal_numpy_and_follow_the_unit(qtbot, edge_window):
    window, raw = edge_window
    tools = _tools(window)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Q)  # Rectangle ROI
    assert tools.region_kind == "rectangle"
    tools.region.setPos((100, 200))
    tools.region.setSize((150, 60))
    qtbot.waitUntil(lambda: tools.region_rect() == (100, 200, 150, 60), timeout=2000)
    qtbot.waitUntil(lambda: tools.stats is not None and tools.stats.count == 9000, timeout=2000)
    block = raw[200:260, 100:250].astype(np.float64)
    stats = tools.stats
    assert stats.mean == pytest.approx(block.mean(), rel=1e-12)
    assert stats.std == pytest.approx(block.std(ddof=1), rel=1e-9)
    assert (stats.min, stats.max) == (block.min(), block.max())
    text = tools.pane.stats.text()
    assert f"mean {block.mean():.6g}" in text and "count 9,000 px" in text
    assert f"SNR {block.mean() / block.std(ddof=1):.6g}" in text and "Counts" in text

    # The unit key switches the image to transmission: the statistics follow.
    panel = window.panels["radiography"]
    task = panel.set_references(
        [str(need(RADIOGRAPHS / "ob.tif"))], [str(need(RADIOGRAPHS / "dc.tif"))]
    )
    qtbot.waitUntil(lambda: task.finished and panel.refs is not None, timeout=10000)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_U)
    assert panel.unit.currentData() == "transmission"
    qtbot.waitUntil(lambda: "Transmission" in tools.pane.stats.text(), timeout=3000)
    ob = tifffile.imread(RADIOGRAPHS / "ob.tif").astype(np.float64)
    dc = tifffile.imread(RADIOGRAPHS / "dc.tif").astype(np.float64)
    t = ((raw - dc) / (ob - dc))[200:260, 100:250]
    assert tools.stats.mean == pytest.approx(np.nanmean(t), rel=1e-5)
    assert tools.stats.std == pytest.approx(np.nanstd(t, ddof=1), rel=1e-4)
    assert tools.stats.mean < 2  # no longer counts


def test_ellipse_statistics_equal_numpy_on_the_same_pixels(qtbot, edge_window):
    window, raw = edge_window
    tools = _tools(window)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_O)  # Ellipse ROI
    assert tools.region_kind == "ellipse"
    tools.region.setPos((201, 152), finish=False)
    tools.region.setSize((151, 97))
    qtbot.waitUntil(lambda: tools.region_rect() == (201, 152, 151, 97), timeout=2000)
    qtbot.wait(40)
    rr, cc = draw.ellipse(152 + 48.5 - 0.5, 201 + 75.5 - 0.5, 48.5, 75.5, shape=raw.shape)
    pixels = raw[rr, cc].astype(np.float64)
    assert tools.stats.count == pixels.size
    assert tools.stats.mean == pytest.approx(pixels.mean(), rel=1e-12)
    assert tools.stats.std == pytest.approx(pixels.std(ddof=1), rel=1e-9)
    # Clearing removes the tools and the pane.
    qtbot.keyClick(
        window.canvas,
        Qt.Key.Key_M,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert tools.region is None and tools.pane.isHidden()


def test_big_region_is_estimated_live_and_exact_after_release(qtbot, main_window):
    big = np.random.default_rng(3).integers(0, 60000, (3000, 3000), dtype=np.uint16)
    main_window.open_array(big, "big")
    qtbot.waitUntil(lambda: main_window.canvas.plane is not None, timeout=10000)
    tools = _tools(main_window)
    tools.add_region("rectangle", (0, 0, 3000, 3000))
    step = tools.stats.step
    assert step > 1 and f"estimate from 1 row in {step}" in tools.pane.stats.text()
    assert tools.stats.count == len(range(0, 3000, step)) * 3000
    tools.region.setSize((3000, 2999))  # a drag's last change: the exact job runs
    qtbot.waitUntil(lambda: tools.stats is not None and tools.stats.exact, timeout=10000)
    block = big[:2999].astype(np.float64)
    assert tools.stats.count == block.size
    assert tools.stats.mean == pytest.approx(block.mean(), rel=1e-12)
    assert "estimate" not in tools.pane.stats.text()


def test_scale_bar_has_the_round_length_of_a_known_pixel_size(qtbot, main_window, tmp_path):
    path = tmp_path / "sized.tif"
    image = np.linspace(0, 4000, 400 * 500, dtype=np.float32).reshape(400, 500).astype(np.uint16)
    tifffile.imwrite(path, image, imagej=True, resolution=(10.0, 10.0), metadata={"unit": "mm"})
    open_and_wait(qtbot, main_window, path)  # 0.1 mm per pixel
    bar = _tools(main_window).scale_bar
    assert not bar.isVisible()
    main_window.canvas.setFocus()
    qtbot.keyClick(
        main_window.canvas,
        Qt.Key.Key_B,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert bar.action.isChecked() and bar.isVisible()
    main_window.canvas.zoom_to(1.0)  # one image pixel per screen pixel
    qtbot.waitUntil(lambda: abs(main_window.canvas.screen_scale() - 1) < 1e-6, timeout=2000)
    bar.refresh()
    target_mm = main_window.canvas.width() * 0.2 * 0.1
    expected_mm = max(v for v in (1, 2, 5, 10, 20, 50, 100) if v <= target_mm)
    assert bar.label == f"{expected_mm:g} mm"
    assert bar.bar_rect.width() == round(expected_mm / 0.1)
    # Drawn where it says: the middle of the bar is white on the grabbed canvas.
    shot = main_window.canvas.grab().toImage()
    centre = bar.bar_rect.center()
    ratio = shot.width() / main_window.canvas.width()
    colour = shot.pixelColor(int(centre.x() * ratio), int(centre.y() * ratio))
    assert (colour.red(), colour.green(), colour.blue()) == (255, 255, 255)
    # Zoomed 2x, the same round length is twice as long on screen (or the next round one).
    main_window.canvas.zoom_to(2.0)
    qtbot.waitUntil(lambda: abs(main_window.canvas.screen_scale() - 2) < 1e-6, timeout=2000)
    value = float(bar.label.split()[0])
    assert bar.bar_rect.width() == round(value / 0.1 * 2)


@pytest.mark.parametrize("size", [(1366, 768), (1600, 1000)])
def test_profile_pane_fits_under_the_canvas_at_laptop_size(qtbot, settings_dir, size):
    from test_gui_layout import make_window, unclipped

    window = make_window(qtbot, size)  # the real window at its default layout
    try:
        open_and_wait(qtbot, window, need(RADIOGRAPHS / "edge20mm_0000.tif"))
        tools = _tools(window)
        tools.add_line()
        tools.add_region("rectangle")
        qtbot.waitUntil(lambda: tools.pane.isVisible(), timeout=2000)
        canvas = window.canvas
        # The plot and the read-out are whole on screen; the image keeps its half of the width
        # and most of the centre's height.
        assert unclipped(window, tools.pane.plot) and unclipped(window, tools.pane.stats)
        assert canvas.height() >= 2 * tools.pane.height()
        assert canvas.width() >= window.width() / 2
    finally:
        window.tasks.cancel_all()
        window.tasks.wait(5000)
        window.close()
