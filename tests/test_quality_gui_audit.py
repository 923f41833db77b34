"""Dataset > Audit… in the real window: the audit of the open project runs on a worker and its
issues appear in a table; the catalog is not changed."""

from __future__ import annotations

import sqlite3

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.gui_audit_helpers import digits_project, open_audit
except ImportError:  # pragma: no cover
    from gui_audit_helpers import digits_project, open_audit


def _catalog(root):
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        items = db.execute("SELECT id, name, label, split, review FROM items ORDER BY id")
        return items.fetchall(), db.execute("SELECT COUNT(*) FROM annotation_log").fetchone()
    finally:
        db.close()


def _action(window, text):
    menu = window.menus["dataset"]
    return next(a for a in menu.actions() if a.text().replace("&", "") == text)


def test_audit_menu_shows_planted_wrong_labels_and_leaves_the_catalog(qtbot, main_window, tmp_path):
    d = load_digits()
    x = (d.images[:600] * 16).clip(0, 255).astype(np.uint8)
    y = d.target[:600].copy()
    y[[7, 70, 300]] = (y[[7, 70, 300]] + 4) % 10
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=x, y_train=y)
    root = tmp_path / "proj"
    project = open_project(root, create=True)
    run_job(import_job(project, "npz", [npz]))
    project.close()
    before = _catalog(root)

    action = _action(main_window, "Audit…")
    assert not action.isEnabled()  # no project yet: greyed, as Import and Export

    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    action.trigger()
    audit = main_window.panels["audit"]
    qtbot.waitUntil(lambda: audit.dialog is not None, timeout=60000)
    table = audit.dialog.table
    rows = [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]
    label_rows = [r for r in rows if r[1] == "label"]
    top = {r[0] for r in label_rows[:6]}
    assert {"digits-x_train-007", "digits-x_train-070", "digits-x_train-300"} <= top
    for r in label_rows:
        if r[0] == "digits-x_train-070":
            assert r[3] == str(y[70]) and r[4] == str(d.target[70])
    assert "cross-validated accuracy" in audit.dialog.summary.text()
    panel.close_project()
    assert _catalog(root) == before  # labels, splits, reviews and history untouched


def _key(qtbot, widget, key, modifiers=Qt.KeyboardModifier.NoModifier):
    widget.activateWindow()
    widget.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(widget, key, modifiers)


def test_review_actions_change_the_catalog_and_ctrl_z_takes_them_back(qtbot, main_window, tmp_path):
    d = load_digits()
    x = (d.images[:400] * 16).clip(0, 255).astype(np.uint8)
    y = d.target[:400].copy()
    y[70] = (y[70] + 4) % 10  # a wrong label
    x[399] = x[10]  # a copy of a training item, in the test split (300 on): a leak
    root, ids = digits_project(tmp_path, x, y, train=300)
    dialog = open_audit(qtbot, main_window, root)
    panel = main_window.panels["browser"]
    table = dialog.table

    def select(kind, item):
        row = next(r for r, i in enumerate(dialog.rows) if i.kind == kind and i.item == item)
        table.selectRow(row)
        return row

    # a wrong label: A accepts the suggested class; history says "audit"; Ctrl+Z takes it back
    row = select("label", "digits-x_train-070")
    suggested = dialog.rows[row].suggested_label
    assert dialog.buttons["accept"].isEnabled() and not dialog.buttons["move"].isEnabled()
    _key(qtbot, table, Qt.Key.Key_A)
    with open_project(root) as project:
        assert project.get(ids[70])["label"] == suggested != str(y[70])
        assert project.history(ids[70])[-1]["what"] == "audit"
    assert table.item(row, 6).text() == "suggestion accepted"
    assert table.currentRow() == row + 1  # on to the next row
    assert panel.model.item(panel.model.row_of(ids[70]))["label"] == suggested  # Browser follows
    _key(qtbot, table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    with open_project(root) as project:
        assert project.get(ids[70])["label"] == str(y[70])
    assert table.item(row, 6).text() == ""

    # the leak: the Move button puts the copy in its twin's split; Ctrl+Z in the Browser undoes
    row = select("leak", "digits-x_train-399")
    assert dialog.rows[row].related_item == "digits-x_train-010"
    qtbot.mouseClick(dialog.buttons["move"], Qt.MouseButton.LeftButton)
    with open_project(root) as project:
        assert project.get(ids[399])["split"] == "train"
    panel.table.setFocus()
    _key(qtbot, panel.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    with open_project(root) as project:
        assert project.get(ids[399])["split"] == "test"

    # merge: the copy is rejected with a note naming the item kept; nothing is deleted
    select("leak", "digits-x_train-399")
    _key(qtbot, table, Qt.Key.Key_M)
    with open_project(root) as project:
        item = project.get(ids[399])
        assert item["review"] == "rejected" and "digits-x_train-010" in item["notes"]
        assert len(project) == 400
    # keep is offered on an outlier-free label row, move is not: a wrong key changes nothing
    select("label", "digits-x_train-070")
    _key(qtbot, table, Qt.Key.Key_S)
    with open_project(root) as project:
        assert project.get(ids[70])["split"] == "train"
