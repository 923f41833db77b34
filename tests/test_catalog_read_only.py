"""Reading a catalog on the side (another project's, the one a sweep checks) goes through one
read-only open: it never creates a missing catalog and never writes one that was only read
(no sqlite_stat1, no changed bytes), for the opinions' mask paths and the shared-project check
alike."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from qbi_desktop.core.catalog import open_project, opinions
from qbi_desktop.core.catalog.connection import open_read_only


def _shared_project(root):
    with open_project(root, create=True) as project:
        opinions.mark_shared(project, True)
    return root / "catalog.sqlite"


def _state(path):
    """The catalog's bytes and what its write-ahead log holds (a reader may create an empty
    one: SQLite's own doing, nothing written)."""
    wal = path.with_name(path.name + "-wal")
    return hashlib.sha256(path.read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else 0


def test_read_only_open_neither_creates_nor_writes(tmp_path):
    missing = tmp_path / "nowhere" / "catalog.sqlite"
    missing.parent.mkdir()
    with pytest.raises(sqlite3.Error):
        open_read_only(missing)
    assert not missing.exists()

    catalog = _shared_project(tmp_path / "proj")
    before = _state(catalog)
    db = open_read_only(catalog)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.execute("INSERT INTO meta(key, value) VALUES ('x', '1')")
    finally:
        db.close()
    assert opinions.mask_paths(catalog) == set()
    assert opinions.mask_paths(tmp_path / "nowhere" / "catalog.sqlite") is None
    assert not missing.exists()
    assert _state(catalog) == before


def test_shared_check_of_another_project_leaves_its_catalog_as_it_was(main_window, tmp_path):
    catalog = _shared_project(tmp_path / "other")
    before = _state(catalog)
    assert main_window.edit_gate.sharing(tmp_path / "other") == ([], True)
    assert _state(catalog) == before
    gone = tmp_path / "gone"
    gone.mkdir()
    assert main_window.edit_gate.sharing(gone) == ([], False)
    assert not (gone / "catalog.sqlite").exists()
