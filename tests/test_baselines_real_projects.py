"""Baselines on real projects as a new user makes them: a radiography project with images of
several sizes (imported from TIFF and PNG files), a simulated project whose object_count never
changes, and a segmentation project whose only mask sits in the val split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.baselines import BaselineConfig, run_baseline
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.simulated import simulate_into_project_job
from qbi_desktop.core.datasets import open_source
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.simulate import SimulationParams


def two_size_folder(root, per_class: int = 6):
    """root/<class>/: 16-bit TIFFs of 60x60 and 8-bit PNGs of 25x14 (height x width) per class;
    the classes differ in brightness, so any sensible feature separates them."""
    rng = np.random.default_rng(0)
    for cls, level in (("dark", 0.05), ("bright", 0.8)):
        folder = root / cls
        folder.mkdir(parents=True)
        for i in range(per_class):
            counts = rng.normal(level * 60000, 800, (60, 60)).clip(0, 65535).astype(np.uint16)
            tifffile.imwrite(folder / f"{cls}_{i}.tif", counts)
        for i in range(per_class // 2):
            grey = rng.normal(level * 250, 4, (25, 14)).clip(0, 255).astype(np.uint8)
            Image.fromarray(grey).save(folder / f"{cls}_{i}.png")
    return root


def imported_project(tmp_path):
    project = open_project(tmp_path / "radiographs", create=True)
    run_job(import_job(project, "imagefolder", [two_size_folder(tmp_path / "files")]))
    return project


def test_images_of_two_sizes_run_with_auto_resize_and_the_result_reproduces(tmp_path):
    project = imported_project(tmp_path)
    assert len(project) == 18
    dataset = open_source(f"project:{project.root}")

    with pytest.raises(UserFacingError) as off:
        run_job(run_baseline(BaselineConfig(model="knn"), dataset))
    assert "different sizes" in str(off.value) and "--resize auto" in str(off.value)

    result = run_job(run_baseline(BaselineConfig(model="knn", resize_to="auto"), dataset))
    assert result.confusion is not None and result.confusion.sum() == result.n_test > 0
    assert result.scores["accuracy"] == 1.0  # dark and bright are easy at any size
    # the size auto chose (the most common, 60x60, scaled to the suggestions' 32 px) is what
    # the result records, so its parameters and command line repeat the run
    assert result.config.resize_to == (32, 32)
    assert result.resolved["resize_to"] == [32, 32]
    note = next(w for w in result.warnings if "resized to 32x32" in w)
    assert "12 at 60x60" in note and "6 at 25x14" in note

    explicit = run_job(run_baseline(BaselineConfig(model="knn", resize_to=(32, 32)), dataset))
    assert np.array_equal(explicit.confusion, result.confusion)
    assert np.array_equal(explicit.y_pred, result.y_pred)


def test_auto_keeps_images_of_one_size_as_they_are():
    digits = open_source("digits")
    result = run_job(
        run_baseline(BaselineConfig(model="knn", resize_to="auto", test_size=60), digits)
    )
    plain = run_job(run_baseline(BaselineConfig(model="knn", test_size=60), digits))
    assert result.config.resize_to is None and result.resolved["resize_to"] is None
    assert np.array_equal(result.y_pred, plain.y_pred)
    assert not any("resized" in w for w in result.warnings)


def test_the_command_line_takes_resize_auto_and_writes_the_size_it_used(tmp_path, capsys):
    from qbi_desktop.cli import main

    project = imported_project(tmp_path)
    report = tmp_path / "report"
    code = main(
        [
            "baseline",
            "--data",
            f"project:{project.root}",
            "--resize",
            "auto",
            "--quiet",
            "--report",
            str(report),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "resized to 32x32" in out.out
    params = json.loads((report / "params.json").read_text())
    assert params["parameters"]["resize_to"] == [32, 32]
    assert "--resize 32x32" in params["command"]


def simulated_project(tmp_path, count: int):
    project = open_project(tmp_path / "simulated", create=True)
    params = SimulationParams(height=64, width=64)
    ids = run_job(simulate_into_project_job(project, count, 0, params))
    return project, ids


def test_a_constant_regression_target_is_not_reported_as_a_perfect_model(tmp_path, capsys):
    project, _ = simulated_project(tmp_path, 8)  # object_count is 6 in every image
    dataset = open_source(f"project:{project.root}")
    config = BaselineConfig(model="knn", task="regression", target="object_count")
    result = run_job(run_baseline(config, dataset))
    assert result.scores["mae"] == 0 and np.isnan(result.scores["r2"])
    note = " ".join(result.warnings)
    assert "every object_count value is 6" in note and "R² is undefined" in note
    assert "nothing to learn" in note
    assert result.to_metrics_dict()["warnings"] == result.warnings

    from qbi_desktop.cli import main

    args = ["baseline", "--data", f"project:{project.root}", "--task", "regression"]
    args += ["--target", "object_count", "--quiet", "--report", str(tmp_path / "report")]
    assert main(args) == 0
    assert "WARNING: every object_count value is 6" in capsys.readouterr().out

    # a target that varies gets no such note
    varied = run_job(
        run_baseline(BaselineConfig(model="knn", task="regression", target="spot_count"), dataset)
    )
    if np.ptp([dataset.item(i).target["spot_count"] for i in range(len(dataset))]) > 0:
        assert not any("R² is undefined" in w for w in varied.warnings)


def test_the_segmentation_error_names_items_as_the_browser_does_and_where_masks_are(tmp_path):
    project, ids = simulated_project(tmp_path, 9)
    for i in ids:
        project.set_mask(i, None)
    project.set_split(ids[:6], "train")
    project.set_split(ids[6:8], "test")
    project.set_split([ids[8]], "val")
    project.set_mask(ids[8], np.ones((64, 64), np.uint8))  # the only mask: in val
    names = dict(project.db.execute("SELECT id, name FROM items").fetchall())
    dataset = open_source(f"project:{project.root}")

    with pytest.raises(UserFacingError) as exc:
        run_job(run_baseline(BaselineConfig(model="otsu", task="segmentation"), dataset))
    message = str(exc.value)
    assert "8 of 8 items have no mask" in message
    # named by name and catalog id, as the Browser shows them, not by 0-based position
    assert f"{names[ids[0]]} (id {ids[0]})" in message
    assert f"{names[ids[4]]} (id {ids[4]})" in message
    assert "items 0," not in message
    # and where the masked item is: in the val split, which this run does not use
    assert "none of the 6 training items has a mask" in message
    assert "1 in split 'val', which this run does not use" in message
