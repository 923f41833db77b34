"""Each annotator's work is kept apart in the catalog: the item's annotation is the latest edit,
every person's own version stays, in the same transaction as the edit."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.core.catalog import Box, NewItem, open_project, opinions


def _project(tmp_path, n=3):
    project = open_project(tmp_path / "p", create=True)
    with project.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(
                    name=f"img{i}.tif",
                    hash=f"h{i}",
                    path=project.root / f"img{i}.tif",
                    width=8,
                    height=6,
                )
                for i in range(n)
            ]
        )
    return project, ids


def test_each_annotator_keeps_their_own_label_targets_boxes_mask_and_review(tmp_path):
    project, (a, b, _c) = _project(tmp_path)
    project.set_label([a, b], "cat", annotator="Ana")
    project.set_label([a], "dog", annotator="Ben")
    project.set_targets(a, {"depth": 2.0}, annotator="Ana")
    project.set_targets(a, {"depth": 3.5}, annotator="Ben")
    project.set_boxes(a, [Box("cell", 1, 1, 3, 3)], annotator="Ben")
    ana_mask = np.zeros((6, 8), np.uint8)
    ana_mask[1:3, 1:3] = 1
    project.set_mask(a, ana_mask, annotator="Ana")
    project.set_mask(a, np.ones((6, 8), np.uint8), annotator="Ben")
    project.set_review([a], "accepted", annotator="Ana")

    # the item's annotation is the latest edit ...
    row = project.get(a)
    assert row["label"] == "dog" and project.targets(a) == {"depth": 3.5}
    assert (project.mask(a) == 1).all()
    # ... and each person's own version is kept
    mine = opinions.for_item(project.db, a)
    assert mine["Ana"]["label"] == "cat" and mine["Ben"]["label"] == "dog"
    assert mine["Ana"]["targets"] == {"depth": 2.0} and mine["Ben"]["targets"] == {"depth": 3.5}
    assert mine["Ben"]["boxes"] == [["cell", 1.0, 1.0, 3.0, 3.0]] and "boxes" not in mine["Ana"]
    assert mine["Ana"]["review"] == "accepted"
    ana_file = project.resolve(mine["Ana"]["mask"])
    assert ana_file.parent.parent == project.root / "annotators"
    assert [f.name for f in project.masks_dir.iterdir()] == [project.get(a)["mask"]["path"][6:]]
    np.testing.assert_array_equal(
        opinions.load_mask(project, mine["Ana"]["mask"], a, "Ana"), ana_mask
    )
    assert opinions.annotators(project.db) == ["Ana", "Ben"]
    assert opinions.counts(project.db, "label") == {a: 2, b: 1}


def test_a_new_mask_by_the_same_annotator_replaces_their_file_after_commit(tmp_path):
    project, (a, *_rest) = _project(tmp_path)
    project.set_mask(a, np.ones((6, 8), np.uint8), annotator="Ana")
    first = project.resolve(opinions.for_item(project.db, a)["Ana"]["mask"])
    project.set_mask(a, np.zeros((6, 8), np.uint8), annotator="Ana")
    second = project.resolve(opinions.for_item(project.db, a)["Ana"]["mask"])
    assert not first.exists() and second.exists()
    project.set_mask(a, None, annotator="Ana")
    assert "Ana" not in opinions.for_item(project.db, a) and not second.exists()


def test_a_rolled_back_edit_keeps_no_opinion_and_no_file(tmp_path):
    project, (a, *_rest) = _project(tmp_path)
    with pytest.raises(RuntimeError), project.transaction() as tx:
        tx.set_mask(a, np.ones((6, 8), np.uint8), "Ana")
        tx.set_label([a], "cat", "Ana")
        raise RuntimeError("crash in the middle")
    assert opinions.for_item(project.db, a) == {}
    folder = project.root / "annotators" / opinions.annotator_folder("Ana")
    assert not folder.exists() or not any(folder.iterdir())


def test_edits_without_an_annotator_and_consensus_writes_are_no_opinions(tmp_path):
    project, (a, *_rest) = _project(tmp_path)
    project.set_label([a], "cat")
    project.set_label([a], "dog", annotator="consensus of Ana, Ben by majority vote")
    assert opinions.for_item(project.db, a) == {}
    assert project.get(a)["label"] == "dog"


def test_annotator_folders_are_safe_and_distinct():
    names = ["Ana", "A/../na", "A na", "A_na", "", "..", "Zoë"]
    folders = [opinions.annotator_folder(n) for n in names]
    assert len(set(folders)) == len(folders)
    assert all("/" not in f and f not in (".", "..") and not f.startswith(".") for f in folders)


def test_removing_an_item_removes_its_opinions(tmp_path):
    project, (a, b, _c) = _project(tmp_path)
    project.set_label([a, b], "cat", annotator="Ana")
    project.remove_items([a])
    assert opinions.table(project.db, "label") == {b: {"Ana": "cat"}}


def _own(project, item, annotator, kind, name=""):
    return opinions.texts(project.db, [item], annotator, kind, name)[item]


def test_undo_gives_the_annotator_their_earlier_version_back_and_redo_takes_it_again(tmp_path):
    project, (a, b, _c) = _project(tmp_path)
    project.set_label([a], "cat", "bob")
    project.set_label([a], "dog", "ada")
    first = project.set_label([a], "cow", "ada")  # ada changes her mind...
    assert _own(project, a, "ada", "label") == '"cow"'
    undone = project.revert(first, "ada")  # ...and takes it back: her own version is dog again
    assert _own(project, a, "ada", "label") == '"dog"'
    assert _own(project, a, "bob", "label") == '"cat"'  # nobody else's is touched
    project.revert(undone.change, "ada")  # redo
    assert _own(project, a, "ada", "label") == '"cow"'

    target = project.set_target([a, b], "dose", 3.5, "ada")
    boxes = project.set_boxes(b, [Box("x", 1, 1, 2, 2)], "ada")
    project.revert(boxes, "ada")
    project.revert(target, "ada")
    assert _own(project, a, "ada", "target", "dose") is None  # she had given none before
    assert _own(project, b, "ada", "boxes") is None
    # the agreement report no longer counts what was undone
    assert "ada" not in opinions.annotators(project.db, "target")
