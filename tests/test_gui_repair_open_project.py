"""Dataset > Repair Project… with a project open offers to check that project, says what the
check does, shows its progress and opens the project again; a folder is asked for only when
no project is open or the user asks for another (it asked for a folder with a project open)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from tests.test_catalog_repair import _contents, _damage, _project


def _repair_action(window):
    return next(
        a
        for a in window.menus["dataset"].actions()
        if a.text().replace("&", "").startswith("Repair Project")
    )


@pytest.fixture
def folders_asked(monkeypatch):
    """Every folder dialog the repair opens (answered with no folder, as a Cancel would)."""
    asked: list[str] = []

    def ask(parent, caption, *args, **kwargs):
        asked.append(caption)
        return ""

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(ask))
    return asked


def _button(box, text: str):
    return next(b for b in box.buttons() if b.text() == text)


def test_repair_with_a_project_open_checks_that_project_and_opens_it_again(
    qtbot, main_window, tmp_path, folders_asked
):
    root = _project(tmp_path)
    before = _contents(root)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    _damage(root / "catalog.sqlite", "items_label")  # an index torn while it was open

    _repair_action(main_window).trigger()
    qtbot.waitUntil(lambda: panel.repair_question is not None)
    box = panel.repair_question
    assert folders_asked == []  # no folder asked for: the open project is offered
    assert "open project proj" in box.text()
    said = box.informativeText()
    assert "checks its catalog" in said and "kept beside it" in said and "opens again" in said
    assert "status bar" in said
    assert box.defaultButton() is box.button(box.StandardButton.Cancel)

    seen_titles: list[str] = []
    main_window.tasks.active_changed.connect(
        lambda: seen_titles.extend(t.title for t in main_window.tasks.active())
    )
    qtbot.mouseClick(_button(box, "Check and Repair"), Qt.MouseButton.LeftButton)
    assert "Repair proj" in seen_titles  # the task bar shows the check while it runs
    qtbot.waitUntil(lambda: panel.repair_task is None and panel.project is not None, timeout=20000)
    assert panel.project.root == root
    assert panel.model.rowCount() == len(before) == 12
    assert "proj: catalog repaired, 12 items" in main_window.statusBar().currentMessage()
    assert any(p.name.startswith("catalog.damaged-") for p in root.iterdir())


def test_repair_cancelled_leaves_the_project_open_and_another_folder_asks_for_one(
    qtbot, main_window, tmp_path, folders_asked
):
    root = _project(tmp_path)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)

    _repair_action(main_window).trigger()
    qtbot.waitUntil(lambda: panel.repair_question is not None)
    QApplication.processEvents()
    qtbot.keyClick(QApplication.focusWidget() or panel.repair_question, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.repair_question is None)
    assert panel.project is not None and panel.repair_task is None  # Enter: nothing done
    assert folders_asked == []

    _repair_action(main_window).trigger()
    qtbot.waitUntil(lambda: panel.repair_question is not None)
    qtbot.mouseClick(_button(panel.repair_question, "Another Folder…"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: folders_asked == ["Repair project folder"])
    assert panel.project is not None and panel.project.root == root  # still open

    # with no project open, the folder is asked for at once
    assert panel.close_project_asked()
    _repair_action(main_window).trigger()
    assert folders_asked == ["Repair project folder"] * 2
    assert panel.repair_question is None
