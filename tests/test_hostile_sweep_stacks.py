"""Hostile stacks, second sweep: HDF5 datasets that declare frames never written, frames too
large to copy twice, inputs that are FIFOs, devices or link loops, series named with newlines or
non-ASCII digits. Each is refused (or read) with the file named, the CLI exits 2 without a
traceback, and nothing grows without bound."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.errors import ImageReadError

try:
    from tests.nexus_helpers import write_nexus
except ImportError:  # pragma: no cover
    from nexus_helpers import write_nexus
try:
    from tests.cli_helpers import run_cli as _cli
except ImportError:  # pragma: no cover
    from cli_helpers import run_cli as _cli

PYTHON = sys.executable


def _scan(path, shape, chunks, write=None):
    """A NeXus scan whose signal is a chunked dataset of ``shape``; ``write`` fills part of it."""

    def build(_file, data):
        ds = data.create_dataset("data", shape, np.uint16, chunks=chunks, compression="gzip")
        if write is not None:
            write(ds)

    return write_nexus(path, build)


def test_a_dataset_whose_frames_were_never_written_is_refused_by_every_reader(tmp_path):
    """A 9 KB file declaring 999 999 frames of which none was written: the old code expanded it
    into 999 999 frames (detect-spots ran for hours on nothing) and refused each slice with
    HDF5's words ("storage is not initialized") or an empty "()"."""
    from qbi_desktop.core.catalog.project import open_project
    from qbi_desktop.core.formats.series_import import import_nexus_job
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.core.radiography.frames import expand_frames
    from qbi_desktop.core.radiography.nexus import open_nexus

    path = _scan(tmp_path / "empty_scan.nxs", (999_999, 16, 16), (1, 16, 16))
    assert path.stat().st_size < 20_000
    for call in (
        lambda: open_nexus(path).close(),
        lambda: expand_frames([path]),
        lambda: run_job(import_nexus_job(open_project(tmp_path / "p", create=True), [path])),
    ):
        with pytest.raises(ImageReadError) as info:
            call()
        assert str(path) in str(info.value) and "no frame was ever written" in str(info.value)
    cli = _cli("detect-spots", str(path), "--out", str(tmp_path / "out"), timeout=60)
    assert cli.returncode == 2, cli.stderr[-2000:]
    assert "no frame was ever written" in cli.stderr and "Traceback" not in cli.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_frames_a_scan_has_not_written_yet_read_as_its_fill_value(tmp_path):
    """An aborted scan: frame 0 written, frames 1-2 not. The written frame reads as written,
    the others as the dataset's fill value (what h5py gives), and the import takes all three."""
    from qbi_desktop.core.radiography.nexus import open_nexus

    path = _scan(
        tmp_path / "aborted.nxs", (3, 16, 16), (1, 16, 16), lambda ds: ds.__setitem__(0, 9)
    )
    source = open_nexus(path)
    try:
        assert [int(source.plane(i).array.max()) for i in range(3)] == [9, 0, 0]
    finally:
        source.close()
    cli = _cli("import", "--project", str(tmp_path / "p"), "--kind", "nexus", str(path))
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "3 item(s) added" in cli.stdout


LIMITED_IMPORT = """
import resource, sys
from qbi_desktop.cli import main
import qbi_desktop.commands.project, qbi_desktop.core.radiography.nexus, h5py  # noqa: F401
# room for the process as it is, one frame and half of one more; not for two more copies
size = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1])
frame = int(sys.argv[1])
limit = size * 1024 + frame * 3 // 2 + (256 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.exit(main(sys.argv[2:]))
"""


def test_a_large_frame_is_hashed_for_import_without_copies(tmp_path):
    """The import hashes each frame: the old hash copied the pixels twice (bytes, then bytes
    with a header), so a frame that fits in memory once ended the import in a MemoryError
    traceback."""
    side = 9000  # 162 MB of uint16
    path = _scan(
        tmp_path / "large.nxs",
        (1, side, side),
        (1, 1000, 1000),
        lambda ds: ds.__setitem__((0, slice(0, 1000), slice(0, 1000)), 7),
    )
    run = subprocess.run(
        [PYTHON, "-c", LIMITED_IMPORT, str(side * side * 2), "import", "--project",
         str(tmp_path / "p"), "--kind", "nexus", str(path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "1 item(s) added" in run.stdout


def test_memory_running_out_in_a_command_is_one_line_and_exit_2(tmp_path):
    """Whatever a command was doing when memory ran out: one line naming the command, exit 2,
    no MemoryError traceback (here: the import of frames larger than the memory left)."""
    side = 9000
    path = _scan(
        tmp_path / "large.nxs",
        (2, side, side),
        (1, 1000, 1000),
        lambda ds: ds.__setitem__((0, slice(0, 1000), slice(0, 1000)), 7),
    )
    code = LIMITED_IMPORT.replace("frame * 3 // 2", "frame // 4").replace(
        "import qbi_desktop.commands.project",
        "import qbi_desktop.core.catalog.images as im\n"
        "def hash_array(a):\n    raise MemoryError\n"
        "im.hash_array = hash_array\nimport qbi_desktop.commands.project",
    )
    run = subprocess.run(
        [PYTHON, "-c", code, str(side * side * 2), "import", "--project", str(tmp_path / "p"),
         "--kind", "nexus", str(path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr
    assert "large.nxs" in run.stderr or "not enough memory" in run.stderr


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_named_as_a_scan_is_named_as_such(tmp_path, kind):
    """A FIFO or a link to /dev/zero named scan.h5: refused at once as what it is; the old
    message said "the file is empty (0 bytes)", which sent the user looking for lost data."""
    from qbi_desktop.core.io import open_image
    from qbi_desktop.core.radiography.nexus import open_nexus

    path = tmp_path / "scan.h5"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero", path)
    words = "named pipe" if kind == "fifo" else "device"
    for call in (open_image, open_nexus):
        with pytest.raises(ImageReadError) as info:
            call(path)
        assert str(path) in str(info.value) and words in str(info.value)
        assert "empty" not in str(info.value)
    cli = _cli("measure", str(path), "--rect", "0", "0", "2", "2", timeout=60)
    assert cli.returncode == 2 and words in cli.stderr and "Traceback" not in cli.stderr


def test_a_link_loop_given_as_an_input_is_named_not_a_traceback(tmp_path):
    """scan.h5 -> scan.h5: detect-spots ended in "RuntimeError: Symlink loop" (checking where
    the outputs go); the readers called it "file not found". Now: the loop is named, and the
    good input beside it is still processed."""
    loop = tmp_path / "scan.h5"
    os.symlink(loop, loop)
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.random.default_rng(0).integers(100, 200, (32, 32)).astype("u2"))
    out = tmp_path / "out"
    cli = _cli("detect-spots", str(loop), str(good), "--no-hot-pixels", "--out", str(out))
    assert cli.returncode == 2, cli.stderr[-2000:]
    assert "Traceback" not in cli.stderr
    assert f"{loop}: is a symbolic link to nothing" in cli.stderr
    assert (out / "good_spots.tif").is_file()


def test_series_named_with_a_newline_or_non_ascii_digits(tmp_path):
    """Frame numbers are ASCII digits at the end of a name that may hold any character: a
    newline in the name hid the series ("holds no numbered image files"); Arabic-Indic digits
    were taken as frame numbers, then looked for as s_0001.tif ("file not found" for a file
    that is there)."""
    from qbi_desktop.core.radiography.series import find_series

    odd = tmp_path / "odd"
    odd.mkdir()
    for i in range(3):
        tifffile.imwrite(odd / f"a\nb_{i:04d}.tif", np.zeros((8, 8), np.uint16))
    series = find_series(odd)
    assert series.numbers == [0, 1, 2] and all(p.is_file() for p in series.paths)

    digits = tmp_path / "digits"
    digits.mkdir()
    for name in ("s_\u0660\u0660\u0660\u0660", "s_\u0660\u0660\u0660\u0661", "s_0002"):
        tifffile.imwrite(digits / f"{name}.tif", np.zeros((8, 8), np.uint16))
    series = find_series(digits)
    assert all(p.is_file() for p in series.paths), series.paths
    cli = _cli("detect-spots", str(digits), "--no-hot-pixels", "--out", str(tmp_path / "out"))
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "not found" not in cli.stderr
