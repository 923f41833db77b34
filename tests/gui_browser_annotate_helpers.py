"""A small folder project and the steps of opening its items from the Browser into Annotate, for
tests/test_gui_browser_annotate*.py (:func:`open_first_item`: item a0, with a mask, open with
the brush)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

SHAPE = (40, 48)


def _folder_project(base: Path, duplicate: bool = False) -> Path:
    """Folder-per-class PNGs (a: 2, b: 1; with ``duplicate`` a1 is a copy of a0), imported into
    a project whose mask classes name values 1 and 2; item 1 (a0) has a mask."""
    rng = np.random.default_rng(7)
    folder = base / "images"
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
    a0 = rng.integers(0, 255, SHAPE, dtype=np.uint8)
    Image.fromarray(a0).save(folder / "a" / "a0.png")
    a1 = a0 if duplicate else rng.integers(0, 255, SHAPE, dtype=np.uint8)
    Image.fromarray(a1).save(folder / "a" / "a1.png")
    Image.fromarray(rng.integers(0, 255, SHAPE, dtype=np.uint8)).save(folder / "b" / "b0.png")
    root = base / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [folder]))
        project.set_metadata(mask_classes={"1": "spot", "2": "crack"})
        project.set_mask(_id_of(project, "a0"), _old_mask(), "importer")
    return root


def _old_mask() -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[4:10, 5:12] = 1
    mask[30:34, 36:44] = 2
    return mask


def _id_of(project, stem: str) -> int:
    rows = [r for r in project.query(limit=None) if Path(r["name"]).stem == stem]
    assert len(rows) == 1, rows
    return int(rows[0]["id"])


def _viewport_pos(canvas, x: float, y: float):
    scene = canvas.view.mapViewToScene(QPointF(x, y))
    return canvas.viewportTransform().map(scene).toPoint()


def _mouse_stroke(qtbot, window, points) -> None:
    """A brush stroke with real mouse events through image points (x, y)."""
    canvas = window.canvas
    canvas.view.setRange(xRange=(0, SHAPE[1]), yRange=(0, SHAPE[0]), padding=0)
    QApplication.processEvents()
    vp = canvas.viewport()
    pos = [_viewport_pos(canvas, x, y) for x, y in points]
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=pos[0])
    for p in pos[1:]:
        qtbot.mouseMove(vp, p)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=pos[-1])


def _ctrl(qtbot, window, key) -> None:
    """A window-wide shortcut as the user types it (focus on the canvas)."""
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, key, Qt.KeyboardModifier.ControlModifier)


def _open_row_with_enter(qtbot, browser, item_id: int) -> None:
    row = browser.model.row_of(item_id)
    browser.table.setFocus()
    browser.table.selectRow(row)
    QApplication.processEvents()  # as between a user's actions (the dock was just raised)
    qtbot.keyClick(browser.table, Qt.Key.Key_Return)


def _wait_item(qtbot, annotate, item_id: int) -> None:
    def shown() -> bool:
        s = annotate.session
        return s is not None and s.ready and s.store is not None and s.store.item_id == item_id

    qtbot.waitUntil(shown, timeout=10000)


def _wait_saved(qtbot, annotate) -> None:
    task = annotate.last_save_task
    assert task is not None
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    assert task.state == "done", task.error


def open_first_item(qtbot, main_window, tmp_path):
    """The window with a project open in the Browser and its item a0 (with a mask) opened: the
    tests' ``opened`` fixture."""
    root = _folder_project(tmp_path)
    main_window.annotator.set_name("Tester")  # a shared project (the importer drew a mask)
    browser = main_window.panels["browser"]
    annotate = main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"  # pytest-qt closes the window: never ask at teardown
    assert browser.open_project(root)
    with open_project(root) as project:
        item_id = _id_of(project, "a0")
    _open_row_with_enter(qtbot, browser, item_id)
    _wait_item(qtbot, annotate, item_id)
    annotate.set_tool("brush")
    annotate.controller.set_size(3)
    return main_window, browser, annotate, root, item_id
