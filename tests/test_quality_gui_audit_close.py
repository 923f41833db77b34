"""Dataset > Audit…: the review window closes with Esc (or its close button) and the app goes
on. Its table of decisions was kept in an attribute named ``done``, which hid QDialog.done():
Qt's reject() then called the dict and the whole app ended in a segmentation fault."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
from sklearn.datasets import load_digits

try:
    from tests.gui_audit_helpers import digits_project, open_audit
except ImportError:  # pragma: no cover
    from gui_audit_helpers import digits_project, open_audit


def test_the_audit_window_closes_with_esc_and_can_be_opened_again(qtbot, main_window, tmp_path):
    d = load_digits()
    x = (d.images[:200] * 16).clip(0, 255).astype(np.uint8)
    y = d.target[:200].copy()
    y[17] = (y[17] + 3) % 10  # a wrong label: a row to act on
    root, _ids = digits_project(tmp_path, x, y)
    dialog = open_audit(qtbot, main_window, root)
    audit = main_window.panels["audit"]
    row = next(r for r, i in enumerate(dialog.rows) if i.kind == "label")
    dialog.table.selectRow(row)
    dialog.act("keep")  # a decision is on record when the window closes
    assert dialog.table.item(row, dialog.table.columnCount() - 1).text() == "kept"

    qtbot.keyClick(dialog.table, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    assert dialog.result() == QDialog.DialogCode.Rejected

    # the window and the audit still work: a second audit opens a new review window
    audit.start()
    qtbot.waitUntil(lambda: audit.dialog is not dialog, timeout=60000)
    second = audit.dialog
    qtbot.waitExposed(second)
    second.close()
    assert not second.isVisible()
    assert main_window.isVisible()
