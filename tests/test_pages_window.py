"""The Browser's table holds a window of ids, not every id: opening, sorting (a header click) and
filtering ask the catalog for the count and the rows around those shown, and every row the
view paints, near the top, in the middle or at the end, is the one of the catalog's order."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from qbi_desktop.core.catalog import Box, Filters, NewItem, open_project
from qbi_desktop.gui.docks.browser_model import COL_ID, COLUMNS, ItemTableModel
from qbi_desktop.gui.docks.browser_paging import FIRST, WINDOW

N = 2600


@pytest.fixture
def project(tmp_path):
    rng = np.random.default_rng(3)
    p = open_project(tmp_path / "p", create=True)
    with p.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(
                    name=f"img{int(rng.integers(0, 900)):05d}",
                    hash=f"{i % 2500:032x}",  # the last 100 repeat the first 100
                    path=f"images/i{i:05d}.png",
                    width=int(rng.choice([8, 16])),
                    height=8,
                    label=str(int(rng.integers(0, 4))),
                    split=("train", "val", "test")[i % 3],
                )
                for i in range(N)
            ]
        )
        for i in ids[::7]:
            tx.set_boxes(i, [Box("spot", 1, 1, 2, 2)] * (1 + i % 3), "ann")
    yield p
    p.close()


def _column(key: str) -> int:
    return next(n for n, c in enumerate(COLUMNS) if c[1] == key and n > 0)


def test_the_table_shows_the_catalog_order_from_a_window_of_ids(qtbot, project):
    model = ItemTableModel()
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setSortingEnabled(True)
    view.resize(800, 400)
    model.set_project(project)
    cases = [
        (Filters(), "name", Qt.SortOrder.DescendingOrder),
        (Filters(), "n_boxes", Qt.SortOrder.DescendingOrder),
        (Filters(), "source", Qt.SortOrder.AscendingOrder),
        (Filters(split="train"), "label", Qt.SortOrder.AscendingOrder),
        (Filters(name="img001"), "id", Qt.SortOrder.AscendingOrder),
        (Filters(duplicates=True), "width", Qt.SortOrder.DescendingOrder),
    ]
    for filters, key, order in cases:
        model.set_filters(filters)
        view.sortByColumn(_column(key), order)  # what a header click does
        expected = project.ids(filters, model.sort_key)
        assert model.sort_key.lstrip("-") == key
        assert model.rowCount() == len(expected) > 0
        if len(expected) > WINDOW:  # a window of ids, not all of them
            assert model._ids.window.size <= WINDOW and model._ids._all is None
        last = len(expected) - 1
        for row in sorted({0, 1, len(expected) // 2, last - 250, last}):
            if row < 0:
                continue
            view.scrollTo(model.index(row, COL_ID))
            qtbot.wait(1)
            assert model.data(model.index(row, COL_ID)) == str(expected[row]), (key, row)
            assert model.item(row)["id"] == expected[row]
        # the row of an item anywhere in the order (an item opened elsewhere is selected)
        assert model.row_of(expected[last]) == last
        assert model.row_of(expected[0]) == 0
        assert model.row_of(-5) is None
    assert model.ids.tolist() == project.ids(Filters(duplicates=True), "-width")


def test_an_edit_refreshes_the_rows_shown(qtbot, project):
    model = ItemTableModel()
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.set_project(project)
    model.sort(_column("name"), Qt.SortOrder.AscendingOrder)
    row = 2000
    view.scrollTo(model.index(row, COL_ID))
    item_id = model.item_id(row)
    project.set_label([item_id], "relabelled", "ann")
    with qtbot.waitSignal(model.dataChanged, timeout=2000):
        model.refresh_items([item_id])
    assert model.item(row)["label"] == "relabelled"
    label_column = _column("label")
    assert model.data(model.index(row, label_column)) == "relabelled"


def test_a_count_that_reads_every_item_comes_after_the_first_rows(qtbot, project, monkeypatch):
    """'img0' is in every name: no index narrows it, so counting tests every name. The table
    shows the first window's rows at once and the rest when a worker has counted them."""
    from qbi_desktop.core.catalog import count_cache, names
    from qbi_desktop.gui.workers import TaskManager

    monkeypatch.setattr(names, "FEW", 20)  # at this size, as a million items would be
    count_cache.clear()
    tasks = TaskManager()
    model = ItemTableModel()
    model.run_task = lambda title, factory, on_result, on_error, **kw: tasks.submit(
        title, factory, on_result=on_result, on_error=on_error
    )
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.set_project(project)
    qtbot.waitUntil(lambda: model.rowCount() == N, timeout=10000)
    model.sort(_column("name"), Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: model.rowCount() == N, timeout=10000)
    with qtbot.waitSignal(model.rowsInserted, timeout=10000):
        model.set_filters(Filters(name="img0"))
        assert model.rowCount() == FIRST and model.count_pending  # the first rows, before the count
        assert model.data(model.index(0, COL_ID)) == str(project.ids({"name": "img0"}, "-name")[0])
    expected = project.ids({"name": "img0"}, "-name")
    assert model.rowCount() == len(expected) > WINDOW
    assert model.data(model.index(len(expected) - 1, COL_ID)) == str(expected[-1])
    # a count that arrives after another filter was chosen is not applied to it
    model.set_filters(Filters(name="img00"))
    model.set_filters(Filters(label="1"))
    qtbot.wait(300)
    assert model.rowCount() == project.count({"label": "1"})


def test_the_count_being_made_is_shown_as_more_and_kept_for_the_next_sort(
    qtbot, main_window, tmp_path, monkeypatch
):
    """'img0' is in every name and the catalog is as large as the index can count few of: the
    Browser shows the first rows at once and says there are more ("200+ ... (counting…)"),
    never an exact-looking number that is not the count; once counted, sorting
    the same filter with the exact count at once (kept for this catalog state)."""
    from qbi_desktop.core.catalog import count_cache, names

    rng = np.random.default_rng(5)
    with open_project(tmp_path / "big", create=True) as p, p.transaction() as tx:
        tx.add_items(
            [
                NewItem(
                    name=f"img{int(rng.integers(0, 900)):05d}",
                    hash=f"{i:032x}",
                    path=f"images/i{i:05d}.png",
                    width=8,
                    height=8,
                    label=str(i % 4),
                )
                for i in range(N)
            ]
        )
    monkeypatch.setattr(names, "FEW", 20)  # at this size, as a million items would be
    monkeypatch.setattr(names, "FIRST_PAGE", 1)
    count_cache.clear()
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "big")
    panel.set_filter(name="img0")
    assert panel.model.rowCount() == FIRST
    assert panel.count_label.text() == f"{FIRST}+ of {N:,} items (counting…)"
    qtbot.waitUntil(lambda: panel.model.rowCount() == N, timeout=20000)
    assert panel.count_label.text() == f"{N:,} of {N:,} items"
    panel.model.sort(_column("name"), Qt.SortOrder.DescendingOrder)
    assert panel.model.rowCount() == N and not panel.model.count_pending
    assert panel.count_label.text() == f"{N:,} of {N:,} items"
    expected = panel.project.ids({"name": "img0"}, "-name")
    assert panel.model.data(panel.model.index(N - 1, COL_ID)) == str(expected[-1])


def test_sorting_while_counting_waits_for_the_same_count(qtbot, project, monkeypatch):
    """A header click while the worker counts a filter: the count goes on (the filter is the
    same, and so is the catalog) instead of starting again, and the rows of the new order
    appear when it is done. Another filter stops it."""
    from qbi_desktop.core.catalog import count_cache, names
    from qbi_desktop.gui.workers import TaskManager

    monkeypatch.setattr(names, "FEW", 20)
    monkeypatch.setattr(names, "FIRST_PAGE", 1)
    count_cache.clear()
    tasks, counts = TaskManager(), []

    def run_task(title, factory, on_result, on_error, **kw):
        if title == "Counting items":
            counts.append(title)
        return tasks.submit(title, factory, on_result=on_result, on_error=on_error)

    model = ItemTableModel()
    model.run_task = run_task
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.set_project(project)
    model.set_filters(Filters(name="img0"))
    assert model.count_pending and counts == ["Counting items"]
    model.sort(_column("name"), Qt.SortOrder.DescendingOrder)  # before the count is back
    model.sort(_column("label"), Qt.SortOrder.AscendingOrder)
    assert model.count_pending and len(counts) == 1
    qtbot.waitUntil(lambda: not model.count_pending, timeout=10000)
    expected = project.ids({"name": "img0"}, "label")
    assert model.rowCount() == len(expected) == N
    assert model.data(model.index(N - 1, COL_ID)) == str(expected[-1])
    model.set_filters(Filters(name="img00"))
    assert len(counts) == 2 and model.count_pending
    qtbot.waitUntil(lambda: not model.count_pending, timeout=10000)
    assert model.rowCount() == project.count({"name": "img00"})
