"""Whole-number options out of range on the command line: ids past SQLite's 64-bit integers
raised OverflowError ("Python int too large to convert to SQLite INTEGER") with a traceback,
``split --seed -1`` raised numpy's ValueError, and ``simulate --count 99999999999999999999``
planned for ever. Each is now refused at once: exit 2, the option named, no traceback."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

try:
    from tests.cli_helpers import run_cli as _cli
except ImportError:  # pragma: no cover
    from cli_helpers import run_cli as _cli

HUGE = "99999999999999999999"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project of three real images in one class folder."""
    root = tmp_path_factory.mktemp("numbers")
    (root / "src" / "c").mkdir(parents=True)
    for i in range(3):
        tifffile.imwrite(root / "src" / "c" / f"im{i}.tif", np.full((16, 16), i, np.uint16))
    done = _cli("import", "--project", str(root / "p"), "--kind", "imagefolder", str(root / "src"))
    assert done.returncode == 0, done.stderr
    return root / "p"


CASES = {
    "label-ids": (["label", "--ids", HUGE, "--class", "x"], "--ids"),
    # a later part's low end was not checked: 0 went on to the catalog
    "label-ids-zero-in-a-later-range": (["label", "--ids", "1,0-2", "--class", "x"], "--ids"),
    "target-ids": (["target", "--name", "t", "--ids", HUGE, "--value", "1"], "--ids"),
    "boxes-item": (["boxes", "--item", HUGE], "--item"),
    "split-seed-negative": (["split", "--seed", "-1", "--replace"], "--seed"),
    "split-seed-huge": (["split", "--seed", HUGE + "0", "--replace"], "--seed"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_id_or_seed_out_of_range_is_refused_naming_the_option(project, case):
    argv, option = CASES[case]
    done = _cli(argv[0], "--project", str(project), *argv[1:])
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert option in done.stderr.strip().splitlines()[-1]


def test_a_simulation_of_absurdly_many_images_is_refused_at_once(tmp_path):
    out = tmp_path / "sim"
    done = _cli("simulate", "--count", HUGE, "--size", "64", "--out", str(out), timeout=30)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--count" in done.stderr and "100,000" in done.stderr
    assert not out.exists()
    done = _cli("simulate", "--count", "1", "--size", "64", "--seed", "-1", "--out", str(out))
    assert done.returncode == 2 and "--seed" in done.stderr


def test_ids_and_seeds_in_range_still_work(project):
    done = _cli("label", "--project", str(project), "--ids", "1-3", "--class", "cell")
    assert done.returncode == 0, done.stderr
    done = _cli("split", "--project", str(project), "--seed", str(2**63 - 1), "--replace")
    assert done.returncode == 0, done.stderr
    done = _cli("boxes", "--project", str(project), "--item", "2", "--add", "cell,1,1,4,4")
    assert done.returncode == 0, done.stderr
    assert "1 box(es)" in done.stdout


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--model", "logreg", "--C", "nan"], "C must be > 0"),
        (["--model", "dummy", "--resize", f"{HUGE}x{HUGE}"], "resize to"),
    ],
    ids=["C-nan", "resize-huge"],
)
def test_baseline_numbers_out_of_range_are_refused_in_one_line(tmp_path, argv, words):
    """NaN reached scikit-learn (InvalidParameterError with a traceback, exit 1) and a resize of
    10^20 pixels reached the image library ("Maximum allowed dimension exceeded")."""
    report = tmp_path / "report"
    done = _cli("baseline", "--quiet", *argv, "--report", str(report))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and words in done.stderr
    assert not report.exists()
