"""`qbi-desktop normalize` and `qbi-desktop clean-spots` as the issue states them: outputs in
DIR named after the inputs, bad input exits 2 naming the file, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need

from qbi_desktop.cli import main
from qbi_desktop.core.io import read_image
from qbi_desktop.core.maskio import load_mask
from qbi_desktop.core.radiography.provenance import read_provenance


def test_normalize_writes_float32_transmission_and_attenuation(tmp_path, capsys):
    frames = [need(RADIOGRAPHS / f"edge20mm_000{i}.tif") for i in (0, 1)]
    ob, dc = need(RADIOGRAPHS / "ob.tif"), need(RADIOGRAPHS / "dc.tif")
    out = tmp_path / "t"
    assert (
        main(["normalize", *map(str, frames), "--ob", str(ob), "--dc", str(dc), "--out", str(out)])
        == 0
    )
    image = read_image(frames[0]).astype(np.float64)
    o, d = read_image(ob).astype(np.float64), read_image(dc).astype(np.float64)
    t = tifffile.imread(out / "edge20mm_0000.tif")
    assert t.dtype == np.float32
    np.testing.assert_allclose(t, (image - d) / (o - d), rtol=1e-5)
    assert (out / "edge20mm_0001.tif").is_file()
    argv = ["normalize", str(frames[0]), "--ob", str(ob), str(ob), "--dc", str(dc)]
    assert main([*argv, "--out", str(tmp_path / "a"), "--attenuation"]) == 0
    a = tifffile.imread(tmp_path / "a" / "edge20mm_0000.tif")
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = -np.log((image - d) / (o - d))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(a[finite], expected[finite], rtol=1e-4, atol=1e-5)
    assert np.isnan(a[~finite]).all()  # masked (and counted in the record), never inf
    record = read_provenance(tmp_path / "a" / "edge20mm_0000.tif")
    assert record["unit"] == "attenuation" and record["masked_pixels"] == int((~finite).sum())
    assert record["open_beam"] == [str(ob), str(ob)]


def test_normalize_bad_input_exits_2_naming_the_file(tmp_path, capsys):
    frame, ob, dc = (need(RADIOGRAPHS / n) for n in ("edge20mm_0000.tif", "ob.tif", "dc.tif"))
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.ones((10, 10), np.uint16))
    out = tmp_path / "out"
    cases = [
        ([str(frame), "--ob", str(small), "--dc", str(dc)], "small.tif"),
        ([str(small), "--ob", str(ob), "--dc", str(dc)], "small.tif"),
        ([str(tmp_path / "missing.tif"), "--ob", str(ob), "--dc", str(dc)], "missing.tif"),
        (
            [str(frame), "--ob", str(ob), "--dc", str(dc), "--dose-region", "0", "900", "0", "9"],
            "dose region",
        ),
    ]
    for argv, name in cases:
        assert main(["normalize", *argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert name in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_clean_spots_writes_cleaned_frames_and_labels_and_resumes(tmp_path, capsys):
    folder = tmp_path / "scan"
    folder.mkdir()
    frames = []
    for i in range(3):
        frames.append(Path(shutil.copy(need(RADIOGRAPHS / f"edge20mm_000{i}.tif"), folder)))
    out = tmp_path / "out"
    argv = ["clean-spots", *map(str, frames), "--out", str(out), "--workers", "1"]
    assert main([*argv, "--hot-pixels-from", str(need(RADIOGRAPHS / "dc.tif"))]) == 0
    text = capsys.readouterr().out
    assert "3 frame(s) cleaned" in text and "hot pixels from dc.tif" in text
    for frame in frames:
        raw = read_image(frame)
        cleaned = tifffile.imread(out / f"{frame.stem}.tif")
        labels = load_mask(out / f"{frame.stem}_spots.tif", raw.shape)
        assert cleaned.dtype == np.uint16 and labels.max() > 100
        assert np.array_equal(cleaned[labels == 0], raw[labels == 0])
    assert main(argv) == 0
    assert "0 frame(s) cleaned, 3 already done" in capsys.readouterr().out


@pytest.mark.parametrize("problem", ["missing", "not image", "bad scheduler"])
def test_clean_spots_bad_input_exits_2_naming_it(tmp_path, capsys, problem):
    frame = need(RADIOGRAPHS / "edge20mm_0000.tif")
    argv = ["clean-spots", str(frame), "--out", str(tmp_path / "o"), "--workers", "1"]
    if problem == "missing":
        argv[1] = name = str(tmp_path / "nothing_0001.tif")
    elif problem == "not image":
        bad = tmp_path / "text_0001.tif"
        bad.write_text("hello")
        argv[1] = name = str(bad)
    else:
        argv += ["--scheduler", "localhost:1"]
        name = "localhost:1"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("command", "reference_name", "role"),
    [
        ("normalize --ob", "edge20mm_0000.tif", "open beam"),
        ("normalize --dc", "edge20mm_0000.tif", "dark current"),
        ("clean-spots --hot-pixels-from", "edge20mm_0000.tif", "hot-pixel frame"),
        ("clean-spots --hot-pixels-from", "edge20mm_0000_spots.tif", "hot-pixel frame"),
        ("detect-spots --hot-pixels-from", "edge20mm_0000_spots.tif", "hot-pixel frame"),
    ],
)
def test_an_output_never_replaces_a_reference_file_the_command_reads(
    tmp_path, capsys, command, reference_name, role
):
    """A reference kept in the output folder under the name an output would take (an open
    beam called like the image, a dark frame called like its mask) is refused before anything
    is written: the reference is left byte for byte as it was."""
    image = need(RADIOGRAPHS / "edge20mm_0000.tif")
    ob, dc = need(RADIOGRAPHS / "ob.tif"), need(RADIOGRAPHS / "dc.tif")
    out = tmp_path / "out"
    out.mkdir()
    reference = out / reference_name
    shutil.copy(dc if role != "open beam" else ob, reference)
    before = reference.read_bytes()
    name, option = command.split()
    argv = [name, str(image), option, str(reference), "--out", str(out)]
    if name == "normalize":
        other = "--dc" if option == "--ob" else "--ob"
        argv += [other, str(dc if other == "--dc" else ob)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"would overwrite the {role} {reference}" in err
    assert reference.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == [reference_name]  # nothing written
