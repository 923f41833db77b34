"""Typed regression targets in the Browser: real table, real keys, values read back from the
catalog; refusals where the value is typed; undo in the Browser; Balance follows."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog import targets as T
from qbi_desktop.gui.docks.browser_model import COL_TARGETS

try:
    from tests.test_gui_browser import _mnist_subset, _wait
    from tests.test_gui_browser_annotate import _mouse_stroke, _old_mask, opened  # noqa: F401
except ImportError:  # pragma: no cover
    from test_gui_browser import _mnist_subset, _wait
    from test_gui_browser_annotate import _mouse_stroke, _old_mask, opened  # noqa: F401

CTRL = Qt.KeyboardModifier.ControlModifier


def _targets(root, name="count"):
    with open_project(root) as project:
        rows = project.db.execute(
            "SELECT item_id, value FROM targets WHERE name = ? ORDER BY item_id", (name,)
        ).fetchall()
    return dict(rows)


def _define_through_dialog(qtbot, browser, name, unit, low, high, decimals):
    dialog = browser.target_definition_dialog()
    dialog.name.setCurrentText(name)
    dialog.unit.setText(unit)
    dialog.low.setText(low)
    dialog.high.setText(high)
    dialog.decimals.setValue(decimals)
    box = dialog.findChild(QDialogButtonBox)
    qtbot.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)


def _type(qtbot, browser, text):
    editor = browser.target_delegate.editor
    assert editor is not None and editor.isVisible()
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


@pytest.fixture
def mnist_browser(qtbot, main_window, tmp_path):
    root, _labels = _mnist_subset(tmp_path, n=40)
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    return main_window, browser, root


def test_type_values_enter_moves_on_bad_values_refused_where_typed(qtbot, mnist_browser):
    window, browser, root = mnist_browser
    table = browser.table
    # No target yet: F2 says so and opens the definition dialog.
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_F2)
    assert browser.target_dialog.isVisible()
    browser.target_dialog.reject()
    _define_through_dialog(qtbot, browser, "count", "cells", "0", "100", 1)
    with open_project(root) as project:
        assert T.definitions(project)["count"] == T.TargetDef("count", "cells", 0, 100, 1)
    assert browser.target_choice.currentText() == "count" and browser.target_row.isVisible()

    ids = [browser.model.item_id(r) for r in range(5)]
    table.selectRow(0)
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_F2)
    _type(qtbot, browser, "12.34")  # rounded to one decimal
    _type(qtbot, browser, "7")  # the editor went on to the next item by itself
    assert _targets(root) == {ids[0]: 12.3, ids[1]: 7.0}
    assert table.currentIndex().row() == 2
    assert browser.model.data(browser.model.index(0, COL_TARGETS)) == "count=12.3 cells"

    # Refused where typed: the editor stays, red, with the reason; nothing written.
    _type(qtbot, browser, "abc")
    assert "'abc' is not a number" in browser.last_target_message
    editor = browser.target_delegate.editor
    assert editor is not None and editor.isVisible() and "ffd9d9" in editor.styleSheet()
    _type(qtbot, browser, "250")
    assert "outside the allowed range 0.0 … 100.0" in browser.last_target_message
    assert window.statusBar().currentMessage() == browser.last_target_message
    assert _targets(root) == {ids[0]: 12.3, ids[1]: 7.0}
    qtbot.keyClick(browser.target_delegate.editor, Qt.Key.Key_Escape)
    assert browser.target_delegate.editor is None

    # Digits typed into the editor never fired the 0-9 class keys.
    with open_project(root) as project:
        assert project.get(ids[1])["label"] == browser.model.item(1)["label"]
        assert [h["what"] for h in project.history(ids[1])][-1] == "target:count"


def test_one_value_on_a_selection_undone_with_ctrl_z_and_balance_follows(qtbot, mnist_browser):
    window, browser, root = mnist_browser
    browser.define_target(T.TargetDef("count", "", 0, 100, 0))
    with open_project(root) as project:
        for item, value in ((1, 0.0), (2, 50.0), (3, 100.0)):
            project.set_target([item], "count", value, "earlier")
    window.annotator.set_name("Tester")  # "earlier" typed values: the project is shared
    browser._data_changed()
    # Balance computed once (worker), then the Items tab again.
    browser.tabs.setCurrentWidget(browser.balance_page)
    _wait(qtbot, browser._stats_task)
    entry = browser.balance.report["targets"]["count"]
    assert entry["n"] == 3
    browser.tabs.setCurrentIndex(0)

    table = browser.table
    table.selectRow(5)
    table.selectionModel().select(
        browser.model.index(7, 0),
        table.selectionModel().SelectionFlag.Select | table.selectionModel().SelectionFlag.Rows,
    )
    table.selectionModel().select(
        browser.model.index(6, 0),
        table.selectionModel().SelectionFlag.Select | table.selectionModel().SelectionFlag.Rows,
    )
    ids = [browser.model.item_id(r) for r in (5, 6, 7)]
    # Enter on the Targets column edits (elsewhere Enter opens the item).
    table.selectionModel().setCurrentIndex(
        browser.model.index(5, COL_TARGETS), table.selectionModel().SelectionFlag.NoUpdate
    )
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_Return)
    editor = browser.target_delegate.editor
    qtbot.keyClicks(editor, "40")
    # As typed: the histogram marks the value.
    assert browser.balance.typed_line.isVisible() and browser.balance.typed_line.value() == 40
    task_before = browser._stats_task
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert _targets(root) == {1: 0.0, 2: 50.0, 3: 100.0, **dict.fromkeys(ids, 40.0)}
    # The histogram took the three values without a recount on a worker.
    assert browser._stats_task is task_before
    entry = browser.balance.report["targets"]["count"]
    assert entry["n"] == 6 and sum(entry["counts"]) == 6
    assert entry["mean"] == pytest.approx(45.0)
    # a value outside the drawn bins is left to a recount (the tab is marked stale)
    assert not browser.balance.apply_target_change("count", [], [(400.0, None)])
    assert table.currentIndex().row() == 8  # after the selection

    qtbot.keyClick(browser.target_delegate.editor, Qt.Key.Key_Escape)
    table.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(table, Qt.Key.Key_Z, CTRL)
    assert _targets(root) == {1: 0.0, 2: 50.0, 3: 100.0}
    qtbot.keyClick(table, Qt.Key.Key_Y, CTRL)
    assert _targets(root)[ids[2]] == 40.0


def test_double_click_on_the_targets_cell_types_instead_of_opening(qtbot, mnist_browser):
    window, browser, root = mnist_browser
    browser.define_target(T.TargetDef("area", "mm2"))
    table = browser.table
    table.scrollTo(browser.model.index(2, COL_TARGETS))
    rect = table.visualRect(browser.model.index(2, COL_TARGETS))
    # a real double-click: press, release, then the double-click event
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert browser.target_delegate.editor is not None
    assert not window.documents  # nothing opened in the viewer
    _type(qtbot, browser, "3,25")  # a decimal comma is a decimal mark
    assert _targets(root, "area") == {browser.model.item_id(2): 3.25}


def test_ctrl_z_in_browser_undoes_the_target_not_the_stroke(qtbot, opened):
    window, browser, annotate, root, a0 = opened
    session = annotate.session
    browser.define_target(T.TargetDef("count", "", 0, 10, 0))
    _mouse_stroke(qtbot, window, [(20, 20), (30, 20)])
    painted = session.mask.copy()
    assert not np.array_equal(painted, _old_mask())
    table = browser.table
    table.setFocus()
    table.selectRow(0)
    qtbot.keyClick(table, Qt.Key.Key_F2)
    _type(qtbot, browser, "4")
    qtbot.keyClick(browser.target_delegate.editor, Qt.Key.Key_Escape)
    item = browser.model.item_id(0)
    assert _targets(root) == {item: 4.0}
    table.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(table, Qt.Key.Key_Z, CTRL)
    assert _targets(root) == {}
    assert np.array_equal(session.mask, painted)  # the stroke stays
    window.canvas.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, CTRL)
    assert np.array_equal(session.mask, _old_mask())
    assert _targets(root) == {}


def test_context_menu_names_the_target_edit(qtbot, mnist_browser):
    window, browser, root = mnist_browser
    browser.define_target(T.TargetDef("count"))
    menu = browser._table_menu(QPoint(5, 5))
    texts = [a.text() for a in menu.actions()]
    assert "Type count…\tF2" in texts and "Clear label\tBackspace" in texts
    menu.close()


def test_batch_dialog_says_which_targets_a_pipeline_drops_and_why(qtbot, tmp_path):
    from qbi_desktop.core.augment import Pipeline
    from qbi_desktop.gui.docks.augment_batch import BatchDialog

    try:
        from tests.test_catalog_targets import _augment_project
    except ImportError:  # pragma: no cover
        from test_catalog_targets import _augment_project

    project, _ids = _augment_project(tmp_path)
    root = str(project.root)
    project.close()
    flips = Pipeline.from_options(horizontal_flip=True, gaussian_noise={"std_range": [0, 5]})
    dialog = BatchDialog(None, root, {}, flips)
    qtbot.addWidget(dialog)
    text = dialog.targets_note.text()
    assert "✓ count: kept" in text
    assert "✗ transmission: dropped: Gaussian noise may change it" in text
    crop = Pipeline.from_options(random_crop={"scale_range": [0.5, 0.9]})
    dialog = BatchDialog(None, root, {}, crop)
    qtbot.addWidget(dialog)
    assert "✗ count: dropped: Random crop may change it (it changes with crop/zoom)" in (
        dialog.targets_note.text()
    )


def test_clicking_the_targets_header_sorts_by_the_chosen_target(qtbot, mnist_browser):
    window, browser, root = mnist_browser
    with open_project(root) as project:
        for item, (a, b) in {3: (5.0, 1.0), 7: (1.0, 9.0), 9: (3.0, 5.0)}.items():
            project.set_target([item], "alpha", a)
            project.set_target([item], "beta", b)
    browser._data_changed()
    browser.target_choice.setCurrentText("beta")
    header = browser.table.horizontalHeader()
    browser.table.scrollTo(browser.model.index(0, COL_TARGETS))
    x = header.sectionViewportPosition(COL_TARGETS) + 5
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    shown = [browser.model.item_id(r) for r in range(browser.model.rowCount())]
    with_beta = [i for i in shown if i in (3, 7, 9)]
    assert browser.model.sort_key.endswith("target:beta")
    assert with_beta in ([3, 9, 7], [7, 9, 3])  # by beta (1, 5, 9), not by alpha


def test_definition_dialog_refuses_a_bad_range_and_stays_open(qtbot, mnist_browser):
    window, browser, root = mnist_browser
    dialog = browser.target_definition_dialog()
    dialog.name.setCurrentText("dose")
    dialog.low.setText("ten")
    box = dialog.findChild(QDialogButtonBox)
    qtbot.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "lowest allowed: 'ten' is not a number" in dialog.problem.text()
    dialog.low.setText("5")
    dialog.high.setText("1")
    qtbot.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "above highest" in dialog.problem.text()
    dialog.high.setText("")
    qtbot.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    with open_project(root) as project:
        assert T.definitions(project)["dose"].range_text() == "5 … ∞"
