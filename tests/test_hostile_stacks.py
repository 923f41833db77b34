"""Hostile stacks: damaged NeXus/HDF5 files, numbered series with absurd numbering, stacks whose
outputs would land on each other or on an input. Each is refused with a message naming the file
(and frame), the CLI exits 2 without a traceback, and nothing the user has is overwritten.

Damaged files are opened in child processes here: on the old code one of them crashed the
interpreter inside the HDF5 library (a segmentation fault no ``except`` catches)."""

from __future__ import annotations

import subprocess
import sys
import zlib

import h5py
import numpy as np
import pytest
import tifffile

PYTHON = sys.executable


def _nexus(path, frames):
    """A small NeXus scan as beamlines write it: default entry -> NXdata -> signal, a frame
    per chunk, gzip after the byte shuffle."""
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        f.attrs["default"] = "entry"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "data"
        entry.attrs["default"] = "data"
        data.create_dataset(
            "data", data=frames, chunks=(1, *frames.shape[1:]), compression="gzip", shuffle=True
        )


def _frames(n=4, shape=(48, 48)):
    rng = np.random.default_rng(5)
    return rng.integers(900, 1100, (n, *shape)).astype(np.uint16)


def _attribute_type_broken(raw: bytearray) -> None:
    # the variable-length string type of the root's "default" attribute (its datatype message
    # follows the 8-byte name: class/version, then the vlen kind/padding byte) made a vlen
    # kind that does not exist: HDF5 dereferences garbage reading its value (SIGSEGV)
    at = raw.index(b"default\x00") + 9
    raw[at] = 0xFF


def _heap_address_past_the_end(raw: bytearray) -> None:
    # the root group's local heap: its data segment address (bytes 24..31 after "HEAP") made
    # to point 94 GB past the end of the file; h5py raised RuntimeError("addr overflow")
    at = raw.index(b"HEAP") + 28
    raw[at] = 0x16


DAMAGES = {
    "attribute type": _attribute_type_broken,
    "address past the end": _heap_address_past_the_end,
}

RAW_WALK = r"""
import sys, h5py
f = h5py.File(sys.argv[1], "r")
[f.attrs[k] for k in f.attrs]
f.visititems(lambda name, obj: [obj.attrs[k] for k in obj.attrs])
"""

CORE_PROBE = r"""
import sys
from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.radiography import nexus
path = sys.argv[1]
for call in (nexus.list_image_datasets, nexus.default_dataset, nexus.open_nexus):
    try:
        result = call(path)
    except ImageReadError as exc:
        print("REFUSED", call.__name__, exc)
    else:
        if hasattr(result, "close"):
            for i in range(result.n_slices):
                try:
                    result.plane(i)
                except ImageReadError as exc:
                    print("SLICE", i, exc)
            result.close()
        print("READ", call.__name__)
"""


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_hdf5_metadata_is_refused_naming_the_file(tmp_path, damage):
    path = tmp_path / "scan.nxs"
    _nexus(path, _frames())
    raw = bytearray(path.read_bytes())
    DAMAGES[damage](raw)
    path.write_bytes(bytes(raw))
    # the damage is real: h5py's own walk of the file crashes or raises
    raw_walk = subprocess.run([PYTHON, "-c", RAW_WALK, str(path)], capture_output=True, timeout=300)
    assert raw_walk.returncode != 0
    run = subprocess.run(
        [PYTHON, "-c", CORE_PROBE, str(path)], capture_output=True, text=True, timeout=300
    )
    # the process survives and no call ends in a traceback
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr
    lines = run.stdout.splitlines()
    assert any(line.startswith("REFUSED") for line in lines), lines
    assert all(str(path) in line for line in lines if line.startswith("REFUSED"))
    # the commands: exit 2, the file named, no traceback, nothing written
    out = tmp_path / "out"
    for argv in (["detect-spots", str(path)], ["clean-spots", str(path)]):
        cli = subprocess.run(
            [PYTHON, "-m", "qbi_desktop", *argv, "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert cli.returncode == 2, (argv, cli.returncode, cli.stderr[-2000:])
        assert str(path) in cli.stderr and "Traceback" not in cli.stderr
    assert not out.exists() or not any(out.glob("*.tif"))


def test_broken_chunks_name_their_frame_and_spare_the_others(tmp_path):
    """Chunks that are truncated, short, garbage, or decompress to the wrong size: each frame
    named by detect-spots (exit 2), every good frame's mask written."""
    path = tmp_path / "scan.nxs"
    frames = _frames(6)
    _nexus(path, frames)
    frame_bytes = frames[0].nbytes
    good = zlib.compress(bytes(frame_bytes))
    with h5py.File(path, "r+") as f:
        ds = f["/entry/data/data"]
        ds.id.write_direct_chunk((1, 0, 0), good[: len(good) // 2])  # truncated stream
        ds.id.write_direct_chunk((2, 0, 0), zlib.compress(bytes(100)))  # too short
        ds.id.write_direct_chunk((3, 0, 0), b"not zlib" * 8)  # garbage
        ds.id.write_direct_chunk((4, 0, 0), bytes(frame_bytes - 1), filter_mask=3)  # 1 byte short
    out = tmp_path / "out"
    argv = ["detect-spots", str(path), "--no-hot-pixels", "--out", str(out)]
    cli = subprocess.run(
        [PYTHON, "-m", "qbi_desktop", *argv], capture_output=True, text=True, timeout=300
    )
    assert cli.returncode == 2, cli.stderr[-2000:]
    assert "Traceback" not in cli.stderr
    for bad in (1, 2, 3, 4):
        assert f"frame {bad}]" in cli.stderr or f"slice {bad}" in cli.stderr, (bad, cli.stderr)
    assert sorted(p.name for p in out.glob("*.tif")) == [
        "scan_0000_spots.tif",
        "scan_0005_spots.tif",
    ]


def _limited(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` with at most 2 GB of address space and 120 s (the old code would have taken
    all the machine's memory)."""
    limit = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
        "import sys; sys.argv[1:] = " + repr(list(args)) + "\n"
    )
    return subprocess.run([PYTHON, "-c", limit + code], capture_output=True, text=True, timeout=120)


def test_a_series_numbered_with_a_huge_gap_is_refused_without_counting_it(tmp_path):
    """Frames 0 and 9 999 999 999 of a 10-digit series: the first missing frame is named, the
    gap is not built as a set of ten billion numbers (MemoryError before)."""
    for number in (0, 9_999_999_999):
        tifffile.imwrite(tmp_path / f"s_{number:010d}.tif", np.zeros((8, 8), np.uint16))
    run = _limited(
        "from qbi_desktop.core.radiography.series import find_series, SeriesError\n"
        "try:\n    find_series(sys.argv[1])\nexcept SeriesError as e:\n    print(e)\n",
        str(tmp_path),
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"{tmp_path / 's_0000000001.tif'}: frame 1 of the series" in run.stdout
    assert "9999999997 more" in run.stdout
    cli = _limited(
        "from qbi_desktop.cli import main\nsys.exit(main(sys.argv[1:]))",
        "detect-spots",
        str(tmp_path / "s_##########.tif"),
        "--out",
        str(tmp_path / "out"),
    )
    assert cli.returncode == 2
    assert "s_0000000001.tif: frame 1" in cli.stderr and "Traceback" not in cli.stderr


@pytest.mark.parametrize("command", ["detect-spots", "clean-spots"])
def test_outputs_that_would_land_on_an_input_or_each_other_are_refused(tmp_path, command):
    """'a' writes a_spots.tif: with an input a_spots.tif beside it (output folder = input
    folder) it overwrote that input; in another folder the two frames' outputs replaced each
    other (one result lost). The same for a NeXus stack 'a' whose frame 0 is 'a_0000'."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a.tif", "a_spots.tif", "a_0000.tif"):
        tifffile.imwrite(folder / name, rng.integers(100, 200, (40, 40)).astype(np.uint16))
    _nexus(folder / "a.nxs", _frames(3, (40, 40)))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    extra = ["--no-hot-pixels"] if command == "detect-spots" else []
    elsewhere = tmp_path / "out"
    cases = [
        # a's mask is the input a_spots.tif (out = the input folder); for clean-spots a's mask
        # and a_spots' cleaned frame are one file wherever they go
        ([folder / "a.tif", folder / "a_spots.tif"], [folder]),
        ([folder / "a.nxs", folder / "a_0000.tif"], [folder, elsewhere]),  # frame 0 = a_0000
    ]
    if command == "clean-spots":
        cases.append(([folder / "a.tif", folder / "a_spots.tif"], [elsewhere]))
    for inputs, outs in cases:
        for out in outs:
            argv = [command, *map(str, inputs), "--out", str(out), *extra]
            code = subprocess.run(
                [PYTHON, "-m", "qbi_desktop", *argv], capture_output=True, text=True, timeout=300
            )
            assert code.returncode == 2, (argv, code.stdout, code.stderr)
            assert "Traceback" not in code.stderr
            assert str(inputs[0].name) in code.stderr or str(inputs[1].name) in code.stderr
            assert {p.name: p.read_bytes() for p in folder.iterdir()} == before, argv
            assert not elsewhere.exists() or not any(elsewhere.glob("*.tif"))


def test_a_dataset_that_holds_no_frames_is_refused_by_the_viewer_the_commands_and_import(
    tmp_path,
):
    """An extendible scan dataset never written to, shape (0, y, x): it opened as a stack of
    no slices, detect-spots wrote nothing and exited 0, the import added nothing silently."""
    from qbi_desktop.core.errors import ImageReadError
    from qbi_desktop.core.radiography.nexus import open_nexus

    path = tmp_path / "aborted.nxs"
    with h5py.File(path, "w") as f:
        data = f.create_group("entry/data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "data"
        data.create_dataset("data", (0, 16, 16), np.uint16, maxshape=(None, 16, 16), chunks=True)
    for dataset in (None, "/entry/data/data"):
        with pytest.raises(ImageReadError, match=r"aborted.nxs.*shape \(0, 16, 16\).*no frames"):
            open_nexus(path, dataset)
    out = tmp_path / "out"
    for argv in (
        ["detect-spots", str(path), "--out", str(out)],
        ["import", "--project", str(tmp_path / "proj"), "--kind", "nexus", str(path)],
    ):
        cli = subprocess.run(
            [PYTHON, "-m", "qbi_desktop", *argv], capture_output=True, text=True, timeout=300
        )
        assert cli.returncode == 2, (argv, cli.stdout, cli.stderr)
        assert "aborted.nxs" in cli.stderr and "no frames" in cli.stderr
        assert "Traceback" not in cli.stderr


def _damaged_scan(path):
    _nexus(path, _frames())
    raw = bytearray(path.read_bytes())
    _heap_address_past_the_end(raw)
    path.write_bytes(bytes(raw))
    return path


def test_the_window_and_the_browser_import_name_a_damaged_scan_and_go_on(
    qtbot, main_window, tmp_path
):
    """Opened from the window and imported through Dataset > Import... (the dialog filled as
    a user does): the error names the file, nothing is added, the window keeps working.
    (The damage that crashes HDF5 itself is tried in a child process above, not here.)"""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from qbi_desktop.core.catalog import open_project

    scan = _damaged_scan(tmp_path / "scan.nxs")
    errors: list[str] = []
    main_window.report_error = errors.append
    main_window.open_file(scan)
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    assert str(scan) in errors[0] and "damaged HDF5" in errors[0], errors
    assert not main_window.documents

    open_project(tmp_path / "proj", create=True).close()
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "proj")

    def fill():
        dialog = QApplication.activeModalWidget()
        dialog.kind.setCurrentIndex(dialog.kind.findData("nexus"))
        dialog.sources.addItem(str(scan))
        dialog.accept()

    QTimer.singleShot(50, fill)
    panel.import_dialog()
    qtbot.waitUntil(lambda: len(errors) > 1, timeout=30000)
    assert str(scan) in errors[1] and "damaged HDF5" in errors[1], errors
    assert panel.model.rowCount() == 0
    # the window still opens a good scan afterwards
    good = tmp_path / "good.nxs"
    _nexus(good, _frames())
    main_window.open_file(good)
    qtbot.waitUntil(lambda: len(main_window.documents) == 1, timeout=30000)
    assert main_window.documents[0].source.n_slices == 4
