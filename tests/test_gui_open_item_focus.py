"""Opening an item from the Browser gives the canvas the keys.

A newcomer double-clicked (or pressed Enter on) an item, then pressed ``1`` (the Annotate dock
shows it as a label key) and ``F`` (Fill): the keys went to the Browser table, which relabelled
the row, flagged it "needs edit" and moved the selection on, while the canvas still showed the
item. Here the real window, real key presses and mouse clicks, and the catalog read back.
"""

from __future__ import annotations

import numpy as np
import pytest
from gui_browser_annotate_helpers import _folder_project, _id_of, _open_row_with_enter, _wait_item
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.docks.browser_model import COL_NAME


def _state(root, item_id):
    with open_project(root) as project:
        row = project.get(item_id)
        return row["label"], row["review"]


@pytest.fixture
def project(qtbot, main_window, tmp_path):
    root = _folder_project(tmp_path)
    main_window.annotator.set_name("Tester")
    browser = main_window.panels["browser"]
    annotate = main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    assert browser.open_project(root)
    return main_window, browser, annotate, root


def _keys_do_not_touch_the_item(qtbot, window, browser, annotate, root, item_id):
    row = browser.model.row_of(item_id)
    before = _state(root, item_id)
    assert window.canvas.hasFocus(), QApplication.focusWidget()
    shown = annotate.visible.isChecked()
    qtbot.keyClick(window.canvas, Qt.Key.Key_V)
    assert annotate.visible.isChecked() is not shown  # V hides the mask at once, no click first
    for key in (Qt.Key.Key_1, Qt.Key.Key_F, Qt.Key.Key_R, Qt.Key.Key_0, Qt.Key.Key_C):
        qtbot.keyClick(QApplication.focusWidget(), key)
    QApplication.processEvents()
    assert _state(root, item_id) == before  # no label, no review changed
    assert browser.table.currentIndex().row() == row  # the Browser still shows that item
    assert annotate.controller.tool == "constrained"  # C: the tool the Annotate dock names


def test_enter_gives_the_canvas_the_keys(qtbot, project):
    window, browser, annotate, root = project
    with open_project(root) as p:
        item_id = _id_of(p, "a1")
    _open_row_with_enter(qtbot, browser, item_id)
    _wait_item(qtbot, annotate, item_id)
    _keys_do_not_touch_the_item(qtbot, window, browser, annotate, root, item_id)


def test_double_click_gives_the_canvas_the_keys(qtbot, project):
    window, browser, annotate, root = project
    with open_project(root) as p:
        item_id = _id_of(p, "b0")
    row = browser.model.row_of(item_id)
    browser.table.setFocus()
    rect = browser.table.visualRect(browser.model.index(row, COL_NAME))
    qtbot.mouseClick(browser.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(browser.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    _wait_item(qtbot, annotate, item_id)
    _keys_do_not_touch_the_item(qtbot, window, browser, annotate, root, item_id)


def test_next_item_key_keeps_the_keys_on_the_canvas(qtbot, project):
    window, browser, annotate, root = project
    ids = [browser.model.item_id(r) for r in range(browser.model.rowCount())]
    _open_row_with_enter(qtbot, browser, ids[0])
    _wait_item(qtbot, annotate, ids[0])
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    _wait_item(qtbot, annotate, ids[1])
    assert browser.selected_ids() == [ids[1]]
    _keys_do_not_touch_the_item(qtbot, window, browser, annotate, root, ids[1])


@pytest.fixture
def many(qtbot, main_window, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for n in range(40):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(
            folder / f"img{n:02d}.png"
        )
    root = tmp_path / "proj"
    with open_project(root, create=True) as p:
        run_job(import_job(p, "imagefolder", [folder]))
        C.set_class_list(p, ["cat", "dog"])
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    return main_window, browser, root


def test_label_key_names_the_item_it_labelled_and_the_next(qtbot, many):
    window, browser, root = many
    browser.table.setFocus()
    browser.select_rows([0])
    first, second = browser.model.item(0), browser.model.item(1)
    qtbot.keyClick(browser.table, Qt.Key.Key_1)
    said = window.statusBar().currentMessage()
    assert first["name"] in said and "dog" in said, said
    assert f"next: {second['name']}" in said, said
    assert _state(root, first["id"])[0] == "dog"


def test_label_key_never_labels_a_row_scrolled_out_of_view(qtbot, many):
    window, browser, root = many
    table = browser.table
    table.setFocus()
    browser.select_rows([0])
    item = browser.model.item(0)
    table.verticalScrollBar().setValue(table.verticalScrollBar().maximum())
    QApplication.processEvents()
    assert table.rowViewportPosition(0) < 0  # the selected row is out of sight
    qtbot.keyClick(table, Qt.Key.Key_1)
    assert _state(root, item["id"])[0] is None  # not labelled unseen
    assert "out of view" in window.statusBar().currentMessage()
    assert table.rowViewportPosition(0) >= 0  # shown now
    qtbot.keyClick(table, Qt.Key.Key_1)  # seen: the key acts
    assert _state(root, item["id"])[0] == "dog"
