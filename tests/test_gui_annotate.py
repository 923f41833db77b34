"""Annotate dock + canvas tools, driven through real widgets, real tablet and mouse events."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer
from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication, QMessageBox

try:
    from tests.conftest import RADIOGRAPHS, need, open_and_wait
except ImportError:  # pragma: no cover - rootdir without package
    from conftest import RADIOGRAPHS, need, open_and_wait

from qbi_desktop.core.annotation.journal import Journal
from qbi_desktop.core.annotation.masks import ConstraintRule, MaskEditor, constrained_footprint
from qbi_desktop.core.maskio import load_mask
from qbi_desktop.core.paths import user_dir

PEN = QPointingDevice.PointerType.Pen
ERASER = QPointingDevice.PointerType.Eraser


def _device(kind=PEN, ident=1):
    return QPointingDevice(
        "pen" if kind == PEN else "eraser",
        ident,
        QInputDevice.DeviceType.Stylus,
        kind,
        QInputDevice.Capability.Position | QInputDevice.Capability.Pressure,
        1,
        3,
    )


class Pen:
    """Sends real QTabletEvents to the canvas viewport at image coordinates (x, y)."""

    def __init__(self, window, kind=PEN, ident=1):
        self.window = window
        self.canvas = window.canvas
        self.vp = window.canvas.viewport()
        self.device = _device(kind, ident)

    def viewport_pos(self, x: float, y: float) -> QPointF:
        scene = self.canvas.view.mapViewToScene(QPointF(x, y))
        return self.canvas.viewportTransform().map(scene)

    def send(self, kind, x, y, pressure):
        pos = self.viewport_pos(x, y)
        buttons = (
            Qt.MouseButton.NoButton
            if kind == QEvent.Type.TabletRelease
            else Qt.MouseButton.LeftButton
        )
        ev = QTabletEvent(
            kind,
            self.device,
            pos,
            QPointF(self.vp.mapToGlobal(pos.toPoint())),
            pressure,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            Qt.KeyboardModifier.NoModifier,
            Qt.MouseButton.LeftButton,
            buttons,
        )
        QApplication.sendEvent(self.vp, ev)
        return ev

    def stroke(self, points, pressure=0.5):
        """points: list of (x, y) in image coordinates; pressure: float or list."""
        ps = pressure if isinstance(pressure, list) else [pressure] * len(points)
        self.send(QEvent.Type.TabletPress, *points[0], ps[0])
        for (x, y), p in zip(points[1:], ps[1:], strict=True):
            self.send(QEvent.Type.TabletMove, x, y, p)
        self.send(QEvent.Type.TabletRelease, *points[-1], 0.0)


@pytest.fixture
def radiograph(tmp_path):
    src = need(RADIOGRAPHS / "edge20mm_0000.tif")
    dst = tmp_path / "edge.tif"
    shutil.copy(src, dst)
    return dst


@pytest.fixture
def painting(qtbot, main_window, radiograph):
    """The window with the radiograph open and its mask ready; canvas zoomed so pixels are big."""
    window = main_window
    open_and_wait(qtbot, window, radiograph)
    panel = window.panels["annotate"]
    # pytest-qt closes the window before fixture teardown: never ask about the test's strokes
    panel.unsaved_answer = "discard"
    qtbot.waitUntil(lambda: panel.session is not None and panel.session.ready, timeout=10000)
    window.canvas.view.setRange(
        xRange=(0, 300), yRange=(0, 300), padding=0
    )  # ~2-3 screen px per image px
    QApplication.processEvents()
    return window, panel


def _painted(panel):
    return panel.session.editor.mask.copy()


def test_pen_pressure_grows_footprint_and_eraser_end_erases(painting):
    window, panel = painting
    panel.set_tool("brush")
    c = panel.controller
    c.min_size, c.max_size, c.gamma = 2.0, 30.0, 1.0
    pen = Pen(window)
    areas = []
    for i, p in enumerate((0.1, 0.5, 1.0)):
        before = int((panel.session.editor.mask > 0).sum())
        pen.stroke([(60 + 70 * i, 60)], p)
        areas.append(int((panel.session.editor.mask > 0).sum()) - before)
    assert areas[0] > 0
    assert areas[0] < areas[1] < areas[2]
    # the pen at full pressure paints (about) a disc of the max diameter
    assert abs(areas[2] - np.pi * 15**2) < 0.15 * np.pi * 15**2
    assert panel.session.editor.undo_depth == 3  # one stroke = one undo step

    # the pen's eraser end erases what was painted under it, with the same tool selected
    eraser = Pen(window, ERASER, ident=2)
    m = panel.session.editor.mask
    assert m[60, 200] > 0
    eraser.stroke([(200, 60)], 1.0)
    assert m[60, 200] == 0
    assert (m[45:76, 185:216] == 0).all()
    assert panel.controller.tool == "brush"


def test_fast_stroke_leaves_no_gaps_and_undo_redo_exact(painting):
    window, panel = painting
    panel.set_tool("brush")
    panel.controller.set_size(5)
    mouse_radius_pen = Pen(window)
    c = panel.controller
    c.min_size = c.max_size = 5.0
    before = _painted(panel)
    # four samples 80 px apart: a very fast flick. The row is off the pixel grid (200.3, not
    # 200) so no pixel centre lies exactly on the stroke's edge, where the float error of mapping
    # the pen through the view (which depends on the canvas size) would decide it.
    pts = [(20, 200.3), (100, 200.3), (180, 200.3), (260, 200.3)]
    mouse_radius_pen.stroke(pts, 0.7)
    after = _painted(panel)
    row = after[200, 20:261]
    assert (row == 1).all(), "gap in a fast stroke"
    # same as the core line through the same samples
    ref = MaskEditor(after.shape)
    ref.begin_stroke(1)
    ref.dab(200.3 - 0.5, 20 - 0.5, 2.5)
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:], strict=True):
        ref.line(y0 - 0.5, x0 - 0.5, y1 - 0.5, x1 - 0.5, 2.5)
    ref.end_stroke()
    assert np.array_equal(ref.mask > 0, after > 0)

    panel.undo()
    assert np.array_equal(_painted(panel), before)
    assert np.array_equal(panel.overlay.drawn() != 0, before > 0)
    panel.redo()
    assert np.array_equal(_painted(panel), after)
    # the window-wide shortcuts do the same
    window.panels["annotate"].actions["undo"].trigger()
    assert np.array_equal(_painted(panel), before)
    window.panels["annotate"].actions["redo"].trigger()
    assert np.array_equal(_painted(panel), after)


def test_mouse_stroke_and_overlay_changes_only_in_changed_rect(qtbot, painting):
    window, panel = painting
    panel.set_tool("brush")
    panel.controller.set_size(7)
    pen = Pen(window)
    pen.stroke([(40, 40), (60, 50)], 0.5)
    drawn_before = panel.overlay.drawn()
    view_before = window.canvas.view.viewRect()
    rendered_before = panel.overlay.rendered_pixels
    # a mouse stroke elsewhere
    vp = window.canvas.viewport()
    start = pen.viewport_pos(150, 150).toPoint()
    end = pen.viewport_pos(170, 160).toPoint()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(vp, end)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=end)
    drawn_after = panel.overlay.drawn()
    changed = np.argwhere(drawn_after != drawn_before)
    assert changed.size
    y0, x0 = changed.min(axis=0)
    y1, x1 = changed.max(axis=0)
    # only around the mouse stroke: nothing near the first stroke changed
    assert y0 >= 140 and x0 >= 140 and y1 <= 170 and x1 <= 180
    # what was recoloured is the stroke's box, not the image (600 x 600 = 360000 px)
    assert panel.overlay.rendered_pixels - rendered_before < 2000
    assert np.array_equal(drawn_after != 0, panel.session.editor.mask > 0)
    # the view did not pan while painting
    assert window.canvas.view.viewRect() == view_before


def test_keys_switch_tools_and_size(qtbot, painting):
    window, panel = painting
    canvas = window.canvas
    canvas.setFocus()
    c = panel.controller
    for key, tool in (
        (Qt.Key.Key_B, "brush"),
        (Qt.Key.Key_E, "eraser"),
        (Qt.Key.Key_F, "fill"),
        (Qt.Key.Key_L, "lasso"),
        (Qt.Key.Key_C, "constrained"),
    ):
        qtbot.keyClick(canvas, key)
        assert c.tool == tool
        assert panel.tool_buttons[tool].isChecked()
    qtbot.keyClick(canvas, Qt.Key.Key_C)  # the same key again keeps the tool
    assert c.tool == "constrained"
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)  # Esc navigates
    assert c.tool is None
    c.set_size(10)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert c.size == 11
    assert panel.size_spin.value() == 11
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert c.size == 9
    # the slider sets the size too
    panel.size_slider.setValue(25)
    assert c.size == 25
    # V hides the mask, number keys choose the label
    qtbot.keyClick(canvas, Qt.Key.Key_V)
    assert not panel.overlay.isVisible()
    qtbot.keyClick(canvas, Qt.Key.Key_V)
    assert panel.overlay.isVisible()
    panel.add_label("edge")
    qtbot.keyClick(canvas, Qt.Key.Key_1)
    assert c.label == 1
    qtbot.keyClick(canvas, Qt.Key.Key_2)
    assert c.label == 2


def test_constrained_brush_paints_only_qualifying_pixels(painting):
    window, panel = painting
    c = panel.controller
    panel.set_tool("constrained")
    panel.rule_k.setValue(5.0)
    c.min_size = c.max_size = 31.0
    image = panel.session.image
    # find a bright spot: the largest residual in the visible area
    sub = np.asarray(image[20:280, 20:280], dtype=np.float32)
    y, x = np.unravel_index(np.argmax(sub), sub.shape)
    y, x = int(y) + 20, int(x) + 20
    # the live preview under the cursor shows what would be taken
    c.update_preview(y, x, 15.5)
    expected = constrained_footprint(np.asarray(image), y, x, 15.5, c.rule)
    assert expected is not None
    (ey0, ey1, ex0, ex1), take = expected
    assert c.preview.count == int(take.sum()) > 0
    pen = Pen(window)
    pen.stroke([(x + 0.5, y + 0.5)], 1.0)
    mask = panel.session.editor.mask
    got = mask[ey0:ey1, ex0:ex1] > 0
    assert np.array_equal(got, take)
    # and the disc held pixels that did not qualify, which stayed unpainted
    disc = (np.add.outer((np.arange(ey0, ey1) - y) ** 2, (np.arange(ex0, ex1) - x) ** 2)) <= 15.5**2
    assert (disc & ~take).sum() > 100
    assert int((mask > 0).sum()) == int(take.sum())
    assert isinstance(c.rule, ConstraintRule)


def test_fill_lasso_and_intensity_fill(painting):
    window, panel = painting
    pen = Pen(window)
    panel.set_tool("lasso")
    square = [(100, 100), (140, 100), (140, 140), (100, 140)]
    pen.stroke(square, 0.5)
    m = panel.session.editor.mask
    assert m[120, 120] == 1 and m[99 - 5, 120] == 0
    assert 1400 < int((m > 0).sum()) < 1800
    panel.undo()
    assert int((m > 0).sum()) == 0
    # fill on intensity: everything 4-connected within the tolerance of the clicked value
    panel.set_tool("fill")
    panel.fill_mode.setCurrentIndex(1)
    panel.tolerance.setValue(5000)
    pen.stroke([(250.5, 250.5)], 0.5)
    from skimage.segmentation import flood

    image = np.asarray(panel.session.image)
    ref = flood(
        image.astype(image.dtype.newbyteorder("=")), (250, 250), connectivity=1, tolerance=5000
    )
    assert np.array_equal(panel.session.editor.mask > 0, ref)


def test_journal_holds_every_stroke_and_save_load(tmp_path, painting):
    window, panel = painting
    panel.set_tool("brush")
    pen = Pen(window)
    for i in range(3):
        pen.stroke([(50 + 30 * i, 220), (60 + 30 * i, 230)], 0.6)
    s = panel.session
    assert s.journal is not None and s.journal.n_strokes == 3
    from qbi_desktop.core.annotation.journal import replay

    replayed, n, problems = replay(s.journal.path, s.identity)
    assert n == 3 and not problems
    assert np.array_equal(replayed, s.editor.mask)
    out = tmp_path / "out" / "m.tif"
    out.parent.mkdir()
    assert panel.save_to(out)
    assert np.array_equal(load_mask(out, s.image.shape), s.editor.mask)
    assert not s.modified
    # the journal stays in the user's recovery folder (nothing is left beside the saved mask)
    # and starts again from the saved mask
    assert s.journal.path.parent == user_dir("recovery")
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.tif"]
    assert s.journal.n_strokes == 0 and Journal.pending_at(s.journal.path, s.identity) is None
    # a new mask, then loading the saved one, gives it back
    panel.new_mask()
    assert not s.editor.mask.any()
    assert panel.load_from(out)
    assert np.array_equal(s.editor.mask, load_mask(out, s.image.shape))


def test_save_to_read_only_folder_keeps_the_mask(tmp_path, painting):
    window, panel = painting
    panel.set_tool("brush")
    Pen(window).stroke([(80, 80)], 0.8)
    before = _painted(panel)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if _can_write(ro):  # running as root: chmod does not stop us; sysfs is read-only
            ro = Path("/sys")
            if not ro.is_dir() or _can_write(ro):
                pytest.skip("no read-only folder available")
        assert not panel.save_to(ro / "m.tif")
    finally:
        if ro != Path("/sys"):
            ro.chmod(0o755)
    assert "permission denied" in window.last_error or "read-only" in window.last_error
    assert str(ro) in window.last_error
    assert np.array_equal(_painted(panel), before)
    assert panel.session.modified


def _can_write(folder):
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def test_wrong_shape_import_is_refused_clearly(tmp_path, painting):
    window, panel = painting
    bad = tmp_path / "small.tif"
    tifffile.imwrite(bad, np.ones((300, 300), dtype=np.uint8))
    assert not panel.import_from(bad)
    assert "300x300" in window.last_error and "600x600" in window.last_error
    assert str(bad) in window.last_error
    assert not panel.session.editor.mask.any()
    # a colour annotation: pixels of one colour become the active label
    rgb = np.zeros((600, 600, 3), dtype=np.uint8)
    rgb[10:20, 30:50] = (255, 0, 0)
    rgb[40:45, 40:45] = (0, 255, 0)
    good = tmp_path / "drawn.png"
    from PIL import Image

    Image.fromarray(rgb).save(good)
    assert panel.import_from(good, mode="colour", colour=(255, 0, 0))
    m = panel.session.editor.mask
    assert int((m == 1).sum()) == 200 and m[42, 42] == 0
    assert panel.session.editor.undo_depth == 1


def test_closing_with_unsaved_changes_asks(qtbot, painting):
    window, panel = painting
    panel.set_tool("brush")
    Pen(window).stroke([(80, 80)], 0.8)
    panel.unsaved_answer = None  # this test answers the real question box

    def answer(button):
        def click():
            box = QApplication.activeModalWidget()
            if isinstance(box, QMessageBox):
                box.button(button).click()
            else:  # not shown yet
                QTimer.singleShot(20, click)

        QTimer.singleShot(0, click)

    answer(QMessageBox.StandardButton.Cancel)
    window.close_current()
    assert len(window.documents) == 1  # cancelled: still open, mask intact
    assert panel.session is not None and panel.session.editor.mask.any()
    journal = panel.session.journal.path
    answer(QMessageBox.StandardButton.Discard)
    window.close_current()
    assert len(window.documents) == 0
    assert not journal.exists()  # discarded on purpose: nothing to recover next time
    panel.unsaved_answer = "discard"
