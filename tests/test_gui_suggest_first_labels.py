"""Suggestions in a project that starts with no label at all: the first labels typed with the
number keys must teach the model (before, nothing was suggested until the project was reopened,
because only labels that replaced a suggestion scheduled an update)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

try:
    from tests.gui_suggest_helpers import labelling_project, open_with_suggestions
except ImportError:  # pragma: no cover
    from gui_suggest_helpers import labelling_project, open_with_suggestions

from qbi_desktop.gui.docks.browser_model import COL_SUGGESTED

N = 200


def test_first_labels_typed_in_an_unlabelled_project_bring_suggestions(
    qtbot, main_window, tmp_path
):
    root, ids, truth = labelling_project(tmp_path, N)
    panel, suggest = open_with_suggestions(qtbot, main_window, root)
    assert "at least two classes" in suggest.counter_text()
    model = panel.model
    # label the first 30 items by their true digit, with the number keys, as a user would
    panel.table.setCurrentIndex(model.index(model.row_of(ids[0]), 1))
    for i in range(30):
        assert model.item_id(panel.table.currentIndex().row()) == ids[i]
        panel.table.setFocus()
        QApplication.processEvents()
        qtbot.keyClick(panel.table, getattr(Qt.Key, f"Key_{truth[i]}"))
    qtbot.waitUntil(lambda: "30 / 200 labelled" in suggest.counter_text(), timeout=10000)
    assert "at least two classes" not in suggest.counter_text()
    unlabelled = ids[30:]
    qtbot.waitUntil(lambda: suggest.suggestion_for(unlabelled[0]) is not None, timeout=10000)
    texts = [model.data(model.index(model.row_of(i), COL_SUGGESTED)) for i in unlabelled]
    assert all(t and t.endswith("%") for t in texts)
    guessed = [suggest.suggestion_for(i)[0] for i in unlabelled]
    right = np.mean([g == str(t) for g, t in zip(guessed, truth[30:N], strict=True)])
    assert right > 0.6  # a real model of the 30 labels, not a constant
