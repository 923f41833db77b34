"""Hostile HDF5 layouts: a valid file whose signature follows a user block (h5py's
``userblock_size``, or bytes another tool put first), and a dataset that declares a million
frames but stores one. The first opens everywhere a plain HDF5 file does; the second is cut to
its stored frames, says so, and every reader finishes in seconds."""

from __future__ import annotations

import time

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

try:
    from tests.nexus_helpers import write_nexus
except ImportError:  # pragma: no cover
    from nexus_helpers import write_nexus
try:
    from tests.cli_helpers import run_cli as _cli
except ImportError:  # pragma: no cover
    from cli_helpers import run_cli as _cli


def _frames(n: int = 3) -> np.ndarray:
    return (np.arange(n * 16 * 16, dtype=np.uint16).reshape(n, 16, 16) * 7) % 4000


def _write(path, userblock: int = 0, prefix: bytes = b""):
    """A NeXus scan of three frames, with a user block of ``userblock`` bytes (filled with
    text, as tools do) or with ``prefix`` written before a plain HDF5 file."""
    plain = path.with_suffix(".plain")

    def build(_file, data):
        data["data"] = _frames()

    write_nexus(plain if prefix else path, build, userblock_size=userblock)
    if userblock:
        with open(path, "r+b") as stream:
            stream.write(b"# acquisition header written by the beamline\n"[:userblock])
    if prefix:
        path.write_bytes(prefix + plain.read_bytes())
        plain.unlink()
    return path


LAYOUTS = {
    "userblock512": dict(userblock=512),
    "userblock1024": dict(userblock=1024),
    "userblock4096": dict(userblock=4096),
    "junk2048": dict(prefix=bytes(range(256)) * 8),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_hdf5_after_a_user_block_opens_in_the_viewer_and_the_commands(tmp_path, layout):
    """h5py reads these files; the old sniffing looked for the signature at offset 0 only and
    called them 'not an image file (unrecognised format)'."""
    from qbi_desktop.core.io import open_image
    from qbi_desktop.core.radiography.frames import expand_frames

    path = _write(tmp_path / "scan.h5", **LAYOUTS[layout])
    with h5py.File(path, "r") as f:  # the reference reader agrees it is HDF5
        assert f["/entry/data/data"].shape == (3, 16, 16)
    source = open_image(path)
    try:
        assert source.n_slices == 3
        np.testing.assert_array_equal(source.plane(2).array, _frames()[2])
    finally:
        source.close()
    assert [f.index for f in expand_frames([path])] == [0, 1, 2]
    out = tmp_path / "out"
    cli = _cli("detect-spots", str(path), "--out", str(out))
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert len(list(out.glob("*_spots.tif"))) == 3


def test_the_window_opens_hdf5_after_a_user_block(qtbot, main_window, tmp_path):
    path = _write(tmp_path / "scan.nxs", userblock=512)
    errors: list[str] = []
    main_window.report_error = errors.append
    main_window.open_file(path)
    qtbot.waitUntil(lambda: bool(main_window.documents) or bool(errors), timeout=30000)
    assert not errors, errors
    assert main_window.documents[0].source.n_slices == 3


def _million(path, write_last: bool = False):
    """A 64 x 64 scan declaring 1 000 000 frames (a chunk per frame), only frame 0 written
    (and frame 999 999 with ``write_last``): a file of a few kB."""

    def build(_file, data):
        ds = data.create_dataset(
            "data", (1_000_000, 64, 64), np.uint16, chunks=(1, 64, 64), compression="gzip"
        )
        ds[0] = np.random.default_rng(0).integers(0, 1000, (64, 64))
        if write_last:
            ds[999_999] = 5

    write_nexus(path, build)
    assert path.stat().st_size < 100_000
    return path


def test_a_million_declared_frames_with_one_stored_is_cut_and_said(tmp_path):
    """The old code opened 1 000 000 frames: clean-spots stepped through 999 999 empty frames
    (it did not end within 30 s here), expand_frames built a million frames, the import
    hashed a million. Now each reader sees the stored frame, says what was left out, and ends
    in seconds."""
    from qbi_desktop.core.catalog.project import open_project
    from qbi_desktop.core.formats.series_import import import_nexus_job
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.core.radiography.frames import expand_frames
    from qbi_desktop.core.radiography.nexus import open_nexus

    path = _million(tmp_path / "scan.nxs")
    said = "declares 1,000,000 frames and stores at most 1 of them"
    start = time.monotonic()
    source = open_nexus(path)
    try:
        assert source.n_slices == 1
        assert said in source.metadata["stored_frames"]
        assert int(source.plane(0).array.max()) > 0
    finally:
        source.close()
    notes: list[str] = []
    assert len(expand_frames([path], notes=notes)) == 1
    assert str(path) in notes[0] and said in notes[0]
    with open_project(tmp_path / "p", create=True) as project:
        report = run_job(import_nexus_job(project, [path]))
        assert report.added == 1 and any(said in w for w in report.warnings)
    assert time.monotonic() - start < 20
    cli = _cli("clean-spots", str(path), "--out", str(tmp_path / "clean"), timeout=60)
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert said in cli.stderr
    assert sorted(p.name for p in (tmp_path / "clean").iterdir()) == [
        "scan_0000.tif",
        "scan_0000_spots.tif",
    ]


def test_a_million_declared_frames_stored_at_both_ends_is_refused(tmp_path):
    """Frames 0 and 999 999 stored, the rest never written: no stack to cut to. Refused naming
    the file and dataset, by the reader and by the CLI (exit 2, one line, no traceback)."""
    from qbi_desktop.core.errors import ImageReadError
    from qbi_desktop.core.radiography.nexus import open_nexus

    path = _million(tmp_path / "scan.nxs", write_last=True)
    with pytest.raises(ImageReadError, match=r"scan.nxs.*/entry/data/data: declares 1,000,000"):
        open_nexus(path)
    cli = _cli("detect-spots", str(path), "--out", str(tmp_path / "out"))
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "never written" in cli.stderr


def test_the_window_shows_a_cut_scan_and_says_why(qtbot, main_window, tmp_path):
    path = _million(tmp_path / "scan.nxs")
    errors: list[str] = []
    main_window.report_error = errors.append
    main_window.open_file(path)
    qtbot.waitUntil(lambda: bool(main_window.documents) or bool(errors), timeout=30000)
    assert not errors, errors
    doc = main_window.documents[0]
    assert doc.source.n_slices == 1
    assert any("1,000,000" in str(value) for _, value in doc.info_rows())
