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
        (["--model", "logreg", "--C", "nan"], "--C: C must be a finite number"),
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


def _number_options():
    """(command, option, nargs) of every option of every command that takes a number."""
    import argparse

    from qbi_desktop.cli import build_parser

    found = []
    sub = build_parser()._subparsers._group_actions[0]
    for command, parser in sorted(sub.choices.items()):
        for action in parser._actions:
            kind = action.type
            numeric = kind in (int, float) or getattr(kind, "__module__", "").endswith(".numbers")
            if action.option_strings and numeric and not isinstance(action, argparse._HelpAction):
                found.append((command, action.option_strings[-1], action.nargs))
    return found


NUMBER_OPTIONS = _number_options()


def test_the_sweep_sees_the_number_options_of_many_commands():
    commands = {command for command, _, _ in NUMBER_OPTIONS}
    assert len(NUMBER_OPTIONS) > 30 and {"simulate", "baseline", "augment", "audit"} <= commands


@pytest.mark.parametrize("value", ["nan", "inf", "9" * 400])
@pytest.mark.parametrize(
    "command, option, nargs", NUMBER_OPTIONS, ids=[f"{c}{o}" for c, o, _ in NUMBER_OPTIONS]
)
def test_every_number_option_refuses_nan_infinity_and_a_400_digit_number(
    command, option, nargs, value, capsys
):
    """Some took NaN or infinity (a threshold that is never crossed, a comparison always false)
    and most took 10^399 on to the work: a pool of 10^20 processes (OverflowError), a loop
    planning 10^20 copies, numpy's padding (TypeError). argparse now refuses each at once."""
    from qbi_desktop.cli import build_parser

    values = [value] * (nargs if isinstance(nargs, int) else 1)
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([command, option, *values])
    assert stop.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert option in last and ("must be" in last or "is not a" in last), last


@pytest.mark.parametrize(
    "argv, option",
    [
        (["audit", "--project", "{project}", "--out", "{tmp}/a", "--seed", "-1"], "--seed"),
        (["augment", "--pipeline", "{tmp}/p.json", "--input", "{tmp}/in", "--output", "{tmp}/o",
          "--copies", "1", "--workers", HUGE], "--workers"),
        (["augment", "--pipeline", "{tmp}/p.json", "--input", "{tmp}/in", "--output", "{tmp}/o",
          "--copies", HUGE], "--copies"),
        (["detect-spots", "--out", "{tmp}/o", "--size", HUGE, "{tmp}/in/a.tif"], "--size"),
        (["baseline", "--quiet", "--report", "{tmp}/o", "--seed", HUGE], "--seed"),
    ],
    ids=["audit-seed-negative", "augment-workers-huge", "augment-copies-huge",
         "detect-size-huge", "baseline-seed-huge"],
)  # fmt: skip
def test_numbers_that_crashed_or_hung_a_command_are_refused_naming_the_option(
    project, tmp_path, argv, option
):
    """Before: audit --seed -1 and augment --workers 10^20 ended in tracebacks (numpy's
    ValueError, OverflowError), augment --copies 10^20 planned for ever, detect-spots --size
    10^20 reported numpy's "pad_width must be of integral type", baseline --seed 10^20 quoted
    scikit-learn's random_state rules without naming --seed."""
    from qbi_desktop.core.augment import Pipeline

    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "a.tif", np.arange(256, dtype=np.uint16).reshape(16, 16))
    Pipeline().save(tmp_path / "p.json")
    argv = [a.format(project=project, tmp=tmp_path) for a in argv]
    done = _cli(*argv, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert option in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "o").exists() and not (tmp_path / "a").exists()


def test_the_core_refuses_absurd_copies_and_windows_before_planning(tmp_path):
    """The same bounds hold for callers other than the command line (the GUI, scripts)."""
    from qbi_desktop.core.augment import Pipeline
    from qbi_desktop.core.augment.batch import augment_dataset, open_source
    from qbi_desktop.core.errors import UserFacingError
    from qbi_desktop.core.limits import MAX_COPIES
    from qbi_desktop.core.spots import detect_spots

    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "a.tif", np.zeros((16, 16), np.uint16))
    job = augment_dataset(open_source(str(tmp_path / "in")), Pipeline(), tmp_path / "o", 10**20)
    with pytest.raises(UserFacingError, match=f"copies: .*{MAX_COPIES:,}"):
        next(job)
    assert not (tmp_path / "o").exists()
    image = np.zeros((64, 64), np.uint16)
    for k, size in ((5.0, 10**20 + 1), (float("inf"), 13)):
        with pytest.raises(UserFacingError, match="size: must be an odd integer from 3|k: must"):
            detect_spots(image, "median", k=k, size=size)


@pytest.mark.parametrize(
    "fractions, words",
    [
        ("train=nan,val=0.5,test=0.5", "must be finite numbers"),
        ("train=0.5,train=0.5", "'train' is given twice"),
    ],
    ids=["nan", "twice"],
)
def test_split_fractions_that_are_not_numbers_or_repeat_are_refused(project, fractions, words):
    """train=nan was dropped silently (NaN is neither > 0 nor < 0): the split was written with
    val and test only; a repeated name silently replaced the first value."""
    from qbi_desktop.core.catalog import open_project

    def splits():
        with open_project(project) as p:
            return sorted(p.db.execute("SELECT id, split FROM items").fetchall(), key=str)

    before = splits()
    done = _cli("split", "--project", str(project), "--replace", "--fractions", fractions)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert words in done.stderr
    assert splits() == before
