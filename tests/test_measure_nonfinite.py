"""`measure` on float images holding +inf, -inf and NaN: infinities are measured (min/max are
the infinities, the mean follows them), NaN pixels are left out and counted, nothing leaks to
stderr, and --json stays strict JSON (infinities as the strings "inf"/"-inf", undefined as null).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tifffile

from qbi_desktop.cli import main
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.measure import line_profile, roi_stats, roi_stats_job


def _strict(text: str):
    """json.loads that refuses the non-standard NaN / Infinity literals."""

    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _measure_json(capsys, path, *rect) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["measure", str(path), "--json", "--rect", *map(str, rect)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.err == ""
    assert [str(w.message) for w in caught] == []
    return _strict(out.out)


def test_all_positive_infinity(tmp_path, capsys):
    path = tmp_path / "inf.tif"
    tifffile.imwrite(path, np.full((64, 64), np.inf, np.float32))
    figures = _measure_json(capsys, path, 0, 0, 64, 64)
    assert figures["min"] == figures["max"] == figures["mean"] == "inf"
    assert float(figures["max"]) == math.inf  # Python reads the strings back
    assert figures["std"] is None and figures["snr"] is None
    assert figures["count"] == figures["inf_count"] == 64 * 64
    assert figures["nan_count"] == 0


def test_minus_and_plus_infinity(tmp_path, capsys):
    path = tmp_path / "mixed.tif"
    tifffile.imwrite(path, np.r_[np.full((32, 64), -np.inf), np.full((32, 64), np.inf)])
    figures = _measure_json(capsys, path, 0, 0, 64, 64)
    assert (figures["min"], figures["max"]) == ("-inf", "inf")
    assert figures["mean"] is None  # inf - inf: undefined
    assert figures["inf_count"] == 64 * 64
    top = _measure_json(capsys, path, 0, 0, 64, 10)
    assert top["min"] == top["max"] == top["mean"] == "-inf"


def test_finite_pixels_with_one_infinity_and_nan(tmp_path, capsys):
    image = np.full((64, 64), 2.0, np.float32)
    image[5, 5] = np.inf
    image[np.eye(64, dtype=bool)] = np.nan  # 64 NaN pixels (the diagonal, incl. (5, 5))
    image[7, 3] = -5.0
    image[9, 9 + 1] = np.inf
    path = tmp_path / "some.tif"
    tifffile.imwrite(path, image)
    figures = _measure_json(capsys, path, 0, 0, 64, 64)
    assert figures["nan_count"] == 64
    assert figures["inf_count"] == 1
    assert figures["count"] == 64 * 64 - 64
    assert figures["min"] == -5.0 and figures["max"] == "inf" and figures["mean"] == "inf"


def test_finite_figures_with_nan_are_unchanged(tmp_path, capsys):
    rng = np.random.default_rng(1)
    image = rng.normal(100.0, 7.0, (64, 64))
    image[::3, ::5] = np.nan
    path = tmp_path / "nan.tif"
    tifffile.imwrite(path, image)
    figures = _measure_json(capsys, path, 0, 0, 64, 64)
    finite = image[np.isfinite(image)]
    assert figures["count"] == finite.size and figures["inf_count"] == 0
    assert figures["nan_count"] == image.size - finite.size
    assert figures["mean"] == pytest.approx(finite.mean(), rel=1e-12)
    assert figures["std"] == pytest.approx(finite.std(ddof=1), rel=1e-9)
    assert (figures["min"], figures["max"]) == (finite.min(), finite.max())


def test_text_output_is_readable(tmp_path, capsys):
    path = tmp_path / "inf.tif"
    tifffile.imwrite(path, np.full((8, 8), -np.inf, np.float64))
    assert main(["measure", str(path), "--rect", "0", "0", "8", "8"]) == 0
    out = capsys.readouterr()
    lines = {line[:10].strip(): line[10:].strip() for line in out.out.splitlines()}
    assert lines["min"] == lines["max"] == lines["mean"] == "-inf"
    assert lines["inf_count"] == "64"
    assert lines["std"] == ""
    assert out.err == ""


def test_cli_process_writes_nothing_to_stderr(tmp_path):
    path = tmp_path / "mixed.tif"
    tifffile.imwrite(path, np.r_[np.full((4, 8), -np.inf), np.full((4, 8), np.inf)])
    for extra in (["--json", "--rect", "0", "0", "8", "8"], ["--line", "0", "3", "8", "5"]):
        done = subprocess.run(
            [sys.executable, "-m", "qbi_desktop", "measure", str(path), *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "inf" in done.stdout
        assert done.stderr == ""


def test_core_statistics_and_profile_without_warnings():
    image = np.ones((16, 16), np.float64)
    image[4, 4] = np.inf
    image[4, 5] = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = roi_stats(image, "rectangle", (0, 0, 16, 16))
        exact = run_job(roi_stats_job(image, "ellipse", (0, 0, 16, 16), chunk_pixels=16))
        profile = line_profile(image, (3.0, 4.5), (7.0, 4.5))
    assert (stats.min, stats.max, stats.inf_count, stats.count) == (-math.inf, math.inf, 2, 256)
    assert math.isnan(stats.mean) and math.isnan(stats.std)
    assert exact.inf_count == 2 and exact.min == -math.inf
    assert math.inf in profile.values.tolist() and -math.inf in profile.values.tolist()
    only_finite = roi_stats(image, "rectangle", (0, 8, 16, 8))
    assert (only_finite.mean, only_finite.std, only_finite.inf_count) == (1.0, 0.0, 0)


def test_huge_finite_values_give_no_warning():
    image = np.array([[1e300, -1e300], [1e300, 5.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = roi_stats(image, "rectangle", (0, 0, 2, 2))
    assert (stats.min, stats.max, stats.inf_count) == (-1e300, 1e300, 0)
    assert not math.isnan(stats.std)
