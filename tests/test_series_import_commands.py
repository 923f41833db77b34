"""The radiography commands on series and NeXus stacks: `normalize`, `detect-spots` and
`clean-spots` take a numbered series (folder or pattern) or a .nxs/.h5 file (`--dataset`,
default the NXdata signal) and write one output per frame, the same as for the frame's file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need

from qbi_desktop.cli import main
from qbi_desktop.core.maskio import load_mask
from qbi_desktop.core.radiography.provenance import read_provenance
from qbi_desktop.core.spots import detect_spots, hot_pixels


@pytest.fixture
def real(tmp_path):
    """The 4 real edge20mm frames as a series scan_0000..0003.tif, the same frames as a NeXus
    stack (signal /entry/data/data, plus a second image dataset), and ob/dc."""
    folder = tmp_path / "scan"
    folder.mkdir()
    frames = []
    for i in range(4):
        frame = tifffile.imread(need(RADIOGRAPHS / f"edge20mm_000{i}.tif"))
        # written in native byte order like the NeXus copy (the originals are big-endian
        # ImageJ TIFFs, and spot detection with hot pixels differs with the byte order)
        tifffile.imwrite(folder / f"scan_{i:04d}.tif", frame.astype(frame.dtype.newbyteorder("=")))
        frames.append(frame)
    nexus = tmp_path / "tomo.nxs"
    with h5py.File(nexus, "w") as f:
        f.create_dataset("/entry/data/data", data=np.stack(frames), chunks=(1, 600, 600))
        f.create_dataset("/entry/flat", data=np.stack(frames[:2])[:, ::-1])
        f["/entry/data"].attrs["NX_class"] = "NXdata"
        f["/entry/data"].attrs["signal"] = "data"
    refs = ["--ob", str(need(RADIOGRAPHS / "ob.tif")), "--dc", str(RADIOGRAPHS / "dc.tif")]
    return folder, nexus, np.stack(frames), refs


def test_normalize_a_series_pattern_and_a_nexus_stack_frame_by_frame(real, tmp_path):
    folder, nexus, frames, refs = real
    files = tmp_path / "files"
    assert main(["normalize", *map(str, sorted(folder.iterdir())), *refs, "--out", str(files)]) == 0
    pattern = tmp_path / "pattern"
    assert main(["normalize", str(folder / "scan_####.tif"), *refs, "--out", str(pattern)]) == 0
    stack = tmp_path / "stack"
    assert main(["normalize", str(nexus), *refs, "--out", str(stack)]) == 0
    for i in range(4):
        by_file = tifffile.imread(files / f"scan_{i:04d}.tif")
        np.testing.assert_array_equal(tifffile.imread(pattern / f"scan_{i:04d}.tif"), by_file)
        # the NeXus frame gives the same transmission as the same pixels from a file
        np.testing.assert_array_equal(tifffile.imread(stack / f"tomo_{i:04d}.tif"), by_file)
    record = read_provenance(stack / "tomo_0002.tif")
    assert record["input"] == f"{nexus} [/entry/data/data, frame 2]"
    # another dataset of the file, chosen by --dataset
    other = tmp_path / "other"
    argv = ["normalize", str(nexus), "--dataset", "/entry/flat", *refs, "--out", str(other)]
    assert main(argv) == 0
    assert sorted(p.name for p in other.iterdir()) == ["tomo_0000.tif", "tomo_0001.tif"]


def test_bad_stack_inputs_exit_2_naming_file_and_frame(real, tmp_path, capsys):
    folder, nexus, _frames, refs = real
    out = tmp_path / "out"
    (folder / "scan_0001.tif").unlink()
    assert main(["normalize", str(folder), *refs, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "scan_0001.tif: frame 1" in err and "missing" in err and "Traceback" not in err
    assert main(["detect-spots", str(folder / "scan_*.tif"), "--out", str(out)]) == 2
    assert "scan_0001.tif: frame 1" in capsys.readouterr().err
    assert main(["clean-spots", str(folder / "scan_####.tif"), "--out", str(out)]) == 2
    assert "scan_0001.tif: frame 1" in capsys.readouterr().err
    table = tmp_path / "table.h5"
    with h5py.File(table, "w") as f:
        f.create_dataset("/entry/angles", data=np.arange(5.0))
    for command in (["normalize", *refs], ["detect-spots"], ["clean-spots"]):
        assert main([command[0], str(table), *command[1:], "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "table.h5" in err and "holds no image dataset" in err, command
    argv = ["detect-spots", str(nexus), "--dataset", "/entry/nothing", "--out", str(out)]
    assert main(argv) == 2
    assert "/entry/nothing" in capsys.readouterr().err
    argv = ["normalize", str(folder / "scan_0000.tif"), "--dataset", "/x", *refs, "--out", str(out)]
    assert main(argv) == 2
    assert "applies to HDF5/NeXus inputs" in capsys.readouterr().err
    assert not any(out.glob("*.tif"))


def test_detect_spots_on_a_nexus_stack_one_mask_per_frame(real, tmp_path, capsys):
    _folder, nexus, frames, _refs = real
    out = tmp_path / "spots"
    assert main(["detect-spots", str(nexus), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hot pixels from 4 frames of tomo.nxs" in printed
    hot = hot_pixels(frames)  # the stack's own frames, as for a series
    for i in (0, 3):
        expected = detect_spots(frames[i], "median", exclude=hot).labels
        written = load_mask(out / f"tomo_{i:04d}_spots.tif", frames[i].shape)
        np.testing.assert_array_equal(written, expected)
        assert f"[/entry/data/data, frame {i}]: {int(expected.max())} spots" in printed


def test_clean_spots_on_a_series_pattern_and_a_nexus_stack(real, tmp_path):
    folder, nexus, frames, _refs = real
    files = tmp_path / "files"
    assert main(["clean-spots", *map(str, sorted(folder.iterdir())), "--out", str(files)]) == 0
    pattern = tmp_path / "pattern"
    assert main(["clean-spots", str(folder / "scan_####.tif"), "--out", str(pattern)]) == 0
    stack = tmp_path / "stack"
    assert main(["clean-spots", str(nexus), "--out", str(stack), "--workers", "2"]) == 0
    for i in range(4):
        cleaned = tifffile.imread(files / f"scan_{i:04d}.tif")
        assert cleaned.dtype == np.uint16 and not np.array_equal(cleaned, frames[i])
        np.testing.assert_array_equal(tifffile.imread(pattern / f"scan_{i:04d}.tif"), cleaned)
        np.testing.assert_array_equal(tifffile.imread(stack / f"tomo_{i:04d}.tif"), cleaned)
        np.testing.assert_array_equal(
            tifffile.imread(stack / f"tomo_{i:04d}_spots.tif"),
            tifffile.imread(files / f"scan_{i:04d}_spots.tif"),
        )
    assert read_provenance(stack / "tomo_0001.tif")["input"] == (
        f"{nexus} [/entry/data/data, frame 1]"
    )
    # resumable: a second run finds every frame done
    mtime = (stack / "tomo_0002.tif").stat().st_mtime_ns
    assert main(["clean-spots", str(nexus), "--out", str(stack)]) == 0
    assert (stack / "tomo_0002.tif").stat().st_mtime_ns == mtime
