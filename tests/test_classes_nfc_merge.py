"""An older project holds a class in decomposed Unicode (NFD 'cafe\u0301'), the catalog now
writes the composed 'caf\u00e9' (NFC): merging into, renaming and dropping the class treat the
two spellings as one class, so no twin is left in the class list and every item's and box's
label ends up under the NFC name."""

from __future__ import annotations

import json
import sqlite3
import unicodedata

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog.images import hash_file
from qbi_desktop.core.catalog.records import Box
from qbi_desktop.core.errors import UserFacingError

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")


def _older_project(tmp_path, labels, stored_list=None):
    """Items with ``labels`` and one box each of the same class, then the labels, box labels
    and class list rewritten straight in the catalog file (sqlite3) as a version before the
    NFC rule wrote them."""
    root = tmp_path / "proj"
    files = []
    for n in range(len(labels)):
        files.append(tmp_path / "img" / f"{n}.png")
        files[-1].parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(n).integers(0, 255, (12, 16), dtype=np.uint8)
        Image.fromarray(pixels).save(files[-1])
    with open_project(root, create=True) as project, project.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(f.name, hash_file(f), f, label="x", width=16, height=12,
                        boxes=[Box("x", 1, 1, 3, 3)])
                for f in files
            ]
        )  # fmt: skip
    db = sqlite3.connect(root / "catalog.sqlite")
    pairs = list(zip(labels, ids, strict=True))
    with db:
        db.executemany("UPDATE items SET label = ? WHERE id = ?", pairs)
        db.executemany("UPDATE boxes SET label = ? WHERE item_id = ?", pairs)
        if stored_list is not None:
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('classes', ?)",
                (json.dumps(stored_list),),
            )
    db.close()
    return root


def _labels(project):
    items = sorted(r[0] for r in project.db.execute("SELECT label FROM items"))
    boxes = sorted(r[0] for r in project.db.execute("SELECT label FROM boxes"))
    return items, boxes


def test_merging_into_the_nfc_name_takes_the_nfd_twin_along(tmp_path):
    root = _older_project(tmp_path, [NFD, NFD, "dog"], stored_list=[NFD, "dog"])
    with open_project(root) as project:
        assert NFD in C.class_list(project)
        before = C.class_list(project)
        edit = C.merge_classes(project, ["dog"], NFC)
        assert C.class_list(project) == [NFC]  # one class, where the merged ones stood
        assert _labels(project) == ([NFC] * 3, [NFC] * 3)
        assert C.class_counts(project) == {NFC: 3} and C.box_counts(project) == {NFC: 3}
        # undo gives the older spellings back as they were
        C.revert_class_edit(project, edit, before)
        assert _labels(project) == (sorted([NFD, NFD, "dog"]), sorted([NFD, NFD, "dog"]))


def test_merging_the_nfc_spelling_into_another_class_takes_the_nfd_one_too(tmp_path):
    root = _older_project(tmp_path, [NFD, NFC, "tea"])
    with open_project(root) as project:
        C.merge_classes(project, [NFC], "tea")  # as typed on the command line: composed
        assert C.class_list(project) == ["tea"]
        assert _labels(project) == (["tea"] * 3, ["tea"] * 3)


def test_renaming_a_class_renames_every_spelling_of_it(tmp_path):
    root = _older_project(tmp_path, [NFD, NFC, "dog"])
    with open_project(root) as project:
        C.rename_class(project, NFC, "coffee")  # typed composed; the project holds both
        assert sorted(C.class_list(project)) == ["coffee", "dog"]
        assert _labels(project) == (["coffee", "coffee", "dog"], ["coffee", "coffee", "dog"])

    root2 = _older_project(tmp_path / "b", [NFD, "dog"])
    with open_project(root2) as project:
        C.rename_class(project, NFC, "coffee")  # only the NFD spelling is in the project
        assert sorted(C.class_list(project)) == ["coffee", "dog"]
        with pytest.raises(UserFacingError, match="same"):
            C.rename_class(project, "dog", "dog")


def test_renaming_nfd_to_its_nfc_spelling_mends_it_and_ordering_knows_the_class(tmp_path):
    root = _older_project(tmp_path, [NFD, NFC, "dog"])
    with open_project(root) as project:
        C.rename_class(project, NFC, NFC)  # the NFD twin takes the composed name
        assert sorted(C.class_list(project)) == sorted([NFC, "dog"])
        assert _labels(project) == (sorted([NFC, NFC, "dog"]), sorted([NFC, NFC, "dog"]))
    root2 = _older_project(tmp_path / "b", [NFD, "dog"])
    with open_project(root2) as project:
        # the order typed composed names the NFD class: not "not a class of the project"
        assert C.order_classes(project, ["dog", NFC]) == ["dog", NFC]


def test_the_browser_classes_field_takes_the_typed_nfc_name_as_the_nfd_class(
    qtbot, main_window, tmp_path
):
    """Typing the class list with the composed name, in a project whose labels hold the NFD
    spelling: neither refused as dropping a class in use, nor shown twice."""
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    root = _older_project(tmp_path, [NFD, NFD, "dog"])
    main_window.annotator.set_name("Tester")
    browser = main_window.panels["browser"]
    errors: list[str] = []
    main_window.error_reported.connect(errors.append)
    assert browser.open_project(root)
    edit = browser.classes_edit
    edit.setFocus()
    QApplication.processEvents()
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(edit, "caf")
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):  # the é key: composed text
        QApplication.sendEvent(
            edit, QKeyEvent(kind, Qt.Key.Key_Eacute, Qt.KeyboardModifier(0), NFC[-1])
        )
    qtbot.keyClicks(edit, ", dog")
    assert edit.text() == f"{NFC}, dog"
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    browser.table.setFocus()
    QApplication.processEvents()
    assert not errors, errors  # "kept in the list, still in use" named the class typed
    assert browser.classes() == [NFC, "dog"]
    with open_project(root) as project:
        assert C.stored_list(project.db) == [NFC, "dog"]
    assert browser.open_project(root)  # opened again: the NFD labels add no twin
    assert browser.classes() == [NFC, "dog"]
