"""Browser -> Annotate: open a project item, correct its mask with the brush, save it back.

Also: label names added or renamed in Annotate reach the project's ``mask_classes`` (and so
exports), and an emptied mask saved into the project removes the item's mask.

Real projects made with the core import functions, the real window, real key presses on the
Browser's table, real mouse strokes on the canvas, Ctrl+S through the window's shortcut; the
results are read back with ``open_project`` from core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_browser_annotate_helpers import (
    SHAPE,
    _ctrl,
    _folder_project,
    _id_of,
    _mouse_stroke,
    _old_mask,
    _open_row_with_enter,
    _viewport_pos,
    _wait_item,
    _wait_saved,
    open_first_item,
)
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


@pytest.fixture
def opened(qtbot, main_window, tmp_path):
    return open_first_item(qtbot, main_window, tmp_path)


def test_enter_opens_item_mask_in_annotate_and_ctrl_s_saves_into_project(qtbot, opened):
    window, browser, annotate, root, item_id = opened
    session = annotate.session
    # The stored mask and the project's class names are Annotate's mask and labels.
    assert np.array_equal(session.mask, _old_mask())
    assert [(lab.value, lab.name) for lab in session.labels] == [(1, "spot"), (2, "crack")]
    assert annotate.label_list.item(1).text().endswith("crack")
    assert np.array_equal(annotate.overlay.drawn() != 0, _old_mask() > 0)
    assert not hasattr(browser, "overlay")  # one mask display, Annotate's
    assert session.store.journal_place() != session.suggested_path()

    qtbot.keyClick(window.canvas, Qt.Key.Key_2)  # paint "crack"
    _mouse_stroke(qtbot, window, [(20, 20), (30, 20)])
    painted = session.mask.copy()
    assert painted[20, 25] == 2 and session.modified
    assert session.journal.n_strokes == 1
    assert session.journal.path == Path(str(session.store.journal_place()) + ".journal")

    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    assert not session.modified
    assert session.journal.n_strokes == 0  # restarted from the saved mask
    with open_project(root) as project:
        stored = project.mask(item_id)
        info = project.get(item_id)
        history = project.history(item_id)
    assert np.array_equal(stored, painted)
    assert stored[20, 25] == 2 and stored[5, 6] == 1  # new pixels and the old ones
    assert info["mask"]["annotator"] == browser.annotator
    assert history[-1]["what"] == "mask" and history[-1]["annotator"] == browser.annotator
    assert "as " + browser.annotator in window.statusBar().currentMessage()

    # Opening the same item again shows the open document, not a second session.
    before = len(window.documents)
    _open_row_with_enter(qtbot, browser, item_id)
    assert len(window.documents) == before and annotate.session is session


def test_undo_before_save_restores_the_stored_mask(qtbot, opened):
    window, _browser, annotate, root, item_id = opened
    session = annotate.session
    _mouse_stroke(qtbot, window, [(15, 25), (35, 25)])
    assert not np.array_equal(session.mask, _old_mask())
    _ctrl(qtbot, window, Qt.Key.Key_Z)
    assert np.array_equal(session.mask, _old_mask())
    assert not session.modified
    assert np.array_equal(annotate.overlay.drawn() != 0, _old_mask() > 0)
    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    with open_project(root) as project:
        assert np.array_equal(project.mask(item_id), _old_mask())


def test_close_with_unsaved_item_mask_asks_and_save_answer_stores_it(qtbot, opened):
    window, _browser, annotate, root, item_id = opened
    session = annotate.session
    _mouse_stroke(qtbot, window, [(24, 12), (24, 30)])
    painted = session.mask.copy()
    document = window.current

    annotate.unsaved_answer = "cancel"  # the prompt is answered "Cancel": nothing closes
    window.close_current()
    assert window.current is document and session.modified
    with open_project(root) as project:
        assert np.array_equal(project.mask(item_id), _old_mask())

    annotate.unsaved_answer = "save"
    window.close_current()
    assert document not in window.documents
    with open_project(root) as project:
        assert np.array_equal(project.mask(item_id), painted)
        assert project.history(item_id)[-1]["what"] == "mask"


def test_item_deleted_meanwhile_reports_and_keeps_the_painted_mask(qtbot, opened):
    window, browser, annotate, root, item_id = opened
    session = annotate.session
    _mouse_stroke(qtbot, window, [(10, 30), (20, 30)])
    painted = session.mask.copy()
    with open_project(root) as project:
        project.remove_items([item_id])
    annotate.save()
    task = annotate.last_save_task
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    assert task.state == "failed"
    assert "no longer in the project" in window.last_error
    assert f"item {item_id}" in window.last_error
    assert session.modified and np.array_equal(session.mask, painted)
    assert session.journal is not None and session.journal.n_strokes == 1
    # "Save As" still writes a file: the painted mask can be kept
    out = root.parent / "copy.mask.tif"
    assert annotate.save_to(out)
    from qbi_desktop.core.maskio import load_mask

    assert np.array_equal(load_mask(out, SHAPE), painted)
    assert session.modified  # a copy on disk is not the project item


def test_unreadable_item_mask_is_reported_and_never_painted_over(qtbot, main_window, tmp_path):
    root = _folder_project(tmp_path)
    with open_project(root) as project:
        item_id = _id_of(project, "a0")
        mask_file = project.resolve(project.get(item_id)["mask"]["path"])
    mask_file.write_bytes(b"not a tiff" * 10)
    browser = main_window.panels["browser"]
    annotate = main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    assert browser.open_project(root)
    _open_row_with_enter(qtbot, browser, item_id)
    qtbot.waitUntil(lambda: "cannot read mask" in (main_window.last_error or ""), timeout=10000)
    assert str(mask_file) in main_window.last_error
    session = annotate.session
    assert session is not None and session.store.item_id == item_id and not session.ready
    # painting over an empty stand-in and saving would destroy the stored mask: refused
    assert not annotate.save()
    assert mask_file.read_bytes() == b"not a tiff" * 10


def test_array_container_item_round_trip_and_has_mask_column(qtbot, main_window, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 255, (6, 28, 28), dtype=np.uint8)
    y = np.array([0, 1, 2, 0, 1, 2], np.int64)
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=x, y_train=y)
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [npz]))
        item = next(r for r in project.query(limit=None) if r["index"] == 4)
    item_id = int(item["id"])

    browser = main_window.panels["browser"]
    annotate = main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    assert browser.open_project(root)
    row = browser.model.row_of(item_id)
    assert not browser.model.item(row)["has_mask"]
    index = browser.model.index(row, 2)
    browser.table.scrollTo(index)
    QApplication.processEvents()
    rect = browser.table.visualRect(index)
    qtbot.mouseClick(browser.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QApplication.processEvents()  # a selected row may scroll into full view: aim again
    rect = browser.table.visualRect(index)
    qtbot.mouseDClick(browser.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    _wait_item(qtbot, annotate, item_id)
    assert np.array_equal(main_window.current.plane().array, x[4])
    assert not annotate.session.mask.any()  # no mask yet: an empty one to paint on

    annotate.set_tool("brush")
    annotate.controller.set_size(3)
    window = main_window
    window.canvas.view.setRange(xRange=(0, 28), yRange=(0, 28), padding=0)
    QApplication.processEvents()
    vp = window.canvas.viewport()
    a, b = _viewport_pos(window.canvas, 8, 14), _viewport_pos(window.canvas, 20, 14)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(vp, b)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=b)
    painted = annotate.session.mask.copy()
    assert painted[14, 8:21].all()

    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    with open_project(root) as project:
        assert np.array_equal(project.mask(item_id), painted)
        assert project.get(item_id)["mask"]["annotator"] == browser.annotator
        assert not any(project.get(i)["mask"] for i in project.ids() if i != item_id)
    # the table's Mask column says so, without reopening the project
    assert browser.model.item(browser.model.row_of(item_id))["has_mask"]
    col = next(
        c
        for c in range(browser.model.columnCount())
        if browser.model.headerData(c, Qt.Orientation.Horizontal) == "Mask"
    )
    assert browser.model.data(browser.model.index(browser.model.row_of(item_id), col)) == "yes"


def test_journal_is_per_item_and_recovers_after_a_crash(qtbot, main_window, tmp_path):
    """Two items with identical pixels: strokes left by a killed process on one are offered
    for that item only."""
    root = _folder_project(tmp_path, duplicate=True)
    main_window.annotator.set_name("Tester")  # a shared project (the importer drew a mask)
    browser = main_window.panels["browser"]
    annotate = main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    main_window.settings.setValue("annotate/auto_recover", "recover")
    assert browser.open_project(root)
    with open_project(root) as project:
        first, twin = _id_of(project, "a0"), _id_of(project, "a1")
    _open_row_with_enter(qtbot, browser, twin)
    _wait_item(qtbot, annotate, twin)
    annotate.set_tool("brush")
    annotate.controller.set_size(3)
    _mouse_stroke(qtbot, main_window, [(6, 36), (40, 36)])
    painted = annotate.session.mask.copy()
    journal = annotate.session.journal.path
    left_behind = journal.read_bytes()  # what a kill -9 leaves on disk
    main_window.close_current()  # "discard": the journal is deleted...
    assert not journal.exists()
    journal.write_bytes(left_behind)  # ...and is back as after the crash

    # The duplicate with the same pixels is not offered the strokes: its own mask, clean.
    _open_row_with_enter(qtbot, browser, first)
    _wait_item(qtbot, annotate, first)
    assert np.array_equal(annotate.session.mask, _old_mask())
    assert not annotate.session.unsaved_base
    # The item they belong to gets them back, unsaved.
    _open_row_with_enter(qtbot, browser, twin)
    _wait_item(qtbot, annotate, twin)
    assert np.array_equal(annotate.session.mask, painted)
    assert annotate.session.modified
    _ctrl(qtbot, main_window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    with open_project(root) as project:
        assert np.array_equal(project.mask(twin), painted)
        assert np.array_equal(project.mask(first), _old_mask())
