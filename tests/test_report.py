"""Report folders (metrics, parameters, PNG pictures without Qt) and the `baseline` command."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.commands import baseline as baseline_command
from qbi_desktop.core.baselines import BaselineConfig, run_baseline
from qbi_desktop.core.datasets import ArrayDataset, digits_dataset
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.report import confusion_matrix_image, write_report


@pytest.fixture(scope="module")
def digits_run():
    return run_job(run_baseline(BaselineConfig(model="knn", k=3, seed=4), digits_dataset()))


def test_report_folder_has_metrics_params_and_picture(tmp_path, digits_run):
    folder = write_report(digits_run, tmp_path / "run1")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "confusion_matrix.png",
        "metrics.csv",
        "metrics.json",
        "misclassified.csv",
        "params.json",
    ]  # nothing else: no pickled model, no temporary files
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in (
        "accuracy",
        "balanced_accuracy",
        "confusion_matrix",
        "labels",
        "n_train",
        "n_test",
        "majority_rate",
        "train",
        "warnings",
    ):
        assert key in metrics
    assert metrics["accuracy"] == pytest.approx(digits_run.scores["accuracy"])
    assert np.array(metrics["confusion_matrix"]).sum() == metrics["n_test"] == 450
    assert metrics["labels"] == [str(d) for d in range(10)]

    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert [r["class"] for r in rows] == metrics["labels"]
    assert sum(int(r["support"]) for r in rows) == 450
    wrong = list(csv.DictReader((folder / "misclassified.csv").open()))
    assert len(wrong) == len(digits_run.misclassified) and all(
        r["true"] != r["predicted"] for r in wrong
    )

    with Image.open(folder / "confusion_matrix.png") as png:
        png.load()
        assert png.format == "PNG" and png.mode == "RGB"
        assert 500 <= png.width <= 2000 and 500 <= png.height <= 2000
        pixels = np.asarray(png)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # a picture, not a blank


def test_params_reproduce_the_run(tmp_path, digits_run):
    folder = write_report(digits_run, tmp_path / "run")
    params = json.loads((folder / "params.json").read_text())
    assert params["source"] == "digits" and params["model"] == "knn" and params["seed"] == 4
    assert "scikit-learn" in params["versions"] and "numpy" in params["versions"]
    assert params["command"].startswith("qbi-desktop baseline --data digits --model knn --k 3")
    again = run_job(run_baseline(BaselineConfig.from_dict(params["parameters"]), digits_dataset()))
    np.testing.assert_array_equal(again.y_pred, digits_run.y_pred)
    np.testing.assert_array_equal(again.test_indices, digits_run.test_indices)


def test_report_for_regression_has_a_scatter(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (200, 4, 4))
    ds = ArrayDataset(images, images.mean(axis=(1, 2)), source="toy")
    result = run_job(run_baseline(BaselineConfig(model="knn", k=3), ds))
    folder = write_report(result, tmp_path / "reg")
    assert (folder / "predicted_vs_true.png").exists()
    assert not (folder / "confusion_matrix.png").exists()
    rows = list(csv.DictReader((folder / "metrics.csv").open()))
    assert len(rows) == result.n_test
    assert json.loads((folder / "metrics.json").read_text())["r2"] == pytest.approx(
        result.scores["r2"]
    )
    with Image.open(folder / "predicted_vs_true.png") as png:
        assert png.width > 300


def test_many_classes_and_long_names_still_render():
    n = 40
    cm = np.random.default_rng(0).integers(0, 30, (n, n)) + np.eye(n, dtype=int) * 200
    labels = [f"class with a long name {i}" for i in range(n)]
    image = confusion_matrix_image(cm, labels, title="forty classes")
    assert 600 <= image.width <= 3000 and 600 <= image.height <= 3000


def test_report_into_a_file_is_refused(tmp_path, digits_run):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserFacingError, match="file"):
        write_report(digits_run, blocker)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="qbi-desktop")
    baseline_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_on_digits_writes_the_report(tmp_path, capsys):
    code = _cli(
        [
            "baseline",
            "--data",
            "digits",
            "--model",
            "dummy",
            "--strategy",
            "most_frequent",
            "--split",
            "random",
            "--seed",
            "1",
            "--report",
            str(tmp_path / "out"),
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "accuracy" in out and "balanced accuracy" in out and "majority-class rate" in out
    assert str(tmp_path / "out") in out
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(metrics["majority_rate"])
    assert (tmp_path / "out" / "confusion_matrix.png").stat().st_size > 1000


def test_cli_bad_input_is_a_message_and_exit_2(tmp_path, capsys):
    assert (
        _cli(["baseline", "--data", f"mnist:{tmp_path}/none", "--report", str(tmp_path / "o")]) == 2
    )
    assert "MNIST folder not found" in capsys.readouterr().err
    assert (
        _cli(
            [
                "baseline",
                "--data",
                "digits",
                "--model",
                "knn",
                "--k",
                "5000",
                "--report",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "5000 neighbours" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written for a run that did not happen
