"""Numbered series and NeXus/HDF5 stacks imported into a project, one item per frame: through
``qbi-desktop import`` and the core job; pixels read lazily per frame (thumbnails, baselines,
exports); missing/differently sized frames and files without an image dataset refused by name."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job


def _cli(*args):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-m", "qbi_desktop", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _series(folder, n=5, shape=(24, 32)):
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(n):
        frame = (np.arange(shape[0] * shape[1], dtype=np.uint16).reshape(shape) * (i + 1)) % 4000
        tifffile.imwrite(folder / f"scan_{i:04d}.tif", frame)
        frames.append(frame)
    return frames


def _nexus(path, frames, signal="data", extra=None):
    """A NeXus file as beamlines write them: /entry (NXentry) default -> /entry/data (NXdata)
    whose signal is the stack."""
    with h5py.File(path, "w") as f:
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = signal
        data.create_dataset(signal, data=np.asarray(frames), chunks=(1, *frames[0].shape))
        if extra is not None:
            f.create_dataset("/entry/dark", data=extra)
    return path


def _rows(root, sql):
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_real_series_through_the_cli_one_item_per_frame(tmp_path):
    folder = tmp_path / "scan"
    folder.mkdir()
    for i in range(4):
        shutil.copy(need(RADIOGRAPHS / f"edge20mm_000{i}.tif"), folder)
    shutil.copy(RADIOGRAPHS / "ob.tif", folder)  # not a frame of the series
    done = _cli(
        "import", "--project", str(tmp_path / "p"), "--kind", "series",
        str(folder / "edge20mm_####.tif"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "4 item(s) added" in done.stdout
    with open_project(tmp_path / "p") as project:
        ids = project.ids(sort="name")
        names = [project.get(i)["name"] for i in ids]
        assert names == [f"edge20mm#000{i}" for i in range(4)]
        # the pixels are the frame's file, read where it is
        third = project.image(ids[2])
        np.testing.assert_array_equal(third, tifffile.imread(RADIOGRAPHS / "edge20mm_0002.tif"))
        assert project.get(ids[2])["metadata"]["frame"] == 2
    # again: nothing added twice
    again = _cli("import", "--project", str(tmp_path / "p"), "--kind", "series", str(folder))
    assert again.returncode == 0, again.stderr
    assert "0 item(s) added" in again.stdout and "4 frame(s) already" in again.stdout


def test_series_with_a_missing_or_differently_sized_frame_is_refused(tmp_path):
    folder = tmp_path / "s"
    _series(folder)
    (folder / "scan_0002.tif").unlink()
    done = _cli("import", "--project", str(tmp_path / "p"), "--kind", "series", str(folder))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "scan_0002.tif: frame 2" in done.stderr and "missing" in done.stderr
    assert not (tmp_path / "p").exists()  # the project it would have created is not left

    tifffile.imwrite(folder / "scan_0002.tif", np.zeros((10, 10), np.uint16))
    done = _cli("import", "--project", str(tmp_path / "p"), "--kind", "series", str(folder))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "scan_0002.tif: frame 2 is 10 x 10" in done.stderr


def test_nexus_through_the_cli_lazy_frames_thumbnails_and_export(tmp_path):
    frames = _series(tmp_path / "unused", n=6)
    scan = _nexus(tmp_path / "scan.nxs", frames, extra=np.ones((8, 8), np.float32))
    done = _cli("import", "--project", str(tmp_path / "p"), "--kind", "nexus", str(scan))
    assert done.returncode == 0, done.stderr
    assert "6 item(s) added" in done.stdout
    root = tmp_path / "p"
    assert _rows(root, "SELECT kind, key, count FROM containers") == [
        ("nexus", "/entry/data/data", 6)
    ]
    with open_project(root) as project:
        ids = project.ids(sort="name")
        assert [project.get(i)["name"] for i in ids] == [f"scan#{i}" for i in range(6)]
        for i in (4, 0):
            np.testing.assert_array_equal(project.image(ids[i]), frames[i])
        # thumbnails are made from the frames
        from qbi_desktop.core.catalog.thumbnails import thumbnail_job

        run_job(thumbnail_job(project, ids))
        assert set(project.thumbnails(ids)) == set(ids)
        # the dataset interface (baselines) gives the frames
        data = project.as_dataset(sort="name")
        assert len(data) == 6
        np.testing.assert_array_equal(data.item(3).image, frames[3])
        assert data.images().shape == (6, 24, 32)
        # an export writes each frame as an image of its own
        run_job(export_job(project, "imagefolder", tmp_path / "out"))
    written = {p.stem: p for p in (tmp_path / "out").rglob("scan*")}
    assert len(written) == 6, sorted(written)
    from qbi_desktop.core.io import read_image

    np.testing.assert_array_equal(read_image(written["scan#2"]), frames[2])  # 16 bit kept


def test_nexus_dataset_option_and_bad_files(tmp_path):
    frames = _series(tmp_path / "unused", n=3)
    darks = np.stack([np.full((8, 8), 7, np.uint16)] * 2)
    scan = _nexus(tmp_path / "scan.h5", frames, extra=darks)
    project = open_project(tmp_path / "p", create=True)
    report = run_job(import_job(project, "nexus", [scan], dataset="/entry/dark"))
    assert report.added == 2
    assert np.all(project.image(report.ids[1]) == 7)
    # the default dataset of the same file is another container: its frames are added too
    assert run_job(import_job(project, "nexus", [scan])).added == 3
    assert len(project) == 5
    project.close()

    text = tmp_path / "table.h5"
    with h5py.File(text, "w") as f:
        f.create_dataset("/entry/names", data=np.array([b"a", b"b"]))
        f.create_dataset("/entry/angles", data=np.arange(10.0))
    done = _cli("import", "--project", str(tmp_path / "q"), "--kind", "nexus", str(text))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "table.h5" in done.stderr and "holds no image dataset" in done.stderr
    done = _cli(
        "import", "--project", str(tmp_path / "q"), "--kind", "nexus", "--dataset",
        "/entry/angles", str(scan),
    )  # fmt: skip
    assert done.returncode == 2 and "scan.h5" in done.stderr and "/entry/angles" in done.stderr
    done = _cli(
        "import", "--project", str(tmp_path / "q"), "--kind", "series", "--dataset", "/x",
        str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 2 and "--dataset applies to --kind nexus" in done.stderr


def test_an_older_catalog_takes_nexus_containers_after_its_migration(tmp_path):
    """A version 5 catalog (before NeXus) with MNIST-like container items migrates: its
    containers and items stay, and NeXus frames can then be added."""
    from qbi_desktop.core.catalog import schema

    frames = _series(tmp_path / "unused", n=2)
    arrays = tmp_path / "a.npz"
    np.savez(arrays, x=np.zeros((3, 4, 4), np.uint8), y=np.array([0, 1, 1]))
    with open_project(tmp_path / "p", create=True) as project:
        assert run_job(import_job(project, "npz", [arrays])).added == 3
    db = sqlite3.connect(tmp_path / "p" / "catalog.sqlite", isolation_level=None)
    db.execute("DROP TABLE containers")  # the table as version 5 made it
    db.execute("PRAGMA foreign_keys = OFF")
    for statement in schema._statements(schema.MIGRATIONS[0]):
        if statement.startswith("CREATE TABLE containers"):
            db.execute(statement.replace("'nexus'", ""))
    db.execute(
        "INSERT INTO containers(id, path, kind, key, hash, size, count) "
        "SELECT DISTINCT container_id, ?, 'npz', 'x', 'h', 1, 3 FROM items",
        (str(arrays),),
    )
    db.execute("PRAGMA user_version = 5")
    db.close()
    with pytest.raises(sqlite3.IntegrityError):  # the old table refuses the new kind
        db = sqlite3.connect(tmp_path / "p" / "catalog.sqlite", isolation_level=None)
        try:
            db.execute(
                "INSERT INTO containers(path, kind, key, hash, size, count) "
                "VALUES ('x', 'nexus', '', 'h', 1, 1)"
            )
        finally:
            db.close()
    scan = _nexus(tmp_path / "scan.nxs", frames)
    with open_project(tmp_path / "p") as project:
        assert schema.schema_version(project.db) == schema.SCHEMA_VERSION
        assert len(project) == 3 and project.image(project.ids()[0]).shape == (4, 4)
        assert run_job(import_job(project, "nexus", [scan])).added == 2
        assert len(project) == 5


def test_a_nexus_file_declaring_absurdly_many_frames_is_refused_at_once(tmp_path, capsys):
    """Two million empty 4 x 4 frames in a few kB (unwritten chunks): no item nor output per
    frame is planned; the file and dataset are named."""
    from qbi_desktop.cli import main

    crafted = tmp_path / "crafted.h5"
    with h5py.File(crafted, "w") as f:
        ds = f.create_dataset("/entry/data", (2_000_000, 4, 4), np.uint16, chunks=(1, 4, 4))
        ds[0] = 1  # one frame written: a file of no written frame is refused as such
    assert crafted.stat().st_size < 100_000
    project = open_project(tmp_path / "p", create=True)
    with pytest.raises(UserFacingError, match=r"crafted.h5.*/entry/data: declares 2,000,000"):
        run_job(import_job(project, "nexus", [crafted]))
    assert len(project) == 0
    project.close()
    out = tmp_path / "out"
    assert main(["detect-spots", str(crafted), "--out", str(out)]) == 2
    assert "declares 2,000,000 frames" in capsys.readouterr().err


def test_a_stack_named_twice_in_one_import_is_imported_once(tmp_path):
    """A folder and its pattern, or one NeXus file given twice: each frame one item, and the
    import says so instead of failing on the catalog's unique paths."""
    frames = _series(tmp_path / "s", n=4)
    root = tmp_path / "p"
    done = _cli(
        "import", "--project", str(root), "--kind", "series",
        str(tmp_path / "s"), str(tmp_path / "s" / "scan_####.tif"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "4 item(s) added" in done.stdout
    assert _rows(root, "SELECT COUNT(*) FROM items") == [(4,)]
    scan = _nexus(tmp_path / "scan.nxs", frames)
    done = _cli("import", "--project", str(root), "--kind", "nexus", str(scan), str(scan))
    assert done.returncode == 0, done.stderr
    assert "4 item(s) added" in done.stdout
    assert _rows(root, "SELECT COUNT(*) FROM containers WHERE kind = 'nexus'") == [(1,)]
