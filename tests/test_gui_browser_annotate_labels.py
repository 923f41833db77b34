"""Browser -> Annotate, continued: label names added or renamed in Annotate reach the
project's ``mask_classes`` (and so exports), an emptied mask saved into the project removes the
item's mask, a read-only project keeps the painted mask, and simulated objects open with one
named label each. Real projects, the real window, real keys and strokes; results read back
with ``open_project``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from gui_browser_annotate_helpers import (
    _ctrl,
    _folder_project,
    _id_of,
    _mouse_stroke,
    _old_mask,
    _open_row_with_enter,
    _wait_item,
    _wait_saved,
    open_first_item,
)
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QPushButton

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import export_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.annotate.store import merge_class_names


# -- label names and empty masks reach the project ---------------------------------------------
def _answer_text_dialog(qtbot, text: str) -> None:
    """When the next text dialog (Add… / Rename…) opens, type ``text`` into it as a user does
    (select what is there, type, Enter). Queued before the click that opens the modal dialog."""

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, answer)
            return
        field = dialog.findChild(QLineEdit)
        field.setFocus()
        qtbot.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClicks(field, text)
        qtbot.keyClick(field, Qt.Key.Key_Return)

    QTimer.singleShot(0, answer)


def _click_label_button(qtbot, annotate, title: str, text: str) -> None:
    button = next(b for b in annotate.findChildren(QPushButton) if b.text() == title)
    _answer_text_dialog(qtbot, text)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    # the window manager gives the main window back its focus when the dialog closes; the
    # offscreen platform has none, so do what it does (Ctrl+S needs an active window)
    annotate.window.activateWindow()
    qtbot.waitUntil(annotate.window.isActiveWindow, timeout=5000)


def _coco_categories(root: Path, out: Path) -> dict[int, str]:
    """Export the project to COCO with core and return the categories it wrote."""
    with open_project(root) as project:
        run_job(export_job(project, "coco", out))
    categories: dict[int, str] = {}
    for written in out.rglob("annotations.json"):
        for c in json.loads(written.read_text())["categories"]:
            categories[c["id"]] = c["name"]
    return categories


@pytest.fixture
def opened(qtbot, main_window, tmp_path):
    return open_first_item(qtbot, main_window, tmp_path)


def test_label_added_in_annotate_and_painted_is_named_in_project_and_export(
    qtbot, opened, tmp_path
):
    window, _browser, annotate, root, item_id = opened
    with open_project(root) as project:  # a key that names no value, e.g. another helper's
        project.set_metadata(mask_classes={"1": "spot", "2": "crack", "objects": "kept"})
    _click_label_button(qtbot, annotate, "Add…", "pore")
    session = annotate.session
    assert session.labels.by_name("pore").value == 3 and annotate.controller.label == 3
    _mouse_stroke(qtbot, window, [(24, 16), (24, 26)])
    assert (session.mask == 3).any()

    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    assert "label 3 'pore' added to project" in window.statusBar().currentMessage()
    with open_project(root) as project:
        classes = project.metadata()["mask_classes"]
        assert np.array_equal(project.mask(item_id), session.mask)
    assert classes == {"1": "spot", "2": "crack", "objects": "kept", "3": "pore"}
    # what the user wanted: an export names the new category
    assert _coco_categories(root, tmp_path / "coco") == {1: "spot", 2: "crack", 3: "pore"}


def test_label_renamed_in_annotate_is_renamed_in_project(qtbot, opened):
    window, _browser, annotate, root, _item_id = opened
    session = annotate.session
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_1)  # "spot" is the active label
    _click_label_button(qtbot, annotate, "Rename…", "hot spot")
    assert session.labels[1].name == "hot spot"
    assert session.modified  # the project's name would change: closing asks
    assert "modified" in annotate.status.text()

    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    assert "label 1 renamed 'spot' -> 'hot spot' in project" in (
        window.statusBar().currentMessage()
    )
    assert not session.modified
    with open_project(root) as project:
        assert project.metadata()["mask_classes"] == {"1": "hot spot", "2": "crack"}

    # Renaming it back is a change again, and is saved the same way.
    _click_label_button(qtbot, annotate, "Rename…", "spot")
    assert session.modified
    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    with open_project(root) as project:
        assert project.metadata()["mask_classes"] == {"1": "spot", "2": "crack"}


def test_rename_made_from_another_item_is_not_undone_by_a_later_save(qtbot, main_window, tmp_path):
    """Two items of one project open: a rename saved from one is the project's name; saving
    the other (which still showed the old name and left it alone) keeps it, and shows it."""
    root = _folder_project(tmp_path)
    main_window.annotator.set_name("Tester")  # a shared project (the importer drew a mask)
    browser = main_window.panels["browser"]
    annotate = main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    assert browser.open_project(root)
    with open_project(root) as project:
        first, other = _id_of(project, "a0"), _id_of(project, "b0")
    _open_row_with_enter(qtbot, browser, other)
    _wait_item(qtbot, annotate, other)
    stale = annotate.session
    annotate.set_tool("brush")
    annotate.controller.set_size(3)
    _mouse_stroke(qtbot, main_window, [(10, 10), (20, 10)])  # paints "spot" (value 1)

    _open_row_with_enter(qtbot, browser, first)
    _wait_item(qtbot, annotate, first)
    main_window.canvas.setFocus()
    qtbot.keyClick(main_window.canvas, Qt.Key.Key_1)
    _click_label_button(qtbot, annotate, "Rename…", "hot spot")
    _ctrl(qtbot, main_window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)

    _open_row_with_enter(qtbot, browser, other)  # back to the first document, still "spot"
    qtbot.waitUntil(lambda: annotate.session is stale)
    assert stale.labels[1].name == "spot"
    _ctrl(qtbot, main_window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    with open_project(root) as project:
        assert project.metadata()["mask_classes"]["1"] == "hot spot"
        assert project.mask(other)[10, 15] == 1
    assert "stays 'hot spot' in project" in main_window.statusBar().currentMessage()
    assert stale.labels[1].name == "hot spot" and not stale.modified
    assert annotate.label_list.item(0).text().endswith("hot spot")


def test_new_mask_then_save_removes_the_item_mask_and_undo_brings_it_back(qtbot, opened):
    window, browser, annotate, root, item_id = opened
    session = annotate.session
    with open_project(root) as project:
        old_file = project.resolve(project.get(item_id)["mask"]["path"])
    assert old_file.exists()

    annotate.actions["new"].trigger()  # Annotate > New Mask
    assert not session.mask.any() and session.modified
    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    assert not session.modified
    assert "removed" in window.statusBar().currentMessage()
    with open_project(root) as project:
        assert project.mask(item_id) is None
        assert not project.get(item_id)["mask"]
        last = project.history(item_id)[-1]
    assert (last["what"], last["value"], last["annotator"]) == ("mask", None, browser.annotator)
    assert not old_file.exists()  # no empty mask file either
    # the Browser's row: no mask
    row = browser.model.row_of(item_id)
    assert not browser.model.item(row)["has_mask"]
    col = next(
        c
        for c in range(browser.model.columnCount())
        if browser.model.headerData(c, Qt.Orientation.Horizontal) == "Mask"
    )
    assert browser.model.data(browser.model.index(row, col)) != "yes"

    # Undo: the old mask, unsaved; saving puts it back into the project.
    _ctrl(qtbot, window, Qt.Key.Key_Z)
    assert np.array_equal(session.mask, _old_mask()) and session.modified
    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    assert not session.modified
    with open_project(root) as project:
        assert np.array_equal(project.mask(item_id), _old_mask())
        assert project.history(item_id)[-1]["value"] == "set"
    assert browser.model.item(browser.model.row_of(item_id))["has_mask"]

    # Redo: empty again, unsaved until saved; then the item has no mask again.
    _ctrl(qtbot, window, Qt.Key.Key_Y)
    assert not session.mask.any() and session.modified
    _ctrl(qtbot, window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    with open_project(root) as project:
        assert project.mask(item_id) is None
        assert [h["value"] for h in project.history(item_id) if h["what"] == "mask"][-3:] == [
            None,
            "set",
            None,
        ]
    assert not session.modified


def test_empty_mask_saved_for_an_item_without_mask_writes_nothing(qtbot, main_window, tmp_path):
    root = _folder_project(tmp_path)
    browser = main_window.panels["browser"]
    annotate = main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    assert browser.open_project(root)
    with open_project(root) as project:
        item_id = _id_of(project, "b0")
        before = project.history(item_id)
    _open_row_with_enter(qtbot, browser, item_id)
    _wait_item(qtbot, annotate, item_id)
    _ctrl(qtbot, main_window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    assert "still has no mask" in main_window.statusBar().currentMessage()
    with open_project(root) as project:
        assert project.mask(item_id) is None
        assert project.history(item_id) == before  # no removal of a mask that never was


def test_merge_keeps_other_keys_and_refuses_a_name_another_value_has():
    stored = {"1": "spot", "2": "crack", "1..m": "object", "02x": 5, "5": "pore"}
    names = {1: "spot", 2: "spot 2", 3: "crack", 4: "pore"}
    merge = merge_class_names(stored, [1, 2, 3, 4], names)
    # 4 "pore" would give two values one name (one category on export): not written;
    # 3 may take "crack", which 2 gives up in the same save
    assert merge.classes == {
        "1": "spot",
        "2": "spot 2",
        "1..m": "object",
        "02x": 5,
        "5": "pore",
        "3": "crack",
    }
    assert merge.renamed == {2: ("crack", "spot 2")} and merge.added == {3: "crack"}
    assert any("label 4" in note for note in merge.skipped)
    # Annotate's made-up names for unnamed values are not written; nor for instance masks
    assert merge_class_names({}, [5], {5: "label 5"}).classes is None
    assert merge_class_names(None, [1], {1: "spot"}, instances="object").classes is None


# -- a read-only project ------------------------------------------------------------------------
READ_ONLY_SCRIPT = r"""
import json, os, sys, time
import numpy as np
import pyqtgraph as pg
pg.setConfigOption("mouseRateLimit", -1)
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

root, item_id = sys.argv[1], int(sys.argv[2])
app = QApplication([])
from qbi_desktop.gui.main_window import MainWindow

window = MainWindow()
window.annotator.set_name("Tester")  # a shared project (the importer drew a mask)
window.resize(1200, 900)
window.show()
QTest.qWaitForWindowExposed(window)
browser, annotate = window.panels["browser"], window.panels["annotate"]
annotate.unsaved_answer = "discard"


def wait(cond, timeout=30):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            print(json.dumps({"timeout": True}), flush=True)
            sys.exit(3)
        app.processEvents()
        time.sleep(0.005)


assert browser.open_project(root), window.last_error
browser.table.setFocus()
browser.table.selectRow(browser.model.row_of(item_id))
app.processEvents()
QTest.keyClick(browser.table, Qt.Key.Key_Return)
wait(lambda: annotate.session is not None and annotate.session.ready
     and annotate.session.store is not None)
canvas = window.canvas
canvas.view.setRange(xRange=(0, 48), yRange=(0, 40), padding=0)
app.processEvents()
annotate.set_tool("brush")
annotate.controller.set_size(3)
vp = canvas.viewport()
pts = [canvas.viewportTransform().map(canvas.view.mapViewToScene(QPointF(x, 20))).toPoint()
       for x in (10, 30)]
QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[0])
QTest.mouseMove(vp, pts[1])
QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[1])
painted = annotate.session.mask.copy()
os.chmod(root, 0o555)  # the project becomes read-only while the mask is being corrected
try:
    canvas.setFocus()
    QTest.keyClick(canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    task = annotate.last_save_task
    wait(lambda: task is not None and task.finished)
finally:
    os.chmod(root, 0o755)
s = annotate.session
print(json.dumps({
    "state": task.state,
    "error": getattr(window, "last_error", ""),
    "modified": s.modified,
    "kept": bool(np.array_equal(s.mask, painted)),
    "painted": int((painted > 0).sum()),
    "journal_strokes": s.journal.n_strokes if s.journal else -1,
}), flush=True)
window.close()
"""


def test_saving_into_read_only_project_reports_and_keeps_the_mask(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="qbi-ro-item-"))  # in /tmp: reachable by any user
    try:
        base.chmod(0o755)
        root = _folder_project(base)
        with open_project(root) as project:
            item_id = _id_of(project, "a0")
        home = base / "home"
        home.mkdir()
        command = [sys.executable, "-c", READ_ONLY_SCRIPT, str(root), str(item_id)]
        if os.geteuid() == 0:  # root writes anywhere: run the app as an unprivileged user
            if shutil.which("setpriv") is None:
                pytest.skip("setpriv not available to drop root")
            for path in [base, *base.rglob("*")]:
                os.chown(path, 65534, 65534)
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        env = dict(os.environ)
        env.update(
            QT_QPA_PLATFORM="offscreen",
            QBI_DESKTOP_HOME=str(home),
            PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        )
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=120, env=env, cwd=base
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        assert lines, out.stderr[-2000:]
        result = json.loads(lines[-1])
        assert result["state"] == "failed", result
        assert "not writable" in result["error"] or "read-only" in result["error"], result
        assert f"item {item_id}" in result["error"] and "Nothing is lost" in result["error"]
        assert result["modified"] and result["kept"] and result["painted"] > 0
        assert result["journal_strokes"] == 1  # the stroke is still safe on disk
        with open_project(root) as project:  # the project is unchanged
            assert np.array_equal(project.mask(item_id), _old_mask())
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_simulated_object_masks_open_with_one_named_label_per_object(tmp_path):
    """An instance-mask project (simulated objects): Annotate names each object id after the
    project's instance class instead of the default "spot" label."""
    from qbi_desktop.core.catalog.simulated import simulate_into_project_job
    from qbi_desktop.core.labels import LabelTable
    from qbi_desktop.core.simulate import SimulationParams
    from qbi_desktop.gui.annotate.store import ProjectItemStore

    project = open_project(tmp_path / "objects", create=True)
    params = SimulationParams(height=96, width=128, spot_rate_per_mpx=0)
    (item,) = run_job(simulate_into_project_job(project, 1, seed=4, params=params, mask="objects"))
    stored = project.mask(item)
    project.close()
    store = ProjectItemStore(tmp_path / "objects", item, "sim", "tester")
    mask, labels = store.load(stored.shape, LabelTable())  # the default table: 1 = "spot"
    np.testing.assert_array_equal(mask, stored)
    objects = [int(v) for v in np.unique(stored) if v > 0]
    assert len(objects) >= 2
    assert [labels[v].name for v in objects] == [f"object {v}" for v in objects]
    assert "spot" not in {label.name for label in labels}
