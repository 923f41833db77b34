"""A name before the first edit of a shared project (issue 15: "an annotator name is required
before the first edit of a shared project").

With no name given (only the login name) in a project that holds another person's work or is
marked shared (Edit > Shared Project), every kind of edit - class keys, a selection, the class
picker, review keys, a typed target, a class rename, a mask stroke, a box, an audit action -
asks for the name once. Cancel refuses the edit: the catalog (read from the SQLite file) is
unchanged and the status bar says why. A name given is remembered and recorded, never the
login name. Real window, real keys, clicks and mouse drags.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QInputDialog, QLineEdit
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.catalog.opinions import for_item
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.annotator import login_name
from qbi_desktop.gui.docks.browser_model import COL_TARGETS

try:
    from tests.gui_audit_helpers import open_audit
    from tests.test_gui_blind import _press_class_key
    from tests.test_gui_boxes import drag
    from tests.test_gui_browser_annotate import (
        _folder_project,
        _id_of,
        _mouse_stroke,
        _old_mask,
        _open_row_with_enter,
        _wait_item,
    )
except ImportError:  # pragma: no cover
    from gui_audit_helpers import open_audit
    from test_gui_blind import _press_class_key
    from test_gui_boxes import drag
    from test_gui_browser_annotate import (
        _folder_project,
        _id_of,
        _mouse_stroke,
        _old_mask,
        _open_row_with_enter,
        _wait_item,
    )


class NameDialog:
    """Answers the annotator's name dialog whenever it opens: Cancel (``name`` None) or the
    name typed and Enter; ``prompts`` holds what each dialog asked."""

    def __init__(self, qtbot, name: str | None = None):
        self.qtbot = qtbot
        self.name = name
        self.prompts: list[str] = []
        self._timer = QTimer()
        self._timer.setInterval(20)
        self._timer.timeout.connect(self._poll)
        self._timer.start()

    def _poll(self) -> None:
        for w in QApplication.topLevelWidgets():
            if isinstance(w, QInputDialog) and w.isVisible() and w.property("answered") is None:
                w.setProperty("answered", True)
                self.prompts.append(w.labelText())
                if self.name is None:
                    box = w.findChild(QDialogButtonBox)
                    cancel = box.button(QDialogButtonBox.StandardButton.Cancel)
                    self.qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
                else:
                    field = w.findChild(QLineEdit)
                    field.selectAll()
                    self.qtbot.keyClicks(field, self.name)
                    box = w.findChild(QDialogButtonBox)
                    ok = box.button(QDialogButtonBox.StandardButton.Ok)
                    self.qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    def stop(self) -> None:
        self._timer.stop()


def _catalog(root: Path) -> str:
    """Everything the catalog holds, read from the file on a connection of its own."""
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        return "\n".join(line for line in db.iterdump() if "sqlite_stat" not in line)
    finally:
        db.close()


def _refused(window, answers: NameDialog, asked: int, root: Path, before: str) -> None:
    """The name was asked for (once more), nothing was written, the status bar says why."""
    assert len(answers.prompts) == asked, answers.prompts
    assert "shared" in answers.prompts[-1]
    assert _catalog(root) == before
    message = window.statusBar().currentMessage()
    assert message.startswith("Not ") and "annotator name is needed" in message, message


def test_every_browser_edit_of_a_shared_project_asks_the_name_and_cancel_writes_nothing(
    qtbot, main_window, tmp_path
):
    window = main_window
    assert not window.annotator.chosen  # a fresh start: only the login name
    root = _folder_project(tmp_path)  # the importer drew a0's mask: another person's work
    browser = window.panels["browser"]
    assert browser.open_project(root)
    assert browser.define_target(T.TargetDef("count", "", 0, 100, 0))
    with open_project(root) as project:
        a0, a1, b0 = (_id_of(project, s) for s in ("a0", "a1", "b0"))
    before = _catalog(root)
    answers = NameDialog(qtbot)  # Cancel, every time
    table = browser.table

    # a class key on one item
    _press_class_key(qtbot, browser, a0, Qt.Key.Key_1)
    _refused(window, answers, 1, root, before)
    # a review key
    _press_class_key(qtbot, browser, a1, Qt.Key.Key_A)
    _refused(window, answers, 2, root, before)
    # a bulk edit: a class key on a selection of three
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    table.setFocus()
    table.selectAll()
    QApplication.processEvents()
    assert len(browser._target_rows()) == 3
    qtbot.keyClick(table, Qt.Key.Key_0)
    _refused(window, answers, 3, root, before)
    # Backspace clears a label
    _press_class_key(qtbot, browser, b0, Qt.Key.Key_Backspace)
    _refused(window, answers, 4, root, before)
    # the class picker (C), a class typed and chosen
    _press_class_key(qtbot, browser, b0, Qt.Key.Key_C)
    picker = browser.class_picker
    assert picker is not None and picker.isVisible()
    qtbot.keyClicks(picker.typed, "a")
    qtbot.keyClick(picker.typed, Qt.Key.Key_Return)
    _refused(window, answers, 5, root, before)
    # a regression target typed with F2 and Enter
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    table.setFocus()
    table.selectRow(browser.model.row_of(a0))
    table.selectionModel().setCurrentIndex(
        browser.model.index(browser.model.row_of(a0), COL_TARGETS),
        table.selectionModel().SelectionFlag.NoUpdate,
    )
    qtbot.keyClick(table, Qt.Key.Key_F2)  # asked before anything is typed
    _refused(window, answers, 6, root, before)
    assert browser.target_delegate.editor is None  # no editor opened
    # a class renamed (Dataset > Classes…): refused with the reason
    said = browser.rename_class("a", "alpha")
    assert said is not None and "name is needed" in said
    _refused(window, answers, 7, root, before)
    assert window.edit_gate.refused == 7
    assert not window.annotator.chosen
    answers.stop()

    # Now the name is given at the next edit: asked once, remembered, recorded with the edit
    answers = NameDialog(qtbot, "Bob")
    _press_class_key(qtbot, browser, a0, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: window.annotator.name == "Bob", timeout=5000)
    assert window.annotator.chosen and window.settings.value("annotator/name") == "Bob"
    with open_project(root) as project:
        qtbot.waitUntil(lambda: project.get(a0)["label"] == "b", timeout=5000)
        assert for_item(project.db, a0)["Bob"]["label"] == "b"
        assert login_name() not in for_item(project.db, a0)
    _press_class_key(qtbot, browser, a1, Qt.Key.Key_1)  # not asked again
    with open_project(root) as project:
        qtbot.waitUntil(lambda: project.get(a1)["label"] == "b", timeout=5000)
    assert len(answers.prompts) == 1
    answers.stop()


def test_a_mask_stroke_and_a_box_ask_the_name_and_the_mask_is_saved_as_that_person(
    qtbot, main_window, tmp_path
):
    window = main_window
    root = _folder_project(tmp_path)
    browser = window.panels["browser"]
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"  # pytest-qt closes the window: never ask at teardown
    assert browser.open_project(root)
    with open_project(root) as project:
        a0 = _id_of(project, "a0")
    _open_row_with_enter(qtbot, browser, a0)  # opened before any name is given
    _wait_item(qtbot, annotate, a0)
    annotate.boxes.set_class("a")  # the class of new boxes, one of the project's (none invented)
    before = _catalog(root)
    session = annotate.session
    answers = NameDialog(qtbot)

    # a brush stroke: asked, Cancel: not one pixel painted
    annotate.set_tool("brush")
    annotate.controller.set_size(3)
    _mouse_stroke(qtbot, window, [(20, 20), (30, 20)])
    _refused(window, answers, 1, root, before)
    assert np.array_equal(session.mask, _old_mask()) and not session.modified

    # a box drawn with the Box tool (W): asked, Cancel: no box in the catalog
    annotate.set_tool("box")
    drag(qtbot, window, (5, 5), (20, 15))
    _refused(window, answers, 2, root, before)
    assert annotate.boxes.session.boxes == []
    answers.stop()

    # the next stroke: "Ada" given, the stroke painted; saved, the mask is Ada's own
    answers = NameDialog(qtbot, "Ada")
    annotate.set_tool("brush")
    _mouse_stroke(qtbot, window, [(20, 20), (30, 20)])
    assert len(answers.prompts) == 1 and window.annotator.name == "Ada"
    painted = session.mask.copy()
    assert not np.array_equal(painted, _old_mask())
    window.activateWindow()  # the question closed: the window takes its shortcuts again
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not session.modified, timeout=10000)
    with open_project(root) as project:
        mine = for_item(project.db, a0)
        assert "mask" in mine["Ada"] and login_name() not in mine
        assert project.history(a0)[-1]["annotator"] == "Ada"
    # and a box now goes in as Ada's, without another question
    annotate.set_tool("box")
    drag(qtbot, window, (5, 5), (20, 15))
    with open_project(root) as project:
        qtbot.waitUntil(lambda: len(project.boxes(a0)) == 1, timeout=5000)
        assert project.boxes(a0)[0].annotator == "Ada"
        assert "boxes" in for_item(project.db, a0)["Ada"]
    assert len(answers.prompts) == 1
    answers.stop()


def test_an_audit_action_in_a_shared_project_asks_the_name(qtbot, main_window, tmp_path):
    d = load_digits()
    x = (d.images[:200] * 16).clip(0, 255).astype(np.uint8)
    y = d.target[:200].copy()
    y[70] = (y[70] + 4) % 10  # a wrong label
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=x, y_train=y)
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [npz]))
        ids = project.ids()
        project.set_review(ids[:1], "accepted", "Ada")  # Ada reviewed one: a shared project
    dialog = open_audit(qtbot, main_window, root)
    row = next(r for r, i in enumerate(dialog.rows) if i.kind == "label")
    dialog.table.selectRow(row)
    before = _catalog(root)
    answers = NameDialog(qtbot)
    qtbot.mouseClick(dialog.buttons["accept"], Qt.MouseButton.LeftButton)
    _refused(main_window, answers, 1, root, before)
    assert dialog.table.item(row, 6).text() == ""  # not marked as done
    answers.stop()


def test_a_project_marked_shared_asks_and_one_nobody_else_touched_does_not(
    qtbot, main_window, tmp_path
):
    window = main_window
    root = _folder_project(tmp_path)
    with open_project(root) as project:  # nobody's work but the login name's
        project.db.execute("DELETE FROM opinions")
        project.db.execute("DELETE FROM annotation_log")
        project.db.execute("DELETE FROM meta WHERE key = 'annotators'")
        a0, a1 = _id_of(project, "a0"), _id_of(project, "a1")
    browser = window.panels["browser"]
    assert browser.open_project(root)
    gate = window.edit_gate
    assert gate.action.isEnabled() and not gate.action.isChecked()
    answers = NameDialog(qtbot)
    _press_class_key(qtbot, browser, a0, Qt.Key.Key_1)  # alone: no question, the login name
    with open_project(root) as project:
        qtbot.waitUntil(lambda: project.get(a0)["label"] == "b", timeout=5000)
        assert list(for_item(project.db, a0)) == [login_name()]
    assert answers.prompts == []

    # Edit > Shared Project: kept in the catalog; the next edit asks
    edit_menu = window.menus["edit"]
    action = next(a for a in edit_menu.actions() if a.text().replace("&", "").startswith("Shared"))
    action.trigger()
    db = sqlite3.connect(root / "catalog.sqlite")
    assert db.execute("SELECT value FROM meta WHERE key = 'shared'").fetchone() == ("true",)
    db.close()
    before = _catalog(root)
    _press_class_key(qtbot, browser, a1, Qt.Key.Key_1)
    assert answers.prompts and "marked as shared" in answers.prompts[0]
    assert _catalog(root) == before
    answers.stop()

    # opened again, the mark is shown; unmarked, edits need no name again
    browser.close_project()
    assert browser.open_project(root)
    qtbot.waitUntil(lambda: gate.action.isChecked(), timeout=3000)
    action.trigger()
    assert not gate.action.isChecked()
    answers = NameDialog(qtbot)
    _press_class_key(qtbot, browser, a1, Qt.Key.Key_1)
    with open_project(root) as project:
        qtbot.waitUntil(lambda: project.get(a1)["label"] == "b", timeout=5000)
    assert answers.prompts == []
    answers.stop()


def test_a_disagreement_decision_asks_the_name(qtbot, main_window, tmp_path):
    from PySide6.QtWidgets import QPushButton

    window = main_window
    root = _folder_project(tmp_path)
    with open_project(root) as project:
        a0 = _id_of(project, "a0")
        project.set_label([a0], "a", "Ada")
        project.set_label([a0], "b", "Bob")  # they disagree on a0
    assert window.panels["browser"].open_project(root)
    window.panels["disagreements"].action.trigger()  # Dataset > Review Disagreements…
    qtbot.waitUntil(lambda: window.panels["disagreements"].dialog is not None, timeout=20000)
    queue = window.panels["disagreements"].dialog
    row = [(d.item, d.kind) for d in queue.shown()].index((a0, "label"))
    queue.table.setCurrentCell(row, 0)
    before = _catalog(root)
    answers = NameDialog(qtbot)
    take_bob = next(
        b for b in queue.findChildren(QPushButton) if b.text() == "Take Bob's" and b.isVisible()
    )
    qtbot.mouseClick(take_bob, Qt.MouseButton.LeftButton)  # a consensus: asked, refused
    _refused(window, answers, 1, root, before)
    queue.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is queue, timeout=3000)
    queue.table.setCurrentCell(row, 0)
    qtbot.keyClick(queue.table, Qt.Key.Key_A)  # a review decision: asked, refused
    _refused(window, answers, 2, root, before)
    answers.stop()


def test_confirming_the_login_name_counts_as_giving_it(qtbot, main_window, tmp_path):
    window = main_window
    root = _folder_project(tmp_path)
    browser = window.panels["browser"]
    assert browser.open_project(root)
    button = window.annotator_button
    assert "?" in button.text()  # the status bar asks for a name
    with open_project(root) as project:
        a0 = _id_of(project, "a0")
    answers = NameDialog(qtbot, login_name())  # the login name, typed and confirmed
    _press_class_key(qtbot, browser, a0, Qt.Key.Key_1)
    with open_project(root) as project:
        qtbot.waitUntil(lambda: project.get(a0)["label"] == "b", timeout=5000)
        assert for_item(project.db, a0)[login_name()]["label"] == "b"
    assert window.annotator.chosen and button.text() == f"Annotator: {login_name()}"
    answers.stop()
