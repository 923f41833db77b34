"""What `repair` must not repair: a whole catalog (nothing to do, nothing added), a catalog of a
newer QBI Desktop (left untouched, as every other command leaves it), a file that is no SQLite
database at all; and a damaged catalog on a read-only disk is named as such. One message
each, exit code 2 for a refusal, never a traceback. The real command line (a child process)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.repair import repair_catalog
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from tests.cli_helpers import run_cli
from tests.faults_helpers import small_disk_fixture  # noqa: F401  (the small_disk fixture)


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("repair")
    rng = np.random.default_rng(2)
    for label in ("a", "b"):
        (base / "images" / label).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 255, (12, 12), dtype=np.uint8)
            Image.fromarray(pixels).save(base / "images" / label / f"{label}{i}.png")
    root = base / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [base / "images"]))
    db = sqlite3.connect(root / "catalog.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return root


def _copy(whole: Path, to: Path) -> Path:
    shutil.copytree(whole, to)
    return to


def _state(root: Path) -> dict[str, bytes]:
    """The project's files and their bytes; SQLite's -wal/-shm (made empty by a read-only
    look, no content) are left out."""
    return {
        p.name: p.read_bytes()
        for p in sorted(root.iterdir())
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def _repair(root: Path):
    done = run_cli("repair", "--project", str(root))
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-2000:]
    return done


def test_a_whole_catalog_needs_no_repair_and_nothing_is_added(whole, tmp_path):
    root = _copy(whole, tmp_path / "p")
    before = _state(root)
    for _ in range(2):
        done = _repair(root)
        assert done.returncode == 0, done.stderr
        assert "nothing needs repair" in done.stdout and "damaged" not in done.stdout
    assert _state(root) == before  # no copy kept, the catalog untouched
    result = repair_catalog(root)
    assert not result.repaired and result.damaged is None


def test_a_catalog_of_a_newer_version_is_left_untouched(whole, tmp_path):
    root = _copy(whole, tmp_path / "p")
    db = sqlite3.connect(root / "catalog.sqlite")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    before = _state(root)
    done = _repair(root)
    assert done.returncode == 2
    assert "schema version 99" in done.stderr and "newer QBI Desktop" in done.stderr
    assert _state(root) == before


def test_a_file_that_is_no_database_is_refused_untouched(whole, tmp_path):
    root = _copy(whole, tmp_path / "p")
    for side in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (root / side).unlink(missing_ok=True)
    (root / "catalog.sqlite").write_bytes(b"garbage" * 1000)
    before = _state(root)
    done = _repair(root)
    assert done.returncode == 2
    assert "not an SQLite database" in done.stderr and "catalog.sqlite" in done.stderr
    assert _state(root) == before


def test_a_damaged_catalog_on_a_read_only_disk_is_named(whole, small_disk):
    root = _copy(whole, small_disk.path / "p")
    catalog = root / "catalog.sqlite"
    db = sqlite3.connect(catalog)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    (page,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'items_label'").fetchone()
    db.close()
    with open(catalog, "r+b") as f:  # an index page's cell pointers, as a torn write leaves them
        f.seek((page - 1) * page_size + 8)
        f.write(b"\xff\xff" * 2)
    small_disk.read_only()
    done = _repair(root)
    assert done.returncode == 2
    assert "not writable" in done.stderr and str(root) in done.stderr
