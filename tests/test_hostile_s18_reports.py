"""Hostile campaign s18, finding 6: the baseline and agreement pictures crashed when every value
was the same large number (1e17 + 1 == 1e17, so widening the range by ±1 left it empty and the
pixel positions NaN) or spanned ±1e308 (the span overflowed), and the command stopped with its
report folder half written. The range arithmetic is one helper now, and report folders appear
whole or not at all."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.quality.agreement_pictures import bland_altman_image
from qbi_desktop.core.report import scatter_image

try:
    from qbi_desktop.core.outfolder import StagedFolder
    from qbi_desktop.core.report import plot_fraction, plot_range
except ImportError:  # the code before the fix (the helpers are new): those tests fail
    StagedFolder = plot_fraction = plot_range = None


@pytest.mark.parametrize(
    "values",
    [[1e17, 1e17], [-3e300, -3e300], [1.7e308, 1.7e308], [-1e308, 1e308], [5.0, 5.0], []],
    ids=["1e17", "-3e300", "near max", "+-1e308", "5", "none"],
)
def test_the_plot_range_is_never_empty_nor_infinite(values):
    lo, hi = plot_range(np.array(values, float), 0.04)
    assert np.isfinite(lo) and np.isfinite(hi) and lo < hi
    if values:
        where = plot_fraction(np.array(values, float), lo, hi)
        assert np.all(np.isfinite(where)) and np.all((where > 0) & (where < 1))


def test_small_equal_values_keep_their_old_range():
    assert plot_range(np.array([5.0, 5.0]), 0.04) == pytest.approx((5 - 1.08, 5 + 1.08))


def _blue_pixels(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB")).astype(int)
    return np.argwhere((rgb[..., 0] == 37) & (rgb[..., 1] == 115) & (rgb[..., 2] == 183))


@pytest.mark.parametrize("value", [1e17, -1e300])
def test_a_scatter_of_equal_large_values_draws_the_points_in_the_middle(value):
    image = scatter_image(np.full(4, value), np.full(4, value), title="fluence")
    points = _blue_pixels(image)
    assert points.size  # the points are drawn
    # one place, at the middle of the plot square (left 70, top 24 + 28, side 560)
    centre = points.mean(axis=0)
    assert abs(centre[1] - (70 + 280)) < 4 and abs(centre[0] - (52 + 280)) < 4


def test_a_scatter_spanning_the_floats_draws_both_ends():
    image = scatter_image(np.array([-1e308, 1e308]), np.array([-1e308, 1e308]))
    points = _blue_pixels(image)
    assert points[:, 1].min() < 70 + 60 and points[:, 1].max() > 70 + 500


@pytest.mark.parametrize(
    "mean,difference",
    [
        (np.full(4, 1e17), np.zeros(4)),
        (np.array([1e308, -1e308, 0.0]), np.array([1e308, -1e308, 1.0])),
        (np.array([np.inf, 1.0, 2.0]), np.array([np.nan, 0.5, 0.25])),
    ],
    ids=["equal 1e17", "+-1e308", "overflowed pair"],
)
def test_bland_altman_pictures_of_extreme_values_are_drawn(mean, difference):
    image = bland_altman_image(mean, difference, title="fluence: A minus B")
    assert image.size[0] > 500 and _blue_pixels(image).size


def _project(tmp_path):
    """Four 16-bit plates imported as an image folder (two classes), as the campaign's p1."""
    from qbi_desktop.cli import main

    folder = tmp_path / "if"
    rng = np.random.default_rng(2)
    for i, cls in enumerate(["cat", "cat", "dog", "dog"]):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(folder / cls / f"p{i}.tif", rng.integers(0, 60000, (16, 16), np.uint16))
    root = tmp_path / "p1"
    assert main(["import", "--project", str(root), "--kind", "imagefolder", str(folder)]) == 0
    return root


def test_baseline_report_of_equal_large_targets_is_written_whole(tmp_path, capsys):
    from qbi_desktop.cli import main

    root = _project(tmp_path)
    assert main(["target", "--project", str(root), "--name", "fluence", "--ids", "1-4",
                 "--value", "1e17"]) == 0  # fmt: skip
    report = tmp_path / "rep4"
    code = main(["baseline", "--data", f"project:{root}", "--task", "regression", "--target",
                 "fluence", "--model", "dummy", "--split", "random", "--test-fraction", "0.5",
                 "--report", str(report)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    names = sorted(os.listdir(report))
    assert names == ["metrics.csv", "metrics.json", "params.json", "predicted_vs_true.png"]
    with Image.open(report / "predicted_vs_true.png") as picture:
        assert _blue_pixels(picture).size
    # nothing hidden left beside it
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_agreement_report_of_two_annotators_agreeing_on_1e17_is_written(tmp_path, capsys):
    from qbi_desktop.cli import main

    root = _project(tmp_path)
    for person in ("A", "B"):
        assert main(["target", "--project", str(root), "--name", "fluence", "--ids", "1-4",
                     "--value", "1e17", "--annotator", person]) == 0  # fmt: skip
    out = tmp_path / "ag1"
    code = main(["agreement", "--project", str(root), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    names = os.listdir(out)
    assert "report.json" in names and "pairs.csv" in names
    pictures = [n for n in names if n.startswith("bland_altman_fluence")]
    assert len(pictures) == 1
    assert json.loads((out / "report.json").read_text())["annotators"] == ["A", "B"]
    # a second run replaces the first one's files in place
    assert main(["agreement", "--project", str(root), "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == sorted(names)


def test_a_staged_folder_that_fails_leaves_nothing(tmp_path):
    out = tmp_path / "report"
    with pytest.raises(RuntimeError), StagedFolder(out).guarded() as staged:
        staged.write_text("metrics.json", "{}")
        raise RuntimeError("a picture failed")
    assert os.listdir(tmp_path) == []  # neither the folder nor a hidden staging folder


def test_a_staged_folder_replaces_an_earlier_run_only_when_complete(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "metrics.json").write_text("earlier")
    (out / "confusion_matrix.png").write_bytes(b"earlier")
    staged = StagedFolder(out)
    with pytest.raises(RuntimeError), staged.guarded(drop=["confusion_matrix.png"]):
        staged.write_text("metrics.json", "new")
        raise RuntimeError("the picture failed")
    assert (out / "metrics.json").read_text() == "earlier"  # untouched: not half new
    assert sorted(os.listdir(out)) == ["confusion_matrix.png", "metrics.json", "notes.txt"]
    staged = StagedFolder(out)
    with staged.guarded(drop=["metrics.json", "confusion_matrix.png"]):
        staged.write_text("metrics.json", "new")
        staged.write_bytes("sub/a.tif", b"x")
    assert (out / "metrics.json").read_text() == "new"
    assert (out / "sub" / "a.tif").read_bytes() == b"x"
    # the earlier run's picture, not written again, is gone; the user's notes stay
    assert sorted(os.listdir(out)) == ["metrics.json", "notes.txt", "sub"]
    assert [n for n in os.listdir(tmp_path)] == ["report"]
