"""The Import dialog offers the command line's --update-originals and (Data Package) --edited-table
as check boxes, its notes name them as the dialog does, and Ctrl+Z in the Browser takes back
what updating the originals changed."""

from __future__ import annotations

import csv
import shutil

from formats_roundtrip_helpers import imagefolder, new_project
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job


def _labels(root):
    project = open_project(root)
    try:
        return {r["name"]: r["label"] for r in project.query(limit=None)}
    finally:
        project.close()


def _import_through_dialog(qtbot, main_window, kind, source, tick=(), seen=None):
    """Dataset > Import…: choose the kind, add the source, tick the named boxes, Import."""
    panel = main_window.panels["browser"]
    seen = {} if seen is None else seen

    def steps():
        dialog = QApplication.activeModalWidget()
        try:
            dialog.kind.setCurrentIndex(dialog.kind.findData(kind))
            dialog.sources.addItem(str(source))
            boxes = (
                ("update", dialog.options.update_originals),
                ("edited", dialog.options.edited_table),
            )
            seen["boxes"] = {
                name: box.isVisibleTo(dialog) and box.isEnabled() for name, box in boxes
            }
            seen["texts"] = tuple(box.text() for _name, box in boxes)
            for name in tick:
                getattr(dialog.options, name).setChecked(True)
        except Exception as exc:  # noqa: BLE001 - said after the dialog is closed
            seen["failed"] = exc
            dialog.reject()
            return
        dialog.accept()

    before = len(main_window.tasks.tasks)
    QTimer.singleShot(50, steps)
    panel.import_dialog()
    if "failed" in seen:
        raise seen["failed"]
    qtbot.waitUntil(lambda: len(main_window.tasks.tasks) > before, timeout=5000)
    task = main_window.tasks.tasks[before]
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    seen["task"] = task
    return seen


def test_update_originals_box_brings_edits_onto_the_items_and_ctrl_z_takes_them_back(
    qtbot, main_window, tmp_path
):
    project = new_project(tmp_path)
    run_job(import_job(project, "imagefolder", [imagefolder(tmp_path / "src")]))
    run_job(export_job(project, "imagefolder", tmp_path / "exported"))
    project.close()
    root = tmp_path / "p"
    # in the exported copy, cat1.png was moved into the dog folder: a class changed
    (moved,) = list((tmp_path / "exported").rglob("cat1.png"))
    shutil.move(moved, moved.parent.parent / "dog" / moved.name)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)

    seen = _import_through_dialog(
        qtbot, main_window, "imagefolder", tmp_path / "exported", tick=["update_originals"]
    )
    # the folder kind offers the update box, not the Data Package's table box
    assert seen["boxes"] == {"update": True, "edited": False}
    labels = _labels(root)
    assert len(labels) == 6  # the copies were not added...
    assert labels["cat1.png"] == "dog" and labels["cat2.png"] == "cat"  # ...their class came
    assert "copies of items already in the project" in panel.last_import_report

    # Ctrl+Z in the Browser gives the item its earlier class back; Ctrl+Y gives the file's again
    main_window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main_window)
    panel.table.setFocus()
    qtbot.keyClick(panel.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _labels(root)["cat1.png"] == "cat"
    assert "Undid" in main_window.statusBar().currentMessage()
    rows = [panel.model.item(r) for r in range(panel.model.rowCount())]
    assert next(r for r in rows if r["name"] == "cat1.png")["label"] == "cat"  # the table too
    qtbot.keyClick(panel.table, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert _labels(root)["cat1.png"] == "dog"


def _package_with_an_edited_table(tmp_path):
    project = new_project(tmp_path, "src")
    run_job(import_job(project, "imagefolder", [imagefolder(tmp_path / "images")]))
    run_job(export_job(project, "datapackage", tmp_path / "pkg"))
    project.close()
    table = tmp_path / "pkg" / "items.csv"
    rows = list(csv.reader(table.open(newline="", encoding="utf-8")))
    for row in rows[1:]:
        if row[rows[0].index("path")].endswith("cat1.png"):
            row[rows[0].index("label")] = "lion"
    with table.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return tmp_path / "pkg"


def test_edited_table_box_for_data_packages_and_the_refusal_names_it(qtbot, main_window, tmp_path):
    pkg = _package_with_an_edited_table(tmp_path)
    root = tmp_path / "dst"
    new_project(tmp_path, "dst").close()
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    panel.last_problems = None

    # without the box: refused, and the message names the box as the dialog shows it
    seen = _import_through_dialog(qtbot, main_window, "datapackage", pkg)
    assert seen["boxes"] == {"update": True, "edited": True}
    qtbot.waitUntil(lambda: panel.last_problems is not None, timeout=5000)
    table = panel.last_problems.table
    reasons = [table.item(r, 3).text() for r in range(table.rowCount())]
    said = next(r for r in reasons if "items.csv" in r and "on purpose" in r)
    assert "--edited-table" not in said and f"'{seen['texts'][1]}'" in said
    assert _labels(root) == {}

    # with it: imported as it is, the edit in
    _import_through_dialog(qtbot, main_window, "datapackage", pkg, tick=["edited_table"])
    labels = _labels(root)
    assert len(labels) == 6 and labels["cat1.png"] == "lion"
    assert "not verified" in panel.last_import_report


def test_a_note_about_copies_names_the_update_box_as_the_dialog_does(qtbot, main_window, tmp_path):
    project = new_project(tmp_path)
    run_job(import_job(project, "imagefolder", [imagefolder(tmp_path / "src")]))
    run_job(export_job(project, "imagefolder", tmp_path / "exported"))
    project.close()
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "p")
    seen = _import_through_dialog(qtbot, main_window, "imagefolder", tmp_path / "exported")
    report = panel.last_import_report
    assert "same pixels" in report and "--update-originals" not in report
    assert f"'{seen['texts'][0]}'" in report
