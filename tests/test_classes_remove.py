"""Removing a class nobody uses (core/catalog/classes.py ``remove_class``, and Dataset >
Classes…'s Remove button, undoable with Ctrl+Z in the Browser).

A newcomer pressed a digit, took "Create classes 0-9", and was left with seven empty classes the
Classes dialog could only rename or merge. Real projects, real files; the GUI part clicks the
real dialog.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import Box, open_project
from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.docks.browser_classes import NAME_ROLE


def _project(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for n in range(3):
        Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(folder / f"{n}.png")
    root = tmp_path / "proj"
    with open_project(root, create=True) as p:
        run_job(import_job(p, "imagefolder", [folder]))
        ids = [int(r["id"]) for r in p.query(limit=None)]
        C.first_class_list(p)  # "0".."9"
        p.set_label([ids[0]], "1", "me")
        p.set_boxes(ids[1], [Box("crack", 1, 1, 4, 4)], "me")
    return root


def test_remove_takes_an_unused_class_out_of_the_list(tmp_path):
    root = _project(tmp_path)
    with open_project(root) as p:
        stored = C.remove_class(p, "7")
        assert "7" not in stored and "7" not in C.class_list(p)
        assert C.class_list(p)[:3] == ["0", "1", "2"]  # the other keys keep their classes
    with open_project(root) as p:  # kept in the catalog
        assert "7" not in C.class_list(p)


def test_remove_refuses_a_class_in_use_saying_how_many_use_it(tmp_path):
    root = _project(tmp_path)
    with open_project(root) as p:
        with pytest.raises(UserFacingError, match=r"'1'.*1 item use it"):
            C.remove_class(p, "1")
        with pytest.raises(UserFacingError, match=r"'crack'.*1 box use it"):
            C.remove_class(p, "crack")
        with pytest.raises(UserFacingError, match="not in the project"):
            C.remove_class(p, "nope")
        assert {"1", "crack"} <= set(C.class_list(p))


def test_classes_dialog_removes_unused_classes_and_undo_brings_them_back(
    qtbot, main_window, tmp_path
):
    root = _project(tmp_path)
    main_window.annotator.set_name("me")  # a shared project asks for the name first
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    dialog = browser.classes_dialog()
    texts = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert any("crack" in t and "boxes only" in t for t in texts), texts  # which is which
    assert "1: 1 — 1 item(s)" in texts, texts  # an image class: items' labels
    assert "7: 7 — unused (Remove takes it out)" in texts, texts
    for i in range(dialog.list.count()):
        item = dialog.list.item(i)
        item.setSelected(item.data(NAME_ROLE) in ("5", "6", "1"))
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert "'1'" in dialog.problem.text() and "1 item" in dialog.problem.text()
    with open_project(root) as p:
        left = C.class_list(p)
    assert "5" not in left and "6" not in left and "1" in left  # the unused ones went
    shown = [dialog.list.item(i).data(NAME_ROLE) for i in range(dialog.list.count())]
    assert "5" not in shown and "1" in shown
    dialog.accept()
    browser.table.setFocus()
    qtbot.keyClick(browser.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    with open_project(root) as p:
        assert {"5", "6"} <= set(C.class_list(p))  # undone


def test_no_classes_question_defaults_to_typing_names(qtbot, main_window, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "a.png")
    root = tmp_path / "proj"
    with open_project(root, create=True) as p:
        run_job(import_job(p, "imagefolder", [folder]))
    browser = main_window.panels["browser"]
    assert browser.open_project(root)
    browser.select_rows([0])
    box = browser.offer_classes(3)
    assert box is not None
    assert "Type class names" in box.defaultButton().text()  # Enter makes no ten classes
    box.reject()
