"""Words a user read in the walk-through: the quit prompt with several unsaved masks ("The mask
(item 2 …, item 4 …) has unsaved changes"), and importing the same folder again ("0 item(s)
added", not saying the files were already in the project). Real window, real strokes, a real
close asked through the real message box, a real import through the Browser."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.gui_browser_annotate_helpers import (
        _folder_project,
        _id_of,
        _mouse_stroke,
        _open_row_with_enter,
        _wait_item,
    )
except ImportError:  # pragma: no cover
    from gui_browser_annotate_helpers import (
        _folder_project,
        _id_of,
        _mouse_stroke,
        _open_row_with_enter,
        _wait_item,
    )


def _paint_item(qtbot, window, item_id) -> None:
    browser, annotate = window.panels["browser"], window.panels["annotate"]
    _open_row_with_enter(qtbot, browser, item_id)
    _wait_item(qtbot, annotate, item_id)
    annotate.set_tool("brush")
    _mouse_stroke(qtbot, window, [(20, 20), (30, 20)])
    assert annotate.session.modified


def test_quit_prompt_names_several_unsaved_masks_in_the_plural(qtbot, main_window, tmp_path):
    window = main_window
    root = _folder_project(tmp_path)
    window.annotator.set_name("Tester")
    assert window.panels["browser"].open_project(root)
    with open_project(root) as project:
        a0, b0 = _id_of(project, "a0"), _id_of(project, "b0")
    _paint_item(qtbot, window, a0)
    _paint_item(qtbot, window, b0)
    asked: list[str] = []

    def answer_cancel() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        asked.append(box.text())
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Cancel), Qt.MouseButton.LeftButton)

    QTimer.singleShot(200, answer_cancel)
    try:
        window.close()  # File > Quit
    finally:
        window.panels["annotate"].unsaved_answer = "discard"  # the fixture's close: no question
    assert window.isVisible()  # Cancel kept it open
    assert len(asked) == 1
    assert asked[0].startswith("The masks (item ")
    assert "have unsaved changes" in asked[0] and "has unsaved" not in asked[0]


def test_importing_the_same_folder_again_says_the_files_are_already_there(
    qtbot, main_window, tmp_path
):
    root = _folder_project(tmp_path)  # 3 images imported from tmp_path/images
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    task = browser.run_import("imagefolder", [tmp_path / "images"])
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    status = main_window.statusBar().currentMessage()
    assert "0 item(s) added, 3 item(s) already in the project" in status
    with open_project(root) as project:
        assert len(project) == 3
        report = run_job(import_job(project, "imagefolder", [tmp_path / "images"]))
    assert report.already == 3 and report.added == 0
