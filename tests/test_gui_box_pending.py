"""The Box tool's first box, which waits for its class: it looks pending (dashed, tagged
"class?"), Delete or Backspace in the empty Class field drops it (the field has the keys then),
and the class chosen last is remembered per project across a relaunch, so the first box of the
next session does not ask again. Real window, real mouse drags and keys, the catalog read back.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from qbi_desktop.gui.annotate.boxes_overlay import PENDING_TAG

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


def _open(qtbot, window, root, which: int = 0):
    window.panels["annotate"].unsaved_answer = "discard"
    assert window.panels["browser"].open_project(root)
    ids = item_ids(root)
    open_item(qtbot, window, ids[which])
    if window.panels["annotate"].controller.tool != "box":
        key(qtbot, window, Qt.Key.Key_W)
    return ids


def test_the_waiting_box_is_dashed_and_says_class(qtbot, main_window, tmp_path):
    root = make_project(tmp_path)
    _open(qtbot, main_window, root)
    boxes = main_window.panels["annotate"].boxes
    drag(qtbot, main_window, (10, 12), (30, 40))
    draft = boxes.layer.draft
    assert draft.isVisible()
    assert draft.pen().style() == Qt.PenStyle.DashLine  # pending, as the README says
    assert draft.tag.text == PENDING_TAG  # not an empty coloured tag


def test_delete_or_backspace_in_the_empty_class_field_drops_the_waiting_box(
    qtbot, main_window, tmp_path
):
    root = make_project(tmp_path)
    ids = _open(qtbot, main_window, root)
    boxes = main_window.panels["annotate"].boxes
    for k in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
        drag(qtbot, main_window, (10, 12), (30, 40))
        assert boxes.pending is not None
        edit = boxes.class_combo.lineEdit()
        assert edit.hasFocus() or boxes.class_combo.hasFocus()  # the field has the keys
        qtbot.keyClick(edit, k)
        assert boxes.pending is None and not boxes.layer.draft.isVisible()
        assert "dropped" in main_window.statusBar().currentMessage()
        assert stored(root, ids[0]) == []
    # Backspace while a name is being typed still edits the name, the box keeps waiting
    drag(qtbot, main_window, (10, 12), (30, 40))
    edit = boxes.class_combo.lineEdit()
    qtbot.keyClicks(edit, "cellx")
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    assert boxes.pending is not None and edit.text() == "cell"
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert stored(root, ids[0]) == [("cell", 10, 12, 20, 28)]


def test_the_class_chosen_last_is_remembered_after_a_relaunch(qtbot, main_window, tmp_path):
    from qbi_desktop.gui.main_window import MainWindow

    root = make_project(tmp_path)
    ids = _open(qtbot, main_window, root)
    boxes = main_window.panels["annotate"].boxes
    drag(qtbot, main_window, (10, 12), (30, 40))
    type_class(qtbot, boxes, "crack")
    assert stored(root, ids[0]) == [("crack", 10, 12, 20, 28)]
    main_window.panels["browser"].close_project()
    main_window.close()

    again = MainWindow()  # a relaunch: the same settings, a new window
    qtbot.addWidget(again)
    again.resize(1400, 900)
    again.show()
    qtbot.waitExposed(again)
    try:
        _open(qtbot, again, root, which=1)
        boxes = again.panels["annotate"].boxes
        drag(qtbot, again, (5, 6), (25, 30))
        assert boxes.pending is None  # not asked again
        assert stored(root, ids[1]) == [("crack", 5, 6, 20, 24)]
    finally:
        again.tasks.cancel_all()
        again.tasks.wait(5000)
        again.panels["annotate"].unsaved_answer = "discard"
        again.close()


def test_the_class_list_says_which_classes_are_image_labels_and_which_boxes(
    qtbot, main_window, tmp_path
):
    root = make_project(tmp_path)  # items of class "a"
    _open(qtbot, main_window, root)
    boxes = main_window.panels["annotate"].boxes
    drag(qtbot, main_window, (10, 12), (30, 40))
    type_class(qtbot, boxes, "crack")
    combo = boxes.class_combo
    texts = {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}
    assert texts["a"] == "0: a — image labels only", texts
    assert texts["crack"] == "1: crack — boxes", texts
    drag(qtbot, main_window, (40, 12), (60, 40))  # the class chosen stays the class of new boxes
    assert boxes.pending is None and boxes.label == "crack"
