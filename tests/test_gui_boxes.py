"""Detection boxes on the canvas, driven as a user does: the Box tool (W), real mouse drags on
the real canvas, keys for class, delete, accept and undo; results read back from the catalog
(each edit one transaction) or from the loose image's boxes file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.annotation.boxes import FileBoxStore
from qbi_desktop.core.catalog import Box, open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

SHAPE = (60, 80)  # rows, columns


def make_project(base: Path, n: int = 3) -> Path:
    """A project of ``n`` random 8-bit PNGs (class folder "a")."""
    rng = np.random.default_rng(3)
    folder = base / "images" / "a"
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, SHAPE, dtype=np.uint8)).save(folder / f"i{i}.png")
    root = base / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [base / "images"]))
    return root


def item_ids(root: Path) -> list[int]:
    with open_project(root) as project:
        rows = sorted(project.query(limit=None), key=lambda r: r["name"])
        return [int(r["id"]) for r in rows]


def stored(root: Path, item_id: int) -> list[tuple]:
    with open_project(root) as project:
        return [(b.label, b.x, b.y, b.w, b.h) for b in project.boxes(item_id)]


def viewport_pos(canvas, x: float, y: float):
    scene = canvas.view.mapViewToScene(QPointF(x, y))
    return canvas.viewportTransform().map(scene).toPoint()


def drag(qtbot, window, start, end, steps: int = 6) -> None:
    """A left-button drag with real mouse events between image points (x, y)."""
    canvas = window.canvas
    vp = canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=viewport_pos(canvas, *start))
    for i in range(1, steps + 1):
        t = i / steps
        x = start[0] + (end[0] - start[0]) * t
        y = start[1] + (end[1] - start[1]) * t
        qtbot.mouseMove(vp, viewport_pos(canvas, x, y))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=viewport_pos(canvas, *end))


def type_class(qtbot, boxes, name: str) -> None:
    """Type a class name into the Class field and press Enter, as a user does."""
    edit = boxes.class_combo.lineEdit()
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, name)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def key(qtbot, window, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, k, modifier)


def ctrl_z(qtbot, window) -> None:
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)


def ctrl_shift_z(qtbot, window) -> None:
    mods = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    key(qtbot, window, Qt.Key.Key_Z, mods)


def open_item(qtbot, window, item_id: int) -> None:
    browser = window.panels["browser"]
    annotate = window.panels["annotate"]
    row = browser.model.row_of(item_id)
    browser.table.setFocus()
    browser.table.selectRow(row)
    QApplication.processEvents()
    qtbot.keyClick(browser.table, Qt.Key.Key_Return)

    def shown() -> bool:
        s = annotate.boxes.session
        return s is not None and s.store is not None and getattr(s.store, "item_id", 0) == item_id

    qtbot.waitUntil(shown, timeout=10000)
    fit(window)


def fit(window) -> None:
    canvas = window.canvas
    canvas.view.setRange(xRange=(0, SHAPE[1]), yRange=(0, SHAPE[0]), padding=0)
    QApplication.processEvents()


@pytest.fixture
def project_window(qtbot, main_window, tmp_path):
    root = make_project(tmp_path)
    window = main_window
    window.panels["annotate"].unsaved_answer = "discard"
    assert window.panels["browser"].open_project(root)
    ids = item_ids(root)
    open_item(qtbot, window, ids[0])
    key(qtbot, window, Qt.Key.Key_W)
    assert window.panels["annotate"].controller.tool == "box"
    # the user chooses the class of new boxes (none is invented)
    type_class(qtbot, window.panels["annotate"].boxes, "object")
    return window, root, ids


def test_draw_resize_move_relabel_delete_each_saved_and_undone(qtbot, project_window):
    window, root, ids = project_window
    boxes = window.panels["annotate"].boxes
    item = ids[0]

    drag(qtbot, window, (10, 12), (30, 40))  # draw
    assert stored(root, item) == [("object", 10, 12, 20, 28)]
    assert boxes.session.selected == ("box", 0)
    assert boxes.list.topLevelItem(0).text(1) == "20×28"

    drag(qtbot, window, (30, 40), (50, 45))  # the bottom-right handle resizes
    assert stored(root, item) == [("object", 10, 12, 40, 33)]
    drag(qtbot, window, (20, 20), (25, 18))  # inside: moves, size kept
    assert stored(root, item) == [("object", 15, 10, 40, 33)]

    type_class(qtbot, boxes, "cell")  # a new class, typed
    assert stored(root, item) == [("cell", 15, 10, 40, 33)]
    fit(window)
    key(qtbot, window, Qt.Key.Key_Delete)
    assert stored(root, item) == []

    # Ctrl+Z takes each edit back in turn (catalog and canvas), Ctrl+Shift+Z redoes it
    expected = [
        [("cell", 15, 10, 40, 33)],
        [("object", 15, 10, 40, 33)],
        [("object", 10, 12, 40, 33)],
        [("object", 10, 12, 20, 28)],
        [],
    ]
    for state in expected:
        ctrl_z(qtbot, window)
        assert stored(root, item) == state
        assert [(b.label, b.x, b.y, b.w, b.h) for b in boxes.session.boxes] == state
        assert len(boxes.layer.items) == len(state)
    for state in reversed(expected[:-1]):
        ctrl_shift_z(qtbot, window)
        assert stored(root, item) == state
    ctrl_shift_z(qtbot, window)
    assert stored(root, item) == []
    with open_project(root) as project:
        assert [h["what"] for h in project.history(item)].count("boxes") >= 10


def test_number_keys_and_type_ahead_reach_any_of_eleven_classes(qtbot, project_window):
    window, root, ids = project_window
    boxes = window.panels["annotate"].boxes
    names = [f"class {i:02d}" for i in range(11)]
    for name in names:  # typed once each: the list grows to eleven
        type_class(qtbot, boxes, name)
    fit(window)
    drag(qtbot, window, (5, 5), (20, 20))
    assert stored(root, ids[0])[0][0] == "class 10"  # the last one used
    key(qtbot, window, Qt.Key.Key_3)  # keys 0-9 are the first ten classes (0 = first)
    assert stored(root, ids[0])[0][0] == boxes.classes[3]
    # the eleventh is reached by typing part of its name: the completer offers it
    edit = boxes.class_combo.lineEdit()
    edit.setFocus()
    edit.clear()
    qtbot.keyClicks(edit, "s 10")
    popup = boxes.class_combo.completer().popup()
    assert popup.isVisible()
    offered = [popup.model().index(r, 0).data() for r in range(popup.model().rowCount())]
    assert offered == ["class 10"]
    index = popup.model().index(0, 0)  # the user clicks the one offered
    qtbot.mouseClick(
        popup.viewport(), Qt.MouseButton.LeftButton, pos=popup.visualRect(index).center()
    )
    assert stored(root, ids[0])[0][0] == "class 10"
    assert len(boxes.classes) >= 11


def test_box_outside_is_clipped_and_nothing_left_is_refused(qtbot, project_window):
    window, root, ids = project_window
    canvas = window.canvas
    canvas.view.setRange(xRange=(-40, 120), yRange=(-30, 90), padding=0)
    QApplication.processEvents()
    drag(qtbot, window, (-20, -10), (30, 25))
    assert stored(root, ids[0]) == [("object", 0, 0, 30, 25)]
    drag(qtbot, window, (90, 10), (110, 30))  # wholly right of the 80 px wide image
    assert stored(root, ids[0]) == [("object", 0, 0, 30, 25)]
    assert "outside the 80x60 image" in window.statusBar().currentMessage()
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=viewport_pos(canvas, 60, 50))
    assert stored(root, ids[0]) == [("object", 0, 0, 30, 25)]  # a click makes no box


def test_copy_forward_proposals_accepted_and_rejected_never_silently(qtbot, project_window):
    window, root, ids = project_window
    boxes = window.panels["annotate"].boxes
    drag(qtbot, window, (5, 5), (25, 20))
    drag(qtbot, window, (40, 30), (70, 55))
    drag(qtbot, window, (50, 2), (60, 12))
    key(qtbot, window, Qt.Key.Key_D)  # next item in the Browser's order
    qtbot.waitUntil(lambda: getattr(boxes.session.store, "item_id", 0) == ids[1], timeout=10000)
    fit(window)
    assert stored(root, ids[1]) == []

    boxes.copy_button.click()
    session = boxes.session
    assert len(session.proposals) == 3 and session.boxes == []
    assert stored(root, ids[1]) == []  # proposals are not boxes until accepted
    assert all(item.proposal for item in boxes.layer.proposal_items)
    assert boxes.layer.proposal_items[0].pen().style() == Qt.PenStyle.DashLine

    key(qtbot, window, Qt.Key.Key_Return)  # accept the first
    assert stored(root, ids[1]) == [("object", 5, 5, 20, 15)]
    drag(qtbot, window, (55, 42), (50, 40))  # adjust the (now first) proposal, then accept
    key(qtbot, window, Qt.Key.Key_Return)
    assert stored(root, ids[1])[1] == ("object", 35, 28, 30, 25)
    key(qtbot, window, Qt.Key.Key_Delete)  # reject the last
    assert session.proposals == [] and len(stored(root, ids[1])) == 2
    states = [boxes.list.topLevelItem(i).text(3) for i in range(boxes.list.topLevelItemCount())]
    assert states == ["saved", "saved"]
    boxes.copy_button.click()  # again: the box accepted unchanged is not proposed twice
    assert len(boxes.session.proposals) == 2
    assert "1 already here" in window.statusBar().currentMessage()
    boxes.reject_button.click()

    ctrl_z(qtbot, window)  # accepting was one edit: undo takes it back
    assert stored(root, ids[1]) == [("object", 5, 5, 20, 15)]

    # next again, copy, reject all: nothing written
    key(qtbot, window, Qt.Key.Key_D)
    qtbot.waitUntil(lambda: getattr(boxes.session.store, "item_id", 0) == ids[2], timeout=10000)
    boxes.copy_button.click()
    assert len(boxes.session.proposals) == 1
    boxes.reject_button.click()
    assert stored(root, ids[2]) == [] and boxes.session.proposals == []
    key(qtbot, window, Qt.Key.Key_A)  # previous item
    qtbot.waitUntil(lambda: getattr(boxes.session.store, "item_id", 0) == ids[1], timeout=10000)


def test_ctrl_z_on_canvas_undoes_the_last_box_edit_or_stroke(qtbot, project_window):
    window, root, ids = project_window
    annotate = window.panels["annotate"]
    qtbot.waitUntil(lambda: annotate.session is not None and annotate.session.ready, timeout=10000)
    drag(qtbot, window, (5, 5), (25, 20))  # a box
    key(qtbot, window, Qt.Key.Key_B)  # then a stroke
    drag(qtbot, window, (40, 40), (60, 40))
    assert annotate.session.mask[40, 50] != 0
    key(qtbot, window, Qt.Key.Key_W)
    drag(qtbot, window, (50, 5), (70, 20))  # then a second box

    ctrl_z(qtbot, window)  # the second box
    assert len(stored(root, ids[0])) == 1 and annotate.session.mask[40, 50] != 0
    ctrl_z(qtbot, window)  # the stroke
    assert len(stored(root, ids[0])) == 1 and annotate.session.mask[40, 50] == 0
    ctrl_z(qtbot, window)  # the first box
    assert stored(root, ids[0]) == []
    ctrl_shift_z(qtbot, window)  # redo in the order made: box, stroke, box
    assert len(stored(root, ids[0])) == 1 and annotate.session.mask[40, 50] == 0
    ctrl_shift_z(qtbot, window)
    assert annotate.session.mask[40, 50] != 0 and len(stored(root, ids[0])) == 1
    ctrl_shift_z(qtbot, window)
    assert len(stored(root, ids[0])) == 2


def test_box_list_click_selects_and_centres(qtbot, project_window):
    window, root, ids = project_window
    boxes = window.panels["annotate"].boxes
    drag(qtbot, window, (2, 2), (12, 10))
    drag(qtbot, window, (60, 45), (76, 58))
    window.canvas.view.setRange(xRange=(0, 20), yRange=(0, 15), padding=0)
    QApplication.processEvents()
    item = boxes.list.topLevelItem(1)
    rect = boxes.list.visualItemRect(item)
    qtbot.mouseClick(boxes.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert boxes.session.selected == ("box", 1)
    assert boxes.layer.items[1].selected and not boxes.layer.items[0].selected
    centre = window.canvas.view.viewRect().center()
    assert abs(centre.x() - 68) < 1 and abs(centre.y() - 51.5) < 1


def test_loose_image_boxes_kept_in_user_data_not_beside_the_image(qtbot, main_window, tmp_path):
    from tests.conftest import open_and_wait

    raw = tmp_path / "raw"
    raw.mkdir()
    image = raw / "radiograph.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, SHAPE, dtype=np.uint8)).save(image)
    open_and_wait(qtbot, main_window, image)
    fit(main_window)
    key(qtbot, main_window, Qt.Key.Key_W)
    drag(qtbot, main_window, (10, 10), (40, 30))
    store = main_window.panels["annotate"].boxes.session.store
    assert isinstance(store, FileBoxStore)
    assert store.load() == []  # no class chosen yet: the box waits for one
    type_class(qtbot, main_window.panels["annotate"].boxes, "object")
    assert sorted(p.name for p in raw.iterdir()) == ["radiograph.png"]  # nothing beside it
    assert FileBoxStore(image, 0, None, store.path.parent).load() == [
        Box("object", 10, 10, 30, 20, main_window.panels["annotate"].boxes.annotator())
    ]


def _has_colour(image, colour, tolerance: int = 40) -> bool:
    """True if some pixel of the QImage is within ``tolerance`` of ``colour`` (RGB)."""
    image = image.convertToFormat(image.Format.Format_RGB888)
    ptr = image.constBits()
    rows = np.frombuffer(ptr, np.uint8, image.sizeInBytes()).reshape(image.height(), -1)
    rgb = rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)
    return bool((np.abs(rgb - np.array(colour)).max(axis=2) <= tolerance).any())


def test_boxes_show_on_browser_thumbnail_and_montage(qtbot, project_window):
    from qbi_desktop.core.annotation.boxes import class_colour
    from qbi_desktop.gui.docks.browser_model import COL_THUMB

    window, root, ids = project_window
    browser = window.panels["browser"]
    boxes = window.panels["annotate"].boxes
    drag(qtbot, window, (8, 8), (70, 50))
    type_class(qtbot, boxes, "cell")
    colour = class_colour("cell")
    row = browser.model.row_of(ids[0])

    def thumb():
        index = browser.model.index(row, COL_THUMB)
        return browser.model.data(index, Qt.ItemDataRole.DecorationRole)

    qtbot.waitUntil(lambda: thumb() is not None, timeout=15000)
    assert _has_colour(thumb().toImage(), colour)
    other = browser.model.row_of(ids[1])
    qtbot.waitUntil(
        lambda: (
            browser.model.data(
                browser.model.index(other, COL_THUMB), Qt.ItemDataRole.DecorationRole
            )
            is not None
        ),
        timeout=15000,
    )
    plain = browser.model.data(
        browser.model.index(other, COL_THUMB), Qt.ItemDataRole.DecorationRole
    )
    assert not _has_colour(plain.toImage(), colour, 10)  # a random grey image has no such colour

    browser.table.clearSelection()
    task = browser.update_montage()
    if task is not None:
        qtbot.waitUntil(lambda: task.finished, timeout=15000)
    assert _has_colour(browser.montage.picture.pixmap().toImage(), colour)


def test_next_item_key_saves_the_mask_on_the_way(qtbot, project_window):
    window, root, ids = project_window
    annotate = window.panels["annotate"]
    qtbot.waitUntil(lambda: annotate.session is not None and annotate.session.ready, timeout=10000)
    key(qtbot, window, Qt.Key.Key_B)
    drag(qtbot, window, (10, 30), (60, 30))  # a stroke: the mask is modified, not yet saved
    assert annotate.session.modified
    painted = annotate.session.mask.copy()
    key(qtbot, window, Qt.Key.Key_D)
    qtbot.waitUntil(
        lambda: getattr(annotate.boxes.session.store, "item_id", 0) == ids[1], timeout=10000
    )
    task = annotate.last_save_task
    assert task is not None
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    with open_project(root) as project:
        assert np.array_equal(project.mask(ids[0]) != 0, painted != 0)


def test_a_single_typed_class_comes_back_whole_after_a_restart(
    qtbot, main_window, tmp_path, settings_dir, monkeypatch
):
    """One class typed for loose images is stored as a one-item list, which an INI settings
    file gives back as a plain string: it must be offered again as that class, not as its
    letters, and a box drawn after the restart must carry it."""
    import shutil

    from qbi_desktop.gui.main_window import MainWindow
    from qbi_desktop.gui.settings import settings_path
    from tests.conftest import open_and_wait

    image = tmp_path / "radiograph.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 255, SHAPE, dtype=np.uint8)).save(image)
    open_and_wait(qtbot, main_window, image)
    fit(main_window)
    key(qtbot, main_window, Qt.Key.Key_W)
    type_class(qtbot, main_window.panels["annotate"].boxes, "defect")
    main_window.settings.sync()
    main_window.close()
    # The restart: the settings file the app wrote, read anew from disk (Qt keeps a file it
    # has read cached for the process, so the next window reads a copy in another folder).
    written = settings_path()
    home = tmp_path / "home2"
    monkeypatch.setenv("QBI_DESKTOP_HOME", str(home))
    shutil.copy(written, settings_path())
    again = MainWindow()
    qtbot.addWidget(again)
    again.resize(1400, 900)
    again.show()
    qtbot.waitExposed(again)
    try:
        again.panels["annotate"].unsaved_answer = "discard"
        open_and_wait(qtbot, again, image)
        fit(again)
        key(qtbot, again, Qt.Key.Key_W)
        boxes = again.panels["annotate"].boxes
        offered = [boxes.class_combo.itemData(i) for i in range(boxes.class_combo.count())]
        assert offered == ["defect"]
        drag(qtbot, again, (10, 10), (40, 30))
        assert [b.label for b in boxes.session.boxes] == ["defect"]
    finally:
        again.tasks.cancel_all()
        again.tasks.wait(5000)
        again.close()
