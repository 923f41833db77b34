"""Switching project (Dataset > Open Project… on another folder): the viewer used to keep
showing the previous project's item, with its mask session and boxes, and the keys acted on
it as if it were the new project's (item ids repeat from project to project: D/A stepped to
the new project's rows, a box took the new project's class list). Now the items of the
project left are closed (an unsaved mask asks Save / Discard / Cancel; Cancel keeps the old
project open), loose images stay. Real window, real keys and mouse, catalogs read back."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import open_project

try:
    from tests.conftest import open_and_wait
    from tests.test_gui_boxes import drag, fit, item_ids, key, make_project, open_item
except ImportError:  # pragma: no cover
    from conftest import open_and_wait
    from test_gui_boxes import drag, fit, item_ids, key, make_project, open_item


def _item_stores(window):
    annotate = window.panels["annotate"]
    return [annotate.store_of(d) for d in window.documents if annotate.store_of(d) is not None]


def _paint(qtbot, window):
    annotate = window.panels["annotate"]
    annotate.set_tool("brush")
    drag(qtbot, window, (10, 10), (40, 30))
    assert annotate.session is not None and annotate.session.modified


def test_switching_project_closes_the_items_of_the_one_left(qtbot, main_window, tmp_path):
    one, two = make_project(tmp_path / "one"), make_project(tmp_path / "two")
    loose = tmp_path / "loose.png"
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(loose)
    browser, annotate = main_window.panels["browser"], main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    open_and_wait(qtbot, main_window, loose)
    assert browser.open_project(one)
    open_item(qtbot, main_window, item_ids(one)[0])
    assert [s.root for s in _item_stores(main_window)] == [one.absolute()]

    assert browser.open_project(two)
    assert _item_stores(main_window) == []  # nothing of project one left to edit
    assert [d.path.name for d in main_window.documents] == ["loose.png"]  # loose images stay
    assert main_window.current is main_window.documents[0]
    boxes = annotate.boxes
    assert (
        boxes.session is None
        or boxes.session.store is None
        or not hasattr(boxes.session.store, "item_id")
    )
    # the next-item key has nothing of project one to step from
    key(qtbot, main_window, Qt.Key.Key_D)
    assert _item_stores(main_window) == []

    # an item of the new project opens and is that project's
    open_item(qtbot, main_window, item_ids(two)[0])
    assert [s.root for s in _item_stores(main_window)] == [two.absolute()]
    assert boxes.session.store.project.root == two.absolute()


def test_an_unsaved_mask_is_asked_about_and_cancel_keeps_the_project(qtbot, main_window, tmp_path):
    one, two = make_project(tmp_path / "one"), make_project(tmp_path / "two")
    browser, annotate = main_window.panels["browser"], main_window.panels["annotate"]
    assert browser.open_project(one)
    first = item_ids(one)[0]
    open_item(qtbot, main_window, first)
    _paint(qtbot, main_window)

    annotate.unsaved_answer = "cancel"
    assert browser.open_project(two) is False
    assert browser.project.root == one.absolute()  # still project one, its item still open
    assert [s.root for s in _item_stores(main_window)] == [one.absolute()]
    assert annotate.session.modified

    annotate.unsaved_answer = "save"
    assert browser.open_project(two)
    assert browser.project.root == two.absolute() and _item_stores(main_window) == []
    with open_project(one) as project:  # saved into project one, where it was painted
        assert project.mask(first) is not None and project.mask(first).any()
    with open_project(two) as project:
        assert project.mask(item_ids(two)[0]) is None


def test_opening_the_same_project_again_keeps_its_items(qtbot, main_window, tmp_path):
    one = make_project(tmp_path / "one")
    browser = main_window.panels["browser"]
    main_window.panels["annotate"].unsaved_answer = "discard"
    assert browser.open_project(one)
    open_item(qtbot, main_window, item_ids(one)[0])
    fit(main_window)
    assert browser.open_project(one)
    assert [s.root for s in _item_stores(main_window)] == [one.absolute()]


def test_closing_the_project_closes_its_items_and_keeps_loose_images(qtbot, main_window, tmp_path):
    """Dataset > Close Project: an item left open kept editing the closed project (a box drawn
    after it went into its catalog, the title still named the item)."""
    one = make_project(tmp_path / "one")
    loose = tmp_path / "loose.png"
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(loose)
    browser, annotate = main_window.panels["browser"], main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    open_and_wait(qtbot, main_window, loose)
    assert browser.open_project(one)
    open_item(qtbot, main_window, item_ids(one)[0])
    assert len(_item_stores(main_window)) == 1
    browser.close_action.trigger()
    assert browser.project is None
    assert _item_stores(main_window) == []
    assert [d.path.name for d in main_window.documents] == ["loose.png"]


def test_a_project_folder_given_to_open_files_opens_as_the_project(qtbot, main_window, tmp_path):
    """`qbi-desktop ~/projects/spots` (and a folder dropped on a running window) opens the
    project in the Dataset Browser; it was refused as "a folder, not an image file"."""
    one = make_project(tmp_path / "one")
    main_window.last_error = None
    tasks = main_window.open_files([str(one)])
    assert tasks == []  # no image to open
    browser = main_window.panels["browser"]
    qtbot.waitUntil(lambda: browser.project is not None, timeout=10000)
    assert browser.project.root == one.absolute()
    assert main_window.last_error is None
