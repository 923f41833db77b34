"""Spot review keys where the reviewer looks, and undo of every review decision.

A user reviewing spots clicks the image to look at one and goes on pressing A / R: on the
image those keys did the Annotate panel's things (A: previous Browser item, E: the eraser), and
Ctrl+Z after A then R took back the accept's stroke while the reject stayed.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

try:
    from tests.gui_spots_helpers import open_simulated_spots
    from tests.test_gui_first_hour_help import _shortcut_table
except ImportError:  # pragma: no cover
    from gui_spots_helpers import open_simulated_spots
    from test_gui_first_hour_help import _shortcut_table

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def review_window(qtbot, main_window, tmp_path):
    window = main_window
    _sim, _path, annotate = open_simulated_spots(qtbot, window, tmp_path, 256, 5)
    panel = window.panels["spots"]
    window.docks["spots"].raise_()  # the user switches to the Spots tab
    qtbot.waitUntil(lambda: _in_front(panel), timeout=3000)
    qtbot.mouseClick(panel.detect_button, Qt.MouseButton.LeftButton)
    task = panel.task
    qtbot.waitUntil(lambda: task.finished and panel.review is not None, timeout=20000)
    assert len(panel.review) >= 5
    return window, panel, annotate


def _in_front(panel) -> bool:
    """The panel's tab is the selected one (a dock behind another tab is moved out of sight)."""
    dock = panel.window.docks["spots"]
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


def _click_image(qtbot, window):
    """A left click on the image (Navigate: it paints nothing) gives the canvas the focus."""
    viewport = window.canvas.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=viewport.rect().center())
    qtbot.waitUntil(lambda: window.canvas.hasFocus() or window.canvas.viewport().hasFocus())
    return window.canvas


def _row_text(panel, sid) -> str:
    return panel.queue.item(panel.order.index(sid)).text()


def test_click_the_image_then_accept_reject_and_undo_each_decision_in_order(qtbot, review_window):
    window, panel, annotate = review_window
    editor = annotate.session.editor
    canvas = _click_image(qtbot, window)
    first = panel.current
    qtbot.keyClick(canvas, Qt.Key.Key_A)
    spot = panel.review[first]
    assert spot.state == "accepted"
    assert (editor.mask[spot.ys, spot.xs] == annotate.controller.label).all()
    second = panel.current
    assert second != first
    qtbot.keyClick(canvas, Qt.Key.Key_R)
    assert panel.review[second].state == "rejected"
    assert "rejected" in _row_text(panel, second)
    assert annotate.controller.tool is None  # no tool was switched on by the keys

    # Ctrl+Z: the reject (the last decision) is taken back; the accept and its pixels stay
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert panel.review[second].state == "proposed"
    assert "proposed" in _row_text(panel, second)
    assert panel.current == second  # the list shows the spot whose decision was undone
    assert panel.review[first].state == "accepted"
    assert int((editor.mask > 0).sum()) == spot.area
    # Ctrl+Z again: now the accept, with its stroke
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert panel.review[first].state == "proposed"
    assert not editor.mask.any()
    assert "proposed" in _row_text(panel, first)
    # redo both, in order: Ctrl+Shift+Z the accept, Ctrl+Y the reject
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL | SHIFT)
    assert panel.review[first].state == "accepted"
    assert (editor.mask[spot.ys, spot.xs] == annotate.controller.label).all()
    assert panel.review[second].state == "proposed"
    qtbot.keyClick(canvas, Qt.Key.Key_Y, CTRL)
    assert panel.review[second].state == "rejected"
    assert int((editor.mask > 0).sum()) == spot.area
    counts = panel.review.counts()
    assert f"{counts['accepted']} accepted, {counts['rejected']} rejected" in panel.summary.text()


def test_undo_goes_to_a_stroke_painted_after_a_decision_first(qtbot, review_window):
    """Reject, then paint a stroke by hand: Ctrl+Z takes the stroke, the next one the reject."""
    window, panel, annotate = review_window
    editor = annotate.session.editor
    canvas = _click_image(qtbot, window)
    rejected = panel.current
    qtbot.keyClick(canvas, Qt.Key.Key_R)
    annotate.set_tool("brush")
    viewport = canvas.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=viewport.rect().center())
    assert editor.mask.any()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert not editor.mask.any()
    assert panel.review[rejected].state == "rejected"
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert panel.review[rejected].state == "proposed"
    # the Edit menu names what the next redo does
    window.undo_router.refresh()
    assert f"reject spot #{rejected}" in window.undo_router.redo_action.text()


def test_keys_on_the_image_follow_the_panel_shown(qtbot, review_window):
    """With the Spots panel shown, E on the image edits the spot (not the eraser) and the dock
    says where its keys go; with the Annotate panel shown, A and E are its own again."""
    window, panel, annotate = review_window
    assert "on the image" in panel.keys_label.text()
    canvas = _click_image(qtbot, window)
    current = panel.current
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    assert panel.review[current].state == "edited"
    assert annotate.controller.tool == "brush"  # Edit's brush, not the eraser
    qtbot.keyClick(canvas, Qt.Key.Key_N)
    assert panel.current == panel.order[panel.order.index(current) + 1]
    qtbot.keyClick(canvas, Qt.Key.Key_P)
    assert panel.current == current

    window.docks["annotate"].raise_()
    qtbot.waitUntil(lambda: not _in_front(panel), timeout=3000)
    assert not panel.review_keys_on_image()
    annotate.set_tool(None)
    canvas = _click_image(qtbot, window)
    before = panel.review.counts()
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    assert annotate.controller.tool == "eraser"
    qtbot.keyClick(canvas, Qt.Key.Key_A)  # the Browser's previous item: says it needs one
    assert panel.review.counts() == before


def test_help_lists_the_review_keys_with_what_they_do(qtbot, review_window):
    window, _panel, _annotate = review_window
    rows = _shortcut_table(window)
    spots = {keys: what for where, what, keys in rows if where == "Spots panel"}
    assert "accept" in spots["A"].lower() and "image" in spots["A"].lower()
    assert "reject" in spots["R"].lower()
    assert "edit" in spots["E"].lower()
    assert "next" in spots["N"].lower() and "previous" in spots["P"].lower()
    # the Annotate panel's own keys are still listed for it
    annotate = {keys: what for where, what, keys in rows if where == "Annotate panel"}
    assert "previous item" in annotate["A"].lower()
    assert all(k in annotate for k in ("B", "E", "F"))


def test_a_box_drawn_after_a_decision_is_undone_first_even_with_a_full_box_history(
    qtbot, review_window
):
    """The canvas keeps the last 200 box edits: once it holds that many, a new box edit leaves
    their number unchanged, and Ctrl+Z must still take the newest box before the decision."""
    from qbi_desktop.core.catalog import Box
    from qbi_desktop.gui.undo import STACK_LIMIT

    window, panel, annotate = review_window
    session = annotate.boxes.session
    for i in range(STACK_LIMIT):
        assert session.add(Box("object", 1 + i % 50, 1, 5, 5))
    canvas = _click_image(qtbot, window)
    rejected = panel.current
    qtbot.keyClick(canvas, Qt.Key.Key_R)
    assert panel.review[rejected].state == "rejected"
    assert session.add(Box("late", 100, 100, 20, 20))
    boxes = len(session.boxes)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    assert [b.label for b in session.boxes].count("late") == 0  # the newest box went
    assert len(session.boxes) == boxes - 1
    assert panel.review[rejected].state == "rejected"  # the decision stayed
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)  # now the decision
    assert panel.review[rejected].state == "proposed"
    assert len(session.boxes) == boxes - 1
