"""Split in the Browser never silently replaces an existing split (MNIST's official one).

Real window, a real MNIST-shaped project (IDX files imported by the core importer, official
train/test split), the real split dialog's widgets, the real question box's buttons, the
Dataset menu's Restore action and Ctrl+Z in the Browser; the catalog read back from disk.
"""

from __future__ import annotations

import sqlite3

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

try:
    from tests.test_catalog_edits import mnist_like
except ImportError:  # pragma: no cover
    from test_catalog_edits import mnist_like


def _splits(root):
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        return dict(db.execute("SELECT id, split FROM items ORDER BY id").fetchall())
    finally:
        db.close()


def _wait(qtbot, task):
    assert task is not None
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "done", task.error


def _split_via_dialog(qtbot, panel, monkeypatch):
    """Dataset > Split… with 70/15/15 typed into the dialog's spin boxes, accepted."""
    from qbi_desktop.gui.docks import browser_dialogs

    def fill(dialog):
        dialog.fractions["train"].setValue(0.7)
        dialog.fractions["val"].setValue(0.15)
        dialog.fractions["test"].setValue(0.15)
        dialog.seed.setValue(1)
        return True

    monkeypatch.setattr(browser_dialogs.SplitDialog, "exec", fill)
    tasks = panel.window.tasks.tasks
    before = len(tasks)
    panel.split_action.trigger()
    _wait(qtbot, tasks[before])  # the plan (worker)


def test_resplit_asks_cancel_keeps_accept_replaces_restore_and_undo_bring_it_back(
    qtbot, main_window, tmp_path, monkeypatch
):
    project = mnist_like(tmp_path, 2400, 600)  # large enough to be undone on a worker
    root = project.root
    project.close()
    official = _splits(root)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)

    # Re-split: a question names how many assignments change; Cancel keeps the split.
    _split_via_dialog(qtbot, panel, monkeypatch)
    qtbot.waitUntil(lambda: panel.split_question is not None)
    box = panel.split_question
    text = box.text()
    assert "train 2,400, test 600" in text and "of 3,000 assignments" in text
    changes = int(text.split("would change ")[1].split(" of")[0].replace(",", ""))
    assert 0 < changes <= 3000
    # the box has the focus: Enter answers it (its default is Cancel), it opens nothing behind
    QApplication.processEvents()
    assert QApplication.activeModalWidget() is box
    qtbot.keyClick(QApplication.focusWidget() or box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.split_question is None)
    assert _splits(root) == official
    assert len(main_window.documents) == 0
    assert "not changed" in main_window.statusBar().currentMessage()

    # Again, and Replace: the split changes by exactly the number the question named.
    _split_via_dialog(qtbot, panel, monkeypatch)
    qtbot.waitUntil(lambda: panel.split_question is not None)
    box = panel.split_question
    replace = next(b for b in box.buttons() if b.text().startswith("Replace"))
    qtbot.mouseClick(replace, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.split_task is not None)
    _wait(qtbot, panel.split_task)
    resplit = _splits(root)
    assert sum(resplit[i] != official[i] for i in official) == changes
    assert "val" in set(resplit.values())
    assert panel.split_filter.findData("val") >= 0

    # Dataset > Restore Previous Split brings the official split back exactly.
    panel.restore_split_action.trigger()
    _wait(qtbot, panel.split_task)
    assert _splits(root) == official

    # Undo in the Browser takes the restore back (the 70/15/15 split again), redo restores.
    main_window.activateWindow()  # the user clicks back into the window after the question
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main_window)
    panel.table.setFocus()

    def key(k):
        qtbot.keyClick(panel.table, k, Qt.KeyboardModifier.ControlModifier)
        assert panel.undo_task is not None  # 3 000 assignments: written on a worker
        assert (
            main_window.statusBar()
            .currentMessage()
            .startswith("Undoing" if k == Qt.Key.Key_Z else "Redoing")
        )
        task = panel.undo_task
        qtbot.waitUntil(lambda: panel.undo_task is None, timeout=20000)
        assert task.state == "done", task.error

    key(Qt.Key.Key_Z)
    assert _splits(root) == resplit
    key(Qt.Key.Key_Z)
    assert _splits(root) == official  # and the split itself undone: the official one
    assert f"on {changes:,} item(s)" in main_window.statusBar().currentMessage()
    key(Qt.Key.Key_Y)
    assert _splits(root) == resplit
    assert panel.model.rowCount() == 3000


def test_split_of_an_unsplit_project_is_written_without_a_question(
    qtbot, main_window, tmp_path, monkeypatch
):
    project = mnist_like(tmp_path, 40, 10)
    project.set_split(project.ids(), None)
    root = project.root
    project.close()
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    _split_via_dialog(qtbot, panel, monkeypatch)
    qtbot.waitUntil(lambda: panel.split_task is not None)
    _wait(qtbot, panel.split_task)
    assert panel.split_question is None
    assert set(_splits(root).values()) == {"train", "val", "test"}
    assert QMessageBox  # the question box class is the one the Browser uses
