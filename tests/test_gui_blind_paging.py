"""Annotating blind in a large project, the Browser pages as it does for everyone's labels: a
filter of one's own shows the first rows at once ("200+ of N items (counting…)"), a worker
counts, and every row shown, at the top or at the end, is the one of one's own order; a
header click sorts by one's own classes without reading every id.

Real window, the real Edit > Annotate blind action, the filter widgets and header sorts.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import NewItem, open_project, own_order
from qbi_desktop.core.catalog.queries import NONE, Filters
from qbi_desktop.gui.docks.browser_model import COL_ID, COL_LABEL
from qbi_desktop.gui.docks.browser_paging import FIRST

N = 2600


def _project(root):
    rng = np.random.default_rng(8)
    with open_project(root, create=True) as p:
        with p.transaction() as tx:
            ids = tx.add_items(
                [
                    NewItem(
                        f"img{i:05d}", f"{i:032x}", path=f"images/i{i:05d}.png", width=8, height=8
                    )
                    for i in range(N)
                ]
            )
        ids = np.array(ids)
        # Cleo labelled nearly everything; Ada about half, partly the same items
        p.set_label(ids[rng.random(N) < 0.9].tolist(), "7", "Cleo")
        mine = ids[rng.random(N) < 0.5]
        p.set_label(mine[::2].tolist(), "3", "Ada")
        p.set_label(mine[1::2].tolist(), "5", "Ada")


def test_blind_filters_and_sorts_page_and_count_on_a_worker(qtbot, main_window, tmp_path):
    window = main_window
    _project(tmp_path / "p")
    window.annotator.set_name("Ada")
    panel = window.panels["browser"]
    assert panel.open_project(tmp_path / "p")
    window.blind.action.trigger()  # Edit > Annotate blind
    qtbot.waitUntil(lambda: window.blind.active, timeout=3000)
    model = panel.model
    db = panel.project.db

    # Ada's unlabelled items (Cleo's labels do not count): the first rows at once, then counted
    panel.set_filter(label=NONE)
    expected = own_order.id_array(db, "Ada", Filters(label=NONE), "id")
    assert FIRST < expected.size < N
    assert model.rowCount() == FIRST and model.count_pending
    assert panel.count_label.text() == f"{FIRST}+ of {N:,} items (counting…)"
    assert [model.item_id(r) for r in range(5)] == expected[:5].tolist()
    qtbot.waitUntil(lambda: model.rowCount() == expected.size, timeout=20000)
    assert panel.count_label.text() == f"{expected.size:,} of {N:,} items"
    last = expected.size - 1
    assert model.data(model.index(last, COL_ID)) == str(expected[-1])
    assert model.data(model.index(last, COL_LABEL)) == ""  # hers: none, whatever Cleo said
    assert model._ids._all is None  # windows of ids, never the whole list

    # her own classes, descending (a header click): 5s then 3s, each in id order
    panel.set_filter(label=None)
    panel.table.sortByColumn(COL_LABEL, Qt.SortOrder.DescendingOrder)
    order = own_order.id_array(db, "Ada", None, "-label")
    qtbot.waitUntil(lambda: model.rowCount() == N, timeout=20000)
    shown = [model.item_id(r) for r in range(FIRST)]
    assert shown == order[:FIRST].tolist()
    assert {model.data(model.index(r, COL_LABEL)) for r in range(10)} == {"5"}
    assert model.data(model.index(N - 1, COL_ID)) == str(order[-1])

    # ascending: her unlabelled items first, read as a window (not every id)
    panel.table.sortByColumn(COL_LABEL, Qt.SortOrder.AscendingOrder)
    qtbot.waitUntil(lambda: model.rowCount() == N, timeout=20000)
    assert model._ids._all is None
    order = own_order.id_array(db, "Ada", None, "label")
    assert [model.item_id(r) for r in range(FIRST)] == order[:FIRST].tolist()
    assert model.data(model.index(N - 1, COL_ID)) == str(order[-1])
    assert model.data(model.index(N - 1, COL_LABEL)) == "5"

    # blind off: everyone's latest label again (Cleo's 7 shows where Ada gave none)
    window.blind.action.trigger()
    qtbot.waitUntil(lambda: not window.blind.active, timeout=3000)
    panel.set_filter(label="7")
    qtbot.waitUntil(lambda: model.rowCount() == panel.project.count({"label": "7"}), timeout=20000)
    assert {model.data(model.index(r, COL_LABEL)) for r in range(FIRST)} == {"7"}
