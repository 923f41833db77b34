"""A class chosen for a project's boxes stays in the project: it never joins the class list of
loose images (the setting ``annotate/box_classes``), nor is it given to a loose image's boxes.

The user's walk-through: a class typed for a box on a project item (its image was open as a
plain file before) turned up in the loose images' class list. Real window, real drags and keys.
"""

from __future__ import annotations

from conftest import open_and_wait
from PIL import Image
from PySide6.QtCore import Qt

from qbi_desktop.gui.annotate.boxes_classes import CLASSES_KEY
from qbi_desktop.gui.settings import read_list

try:
    from tests.test_gui_boxes import (
        SHAPE,
        drag,
        fit,
        item_ids,
        key,
        make_project,
        open_item,
        stored,
        type_class,
    )
except ImportError:  # pragma: no cover
    from test_gui_boxes import (
        SHAPE,
        drag,
        fit,
        item_ids,
        key,
        make_project,
        open_item,
        stored,
        type_class,
    )


def _box_tool(qtbot, window) -> None:
    if window.panels["annotate"].controller.tool != "box":
        key(qtbot, window, Qt.Key.Key_W)


def test_project_box_classes_stay_out_of_the_loose_image_list(qtbot, main_window, tmp_path):
    window = main_window
    root = make_project(tmp_path)
    ids = item_ids(root)
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    boxes = annotate.boxes
    # the item's image is open as a plain file first (File > Open), with a loose class
    open_and_wait(qtbot, window, tmp_path / "images" / "a" / "i0.png")
    fit(window)
    _box_tool(qtbot, window)
    drag(qtbot, window, (5, 5), (20, 20))
    type_class(qtbot, boxes, "dust")
    assert read_list(window.settings, CLASSES_KEY) == ["dust"]

    assert window.panels["browser"].open_project(root)
    open_item(qtbot, window, ids[0])  # the same file, as item i0 of the project
    _box_tool(qtbot, window)
    drag(qtbot, window, (10, 12), (30, 40))
    assert boxes.pending is not None  # "dust" is a loose images' class: asked, not given
    type_class(qtbot, boxes, "cell")
    assert stored(root, ids[0]) == [("cell", 10, 12, 20, 28)]
    assert read_list(window.settings, CLASSES_KEY) == ["dust"]  # "cell" is the project's

    # another loose image: the project's class is neither given nor offered on a key
    other = tmp_path / "loose.png"
    Image.new("L", SHAPE[::-1]).save(other)
    open_and_wait(qtbot, window, other)
    fit(window)
    _box_tool(qtbot, window)
    assert "cell" not in boxes.classes
    drag(qtbot, window, (10, 12), (30, 40))
    assert boxes.pending is None or boxes.label != "cell"
    assert all(b.label != "cell" for b in boxes.session.boxes)
