"""Suggestions while labelling, in the real window: the Suggested column, Enter accepts and
moves on (undoable), number keys still override, the "Label next" queue follows the model and
the counter measures the suggestions. Real key presses on the Browser's table; scikit-learn's
digits (real handwriting) as the project."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel
from sklearn.datasets import load_digits

try:
    from tests.gui_suggest_helpers import labelling_project, open_with_suggestions
except ImportError:  # pragma: no cover
    from gui_suggest_helpers import labelling_project, open_with_suggestions

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.docks.browser_model import COL_LABEL, COL_NAME, COL_SUGGESTED

N, LABELLED = 300, 40
TOOLTIP = Qt.ItemDataRole.ToolTipRole


@pytest.fixture
def labelling(qtbot, main_window, tmp_path):
    root, ids, truth = labelling_project(tmp_path, N, LABELLED)
    panel, suggest = open_with_suggestions(qtbot, main_window, root)
    return main_window, panel, suggest, root, ids, truth


def _key(qtbot, widget, key, modifiers=Qt.KeyboardModifier.NoModifier):
    widget.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(widget, key, modifiers)


def _go(panel, item_id, column=1):
    row = panel.model.row_of(item_id)
    panel.table.setCurrentIndex(panel.model.index(row, column))
    return row


def _catalog_label(root, item_id):
    with open_project(root) as project:
        return project.get(item_id)["label"], project.history(item_id)


def test_unlabelled_items_show_a_suggestion_and_enter_accepts_it_and_moves_on(qtbot, labelling):
    window, panel, suggest, root, ids, truth = labelling
    model = panel.model
    header = panel.table.horizontalHeader()
    # after the name (the Label column shows an unlabelled item's suggestion itself)
    assert header.visualIndex(COL_SUGGESTED) == header.visualIndex(COL_NAME) + 1
    assert model.headerData(COL_SUGGESTED, Qt.Orientation.Horizontal) == "Suggested"
    # labelled rows show none, unlabelled ones a class and a confidence
    assert model.data(model.index(model.row_of(ids[0]), COL_SUGGESTED)) is None
    texts = [model.data(model.index(model.row_of(i), COL_SUGGESTED)) for i in ids[LABELLED:]]
    suggested = [t.split(" · ")[0] for t in texts]
    assert all(t.endswith("%") for t in texts)
    assert np.mean([s == str(t) for s, t in zip(suggested, truth[LABELLED:], strict=True)]) > 0.7

    item = ids[100]
    row = _go(panel, item)
    expected = suggest.suggestion_for(item)[0]
    # said in words too, first on the detail line: the column may be scrolled out of sight
    assert panel.detail.text().startswith(f"Suggested: <b>{expected}</b>")
    confidence = suggest.suggestion_for(item)[1]
    _key(qtbot, panel.table, Qt.Key.Key_Return)
    label, history = _catalog_label(root, item)
    assert label == expected
    # the history says the label was a suggestion accepted, by which model, how confident
    assert [(h["what"], h["value"]) for h in history[-2:]] == [
        ("label", expected),
        ("suggestion", f"suggestion accepted (kNN, confidence {confidence:.2f})"),
    ]
    assert panel.table.currentIndex().row() == row + 1  # moved on
    assert not window.documents  # Enter did not open the item
    # Ctrl+Z in the Browser takes the accepted suggestion back
    _key(qtbot, panel.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _catalog_label(root, item)[0] is None


def test_a_number_key_overrides_and_enter_on_a_labelled_item_opens_it(qtbot, labelling):
    window, panel, suggest, root, ids, truth = labelling
    item = ids[120]
    suggested, confidence = suggest.suggestion_for(item)
    other = (int(suggested) + 1) % 10
    _go(panel, item)
    _key(qtbot, panel.table, getattr(Qt.Key, f"Key_{other}"))
    label, history = _catalog_label(root, item)
    assert label == str(other)
    # the override is on the record as a rejected suggestion
    assert history[-1]["what"] == "suggestion"
    assert history[-1]["value"] == (
        f"suggestion rejected: kNN suggested {suggested!r} (confidence {confidence:.2f}), "
        f"given '{other}'"
    )
    # a labelled item showed no suggestion: relabelling it says nothing about suggestions
    _go(panel, ids[1])
    _key(qtbot, panel.table, getattr(Qt.Key, f"Key_{other}"))
    assert _catalog_label(root, ids[1])[1][-1]["what"] == "label"
    # the counter heard a label that disagreed with the suggestion
    qtbot.waitUntil(lambda: "of the last 1" in suggest.counter_text(), timeout=5000)
    assert "suggestions right 0 %" in suggest.counter_text()
    # a labelled item has no suggestion: Enter keeps its meaning (open the item)
    _go(panel, ids[0])
    _key(qtbot, panel.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(window.documents) == 1, timeout=10000)
    assert _catalog_label(root, ids[0])[0] == str(truth[0])


def test_label_next_orders_by_the_model_and_follows_new_labels(qtbot, labelling):
    window, panel, suggest, root, ids, truth = labelling
    model = panel.model
    assert "40 / 300 labelled" in suggest.counter_text()
    suggest.queue_box.click()
    assert suggest.queue_on
    table = suggest.table
    shown = model.ids.tolist()
    assert shown == table.queue.tolist()  # every unlabelled item, in the queue's order
    confidence = [table.lookup(i)[1] for i in shown]
    by_model = [c for n, c in enumerate(confidence[:50]) if (n + 1) % 10]
    assert by_model == sorted(by_model)  # least confident first
    assert max(by_model) < np.median(confidence)
    assert panel.table.currentIndex().row() == 0

    # label the first ten with Enter (accepting whatever is suggested): the queue is refreshed,
    # the labelled ones leave it, the item the user is on stays current
    for _ in range(10):
        _key(qtbot, panel.table, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: suggest.table is not table and suggest.table.labelled == 50, timeout=10000
    )
    qtbot.waitUntil(lambda: suggest.task is None or suggest.task.finished, timeout=10000)
    current = model.item_id(panel.table.currentIndex().row())
    assert model.item(panel.table.currentIndex().row())["label"] is None
    with open_project(root) as project:
        labelled_now = {i for i in shown if project.get(i)["label"] is not None}
    assert len(labelled_now) == 10 and shown[0] in labelled_now
    assert not labelled_now & set(model.ids.tolist())  # they have left the queue
    assert model.ids[0] == current
    assert "50 / 300 labelled" in suggest.counter_text()
    assert "of the last 10" in suggest.counter_text()


def test_with_one_class_labelled_the_counter_says_what_is_needed(qtbot, main_window, tmp_path):
    d = load_digits()
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=(d.images[:40] * 16).clip(0, 255).astype(np.uint8))
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [npz]))
        ids = project.ids()
        project.set_label(ids[:3], "7")
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    suggest = panel.suggestions
    qtbot.waitUntil(lambda: suggest.table is not None, timeout=30000)
    assert "at least two classes (found 1" in suggest.counter_text()
    model = panel.model
    assert model.data(model.index(model.row_of(ids[10]), COL_SUGGESTED)) is None
    # Enter keeps opening the item: there is nothing to accept
    _go(panel, ids[10])
    _key(qtbot, panel.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(main_window.documents) == 1, timeout=10000)
    assert _catalog_label(root, ids[10])[0] is None


def test_steady_typing_does_not_hold_back_the_model(qtbot, labelling):
    """A key every 60 ms (faster than the 120 ms the updates gather keys for) must still let
    the model learn while the user types, not only once they stop."""
    window, panel, suggest, root, ids, truth = labelling
    _go(panel, ids[LABELLED])
    seen = []
    for _ in range(25):
        _key(qtbot, panel.table, Qt.Key.Key_Return)
        qtbot.wait(60)
        seen.append(suggest.table.labelled)
    assert max(seen) > LABELLED + 5  # updated mid-run, from the labels given so far


def test_label_next_chosen_before_the_first_suggestions_orders_when_they_come(
    qtbot, main_window, tmp_path
):
    root, ids, _truth = labelling_project(tmp_path, 200, 30)
    panel = main_window.panels["browser"]
    suggest = panel.suggestions
    assert panel.open_project(root)
    suggest.queue_box.click()  # at once, before the worker has answered
    qtbot.waitUntil(lambda: suggest.table is not None and not suggest.table.pending, timeout=30000)
    qtbot.waitUntil(lambda: panel.model.ids.tolist() == suggest.table.queue.tolist(), timeout=10000)
    # a click on another column's header sorts by it and ends "Label next"
    panel.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    assert not suggest.queue_on and not suggest.queue_box.isChecked()
    assert len(panel.model.ids) == 200


def test_choosing_logistic_regression_refreshes_the_column_and_is_kept(qtbot, labelling):
    window, panel, suggest, root, ids, truth = labelling
    model = panel.model
    assert suggest.model_button.text() == "kNN"
    tip_before = model.data(model.index(model.row_of(ids[100]), COL_SUGGESTED), TOOLTIP)
    assert "kNN" in tip_before
    suggest.model_actions["logistic"].trigger()  # Suggestions ▸ Logistic regression
    assert suggest.model_button.text() == "Logistic"
    qtbot.waitUntil(lambda: suggest.table.model == "logistic", timeout=30000)
    # the column shows the logistic model's classes, most of them right
    tip = model.data(model.index(model.row_of(ids[100]), COL_SUGGESTED), TOOLTIP)
    assert "logistic regression" in tip
    texts = [model.data(model.index(model.row_of(i), COL_SUGGESTED)) for i in ids[LABELLED:]]
    suggested = [t.split(" · ")[0] for t in texts]
    assert np.mean([s == str(t) for s, t in zip(suggested, truth[LABELLED:], strict=True)]) > 0.7
    # an accepted suggestion names the model that made it
    item = ids[150]
    _go(panel, item)
    confidence = suggest.suggestion_for(item)[1]
    _key(qtbot, panel.table, Qt.Key.Key_Return)
    history = _catalog_label(root, item)[1]
    assert history[-1]["value"] == (
        f"suggestion accepted (logistic regression, confidence {confidence:.2f})"
    )
    # kept in the project: opening it again suggests with logistic regression
    panel.close_project()
    assert panel.open_project(root)
    assert suggest.model_button.text() == "Logistic"
    qtbot.waitUntil(lambda: suggest.table is not None, timeout=30000)
    assert suggest.table.model == "logistic"


def test_annotating_blind_shows_and_accepts_no_suggestion(qtbot, labelling):
    """The model learned from everyone's labels: in blind mode its suggestions would show the
    other annotators' work, so none is shown, said or taken by Enter until blind mode is off."""
    window, panel, suggest, root, ids, truth = labelling
    window.annotator.set_name("Bob")
    blind = window.panels["blind"]
    qtbot.waitUntil(lambda: blind.action.isEnabled(), timeout=5000)
    model = panel.model
    item = ids[120]
    assert model.data(model.index(model.row_of(item), COL_SUGGESTED)) is not None
    blind.action.setChecked(True)
    qtbot.waitUntil(lambda: "blind" in suggest.counter_text(), timeout=10000)
    assert model.data(model.index(model.row_of(item), COL_SUGGESTED)) is None
    _go(panel, item)
    assert not panel.detail.text().startswith("Suggested")
    _key(qtbot, panel.table, Qt.Key.Key_Return)
    assert _catalog_label(root, item)[0] is None  # Enter accepted nothing
    blind.action.setChecked(False)
    qtbot.waitUntil(
        lambda: model.data(model.index(model.row_of(item), COL_SUGGESTED)) is not None,
        timeout=10000,
    )


@pytest.mark.parametrize("size", [(1366, 768), (1600, 1000)])
def test_while_labelling_the_label_and_suggestion_show_in_the_docked_browser(
    qtbot, labelling, size
):
    """The Browser dock is ~280 px wide on a laptop: the picture, its label and the suggestion
    must be in view without scrolling sideways (they were scrolled off behind ID and Name)."""
    window, panel, suggest, root, ids, truth = labelling
    window.resize(*size)
    qtbot.waitUntil(lambda: window.width() == size[0])
    QApplication.processEvents()
    table = panel.table
    table.horizontalScrollBar().setValue(0)
    # label three items with keys, the cursor in the ID column as after a click on it
    _go(panel, ids[LABELLED], column=1)
    for i in range(3):
        _key(qtbot, table, Qt.Key.Key_0 + int(truth[LABELLED + i]))
    QApplication.processEvents()
    visible = table.viewport().width()
    for column in (0, COL_LABEL):  # the thumbnail did not slide out either
        left = table.columnViewportPosition(column)
        assert 0 <= left and left + table.columnWidth(column) <= visible, (column, left, visible)
    assert table.columnViewportPosition(COL_NAME) + 80 <= visible  # the name shows too
    # the counter under the table: "N / total labelled" beside the switch, how often the
    # suggestions were right on a line of its own, the dock's whole width, read whole; each line
    # fits its width and says so with "…" when it is cut (the whole text is the tooltip)
    qtbot.waitUntil(lambda: "of the last 3" in suggest.counter_text(), timeout=5000)
    for label in (suggest.counter, suggest.counter_detail):
        shown, whole = QLabel.text(label), label.text()
        assert label.isVisible() and label.height() >= label.fontMetrics().height()
        assert label.fontMetrics().horizontalAdvance(shown) <= label.width()
        assert shown == whole or shown.endswith("…")
        assert whole in label.toolTip()
    assert re.fullmatch(r"\d+ / \d+ labelled", suggest.counter.text())
    assert QLabel.text(suggest.counter) == suggest.counter.text()  # whole, not cut
    assert re.match(r"suggestions right \d+ % of the last 3", QLabel.text(suggest.counter_detail))
    # a column out of view is still scrolled to (F2 types a target in the last columns)
    far = table.model().index(table.currentIndex().row(), 12)
    table.setCurrentIndex(far)
    QApplication.processEvents()
    assert 0 <= table.columnViewportPosition(12) < visible
