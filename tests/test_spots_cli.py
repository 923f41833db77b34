"""`qbi-desktop detect-spots --hot-pixels-from`: hot pixels of other frames cannot seed spots."""

from __future__ import annotations

import tifffile

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need

from qbi_desktop.cli import main
from qbi_desktop.core.maskio import load_mask


def _frames():
    return [need(RADIOGRAPHS / f"edge20mm_000{i}.tif") for i in range(4)]


def _spots(path) -> int:
    image = tifffile.imread(path)
    return int(load_mask(path, image.shape).max())


def test_hot_pixels_from_other_frames_remove_most_candidates(tmp_path, capsys):
    first, *others = _frames()
    plain, hot = tmp_path / "plain", tmp_path / "hot"
    assert main(["detect-spots", str(first), "--out", str(plain)]) == 0
    capsys.readouterr()
    args = ["detect-spots", str(first), "--out", str(hot), "--hot-pixels-from"]
    assert main(args + [str(p) for p in others]) == 0
    line = capsys.readouterr().out
    before = _spots(plain / "edge20mm_0000_spots.tif")
    after = _spots(hot / "edge20mm_0000_spots.tif")
    assert before > 5000, before
    assert after < 2000, after
    # the summary line says how many hot pixels were excluded (a positive count)
    n = int(line.split(" hot pixels excluded")[0].rsplit(" ", 1)[-1])
    assert n > 1000, line


def test_hot_pixels_needs_two_frames(tmp_path, capsys):
    first, second, *_ = _frames()
    code = main(
        ["detect-spots", str(first), "--out", str(tmp_path), "--hot-pixels-from", str(second)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "at least 2" in err and str(second) in err
    assert not list(tmp_path.glob("*_spots.tif"))


def test_hot_pixels_shape_mismatch_is_a_clear_error(tmp_path, capsys):
    first, second, third, _ = _frames()
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, tifffile.imread(first)[:300, :400])
    out = tmp_path / "out"
    # an IMAGE of another shape than the hot-pixel frames: named, with both shapes
    code = main(
        [
            "detect-spots",
            str(small),
            "--out",
            str(out),
            "--hot-pixels-from",
            str(second),
            str(third),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(small) in err and "(300, 400)" in err and "(600, 600)" in err
    assert not (out / "small_spots.tif").exists()
    # hot-pixel frames of different shapes among themselves
    code = main(
        [
            "detect-spots",
            str(first),
            "--out",
            str(out),
            "--hot-pixels-from",
            str(second),
            str(small),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(small) in err and "(300, 400)" in err and "(600, 600)" in err


def test_exclusion_only_removes_candidates(tmp_path):
    """Excluding hot pixels never invents a spot: every spot kept was found without it."""
    first, *others = _frames()
    plain, hot = tmp_path / "plain", tmp_path / "hot"
    assert main(["detect-spots", str(first), "--out", str(plain)]) == 0
    assert (
        main(
            ["detect-spots", str(first), "--out", str(hot), "--hot-pixels-from", *map(str, others)]
        )
        == 0
    )
    shape = tifffile.imread(first).shape
    a = load_mask(plain / "edge20mm_0000_spots.tif", shape) > 0
    b = load_mask(hot / "edge20mm_0000_spots.tif", shape) > 0
    assert b.any() and not (b & ~a).any()
