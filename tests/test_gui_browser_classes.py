"""Any number of classes in the Browser: the picker (type-ahead) for classes past key 9, clear
label, rename and merge with counts; each undone with Ctrl+Z in the Browser. Real widgets and
keys, values read back from the catalog."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog import open_project
from qbi_desktop.gui.docks.browser_classes import matches

try:
    from tests.test_gui_browser import _mnist_subset
except ImportError:  # pragma: no cover
    from test_gui_browser import _mnist_subset

CTRL = Qt.KeyboardModifier.ControlModifier
TWELVE = [f"class{k}" for k in range(12)]


def _label(root, item_id):
    with open_project(root) as project:
        return project.get(item_id)["label"]


def _counts(root):
    with open_project(root) as project:
        return C.class_counts(project)


@pytest.fixture
def browser(qtbot, main_window, tmp_path):
    root, _labels = _mnist_subset(tmp_path, n=30)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    return main_window, panel, root


def _undo(qtbot, panel, key=Qt.Key.Key_Z):
    panel.table.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(panel.table, key, CTRL)


def test_eleventh_and_twelfth_class_through_the_picker_with_type_ahead(qtbot, browser):
    window, panel, root = browser
    panel.classes_edit.setText(", ".join(TWELVE))
    panel._classes_edited()
    table = panel.table
    table.setFocus()
    table.selectRow(3)
    item = panel.model.item_id(3)

    qtbot.keyClick(table, Qt.Key.Key_C)
    picker = panel.class_picker
    assert picker is not None and picker.isVisible()
    assert picker.list.count() == 12 + len(_counts(root))  # the typed, then the digits present
    qtbot.keyClicks(picker.typed, "ass11")  # inside the name: still found
    assert [picker.list.item(i).text().strip() for i in range(picker.list.count())] == [
        "class11  (0)"
    ]
    qtbot.keyClick(picker.typed, Qt.Key.Key_Return)
    assert _label(root, item) == "class11"
    assert table.currentIndex().row() == 4  # moved on

    # "/" opens it too; a prefix lists class1, class10, class11; Down picks the second.
    qtbot.keyClick(table, Qt.Key.Key_Slash)
    picker = panel.class_picker
    qtbot.keyClicks(picker.typed, "CLASS1")
    assert picker.list.count() == 3
    qtbot.keyClick(picker.typed, Qt.Key.Key_Down)
    qtbot.keyClick(picker.typed, Qt.Key.Key_Return)
    assert _label(root, panel.model.item_id(4)) == "class10"

    # A new name becomes a new class, kept in the catalog's class list.
    qtbot.keyClick(table, Qt.Key.Key_C)
    qtbot.keyClicks(panel.class_picker.typed, "zebra")
    assert panel.class_picker.list.count() == 0
    qtbot.keyClick(panel.class_picker.typed, Qt.Key.Key_Return)
    assert _label(root, panel.model.item_id(5)) == "zebra"
    with open_project(root) as project:
        # typed first (their keys); the digits the items still use are kept after them
        assert C.class_list(project)[:12] == TWELVE and C.class_list(project)[-1] == "zebra"

    # Key 9 still reaches the tenth class; Ctrl+Z takes back the picked labels one by one.
    old = panel.model.item(6)["label"]
    qtbot.keyClick(table, Qt.Key.Key_9)
    assert _label(root, panel.model.item_id(6)) == "class9"
    _undo(qtbot, panel)
    assert _label(root, panel.model.item_id(6)) == old
    _undo(qtbot, panel)
    assert _label(root, panel.model.item_id(5)) != "zebra"


def test_clear_label_with_delete_and_the_menu_then_undo(qtbot, browser):
    window, panel, root = browser
    table = panel.table
    table.setFocus()
    table.selectRow(0)
    item = panel.model.item_id(0)
    old = _label(root, item)
    assert old is not None
    qtbot.keyClick(table, Qt.Key.Key_Delete)
    assert _label(root, item) is None
    _undo(qtbot, panel)
    assert _label(root, item) == old
    table.selectRow(0)
    menu = panel._table_menu(table.visualRect(panel.model.index(0, 1)).center())
    clear = next(a for a in menu.actions() if a.text().startswith("Clear label"))
    clear.trigger()
    assert _label(root, item) is None


def test_rename_and_merge_with_counts_then_undo_each(qtbot, browser):
    window, panel, root = browser
    before = _counts(root)
    dialog = panel.classes_dialog()
    texts = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert texts[7] == f"7: 7 — {before['7']} item(s)"

    # Rename 7 -> seven: same key (7), same count.
    dialog.list.setCurrentRow(7)
    dialog.new_name.setText("seven")
    qtbot.mouseClick(dialog.rename_button, Qt.MouseButton.LeftButton)
    after = _counts(root)
    assert "7" not in after and after["seven"] == before["7"]
    assert dialog.list.item(7).text() == f"7: seven — {before['7']} item(s)"
    assert panel.classes()[7] == "seven"

    # Renaming onto an existing class is refused with the reason (that is a merge).
    dialog.list.setCurrentRow(1)
    dialog.new_name.setText("2")
    qtbot.mouseClick(dialog.rename_button, Qt.MouseButton.LeftButton)
    assert "already exists: merge" in dialog.problem.text()

    # Merge 1, 2 and 3 into "small".
    dialog.list.clearSelection()
    for row in (1, 2, 3):
        dialog.list.item(row).setSelected(True)
    dialog.new_name.setText("small")
    qtbot.mouseClick(dialog.merge_button, Qt.MouseButton.LeftButton)
    merged = _counts(root)
    assert merged["small"] == before["1"] + before["2"] + before["3"]
    assert dialog.list.item(1).text().startswith("1: small")
    assert panel.classes()[:3] == ["0", "small", "4"]

    # Closed, then Ctrl+Z in the Browser: the merge, then the rename, each with the class list.
    dialog.close_button.click()
    assert panel.classes_box is None
    _undo(qtbot, panel)
    assert _counts(root) == after
    assert panel.classes()[1:4] == ["1", "2", "3"]
    _undo(qtbot, panel)
    assert _counts(root) == before and panel.classes()[7] == "7"
    _undo(qtbot, panel, Qt.Key.Key_Y)  # redo the rename
    assert _counts(root).get("seven") == before["7"]


def test_type_ahead_puts_names_starting_with_the_text_first():
    assert matches(["big cat", "cat", "Catfish", "dog"], "cat") == ["cat", "Catfish", "big cat"]
    assert matches(["a", "b"], "  ") == ["a", "b"]
