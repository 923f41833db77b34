"""Suggestions in a Browser that pages its ids: the rows in view get their features read first,
and finding them reads only the model's window of ids, never every id of the catalog's order
(a million ids at a million items, once per reload)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.docks.browser_model import COL_ID
from qbi_desktop.gui.docks.browser_paging import WINDOW

N = 2600


def test_the_rows_in_view_come_from_the_window_of_ids(qtbot, main_window, tmp_path):
    rng = np.random.default_rng(4)
    npz = tmp_path / "blobs.npz"
    np.savez(npz, x_train=rng.integers(0, 255, (N, 8, 8), dtype=np.uint8))
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [npz]))
        ids = project.ids()
        for i in range(30):
            project.set_label([ids[i]], str(i % 3))
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    panel.classes_edit.setText("0, 1, 2")
    suggest = panel.suggestions
    qtbot.waitUntil(lambda: suggest.table is not None, timeout=30000)
    model = panel.model
    panel.table.sortByColumn(COL_ID, Qt.SortOrder.DescendingOrder)  # a new order: a reload
    qtbot.waitUntil(lambda: model.rowCount() == N, timeout=5000)
    assert model._ids._all is None and len(model._ids.window) <= WINDOW
    panel.table.scrollTo(model.index(2000, COL_ID))  # far from the first window
    qtbot.wait(50)
    top = panel.table.rowAt(0)
    assert top > 1500
    wanted = suggest._rows_in_view()
    assert wanted[:5] == [int(ids[-1 - top - k]) for k in range(5)]  # the rows shown, in order
    assert len(wanted) == min(300, N - top)
    suggest.update_now()
    qtbot.waitUntil(lambda: suggest.task is None or suggest.task.finished, timeout=30000)
    assert model._ids._all is None  # every id was never read
