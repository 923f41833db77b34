"""No invented class: the first box drawn in a project used to get the class "object", which
joined the project's classes without anyone choosing it. Now a box drawn before a class is
chosen waits (dashed) while the Class field asks for its class: Enter there stores it (a new
name joins the class list, as the user typed it), a number key picks a class of the list, Esc
drops the box. A class chosen in one project is not given to another project's boxes without
asking. Real window, real mouse drags and keys, the catalog read back."""

from __future__ import annotations

from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog import open_project

try:
    from tests.test_gui_boxes import (
        drag,
        item_ids,
        key,
        make_project,
        open_item,
        stored,
        type_class,
    )
except ImportError:  # pragma: no cover
    from test_gui_boxes import drag, item_ids, key, make_project, open_item, stored, type_class


def _classes(root) -> list[str]:
    with open_project(root) as project:
        return C.class_list(project)


def _open(qtbot, window, root):
    window.panels["annotate"].unsaved_answer = "discard"
    assert window.panels["browser"].open_project(root)
    ids = item_ids(root)
    open_item(qtbot, window, ids[0])
    if window.panels["annotate"].controller.tool != "box":
        key(qtbot, window, Qt.Key.Key_W)
    return ids


def test_the_first_box_asks_for_its_class_and_invents_none(qtbot, main_window, tmp_path):
    root = make_project(tmp_path)  # class folder "a"
    ids = _open(qtbot, main_window, root)
    boxes = main_window.panels["annotate"].boxes
    assert _classes(root) == ["a"]

    drag(qtbot, main_window, (10, 12), (30, 40))
    assert stored(root, ids[0]) == [] and _classes(root) == ["a"]  # nothing invented
    assert boxes.layer.draft.isVisible()  # the box waits, dashed
    assert boxes.class_combo.hasFocus() or boxes.class_combo.lineEdit().hasFocus()
    assert "Which class" in main_window.statusBar().currentMessage()

    type_class(qtbot, boxes, "cell")
    assert stored(root, ids[0]) == [("cell", 10, 12, 20, 28)]
    assert _classes(root) == ["a", "cell"] and "object" not in _classes(root)
    assert not boxes.layer.draft.isVisible()

    drag(qtbot, main_window, (40, 5), (60, 20))  # the class chosen stays for the next box
    assert [b[0] for b in stored(root, ids[0])] == ["cell", "cell"]


def test_escape_drops_the_waiting_box_and_a_number_key_gives_a_listed_class(
    qtbot, main_window, tmp_path
):
    root = make_project(tmp_path)
    ids = _open(qtbot, main_window, root)
    boxes = main_window.panels["annotate"].boxes
    drag(qtbot, main_window, (10, 12), (30, 40))
    key(qtbot, main_window, Qt.Key.Key_Escape)
    assert boxes.pending is None and not boxes.layer.draft.isVisible()
    assert stored(root, ids[0]) == [] and _classes(root) == ["a"]

    drag(qtbot, main_window, (10, 12), (30, 40))
    key(qtbot, main_window, Qt.Key.Key_0)  # key 0: the first class of the list
    assert stored(root, ids[0]) == [("a", 10, 12, 20, 28)] and _classes(root) == ["a"]


def test_a_class_chosen_in_one_project_is_not_given_in_another(qtbot, main_window, tmp_path):
    first = make_project(tmp_path / "one")
    _open(qtbot, main_window, first)
    boxes = main_window.panels["annotate"].boxes
    drag(qtbot, main_window, (10, 12), (30, 40))
    type_class(qtbot, boxes, "cell")
    assert _classes(first) == ["a", "cell"]

    second = make_project(tmp_path / "two")
    ids = _open(qtbot, main_window, second)
    drag(qtbot, main_window, (10, 12), (30, 40))
    assert stored(second, ids[0]) == [] and _classes(second) == ["a"]  # asked, not given
    assert boxes.pending is not None
    assert boxes.classes == ["a"]  # the other project's "cell" is not offered on a key
    type_class(qtbot, boxes, "debris")
    assert stored(second, ids[0]) == [("debris", 10, 12, 20, 28)]
    assert _classes(second) == ["a", "debris"] and _classes(first) == ["a", "cell"]


def test_an_emptied_class_field_asks_again_and_an_undone_box_leaves_no_outline(
    qtbot, main_window, tmp_path
):
    """The Class field emptied by the user shows "choose a class": the next box asks for its
    class instead of silently taking the last one. A stored box that is undone leaves no
    outline behind (the drawing outline stayed, on this image and every one opened next)."""
    root = make_project(tmp_path)
    ids = _open(qtbot, main_window, root)
    boxes = main_window.panels["annotate"].boxes
    drag(qtbot, main_window, (10, 12), (30, 40))
    type_class(qtbot, boxes, "cell")
    drag(qtbot, main_window, (40, 5), (60, 20))  # stored with "cell", as chosen
    assert [b[0] for b in stored(root, ids[0])] == ["cell", "cell"]
    assert not boxes.layer.draft.isVisible()

    main_window.canvas.setFocus()
    key(qtbot, main_window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(stored(root, ids[0])) == 1
    assert not boxes.layer.draft.isVisible()  # no ghost of the undone box

    line = boxes.class_combo.lineEdit()
    line.setFocus()
    line.selectAll()
    qtbot.keyClick(line, Qt.Key.Key_Delete)
    assert boxes.class_combo.currentText() == ""
    main_window.canvas.setFocus()
    drag(qtbot, main_window, (70, 5), (90, 20))
    assert len(stored(root, ids[0])) == 1  # not stored with the old class: it asks
    assert boxes.pending is not None and "Which class" in main_window.statusBar().currentMessage()
