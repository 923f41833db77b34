"""The disagreement review queue: items where annotators disagree, most first; take one person's
version, merge, accept/reject with A/R; each decision undone and redone.

Real window and project; the queue is opened from the Dataset menu and runs its report on a
worker; catalog values read back.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPushButton

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.opinions import for_item

try:
    from tests.test_gui_browser_annotate import _folder_project, _id_of
except ImportError:  # pragma: no cover
    from test_gui_browser_annotate import _folder_project, _id_of


def _item(root, item_id):
    with open_project(root) as project:
        return project.query({"ids": [item_id]}, limit=None)[0]


def test_disagreement_queue_pick_merge_review_and_undo(qtbot, main_window, tmp_path):
    window = main_window
    window.annotator.set_name("Cleo")
    root = _folder_project(tmp_path)
    with open_project(root) as project:
        a0, a1, b0 = (_id_of(project, s) for s in ("a0", "a1", "b0"))
        project.set_label([a0, a1], "a", "Ada")
        project.set_label([a0], "b", "Bob")  # a0: Ada a, Bob b
        project.set_label([a1], "a", "Bob")  # a1: they agree
        project.set_targets(b0, {"depth": 2.0}, "Ada")
        project.set_targets(b0, {"depth": 4.0}, "Bob")
    assert window.panels["browser"].open_project(root)

    entry = window.panels["disagreements"].action
    entry.trigger()
    qtbot.waitUntil(lambda: window.panels["disagreements"].dialog is not None, timeout=20000)
    queue = window.panels["disagreements"].dialog
    shown = [(d.item, d.kind) for d in queue.shown()]
    assert (a0, "label") in shown and (b0, "target:depth") in shown
    assert all(item != a1 for item, _k in shown)  # agreeing items are not in the queue
    scores = [d.score for d in queue.shown()]
    assert scores == sorted(scores, reverse=True)

    # take Bob's class for a0
    queue.table.setCurrentCell(shown.index((a0, "label")), 0)
    take_bob = next(
        b for b in queue.findChildren(QPushButton) if b.text() == "Take Bob's" and b.isVisible()
    )
    qtbot.mouseClick(take_bob, Qt.MouseButton.LeftButton)
    item = _item(root, a0)
    assert (item["label"], item["annotator"]) == ("b", "consensus of Ada, Bob")
    with open_project(root) as project:  # the people's own labels are untouched
        mine = for_item(project.db, a0)
        assert {a: v["label"] for a, v in mine.items() if "label" in v} == {
            "Ada": "a",
            "Bob": "b",
        }
    # A accepts it (the spot review's key)
    queue.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is queue, timeout=3000)
    queue.table.setCurrentCell(shown.index((a0, "label")), 0)
    qtbot.keyClick(queue.table, Qt.Key.Key_A)
    assert _item(root, a0)["review"] == "accepted"

    # undo both, in reverse order; then redo the pick
    qtbot.keyClick(queue.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _item(root, a0)["review"] == "unreviewed"
    queue.undo()
    assert _item(root, a0)["label"] == "b" and _item(root, a0)["annotator"] == "Bob"
    queue.redo()
    assert _item(root, a0)["annotator"] == "consensus of Ada, Bob"

    # merge the targets of b0: their mean, then R rejects; both undone
    queue.table.setCurrentCell([d.item for d in queue.shown()].index(b0), 0)
    qtbot.mouseClick(queue.merge_button, Qt.MouseButton.LeftButton)
    assert _item(root, b0)["targets"]["depth"] == 3.0
    qtbot.mouseClick(queue.reject_button, Qt.MouseButton.LeftButton)
    assert _item(root, b0)["review"] == "rejected"
    queue.undo()
    queue.undo()
    assert _item(root, b0)["targets"]["depth"] == 4.0  # the latest edit, Bob's, is back
    assert _item(root, b0)["review"] == "unreviewed"

    # a threshold above every score empties the queue
    queue.threshold.setValue(1.0)
    assert queue.table.rowCount() == 0


def test_a_class_or_target_disagreement_shows_the_item_and_each_ones_value(
    qtbot, main_window, tmp_path
):
    """To decide who is right the reviewer must see the item: the view shows its image (not an
    empty panel) and each annotator's value in the legend."""
    import numpy as np

    window = main_window
    window.annotator.set_name("Cleo")
    root = _folder_project(tmp_path)
    with open_project(root) as project:
        a0, b0 = (_id_of(project, s) for s in ("a0", "b0"))
        project.set_label([a0], "a", "Ada")
        project.set_label([a0], "b", "Bob")
        project.set_targets(b0, {"depth": 2.0}, "Ada")
        project.set_targets(b0, {"depth": 4.0}, "Bob")
        pixels = {i: project.image(i) for i in (a0, b0)}
    assert window.panels["browser"].open_project(root)
    window.panels["disagreements"].action.trigger()
    qtbot.waitUntil(lambda: window.panels["disagreements"].dialog is not None, timeout=20000)
    queue = window.panels["disagreements"].dialog
    shown = [(d.item, d.kind) for d in queue.shown()]
    for item, kind, values in ((a0, "label", ("a", "b")), (b0, "target:depth", ("2.0", "4.0"))):
        queue.table.setCurrentCell(shown.index((item, kind)), 0)
        view = queue.view
        qtbot.waitUntil(
            lambda item=item, view=view: view.versions is not None and view.versions.item == item,
            timeout=20000,
        )
        assert np.array_equal(view.versions.image, pixels[item])
        legend = view.legend.text()
        assert "Ada" in legend and "Bob" in legend
        assert all(f"<b>{v}" in legend for v in values), legend
        assert len(view.views) == 1  # the image is drawn
