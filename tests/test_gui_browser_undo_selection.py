"""After Ctrl+Z / Ctrl+Shift+Z in the Browser the selection is exactly the rows the edit touched.

The user's walk-through: select a row, press 1 (the selection moves on), Ctrl+Z, then 2 gave
class 2 to both the undone row and the row the selection had moved to: the undo made its row
current while Ctrl was still held, and Qt reads a held Ctrl as "toggle into the selection".
Real window, real project, real key presses; labels read back from the catalog.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project

try:
    from tests.gui_browser_annotate_helpers import _folder_project, _id_of
except ImportError:  # pragma: no cover
    from gui_browser_annotate_helpers import _folder_project, _id_of

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def _labels(root) -> dict[str, str | None]:
    with open_project(root) as project:
        return {r["name"].rsplit("/", 1)[-1]: r["label"] for r in project.query(limit=None)}


def _selected_names(browser) -> list[str]:
    rows = sorted({i.row() for i in browser.table.selectionModel().selectedRows()})
    return [browser.model.item(r)["name"].rsplit("/", 1)[-1] for r in rows]


def _browser(qtbot, main_window, tmp_path):
    root = _folder_project(tmp_path)
    main_window.annotator.set_name("Tester")  # a shared project (the importer drew a mask)
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    browser.classes_edit.setText("x, y, z")
    browser._classes_edited()
    # the window has the keyboard (the table's keys are window shortcuts), as at a desk;
    # offscreen, an earlier test's window may still be the active one
    main_window.activateWindow()
    QApplication.setActiveWindow(main_window)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main_window, timeout=5000)
    table = browser.table
    table.setFocus()
    QApplication.processEvents()
    return root, browser, table


def _click_row(qtbot, browser, row: int) -> None:
    """A plain click on the row's label cell, as the user picks a row."""
    table = browser.table
    rect = table.visualRect(browser.model.index(row, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QApplication.processEvents()


def _press(qtbot, table, key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    table.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(table, key, modifiers)
    QApplication.processEvents()


def test_a_number_key_after_undo_labels_only_the_undone_row(qtbot, main_window, tmp_path):
    root, browser, table = _browser(qtbot, main_window, tmp_path)
    with open_project(root) as project:
        first = _id_of(project, "a0")
    _click_row(qtbot, browser, browser.model.row_of(first))
    name0 = _selected_names(browser)[0]
    _press(qtbot, table, Qt.Key.Key_1)  # class y; the selection moves on
    moved_to = _selected_names(browser)
    assert moved_to != [name0]
    assert _labels(root)[name0] == "y"

    _press(qtbot, table, Qt.Key.Key_Z, CTRL)
    assert _selected_names(browser) == [name0]  # only the row the undo touched
    assert table.currentIndex().row() == browser.model.row_of(first)

    _press(qtbot, table, Qt.Key.Key_2)
    labels = _labels(root)
    assert labels[name0] == "z"
    assert labels[moved_to[0]] == _labels_before(moved_to[0])  # untouched


def _labels_before(name: str) -> str:
    return {"a0.png": "a", "a1.png": "a", "b0.png": "b"}[name]


def test_redo_selects_exactly_the_redone_rows(qtbot, main_window, tmp_path):
    root, browser, table = _browser(qtbot, main_window, tmp_path)
    table.selectAll()  # three rows at once
    _press(qtbot, table, Qt.Key.Key_0)
    assert set(_labels(root).values()) == {"x"}
    _press(qtbot, table, Qt.Key.Key_Z, CTRL)
    assert len(_selected_names(browser)) == 3  # the undo touched all three
    _click_row(qtbot, browser, 0)  # the user goes elsewhere, then redoes
    _press(qtbot, table, Qt.Key.Key_Z, CTRL_SHIFT)
    assert set(_labels(root).values()) == {"x"}
    assert len(_selected_names(browser)) == 3
    # one row undone, then redone with Ctrl+Shift held: exactly that row, not a range
    _click_row(qtbot, browser, 2)
    _press(qtbot, table, Qt.Key.Key_1)
    _press(qtbot, table, Qt.Key.Key_Z, CTRL)
    _click_row(qtbot, browser, 0)
    _press(qtbot, table, Qt.Key.Key_Z, CTRL_SHIFT)
    row2 = browser.model.item(2)["name"].rsplit("/", 1)[-1]
    assert _selected_names(browser) == [row2]
