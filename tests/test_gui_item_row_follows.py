"""A project item opened from outside the Browser (a second launch, File > Open of its file, the
Files list) takes the Browser's row along: the filters stay, one that hides it is said."""

from __future__ import annotations

from formats_roundtrip_helpers import imagefolder, new_project

from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _open_project(qtbot, main_window, tmp_path):
    project = new_project(tmp_path)
    run_job(import_job(project, "imagefolder", [imagefolder(tmp_path / "src")]))
    project.close()
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "p")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 6)
    return panel


def _file_of(panel, name):
    (row,) = [r for r in range(panel.model.rowCount()) if panel.model.item(r)["name"] == name]
    item = panel.model.item(row)
    return item, str(panel.project.resolve(item["source"]))


def _selected_ids(panel):
    rows = panel.table.selectionModel().selectedRows()
    return sorted(panel.model.item_id(i.row()) for i in rows)


def _open(qtbot, main_window, path):
    """Open a file as a second launch or File > Open does (MainWindow.open_files)."""
    before = len(main_window.documents)
    for opened in main_window.open_files([path]):
        if hasattr(opened, "finished"):
            qtbot.waitUntil(lambda o=opened: o.finished, timeout=10000)
    qtbot.waitUntil(lambda: len(main_window.documents) > before, timeout=10000)


def test_opening_an_items_file_from_outside_selects_its_row(qtbot, main_window, tmp_path):
    panel = _open_project(qtbot, main_window, tmp_path)
    panel.select_rows([0])
    first = panel.model.item(0)
    item, path = _file_of(panel, "dog2.png")
    assert item["id"] != first["id"]
    _open(qtbot, main_window, path)
    assert "(item" in main_window.current.title or main_window.item_store_of(main_window.current)
    # the Browser now stands on that item, not on the row it was on (its keys went there)
    assert _selected_ids(panel) == [item["id"]]
    assert panel.model.item_id(panel.table.currentIndex().row()) == item["id"]
    assert panel.model.rowCount() == 6  # no filter changed

    # choosing another open item in the Files list takes the row along too
    other, other_path = _file_of(panel, "cat1.png")
    _open(qtbot, main_window, other_path)
    assert _selected_ids(panel) == [other["id"]]
    main_window.files_list.setCurrentRow(0)
    assert _selected_ids(panel) == [item["id"]]


def test_a_filter_that_hides_the_item_stays_and_is_said(qtbot, main_window, tmp_path):
    panel = _open_project(qtbot, main_window, tmp_path)
    panel.set_filter(label="cat")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3)
    panel.select_rows([0])
    item, path = _file_of(panel, "cat0.png")
    panel.set_filter(label="dog")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3)
    panel.select_rows([1])
    _open(qtbot, main_window, path)
    # the filter is the user's: still "dog", three rows, and no dog row stands for the cat
    assert panel.label_filter.currentData() == "dog" and panel.model.rowCount() == 3
    assert _selected_ids(panel) == []
    said = main_window.statusBar().currentMessage()
    assert "cat0.png" in said and f"item {item['id']}" in said and "filters hide" in said


def test_opening_from_its_own_row_keeps_the_selection(qtbot, main_window, tmp_path):
    panel = _open_project(qtbot, main_window, tmp_path)
    panel.select_rows([2, 3])  # several rows, the first current: Enter opens it
    ids = _selected_ids(panel)
    opened = panel.open_item(2)
    if hasattr(opened, "finished"):
        qtbot.waitUntil(lambda: opened.finished, timeout=10000)
    assert _selected_ids(panel) == ids
