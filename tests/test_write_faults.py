"""Write errors and damaged catalogs (issue 17.6, 17.7, 17.12): a full disk (a real 2-4 MiB tmpfs),
a read-only folder (a read-only bind mount), an SQLite file from another program, a 0-byte or
damaged catalog — each a clear message (CLI exit 2), nothing half-written, nothing overwritten."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from cocofiles import write_coco

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.errors import CatalogCorruptError, NotAProjectError
from qbi_desktop.core.maskio import MaskFileError, save_mask


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (we run as root in CI); skipped where mounting is not permitted."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)):
        pytest.skip("cannot mount a tmpfs here")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    """Fill the disk holding ``folder`` until ``leave`` bytes are free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    filler = folder / "filler"
    filler.write_bytes(bytes(max(0, free - leave)))
    return filler


@contextlib.contextmanager
def _read_only(folder: Path):
    folder.mkdir(exist_ok=True)
    if not (
        _mount("--bind", str(folder), str(folder)) and _mount("-o", "remount,ro,bind", str(folder))
    ):
        subprocess.run(["umount", str(folder)], check=False)
        pytest.skip("cannot make a read-only bind mount here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _cli(*argv: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "QBI_DESKTOP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "qbi_desktop", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _coco(folder: Path, n: int = 12) -> Path:
    return write_coco(
        folder,
        n,
        shape=(300, 400),
        polygon=[10, 10, 200, 20, 150, 250, 20, 200],
        area=30000.0,
        seed=7,
    )


def _count(project: Path) -> int:
    with open_project(project) as p:
        return len(p)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- full disk -------------------------------------------------------------------------------


def test_coco_import_onto_a_full_disk_says_so_and_writes_nothing(tmp_path, small_disk):
    coco = _coco(tmp_path / "src")
    project = small_disk / "p"
    open_project(project, create=True).close()
    filler = _fill(small_disk, 40 * 1024)  # room for a few mask files, not for all
    result = _cli("import", "--project", str(project), "--kind", "coco", str(coco), home=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "disk full while writing" in result.stderr and "free" in result.stderr
    assert "disk I/O error" not in result.stderr
    assert _count(project) == 0
    assert not list((project / "masks").glob("*")), "no orphan mask files"
    # the catalog is intact: with room again the same import goes through
    filler.unlink()
    result = _cli("import", "--project", str(project), "--kind", "coco", str(coco), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert _count(project) == 12


def test_catalog_write_on_a_full_disk_is_not_called_an_io_error(tmp_path, small_disk):
    coco = _coco(tmp_path / "src", n=2)
    project = small_disk / "p"
    open_project(project, create=True).close()
    _fill(small_disk, 0)
    result = _cli("import", "--project", str(project), "--kind", "coco", str(coco), home=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "disk full while writing" in result.stderr and "catalog" in result.stderr
    assert "disk I/O error" not in result.stderr and "Traceback" not in result.stderr


def test_npz_export_to_a_full_disk_leaves_no_hidden_folder(tmp_path, small_disk):
    project = tmp_path / "p"
    with open_project(project, create=True) as p, p.transaction() as tx:
        from qbi_desktop.core.catalog.project import NewItem

        rng = np.random.default_rng(3)
        items = []
        for i in range(40):
            path = tmp_path / f"n{i}.tif"
            tifffile.imwrite(path, rng.integers(0, 255, (128, 128), np.uint8))
            from qbi_desktop.core.catalog.images import hash_file

            items.append(
                NewItem(
                    name=path.name,
                    hash=hash_file(path),
                    path=path,
                    size=path.stat().st_size,
                    width=128,
                    height=128,
                    label=str(i % 3),
                )
            )
        tx.add_items(items)
    _fill(small_disk, 100 * 1024)  # the NPZ needs ~600 KiB
    out = small_disk / "out"
    result = _cli(
        "export", "--project", str(project), "--kind", "npz", "--out", str(out), home=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert "disk full while writing" in result.stderr and "dataset.npz" in result.stderr
    assert "need" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"], "nothing half-written"


def test_mask_save_to_a_full_disk_keeps_the_old_file(tmp_path, small_disk):
    path = small_disk / "m.mask.tif"
    save_mask(path, np.ones((32, 32), np.uint8))
    before = _digest(path)
    _fill(small_disk, 0)
    noisy = np.random.default_rng(1).integers(0, 200, (512, 512)).astype(np.uint8)
    with pytest.raises(MaskFileError, match=r"m\.mask\.tif: the disk is full"):
        save_mask(path, noisy)
    assert _digest(path) == before
    assert [p.name for p in small_disk.iterdir() if p.name.startswith(".")] == []


# -- read-only folders ----------------------------------------------------------------------


def test_coco_import_with_read_only_masks_folder(tmp_path):
    coco = _coco(tmp_path / "src", n=3)
    project = tmp_path / "p"
    open_project(project, create=True).close()
    with _read_only(project / "masks"):
        result = _cli(
            "import", "--project", str(project), "--kind", "coco", str(coco), home=tmp_path
        )
    assert result.returncode == 2, result.stderr
    assert "masks" in result.stderr and "read-only" in result.stderr
    assert "Traceback" not in result.stderr
    assert _count(project) == 0


# -- catalogs that are not (or no longer) ours -----------------------------------------------


def _foreign(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        db.execute("INSERT INTO moz_places(url) VALUES ('https://example.org')")
        db.commit()


def test_sqlite_file_from_another_program_is_refused_and_untouched(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    catalog = project / "catalog.sqlite"
    _foreign(catalog)
    before = _digest(catalog)
    with pytest.raises(NotAProjectError, match="another program.*moz_places"):
        open_project(project)
    result = _cli(
        "import",
        "--project",
        str(project),
        "--kind",
        "mnist",
        str(tmp_path / "none-images-idx3-ubyte.gz"),
        home=tmp_path,
    )
    assert result.returncode == 2 and "another program" in result.stderr
    assert _digest(catalog) == before
    assert sorted(p.name for p in project.iterdir()) == ["catalog.sqlite"]


def test_foreign_catalog_in_the_browser_leaves_the_open_project_alone(qtbot, main_window, tmp_path):
    good = tmp_path / "good"
    open_project(good, create=True).close()
    panel = main_window.panels["browser"]
    assert panel.open_project(good)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    _foreign(foreign / "catalog.sqlite")
    assert not panel.open_project(foreign)
    assert "another program" in main_window.last_error
    assert panel.project is not None and panel.project.root == good.absolute()


def test_zero_byte_catalog_is_refused_and_kept(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "catalog.sqlite").write_bytes(b"")
    with pytest.raises(CatalogCorruptError, match="empty"):
        open_project(project, create=True)
    result = _cli(
        "import",
        "--project",
        str(project),
        "--kind",
        "mnist",
        str(tmp_path / "x-images-idx3-ubyte.gz"),
        home=tmp_path,
    )
    assert result.returncode == 2 and "empty (0 bytes)" in result.stderr
    assert (project / "catalog.sqlite").stat().st_size == 0
    assert sorted(p.name for p in project.iterdir()) == ["catalog.sqlite"]


def test_damaged_catalog_page_is_refused_before_an_import_writes(tmp_path):
    project = tmp_path / "p"
    coco = _coco(tmp_path / "src", n=12)
    assert (
        _cli(
            "import", "--project", str(project), "--kind", "coco", str(coco), home=tmp_path
        ).returncode
        == 0
    )
    catalog = project / "catalog.sqlite"
    with contextlib.closing(sqlite3.connect(catalog)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'items_name'"
        ).fetchone()[0]
    with open(catalog, "r+b") as f:  # scribble over one index page
        f.seek((root - 1) * page + 8)
        f.write(b"\xff" * 200)
    before = _digest(catalog)
    with pytest.raises(CatalogCorruptError, match="damaged"):
        open_project(project)
    more = _coco(tmp_path / "more", n=2)
    result = _cli("import", "--project", str(project), "--kind", "coco", str(more), home=tmp_path)
    assert result.returncode == 2 and "damaged" in result.stderr
    assert "Traceback" not in result.stderr
    assert _digest(catalog) == before


# -- export targets ---------------------------------------------------------------------------


def _small_project(tmp_path: Path) -> Path:
    project = tmp_path / "p"
    coco = _coco(tmp_path / "src", n=2)
    assert (
        _cli(
            "import", "--project", str(project), "--kind", "coco", str(coco), home=tmp_path
        ).returncode
        == 0
    )
    return project


def test_export_out_under_a_file_or_onto_a_symlink(tmp_path):
    project = _small_project(tmp_path)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    for out, expected in ((blocker / "out", "is a file"), (link, "symbolic link")):
        result = _cli(
            "export", "--project", str(project), "--kind", "coco", "--out", str(out), home=tmp_path
        )
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no hidden export"
    assert list(target.iterdir()) == [] and link.is_symlink()


def test_damage_the_open_had_no_time_to_find_is_found_before_an_import_writes(
    tmp_path, monkeypatch
):
    # A big catalog is checked only for a moment on open (the Browser opens on the GUI
    # thread); the import checks every page before its first write.
    from qbi_desktop.core.catalog import checks
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.jobs import run_job

    project = tmp_path / "p"
    coco = _coco(tmp_path / "src", n=12)
    assert (
        _cli(
            "import", "--project", str(project), "--kind", "coco", str(coco), home=tmp_path
        ).returncode
        == 0
    )
    catalog = project / "catalog.sqlite"
    with contextlib.closing(sqlite3.connect(catalog)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'items_name'"
        ).fetchone()[0]
    with open(catalog, "r+b") as f:
        f.seek((root - 1) * page + 8)
        f.write(b"\xff" * 200)
    # as a catalog too big to check in the open's time (a million items is ~450 MB)
    monkeypatch.setattr(checks, "OPEN_CHECK_BYTES", page)
    before = _digest(catalog)
    with open_project(project) as p:  # no time to look: opens
        more = _coco(tmp_path / "more", n=2)
        with pytest.raises(CatalogCorruptError, match="damaged"):
            run_job(import_job(p, "coco", [more]))
        assert len(p) == 12
    assert _digest(catalog) == before


def test_thumbnails_on_a_full_disk_say_so(tmp_path, small_disk):
    from qbi_desktop.core.catalog.images import hash_file
    from qbi_desktop.core.catalog.project import NewItem
    from qbi_desktop.core.catalog.thumbnails import thumbnail_job
    from qbi_desktop.core.errors import UserFacingError
    from qbi_desktop.core.jobs import run_job

    rng = np.random.default_rng(4)
    images = []
    for i in range(60):
        path = tmp_path / f"t{i}.tif"
        tifffile.imwrite(path, rng.integers(0, 60000, (256, 256), np.uint16))
        images.append(path)
    with open_project(small_disk / "p", create=True) as project:
        with project.transaction() as tx:
            tx.add_items(
                [
                    NewItem(
                        name=p.name,
                        hash=hash_file(p),
                        path=p,
                        size=p.stat().st_size,
                        width=256,
                        height=256,
                    )
                    for p in images
                ]
            )
        _fill(small_disk, 16 * 1024)
        with pytest.raises(UserFacingError, match="disk full while writing thumbnails"):
            run_job(thumbnail_job(project, size=256))
