"""A project item whose image is already open as a plain file opens as the project item.

The user's walk-through: File > Open edge20mm_0000.tif, import its folder into a project, then
double-click the item in the Browser: the window said "already open: shown" and kept the plain
file, so the strokes and Ctrl+S went to a loose mask file, never into the project. Real window,
real files, real project; the mask read back from the catalog.
"""

from __future__ import annotations

import numpy as np
from conftest import open_and_wait
from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import open_project

try:
    from tests.gui_browser_annotate_helpers import (
        _ctrl,
        _folder_project,
        _id_of,
        _mouse_stroke,
        _open_row_with_enter,
        _wait_item,
        _wait_saved,
    )
except ImportError:  # pragma: no cover
    from gui_browser_annotate_helpers import (
        _ctrl,
        _folder_project,
        _id_of,
        _mouse_stroke,
        _open_row_with_enter,
        _wait_item,
        _wait_saved,
    )


def test_item_open_as_plain_file_opens_as_the_item_and_saves_into_the_project(
    qtbot, main_window, tmp_path
):
    window = main_window
    root = _folder_project(tmp_path)
    plain_path = tmp_path / "images" / "b" / "b0.png"
    with open_project(root) as project:
        item_id = _id_of(project, "b0")
        assert project.resolve(project.get(item_id)["source"]).samefile(plain_path)
    window.annotator.set_name("Tester")
    browser = window.panels["browser"]
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"

    open_and_wait(qtbot, window, plain_path)  # File > Open: a loose image
    plain = window.current
    assert annotate.store_of(plain) is None

    assert browser.open_project(root)
    _open_row_with_enter(qtbot, browser, item_id)  # the same file, as item b0 of the project
    _wait_item(qtbot, annotate, item_id)
    item_doc = window.current
    assert item_doc is not plain and plain in window.documents  # the plain one is kept
    assert "already open" not in window.statusBar().currentMessage()
    names = [window.files_list.item(i).text() for i in range(window.files_list.count())]
    assert names == ["b0.png", f"b0.png (item {item_id})"]  # told apart in the Files list

    annotate.set_tool("brush")
    annotate.controller.set_size(3)
    qtbot.keyClick(window.canvas, Qt.Key.Key_1)
    _mouse_stroke(qtbot, window, [(20, 20), (30, 20)])
    painted = annotate.session.mask.copy()
    assert painted[20, 25] == 1
    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    with open_project(root) as project:
        stored = project.mask(item_id)
    assert stored is not None and np.array_equal(stored, painted)
    assert not list(tmp_path.glob("images/b/*.mask.*"))  # nothing loose beside the raw data

    # Opening the item again shows the item; File > Open of the file shows the plain one.
    before = len(window.documents)
    _open_row_with_enter(qtbot, browser, item_id)
    assert len(window.documents) == before and window.current is item_doc
    task = window.open_file(plain_path)
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    assert len(window.documents) == before and window.current is plain
