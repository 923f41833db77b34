"""A number key in a project without classes offers "Type class names…". Typing a class name
there and pressing Enter used to store the class list only: the selected item stayed
unlabelled. Now Enter makes the names the project's classes (one undo step) and gives the
selected item(s) the class typed (the one name, or of several the one at the key pressed;
another undo step). Real keys and buttons; labels read back from the catalog."""

from __future__ import annotations

from PySide6.QtCore import Qt

try:
    from tests.test_gui_browser_first_classes import CTRL, _catalog, _key, _open
except ImportError:  # pragma: no cover
    from test_gui_browser_first_classes import CTRL, _catalog, _key, _open


def _type_names(qtbot, panel, key, text):
    _key(qtbot, panel, key)
    box = panel.class_question
    [names] = [b for b in box.buttons() if b.text() == "Type class names…"]
    names.click()
    qtbot.waitUntil(lambda: panel.class_question is None)
    qtbot.waitUntil(lambda: panel.classes_edit.hasFocus())
    qtbot.keyClicks(panel.classes_edit, text)
    qtbot.keyClick(panel.classes_edit, Qt.Key.Key_Return)


def test_a_typed_class_name_labels_the_selected_item_and_is_undone(qtbot, main_window, tmp_path):
    root, ids, panel = _open(qtbot, main_window, tmp_path)
    _type_names(qtbot, panel, Qt.Key.Key_3, "cell")
    stored, labels = _catalog(root)
    assert stored == ["cell"] and labels[ids[0]] == "cell"  # created, and given
    assert all(labels[i] is None for i in ids[1:])
    assert panel.table.hasFocus()  # back in the table: the next keys label on
    assert panel.model.item_id(panel.table.currentIndex().row()) == ids[1]  # moved on

    _key(qtbot, panel, Qt.Key.Key_0)  # the class list now exists: key 0 gives "cell" at once
    assert panel.class_question is None and _catalog(root)[1][ids[1]] == "cell"

    for _ in range(3):  # the key's label, the typed one's, then the class list
        _key(qtbot, panel, Qt.Key.Key_Z, CTRL)
    stored, labels = _catalog(root)
    assert stored == [] and labels[ids[0]] is None and labels[ids[1]] is None
    for _ in range(2):  # redo: the list, then the typed label
        _key(qtbot, panel, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    stored, labels = _catalog(root)
    assert stored == ["cell"] and labels[ids[0]] == "cell" and labels[ids[1]] is None


def test_several_names_give_the_one_at_the_key_pressed_to_every_selected_item(
    qtbot, main_window, tmp_path
):
    root, ids, panel = _open(qtbot, main_window, tmp_path)
    rows = [panel.model.row_of(i) for i in ids[:3]]
    selection = panel.table.selectionModel()
    for row in rows:
        selection.select(
            panel.model.index(row, 1),
            selection.SelectionFlag.Select | selection.SelectionFlag.Rows,
        )
    _type_names(qtbot, panel, Qt.Key.Key_1, "cell, debris, dust")
    stored, labels = _catalog(root)
    assert stored == ["cell", "debris", "dust"]
    assert [labels[i] for i in ids[:3]] == ["debris"] * 3 and labels[ids[3]] is None


def test_a_bad_name_is_refused_and_nothing_is_given(qtbot, main_window, tmp_path):
    root, ids, panel = _open(qtbot, main_window, tmp_path)
    errors = []
    main_window.report_error = lambda message, *a, **k: errors.append(message)
    _type_names(qtbot, panel, Qt.Key.Key_2, "c" * 201)
    assert errors and "more than the 200" in errors[0]
    assert _catalog(root) == ([], dict.fromkeys(ids))
