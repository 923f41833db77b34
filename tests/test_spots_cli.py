"""`qbi-desktop detect-spots` and hot pixels: found beside the image, or named (a dark frame
alone is enough); the report says when most proposals still look like hot pixels."""

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
    plain, hot, auto = tmp_path / "plain", tmp_path / "hot", tmp_path / "auto"
    assert main(["detect-spots", str(first), "--out", str(plain), "--no-hot-pixels"]) == 0
    out = capsys.readouterr().out
    # with no reference most proposals are hot pixels, and the report says so
    assert "lone bright pixels" in out and "--hot-pixels-from" in out
    args = ["detect-spots", str(first), "--out", str(hot), "--hot-pixels-from"]
    assert main(args + [str(p) for p in others]) == 0
    line = capsys.readouterr().out
    before = _spots(plain / "edge20mm_0000_spots.tif")
    after = _spots(hot / "edge20mm_0000_spots.tif")
    assert before > 5000, before
    assert 600 < after < 1000, after  # ~750 gamma spots in this frame
    assert "lone bright pixels" not in line
    # the summary line says how many hot pixels were excluded (a positive count)
    n = int(line.split(" hot pixels excluded")[0].rsplit(" ", 1)[-1])
    assert n > 1000, line
    # by default the other frames of the series beside the image are found and used
    assert main(["detect-spots", str(first), "--out", str(auto)]) == 0
    line = capsys.readouterr().out
    assert "3 other frames of the series edge20mm_####.tif" in line
    shape = tifffile.imread(first).shape
    assert (
        load_mask(auto / "edge20mm_0000_spots.tif", shape)
        == load_mask(hot / "edge20mm_0000_spots.tif", shape)
    ).all()


def test_a_dark_frame_alone_is_accepted(tmp_path, capsys):
    first = _frames()[0]
    dark = need(RADIOGRAPHS / "dc.tif")
    args = ["detect-spots", str(first), "--out", str(tmp_path), "--hot-pixels-from", str(dark)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "hot pixels excluded" in out
    assert 2000 < _spots(tmp_path / "edge20mm_0000_spots.tif") < 4000  # from ~7 500
    # half the series' hot pixels are not in the dark frame: the note still points the way
    assert "lone bright pixels" in out
    # a second run goes to a folder of its own: the first mask is never replaced
    args[args.index("--out") + 1] = str(tmp_path / "skipped")
    assert main(args + ["--skip-lone-pixels"]) == 0
    assert _spots(tmp_path / "skipped" / "edge20mm_0000_spots.tif") < 1500


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
