""" "Label next" and its counter follow every label edit at once: items whose label was
cleared (Backspace, an undo) join the queue as soon as they exist, before the model has scored
them, and the counter says the catalog's labelled / remaining right after the edit, not the
model's last snapshot. Real key presses on the Browser's table; scikit-learn's digits (real
handwriting), every item labelled, as the project."""

from __future__ import annotations

import re

import numpy as np
import pytest
from gui_audit_helpers import digits_project
from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PySide6.QtWidgets import QApplication
from sklearn.datasets import load_digits

from qbi_desktop.gui.docks.browser_suggest import REORDER_EVERY

N, CLEARED = 300, 60
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def all_labelled(qtbot, main_window, tmp_path):
    d = load_digits()
    x = (d.images[:N] * 16).clip(0, 255).astype(np.uint8)
    root, ids = digits_project(tmp_path, x, d.target[:N])
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    suggest = panel.suggestions
    qtbot.waitUntil(lambda: suggest.table is not None and not suggest.table.pending, timeout=30000)
    assert suggest.table.unlabelled == 0
    qtbot.waitUntil(lambda: f"{N:,} / {N:,} labelled" in suggest.counter_text(), timeout=5000)
    return main_window, panel, suggest, ids


def _key(qtbot, widget, key, modifiers=Qt.KeyboardModifier.NoModifier):
    widget.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(widget, key, modifiers)


def _select_rows(panel, first: int, count: int) -> list[int]:
    model, table = panel.model, panel.table
    selection = QItemSelection(model.index(first, 0), model.index(first + count - 1, 1))
    table.setCurrentIndex(model.index(first, 1))
    table.selectionModel().select(
        selection,
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    return [model.item_id(r) for r in range(first, first + count)]


def _counts(suggest) -> tuple[int, int]:
    # "12 / 27 labelled": (labelled, remaining)
    found = re.search(r"([\d,]+) / ([\d,]+) labelled", suggest.counter_text())
    assert found, suggest.counter_text()
    labelled, total = (int(g.replace(",", "")) for g in found.groups())
    return labelled, total - labelled


def _counts_after_edit(qtbot, suggest) -> tuple[int, int]:
    """The counter once it has followed the last edit (it is refreshed at most every 250 ms
    while labels come in), whether the model has answered or not."""
    qtbot.waitUntil(lambda: not suggest.counter_timer.isActive(), timeout=2000)
    return _counts(suggest)


def test_cleared_items_are_the_queue_at_once_and_the_counter_follows_undo(qtbot, all_labelled):
    window, panel, suggest, ids = all_labelled
    cleared = _select_rows(panel, 10, CLEARED)
    updates = suggest.updates
    _key(qtbot, panel.table, Qt.Key.Key_Backspace)
    # ticked at once, before the model has heard of the clear: the queue is the cleared items
    suggest.queue_box.setChecked(True)
    assert suggest.updates == updates  # no new snapshot meanwhile: the catalog said it
    model = panel.model
    assert sorted(model.ids.tolist()) == sorted(cleared)
    assert "No items shown" not in panel.detail.text()
    assert _counts(suggest) == (N - CLEARED, CLEARED)

    # one of them labelled with a number key: the counter follows
    first = model.item_id(panel.table.currentIndex().row())
    _key(qtbot, panel.table, Qt.Key.Key_3)
    assert _counts_after_edit(qtbot, suggest) == (N - CLEARED + 1, CLEARED - 1)
    # Ctrl+Z takes that label back: counted as remaining again, and still in the queue
    _key(qtbot, panel.table, Qt.Key.Key_Z, CTRL)
    assert _counts_after_edit(qtbot, suggest) == (N - CLEARED, CLEARED)
    assert first in model.ids.tolist()
    # Ctrl+Z again undoes the clear: every item labelled again
    _key(qtbot, panel.table, Qt.Key.Key_Z, CTRL)
    assert _counts_after_edit(qtbot, suggest) == (N, 0)
    # and redo clears them again: the queue holds all of them
    _key(qtbot, panel.table, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert _counts_after_edit(qtbot, suggest) == (N - CLEARED, CLEARED)
    assert set(cleared) <= set(model.ids.tolist())
    # once the model has scored them, the queue is theirs in its order (least confident first)
    qtbot.waitUntil(lambda: suggest.table.unlabelled == CLEARED, timeout=30000)
    qtbot.waitUntil(
        lambda: (
            sorted(model.ids.tolist()) == sorted(cleared)
            and set(model.ids.tolist()) == set(suggest.table.queue.tolist())
        ),
        timeout=10000,
    )


def test_an_undone_label_rejoins_the_queue_it_left(qtbot, all_labelled):
    window, panel, suggest, ids = all_labelled
    cleared = _select_rows(panel, 100, CLEARED)
    _key(qtbot, panel.table, Qt.Key.Key_Backspace)
    qtbot.waitUntil(lambda: suggest.table.unlabelled == CLEARED, timeout=30000)
    suggest.queue_box.setChecked(True)
    model = panel.model
    assert sorted(model.ids.tolist()) == sorted(cleared)
    # label as many as make the queue be sorted again: it is made again without them
    given = []
    for _ in range(REORDER_EVERY):
        given.append(model.item_id(panel.table.currentIndex().row()))
        _key(qtbot, panel.table, Qt.Key.Key_7)
    qtbot.waitUntil(lambda: not set(given) & set(model.ids.tolist()), timeout=30000)
    left = CLEARED - REORDER_EVERY
    qtbot.waitUntil(lambda: _counts(suggest) == (N - left, left), timeout=2000)
    # Ctrl+Z: the last label given is taken back and that item is in the queue at once
    _key(qtbot, panel.table, Qt.Key.Key_Z, CTRL)
    assert given[-1] in model.ids.tolist()
    assert model.item(model.row_of(given[-1]))["label"] is None
    assert _counts_after_edit(qtbot, suggest) == (N - left - 1, left + 1)


def test_items_imported_while_label_next_is_on_are_queued_and_counted(
    qtbot, all_labelled, tmp_path
):
    window, panel, suggest, ids = all_labelled
    suggest.queue_box.setChecked(True)
    assert panel.model.rowCount() == 0  # every item labelled: nothing to label next
    assert _counts(suggest) == (N, 0)
    d = load_digits()
    more = tmp_path / "more.npz"
    np.savez(more, x_train=(d.images[N : N + 20] * 16).clip(0, 255).astype(np.uint8))
    panel.run_import("npz", [more])
    # the imported items are the queue as soon as the import is in the catalog, scored or not
    qtbot.waitUntil(lambda: panel.model.rowCount() == 20, timeout=30000)
    new = panel.model.ids.tolist()
    assert not set(new) & set(ids)
    assert all(panel.model.item(r)["label"] is None for r in range(20))
    assert _counts(suggest) == (N, 20)
    # and when the model has scored them, in its order (the item the user is on stays first)
    qtbot.waitUntil(
        lambda: suggest.table.unlabelled == 20 and not suggest.table.pending, timeout=30000
    )

    def in_queue_order() -> bool:
        current = panel.model.item_id(panel.table.currentIndex().row())
        queue = [current] + [i for i in suggest.table.queue.tolist() if i != current]
        return panel.model.ids.tolist() == queue

    qtbot.waitUntil(in_queue_order, timeout=10000)
