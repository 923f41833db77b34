"""Dataset > Audit… in the real window: the audit of the open project runs on a worker and its
issues appear in a table; the catalog is not changed."""

from __future__ import annotations

import sqlite3

import numpy as np
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


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
    action.trigger()  # no project yet: says what to do
    assert "open a project first" in main_window.last_error

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
