"""What a run's target is, and which items its splits keep together (a new user's walk-through).

Real projects on disk, augmented through the real augmentation job, run through the real
baseline core and the command line.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from qbi_desktop.cli import main as cli_main
from qbi_desktop.core.augment import Pipeline
from qbi_desktop.core.augment.catalog_source import augment_into_project_job
from qbi_desktop.core.augment.stacks import plane_params
from qbi_desktop.core.baselines import BaselineConfig, run_baseline
from qbi_desktop.core.baselines.plan import _plan
from qbi_desktop.core.catalog import NewItem, open_project, splits
from qbi_desktop.core.catalog.images import hash_file
from qbi_desktop.core.datasets import ArrayDataset, open_source
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job

FLIP = Pipeline.from_options(seed=4, horizontal_flip=True, rotation_range=5)


def _project(tmp_path, labels, splits_=None, targets=None, name="proj"):
    """A project of 16-bit images (one per label entry; None = unlabelled), with optional splits
    and ``{index: thickness}`` values."""
    rng = np.random.default_rng(7)
    data = tmp_path / f"{name}_data"
    data.mkdir()
    project = open_project(tmp_path / name, create=True)
    items = []
    for i, label in enumerate(labels):
        base = {"plate": 9000, "calibration": 30000, "reference": 50000}.get(label, 20000)
        image = (base + rng.integers(0, 3000, size=(16, 16))).astype(np.uint16)
        path = data / f"img{i:02d}.tif"
        tifffile.imwrite(path, image)
        items.append(
            NewItem(
                name=f"img{i:02d}",
                hash=hash_file(path),
                path=path,
                width=16,
                height=16,
                label=label,
                split=splits_[i] if splits_ else None,
                targets={"thickness": targets[i]} if targets and i in targets else {},
            )
        )
    with project.transaction() as tx:
        ids = tx.add_items(items)
    return project, ids


def _run(config, spec):
    return run_job(run_baseline(config, open_source(spec)))


# -- 1. a regression's values are the target's values, never class indices -----------------------


def test_regression_on_a_labelled_project_uses_the_targets_values_only(tmp_path):
    """Regression, target thickness, on a project where most items have class labels: the run
    used all items with class indices -1/0/1 as "true values". Now: the thickness values, the
    items without one left out and counted."""
    labels = ["plate", "calibration", "reference", None] * 6
    values = {i: 10.0 + 2.5 * i for i in range(0, 24, 2)}  # 12 of 24 items have a thickness
    project, _ = _project(tmp_path, labels, targets=values)
    config = BaselineConfig(model="knn", k=1, task="regression", target="thickness", split="random")
    result = _run(config, f"project:{project.root}")
    assert result.task == "regression"
    assert set(result.y_true.tolist()) <= set(values.values())
    assert result.n_train + result.n_test == 12
    assert "12 of 24 items have no 'thickness' value and were left out" in result.warnings
    # naming the target is enough: an "auto" task is then a regression, not a classification
    auto = _run(BaselineConfig(model="knn", k=1, target="thickness"), f"project:{project.root}")
    assert auto.task == "regression" and set(auto.y_true.tolist()) <= set(values.values())


def test_the_command_line_regression_reports_thickness_values(tmp_path, capsys):
    labels = ["plate", "calibration", None] * 8
    values = {i: float(i) for i in range(0, 24, 2)}
    project, _ = _project(tmp_path, labels, targets=values)
    report = tmp_path / "rep"
    argv = ["baseline", "--data", f"project:{project.root}", "--task", "regression"]
    argv += ["--target", "thickness", "--split", "random", "--k", "1", "--report", str(report)]
    assert cli_main(argv) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_test"] == 12
    assert any("no 'thickness' value and were left out" in w for w in metrics["warnings"])
    refused = [*argv[:-1], str(tmp_path / "rep2"), "--no-drop-unlabeled"]
    assert cli_main(refused) == 2
    assert "12 of 24 items have no target value" in capsys.readouterr().err


def test_class_labels_are_never_taken_as_regression_values(tmp_path):
    labelled = ArrayDataset(np.zeros((6, 4, 4)), ["a", "b", None] * 2, source="labels")
    with pytest.raises(UserFacingError, match="class labels .* not values of a regression"):
        run_job(run_baseline(BaselineConfig(model="knn", k=1, task="regression"), labelled))
    # a project with labels and no thickness at all: no regression on the labels either
    project, _ = _project(tmp_path, ["plate", "calibration"] * 6)
    with pytest.raises(UserFacingError, match="no regression targets"):
        _run(BaselineConfig(model="knn", k=1, task="regression"), f"project:{project.root}")


def test_classification_uses_the_labels_of_a_project_that_has_targets_everywhere(tmp_path):
    """The reverse confusion: every item has a thickness, some have a class. A classification
    must use the classes (before: "auto" on some projects gave it the thickness values)."""
    labels = ["plate", "calibration", None] * 8
    project, _ = _project(tmp_path, labels, targets={i: 0.5 + i for i in range(24)})
    ds = open_project(project.root).as_dataset(target="targets")  # a regression view
    result = run_job(run_baseline(BaselineConfig(model="knn", k=1, task="classification"), ds))
    assert result.labels == ["calibration", "plate"]
    assert result.n_train + result.n_test == 16


# -- 2. an item and its augmented copies stay on one side of the split -------------------------


def _augmented(tmp_path):
    labels = ["plate", "calibration", "reference"] * 5
    project, ids = _project(tmp_path, labels)
    result = run_job(augment_into_project_job(project.root, FLIP, copies=3))
    assert len(result.new_ids) == 45
    return project, ids


def _roots(project):
    return {
        int(i): int(p) if p is not None else int(i)
        for i, p in project.db.execute("SELECT id, parent_id FROM items")
    }


def test_random_split_and_kfold_keep_copies_with_their_original(tmp_path):
    project, _ = _augmented(tmp_path)
    dataset = open_source(f"project:{project.root}")
    roots = _roots(project)
    group = np.asarray([roots[i] for i in dataset.ids])
    random = run_job(run_baseline(BaselineConfig(model="knn", k=1, split="random"), dataset))
    test = np.asarray(random.test_indices)
    train = np.setdiff1d(np.arange(len(dataset)), test)
    assert not set(group[test]) & set(group[train])  # before: copies on both sides
    assert "grouped by original (60 items in 15 groups" in random.evaluation
    plan = _plan(BaselineConfig(model="knn", k=1, split="kfold", folds=3), dataset)
    for fold in plan.folds:
        assert not set(group[fold.test]) & set(group[fold.train])
    assert "grouped by original" in plan.evaluation


def test_augmenting_into_a_project_copies_training_items_only_by_default(tmp_path):
    labels = ["plate", "calibration"] * 5
    parts = ["train"] * 6 + ["val", "val", "test", "test"]
    project, ids = _project(tmp_path, labels, parts)
    result = run_job(augment_into_project_job(project.root, FLIP, copies=2))
    assert result.left_out == 4 and len(result.new_ids) == 12
    copies = [project.get(i) for i in result.new_ids]
    assert {c["split"] for c in copies} == {"train"}
    assert {c["parent"] for c in copies} == set(ids[:6])
    # asked for explicitly: all items, a val/test item's copies stay in its split
    every = run_job(augment_into_project_job(project.root, FLIP, copies=1, items="all"))
    assert {project.get(i)["split"] for i in every.new_ids} == {"train", "val", "test"}


def test_a_run_on_the_projects_own_splits_says_when_copies_cross_them(tmp_path):
    labels = ["plate", "calibration"] * 6
    project, ids = _project(tmp_path, labels, ["train"] * 8 + ["test"] * 4)
    run_job(augment_into_project_job(project.root, FLIP, copies=1, items="all"))
    with project.transaction() as tx:  # a split made by hand puts copies of test items in train
        tx.set_splits([(i, "train") for i in project.ids({"provenance": "augmented"})])
    result = _run(BaselineConfig(model="knn", k=1), f"project:{project.root}")
    assert any(
        "4 of 4 test items are augmented copies (or originals)" in w for w in result.warnings
    )


def test_the_project_split_keeps_copies_with_their_original(tmp_path):
    project, _ = _augmented(tmp_path)
    splits.stratified_split(project, seed=1, replace=True)
    roots = _roots(project)
    where: dict[int, set] = {}
    for item_id, split in project.db.execute("SELECT id, split FROM items"):
        where.setdefault(roots[int(item_id)], set()).add(split)
    assert all(len(s) == 1 for s in where.values())
    assert {next(iter(s)) for s in where.values()} == {"train", "val", "test"}


def test_augment_help_names_the_choice_of_items(capsys):
    with pytest.raises(SystemExit):
        cli_main(["augment", "--help"])
    out = capsys.readouterr().out
    assert "--items {train,all}" in out and "val/test are not augmented" in out


# -- 3. few labelled items among unlabelled ones: split and the empty test set -------------------


def test_a_stratified_split_spreads_few_labelled_items_over_the_splits(tmp_path):
    """The walk-through's project when it was split: 9 items, 4 labelled in 3 classes. Every
    labelled item went to train (each class rounded on its own, unlabelled items took the val
    and test places). Now a labelled item is in test, and every class has one in train."""
    labels = [None, "plate", "calibration", "reference", "calibration", None, None, None, None]
    for seed in range(5):
        project, _ = _project(tmp_path, labels, name=f"p{seed}")
        splits.stratified_split(project, seed=seed)
        rows = project.db.execute("SELECT label, split FROM items").fetchall()
        labelled = [(label, split) for label, split in rows if label is not None]
        assert "test" in {split for _, split in labelled}, (seed, rows)
        assert {label for label, split in labelled if split == "train"} == {
            "plate",
            "calibration",
            "reference",
        }
        assert {split for label, split in rows if label is None} >= {"train", "val", "test"}


def test_an_empty_test_set_says_why_and_what_to_do(tmp_path):
    labels = ["plate", "calibration"] * 4 + [None] * 4
    parts = ["train"] * 8 + ["test"] * 2 + ["val"] * 2
    project, _ = _project(tmp_path, labels, parts)
    with pytest.raises(UserFacingError) as info:
        _run(BaselineConfig(model="knn", k=1), f"project:{project.root}")
    message = str(info.value)
    assert "the test set is empty: none of the 2 items of the dataset's test split" in message
    assert "8 in train" in message and "Random" in message and "Dataset > Split" in message


# -- 4. a stack is augmented slice by slice, alike ---------------------------------------------


def test_a_stack_item_is_augmented_every_slice_with_the_same_parameters(tmp_path):
    rng = np.random.default_rng(3)
    stack = rng.integers(100, 60000, size=(5, 24, 32), dtype=np.uint16)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, imagej=True)
    project = open_project(tmp_path / "proj", create=True)
    with project.transaction() as tx:
        tx.add_items([NewItem(name="stack", hash=hash_file(path), path=path, width=32, height=24)])
    pipeline = Pipeline.from_options(seed=2, rotation_range=20, horizontal_flip=True)
    result = run_job(augment_into_project_job(project.root, pipeline, copies=2))
    assert len(result.new_ids) == 2
    for rec in result.batch.records:
        assert rec["planes"] == 5
        written = tifffile.imread(result.output / rec["image"])
        assert written.shape == (5, 24, 32) and written.dtype == np.uint16
        for k in range(5):
            expected = pipeline.apply(stack[k], plane_params(rec["params"], k)).image
            np.testing.assert_array_equal(written[k], expected)
    copy = project.get(result.new_ids[0])
    assert (copy["width"], copy["height"]) == (32, 24)


def test_the_slices_of_a_stack_share_the_geometry_but_not_the_noise(tmp_path):
    """Each slice is a measurement of its own: noise added to a copy differs from slice to
    slice (one pattern repeated on every slice is no detector's noise), while the geometry is
    one for all; the manifest's parameters reproduce every slice."""
    flat = np.full((5, 24, 32), 30000, dtype=np.uint16)
    path = tmp_path / "flat.tif"
    tifffile.imwrite(path, flat, imagej=True)
    project = open_project(tmp_path / "proj", create=True)
    with project.transaction() as tx:
        tx.add_items([NewItem(name="flat", hash=hash_file(path), path=path, width=32, height=24)])
    pipeline = Pipeline.from_options(
        seed=4, horizontal_flip=True, gaussian_noise={"std_range": [200.0, 200.0]}
    )
    result = run_job(augment_into_project_job(project.root, pipeline, copies=1))
    rec = result.batch.records[0]
    written = tifffile.imread(result.output / rec["image"]).astype(np.int64)
    noise = written - 30000
    assert all(noise[k].std() > 100 for k in range(5))
    assert not any(np.array_equal(noise[0], noise[k]) for k in range(1, 5))
    for k in range(5):
        expected = pipeline.apply(flat[k], plane_params(rec["params"], k)).image
        np.testing.assert_array_equal(written[k], expected)
