"""The class picker (key C) opens at every press: its class counts come from the catalog's
count tables, not from grouping every item and box on the GUI thread (45-110 ms at 100 000
items). Real keys; the statements run on the Browser's own catalog connection are recorded,
and the counts shown are checked against the items and boxes themselves."""

from __future__ import annotations

import re
import sqlite3

from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import Box

try:
    from tests.test_gui_browser import _mnist_subset
except ImportError:  # pragma: no cover
    from test_gui_browser import _mnist_subset


def _truth(root) -> dict[str, int]:
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        rows = db.execute(
            "SELECT label, COUNT(*) FROM items WHERE label IS NOT NULL GROUP BY label"
        ).fetchall()
    finally:
        db.close()
    return {str(k): n for k, n in rows}


def test_the_picker_shows_true_counts_without_grouping_items_or_boxes(qtbot, main_window, tmp_path):
    root, _labels = _mnist_subset(tmp_path, n=30)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    panel.project.set_boxes(1, [Box("crack", 1, 1, 2, 2)] * 2, "ann")  # a class of boxes only
    ran: list[str] = []
    panel.project.db.set_trace_callback(ran.append)
    try:
        table = panel.table
        table.setFocus()
        table.selectRow(3)
        qtbot.keyClick(table, Qt.Key.Key_C)
        picker = panel.class_picker
        assert picker is not None and picker.isVisible()
        grouped = [s for s in ran if re.search(r"FROM (items|boxes)\b.*GROUP BY", s, re.S | re.I)]
        assert grouped == [], grouped
    finally:
        panel.project.db.set_trace_callback(None)
    shown = {}
    for row in range(picker.list.count()):
        text = picker.list.item(row).text()
        name, count = re.match(r"^(?:\d: )?(.*)  \(([\d,]+)\)$", text).groups()
        shown[name] = int(count.replace(",", ""))
    truth = _truth(root)
    assert {k: v for k, v in shown.items() if k in truth} == truth
    assert "crack" in shown  # a box class is offered too
    picker.close()
