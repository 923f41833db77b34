"""A number key in a project with no class yet: before, it only printed a hint and labelled
nothing. Now it asks: create the classes 0-9 (key k gives "k", as in MNIST's digit folders) and
give the pressed one, or type class names. Real keys and buttons; values read from the catalog."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog import open_project

try:
    from tests.gui_audit_helpers import digits_project
except ImportError:  # pragma: no cover
    from gui_audit_helpers import digits_project

CTRL = Qt.KeyboardModifier.ControlModifier
DIGITS = [str(d) for d in range(10)]


def _unlabelled_project(tmp_path, n=12):
    images = (load_digits().images[:n] * 16).clip(0, 255).astype(np.uint8)
    return digits_project(tmp_path, images, None)


def _catalog(root):
    with open_project(root) as project:
        return C.stored_list(project.db), {i: project.get(i)["label"] for i in project.ids()}


def _key(qtbot, panel, key, modifier=Qt.KeyboardModifier.NoModifier):
    panel.table.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(panel.table, key, modifier)


def _open(qtbot, main_window, tmp_path):
    root, ids = _unlabelled_project(tmp_path)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    assert panel.classes() == []
    panel.table.setCurrentIndex(panel.model.index(panel.model.row_of(ids[0]), 1))
    return root, ids, panel


def test_a_number_key_without_classes_creates_the_digits_and_labels_undoably(
    qtbot, main_window, tmp_path
):
    root, ids, panel = _open(qtbot, main_window, tmp_path)
    _key(qtbot, panel, Qt.Key.Key_3)
    box = panel.class_question
    assert box is not None and box.isVisible()
    assert "no classes yet" in box.text()
    assert _catalog(root)[1][ids[0]] is None  # nothing written before the answer

    # Enter takes "Type class names…" (the least surprising); the digits are one click away
    assert box.defaultButton().text().startswith("Type class names")
    create = next(b for b in box.buttons() if b.text().startswith("Create classes"))
    assert create.text() == "Create classes 0–9 and give 3"
    create.click()
    qtbot.waitUntil(lambda: panel.class_question is None)
    stored, labels = _catalog(root)
    assert stored == DIGITS and labels[ids[0]] == "3"
    assert panel.classes() == DIGITS
    assert panel.model.item_id(panel.table.currentIndex().row()) == ids[1]  # moved on

    _key(qtbot, panel, Qt.Key.Key_7)  # from now on a key labels at once, no question
    assert panel.class_question is None
    assert _catalog(root)[1][ids[1]] == "7"

    for _ in range(3):  # the 7, the 3, then the class list itself
        _key(qtbot, panel, Qt.Key.Key_Z, CTRL)
    stored, labels = _catalog(root)
    assert stored == [] and labels[ids[0]] is None and labels[ids[1]] is None
    assert panel.classes() == []

    for _ in range(2):  # redo: the list, then the 3
        _key(qtbot, panel, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    stored, labels = _catalog(root)
    assert stored == DIGITS and labels[ids[0]] == "3" and labels[ids[1]] is None


def test_escape_changes_nothing_and_type_names_opens_the_classes_box(qtbot, main_window, tmp_path):
    root, ids, panel = _open(qtbot, main_window, tmp_path)
    _key(qtbot, panel, Qt.Key.Key_5)
    box = panel.class_question
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: panel.class_question is None)
    assert _catalog(root) == ([], dict.fromkeys(ids))

    _key(qtbot, panel, Qt.Key.Key_5)
    box = panel.class_question
    [names] = [b for b in box.buttons() if b.text() == "Type class names…"]
    names.click()
    qtbot.waitUntil(lambda: panel.class_question is None)
    assert panel.filter_box.isVisible()
    qtbot.waitUntil(lambda: panel.classes_edit.hasFocus())
    qtbot.keyClicks(panel.classes_edit, "cell, debris")
    qtbot.keyClick(panel.classes_edit, Qt.Key.Key_Return)
    _key(qtbot, panel, Qt.Key.Key_1)
    stored, labels = _catalog(root)
    assert stored == ["cell", "debris"] and labels[ids[0]] == "debris"
