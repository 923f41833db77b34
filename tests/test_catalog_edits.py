"""Undoable catalog edits and kept splits, on real catalogs (no display)."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.core.catalog import open_project, splits
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.idx import write_idx
from qbi_desktop.core.jobs import run_job


def mnist_like(tmp_path, n_train=240, n_test=60):
    """An MNIST-shaped project (IDX files named like the originals): official train/test."""
    rng = np.random.default_rng(4)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (n, 8, 8), np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "mnist", [folder]))
    return project


def _splits(project):
    return dict(project.db.execute("SELECT id, split FROM items ORDER BY id").fetchall())


def test_label_change_is_returned_and_reverted_in_one_logged_transaction(tmp_path):
    project = mnist_like(tmp_path, 20, 5)
    old = {i: project.get(i)["label"] for i in (3, 4)}
    change = project.set_label([3, 4], "cat", "ann")
    assert change.ids == (3, 4) and change.changed == 2
    assert [project.get(i)["label"] for i in (3, 4)] == ["cat", "cat"]

    result = project.revert(change, "ann")
    assert result.restored == 2 and result.skipped == 0
    assert {i: project.get(i)["label"] for i in (3, 4)} == old
    history = project.history(3)
    assert [h["value"] for h in history if h["what"] == "label"][-2:] == ["cat", old[3]]

    project.revert(result.change, "ann")  # redo
    assert project.get(3)["label"] == "cat"


def test_revert_leaves_items_edited_again_since_alone(tmp_path):
    project = mnist_like(tmp_path, 20, 5)
    first = project.set_review([1, 2], "accepted", "ann")
    project.set_review([2], "rejected", "other")  # someone else, later
    result = project.revert(first)
    assert result.restored == 1 and result.skipped == 1
    assert project.get(1)["review"] == "unreviewed"
    assert project.get(2)["review"] == "rejected"


def test_clear_label_and_notes_are_undoable(tmp_path):
    project = mnist_like(tmp_path, 20, 5)
    before = project.get(7)["label"]
    cleared = project.set_label([7], None, "ann")
    assert cleared.what == "clear label" and project.get(7)["label"] is None
    project.revert(cleared)
    assert project.get(7)["label"] == before
    note = project.set_notes(7, "blurred", "ann")
    assert project.get(7)["notes"] == "blurred"
    project.revert(note)
    assert project.get(7)["notes"] == ""


def test_resplit_of_an_official_split_is_refused_unless_replaced_and_restorable(tmp_path):
    project = mnist_like(tmp_path)
    official = _splits(project)
    assert sorted(set(official.values())) == ["test", "train"]

    plan = splits.plan_stratified(project, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=1)
    assert plan.replaces == plan.changes > 0
    assert f"{plan.changes:,} of 300 assignments" in plan.question()
    assert "train 240, test 60" in plan.question()
    with pytest.raises(UserFacingError, match="Nothing was changed"):
        splits.stratified_split(project, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=1)
    assert _splits(project) == official

    counts = splits.stratified_split(
        project, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=1, replace=True
    )
    assert sum(counts.values()) == 300 and counts["train"] == 210 and counts["val"] > 0
    assert _splits(project) != official
    [kept] = splits.snapshots(project)
    assert kept.counts == {"train": 240, "test": 60}

    splits.restore_previous(project)
    assert _splits(project) == official  # exactly
    splits.restore_previous(project)  # and back again: restore swaps
    assert _splits(project) != official
    assert sum(1 for s in _splits(project).values() if s == "val") == counts["val"]


def test_split_change_undoes_as_one_change(tmp_path):
    project = mnist_like(tmp_path)
    official = _splits(project)
    plan = splits.plan_stratified(project, {"train": 0.5, "test": 0.5}, seed=2)
    change = splits.apply_plan(project, plan)
    assert change.changed == plan.changes
    project.revert(change)
    assert _splits(project) == official


def test_restore_without_a_kept_split_says_so(tmp_path):
    project = mnist_like(tmp_path, 20, 5)
    with pytest.raises(UserFacingError, match="no previous split"):
        splits.restore_previous(project)


def test_cli_split_refuses_to_replace_without_replace_and_restores(tmp_path, capsys):
    from qbi_desktop.cli import main

    project = mnist_like(tmp_path)
    official = _splits(project)
    project.close()
    root = str(tmp_path / "proj")

    assert main(["split", "--project", root, "--seed", "4"]) == 2
    err = capsys.readouterr().err
    assert "already has a split (train 240, test 60)" in err and "--replace" in err
    with open_project(root) as p:
        assert _splits(p) == official

    assert main(["split", "--project", root, "--seed", "4", "--replace"]) == 0
    out = capsys.readouterr().out
    assert "split written: train 210" in out and "--restore-previous" in out
    with open_project(root) as p:
        assert _splits(p) != official

    assert main(["split", "--project", root, "--restore-previous"]) == 0
    with open_project(root) as p:
        assert _splits(p) == official
    assert main(["split", "--project", root, "--fractions", "train=lots"]) == 2
    assert "not split=fraction" in capsys.readouterr().err


def test_box_edits_are_undone_and_redone_as_the_whole_box_list(tmp_path):
    from qbi_desktop.core.catalog import Box

    project = mnist_like(tmp_path, 20, 5)
    first = project.set_boxes(2, [Box("3", 1, 1, 4, 5)], "ann")
    assert first.changed == 1
    moved = project.set_boxes(2, [Box("3", 2, 1, 4, 5), Box("7", 0, 0, 2, 2)], "ann")
    assert [(b.label, b.x) for b in project.boxes(2)] == [("3", 2), ("7", 0)]

    undone = project.revert(moved, "ann")
    assert undone.restored == 1
    assert [(b.label, b.x, b.w, b.annotator) for b in project.boxes(2)] == [("3", 1, 4, "ann")]
    project.revert(first, "ann")
    assert project.boxes(2) == []
    assert [h["value"] for h in project.history(2) if h["what"] == "boxes"][-1] == "0"

    project.revert(undone.change, "ann")  # redo the second edit: refused, the box list changed
    assert project.boxes(2) == []


def test_box_undo_leaves_an_item_whose_boxes_changed_since_alone(tmp_path):
    from qbi_desktop.core.catalog import Box

    project = mnist_like(tmp_path, 20, 5)
    mine = project.set_boxes(1, [Box("a", 0, 0, 3, 3)], "ann")
    project.set_boxes(1, [Box("b", 1, 1, 3, 3)], "other")
    result = project.revert(mine)
    assert result.skipped == 1
    assert [b.label for b in project.boxes(1)] == ["b"]


def test_target_edits_on_a_selection_are_undoable_including_removal(tmp_path):
    project = mnist_like(tmp_path, 20, 5)
    project.set_targets(1, {"dose": 2.5}, "import")
    change = project.set_target([1, 2, 3], "dose", 7.0, "ann")
    assert change.changed == 3
    assert [project.targets(i).get("dose") for i in (1, 2, 3)] == [7.0, 7.0, 7.0]

    project.revert(change, "ann")
    assert [project.targets(i).get("dose") for i in (1, 2, 3)] == [2.5, None, None]
    assert project.db.execute(
        "SELECT annotator FROM targets WHERE item_id = 1 AND name = 'dose'"
    ).fetchone() == ("import",)

    cleared = project.set_target([1], "dose", None, "ann")
    assert project.targets(1) == {}
    project.revert(cleared)
    assert project.targets(1) == {"dose": 2.5}
