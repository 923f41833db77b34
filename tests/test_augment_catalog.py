"""The catalog seam of batch augmentation: a project as the source, the copies back as items."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.augment import Pipeline
from qbi_desktop.core.augment.batch import augment_dataset, open_source
from qbi_desktop.core.augment.catalog_source import (
    ProjectSource,
    augment_into_project_job,
    register_augmented,
)
from qbi_desktop.core.catalog import Box, NewItem, open_project
from qbi_desktop.core.catalog.images import hash_file
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job

FLIP_ROT = Pipeline.from_options(seed=11, horizontal_flip=True, rotation_range=10)


def _project(tmp_path, n=3):
    """A project of ``n`` uint16 images (files outside the project), labels, splits, one mask and
    one item with boxes."""
    rng = np.random.default_rng(1)
    data = tmp_path / "data"
    data.mkdir()
    project = open_project(tmp_path / "proj", create=True)
    items = []
    for i in range(n):
        image = rng.integers(1000, 60000, size=(40, 56), dtype=np.uint16)
        path = data / f"img{i}.tif"
        tifffile.imwrite(path, image)
        mask = None
        if i == 0:
            mask = np.zeros((40, 56), np.uint8)
            mask[5:12, 3:9] = 1
            mask[20:30, 40:50] = 2
        items.append(
            NewItem(
                name=f"img{i}",
                hash=hash_file(path),
                path=path,
                width=56,
                height=40,
                label="spot" if i % 2 == 0 else "clean",
                split="test" if i == 1 else "train",
                mask=mask,
                boxes=[Box("spot", 10, 4, 8, 6), Box("edge", 30, 20, 12, 10)] if i == 1 else [],
            )
        )
    with project.transaction() as tx:
        ids = tx.add_items(items)
    return project, ids


def test_project_items_become_augmented_items_with_provenance(tmp_path):
    project, ids = _project(tmp_path)
    result = run_job(augment_into_project_job(project.root, FLIP_ROT, copies=2, items="all"))
    assert len(result.new_ids) == 6
    assert result.batch.written == 6
    assert result.output.is_relative_to(project.root)
    by_parent: dict[int, list[dict]] = {}
    for new in result.new_ids:
        row = project.get(new)
        assert row["provenance"] == "augmented"
        by_parent.setdefault(row["parent"], []).append(row)
    assert sorted(by_parent) == ids
    for index, pid in enumerate(ids):
        parent = project.get(pid)
        copies = by_parent[pid]
        assert sorted(r["provenance_params"]["copy"] for r in copies) == [0, 1]
        for row in copies:
            # label and split follow the parent (no test image leaks into train)
            assert (row["label"], row["split"]) == (parent["label"], parent["split"])
            prov = row["provenance_params"]
            assert prov["seed"] == [FLIP_ROT.seed, index, prov["copy"]]
            # the recorded parameters remake the stored pixels from the parent exactly
            again = Pipeline.from_json(prov["pipeline"]).apply(
                project.image(pid), prov["params"], project.mask(pid)
            )
            np.testing.assert_array_equal(project.image(row["id"]), again.image)
            if pid == ids[0]:
                np.testing.assert_array_equal(project.mask(row["id"]), again.mask)
                assert set(np.unique(project.mask(row["id"]))) <= {0, 1, 2}
            else:
                assert project.mask(row["id"]) is None


def test_boxes_follow_the_flip_and_keep_their_labels(tmp_path):
    project, ids = _project(tmp_path)
    flip = Pipeline.from_options(seed=3, horizontal_flip=True)
    result = run_job(augment_into_project_job(project.root, flip, copies=4, items="all"))
    children = [project.get(i) for i in result.new_ids]
    with_boxes = [c for c in children if c["parent"] == ids[1]]
    assert len(with_boxes) == 4
    flipped = [c["provenance_params"]["params"]["flip_horizontal"] for c in with_boxes]
    assert True in flipped and False in flipped  # seed 3 draws both within 4 copies
    for child in with_boxes:
        boxes = child["boxes"]
        assert [b.label for b in boxes] == ["spot", "edge"]
        if child["provenance_params"]["params"]["flip_horizontal"]:
            assert boxes[0].x == pytest.approx(56 - (10 + 8))
            assert boxes[1].x == pytest.approx(56 - (30 + 12))
        else:
            assert (boxes[0].x, boxes[0].y, boxes[0].w) == pytest.approx((10, 4, 8))


def test_rerun_resumes_and_adds_nothing_twice(tmp_path):
    project, _ids = _project(tmp_path)
    first = run_job(augment_into_project_job(project.root, FLIP_ROT, copies=2, items="all"))
    before = len(project)
    again = run_job(augment_into_project_job(project.root, FLIP_ROT, copies=2, items="all"))
    assert again.output == first.output
    assert again.batch.written == 0 and again.batch.skipped == 6
    assert again.new_ids == []
    assert len(project) == before
    # augmented items are not augmented again by default
    assert len(ProjectSource.from_project(project, items="all")) == 3


def test_cancel_adds_nothing_then_the_rerun_completes(tmp_path):
    project, _ids = _project(tmp_path)
    job = augment_into_project_job(project.root, FLIP_ROT, copies=2, items="all")
    seen = 0
    for progress in job:
        seen += 1
        if progress.done >= 2:  # one item written: stop like the GUI's cancel does
            job.close()
            break
    assert seen >= 2
    assert len(project) == 3  # nothing half-registered
    result = run_job(augment_into_project_job(project.root, FLIP_ROT, copies=2, items="all"))
    assert result.batch.skipped == 2 and result.batch.written == 4
    assert len(result.new_ids) == 6 and len(project) == 9


def test_worker_processes_give_the_same_items(tmp_path):
    project, _ids = _project(tmp_path)
    source = ProjectSource.from_project(project)
    assert pickle.loads(pickle.dumps(source)).ids == source.ids  # no connection pickled
    one = run_job(augment_dataset(source, FLIP_ROT, tmp_path / "one", 2))
    two = run_job(augment_dataset(source, FLIP_ROT, tmp_path / "two", 2, workers=2))
    source.close()
    for a, b in zip(one.records, two.records, strict=True):
        assert a["parent"] == b["parent"] and a["params"] == b["params"]
        np.testing.assert_array_equal(
            tifffile.imread(tmp_path / "one" / a["image"]),
            tifffile.imread(tmp_path / "two" / b["image"]),
        )


def test_a_folder_run_cannot_be_registered_into_a_project(tmp_path):
    project, _ids = _project(tmp_path)
    run_job(augment_dataset(open_source(tmp_path / "data"), FLIP_ROT, tmp_path / "out", 1))
    with pytest.raises(UserFacingError, match="not made from a project item"):
        register_augmented(project, tmp_path / "out")
    with pytest.raises(UserFacingError, match="no augmentation manifest"):
        register_augmented(project, tmp_path / "data")
    assert len(project) == 3


def test_empty_project_is_refused_with_its_name(tmp_path):
    project = open_project(tmp_path / "empty", create=True)
    with pytest.raises(UserFacingError, match="no items to augment"):
        run_job(augment_into_project_job(project.root, FLIP_ROT, copies=1))
