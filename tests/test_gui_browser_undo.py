"""Undo by context: Ctrl+Z in the Browser undoes the Browser's edits, on the canvas the strokes.

Real window, real project, real key presses on the Browser's table and the canvas, real mouse
strokes; catalog values read back with ``open_project``.
"""

from __future__ import annotations

import numpy as np
from gui_window_events import click_through_window
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project

try:
    from tests.test_gui_browser_annotate import (  # noqa: F401
        _id_of,
        _mouse_stroke,
        _old_mask,
        _open_row_with_enter,
        opened,
    )
except ImportError:  # pragma: no cover
    from test_gui_browser_annotate import _id_of, _mouse_stroke, _old_mask, opened  # noqa: F401


def _label(root, item_id):
    with open_project(root) as project:
        return project.get(item_id)["label"]


def _key(qtbot, widget, key, modifiers=Qt.KeyboardModifier.NoModifier):
    widget.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(widget, key, modifiers)


CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def _stroke_then_label(qtbot, opened, points, classes: str, key):
    """A stroke on the canvas, then item b0 labelled with ``key`` in the Browser (its classes
    ``classes``); b0's id and the painted mask."""
    window, browser, annotate, root, _a0 = opened
    with open_project(root) as project:
        b0 = _id_of(project, "b0")
    _mouse_stroke(qtbot, window, points)
    painted = annotate.session.mask.copy()
    assert not np.array_equal(painted, _old_mask())
    browser.classes_edit.setText(classes)
    table = browser.table
    table.setFocus()
    table.selectRow(browser.model.row_of(b0))
    _key(qtbot, table, key)
    return b0, painted


def test_ctrl_z_undoes_in_the_focused_panel_only(qtbot, opened):
    window, browser, annotate, root, a0 = opened
    session = annotate.session
    # A stroke on the canvas, then a label with key 3 in the Browser.
    b0, painted = _stroke_then_label(
        qtbot, opened, [(20, 20), (30, 20)], "a, b, c, d", Qt.Key.Key_3
    )
    table = browser.table
    assert _label(root, b0) == "d"

    router = window.undo_router
    router.menu.aboutToShow.emit()
    assert router.undo_action.text() == "&Undo label 'd' (Browser)"

    # Ctrl+Z with the Browser focused: the label comes back, the stroke stays.
    _key(qtbot, table, Qt.Key.Key_Z, CTRL)
    assert _label(root, b0) == "b"
    assert np.array_equal(session.mask, painted)
    assert browser.model.item(browser.model.row_of(b0))["label"] == "b"
    history = [h for h in open_project(root).history(b0) if h["what"] == "label"]
    assert [h["value"] for h in history][-2:] == ["d", "b"]  # the undo is in the history

    # Nothing more to undo in the Browser: nothing happens anywhere, and it is said.
    _key(qtbot, table, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(session.mask, painted) and _label(root, b0) == "b"
    assert window.statusBar().currentMessage() == "nothing to undo in Browser"

    # On the canvas, Ctrl+Z undoes the stroke and leaves the label alone.
    _key(qtbot, window.canvas, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(session.mask, _old_mask())
    assert _label(root, b0) == "b"
    _key(qtbot, window.canvas, Qt.Key.Key_Z, CTRL_SHIFT)  # redo: the stroke again
    assert np.array_equal(session.mask, painted)

    # Back in the Browser, Ctrl+Y redoes the label.
    _key(qtbot, table, Qt.Key.Key_Y, CTRL)
    assert _label(root, b0) == "d"
    assert np.array_equal(session.mask, painted)


def test_clicking_the_canvas_after_a_browser_edit_makes_undo_act_on_the_mask(qtbot, opened):
    window, browser, annotate, root, a0 = opened
    session = annotate.session
    with open_project(root) as project:
        b0 = _id_of(project, "b0")
    browser.classes_edit.setText("a, b")
    browser.table.selectRow(browser.model.row_of(b0))
    _key(qtbot, browser.table, Qt.Key.Key_0)
    assert _label(root, b0) == "a"
    _mouse_stroke(qtbot, window, [(10, 30), (20, 30)])  # the pen goes to the canvas
    painted = session.mask.copy()
    window.undo_router.undo_action.trigger()  # Edit > Undo from the menu
    assert np.array_equal(session.mask, _old_mask()) and _label(root, b0) == "a"
    assert not np.array_equal(painted, _old_mask())


def test_review_clear_label_and_notes_undo_one_edit_each(qtbot, opened):
    window, browser, annotate, root, a0 = opened
    table = browser.table
    row = browser.model.row_of(a0)
    table.selectRow(row)
    _key(qtbot, table, Qt.Key.Key_R)  # reject
    table.selectRow(row)
    _key(qtbot, table, Qt.Key.Key_Backspace)  # clear the label
    with open_project(root) as project:
        item = project.get(a0)
    assert item["review"] == "rejected" and item["label"] is None
    browser.table.selectRow(row)
    browser.set_notes("scratched")
    assert open_project(root).get(a0)["notes"] == "scratched"

    _key(qtbot, table, Qt.Key.Key_Z, CTRL)
    assert open_project(root).get(a0)["notes"] == ""
    _key(qtbot, table, Qt.Key.Key_Z, CTRL)
    assert _label(root, a0) == "a"
    _key(qtbot, table, Qt.Key.Key_Z, CTRL)
    assert open_project(root).get(a0)["review"] == "unreviewed"
    assert annotate.session.editor.undo_depth == 0  # no stroke was made or touched


def test_a_click_on_a_caption_of_a_panel_makes_undo_act_there(qtbot, opened):
    """A stroke, then a label in the Browser; a click on a caption of the Annotate panel (a
    label, which takes no focus itself) turns Edit > Undo to the stroke."""
    from PySide6.QtWidgets import QLabel

    window, browser, annotate, root, a0 = opened
    session = annotate.session
    b0, _painted = _stroke_then_label(qtbot, opened, [(10, 30), (20, 30)], "a, b", Qt.Key.Key_0)
    router = window.undo_router
    router.menu.aboutToShow.emit()
    assert router.undo_action.text().endswith("(Browser)")

    dock = window.docks["annotate"]
    dock.show()
    dock.raise_()
    QApplication.processEvents()
    caption = next(
        label
        for label in annotate.findChildren(QLabel)
        if label.isVisible() and label.focusPolicy() == Qt.FocusPolicy.NoFocus and label.text()
    )
    click_through_window(caption)
    router.menu.aboutToShow.emit()
    assert router.undo_action.text().endswith("(Annotate)")
    router.undo_action.trigger()
    assert np.array_equal(session.mask, _old_mask())  # the stroke is undone
    assert _label(root, b0) == "a"  # the label stays
