"""Suggestions in a project that starts with no label at all: the first labels typed with the
number keys must teach the model (before, nothing was suggested until the project was reopened,
because only labels that replaced a suggestion scheduled an update)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.docks.browser_model import COL_SUGGESTED

N = 200


def test_first_labels_typed_in_an_unlabelled_project_bring_suggestions(
    qtbot, main_window, tmp_path
):
    d = load_digits()
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=(d.images[:N] * 16).clip(0, 255).astype(np.uint8))
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [npz]))
        ids = project.ids()
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    panel.classes_edit.setText(", ".join(str(c) for c in range(10)))
    suggest = panel.suggestions
    qtbot.waitUntil(lambda: suggest.table is not None and not suggest.table.pending, timeout=30000)
    assert "at least two classes" in suggest.counter.text()
    model = panel.model
    # label the first 30 items by their true digit, with the number keys, as a user would
    panel.table.setCurrentIndex(model.index(model.row_of(ids[0]), 1))
    for i in range(30):
        assert model.item_id(panel.table.currentIndex().row()) == ids[i]
        panel.table.setFocus()
        QApplication.processEvents()
        qtbot.keyClick(panel.table, getattr(Qt.Key, f"Key_{d.target[i]}"))
    qtbot.waitUntil(lambda: "labelled 30 / remaining 170" in suggest.counter.text(), timeout=10000)
    assert "at least two classes" not in suggest.counter.text()
    unlabelled = ids[30:]
    qtbot.waitUntil(lambda: suggest.suggestion_for(unlabelled[0]) is not None, timeout=10000)
    texts = [model.data(model.index(model.row_of(i), COL_SUGGESTED)) for i in unlabelled]
    assert all(t and t.endswith("%") for t in texts)
    guessed = [suggest.suggestion_for(i)[0] for i in unlabelled]
    right = np.mean([g == str(t) for g, t in zip(guessed, d.target[30:N], strict=True)])
    assert right > 0.6  # a real model of the 30 labels, not a constant
