"""The first open of a catalog written by an older version: its migration as a job with
progress and cancel (at a million items, schema v9's indexes take ~30 s to build), run before
the project is opened, so that the open itself finds nothing left to do.

The GUI runs :func:`upgrade_job` on a worker (Browser ▸ open), the CLI prints its reports. A
cancel or a kill leaves the catalog at its old version (one SQLite transaction). Whatever is
not a catalog of ours at an older version (a new folder, another program's file, a newer
catalog, a damaged file) is left to :func:`open_project`, which says why it cannot open it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from qbi_desktop.core.catalog import checks, schema
from qbi_desktop.core.catalog.connection import CATALOG, open_read_only
from qbi_desktop.core.catalog.errors import CatalogCorruptError
from qbi_desktop.core.jobs import Job


def pending(root: str | Path) -> bool:
    """Whether the catalog in project folder ``root`` is ours at an older schema version (read
    without writing anything; False when it cannot be read: the open reports that)."""
    from qbi_desktop.core.errors import UserFacingError
    from qbi_desktop.core.outfolder import is_file

    path = Path(root) / CATALOG
    try:
        if not is_file(path):
            return False
    except UserFacingError:  # a name too long, a loop: the open names it
        return False
    try:
        db = open_read_only(path)  # a URI made right: '#', '?' or '%' in a folder's name
        try:
            version = schema.schema_version(db)
        finally:
            db.close()
    except sqlite3.Error:
        return False
    return 0 < version < schema.SCHEMA_VERSION


def upgrade_job(root: str | Path) -> Job[int]:
    """Migrate the catalog in ``root`` to this version's schema on a connection of its own
    (made in the thread that runs the job); returns the version it had."""
    path = Path(root) / CATALOG
    try:
        # mode=rw: a catalog moved away meanwhile is not made again as an empty file
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise CatalogCorruptError(f"{path}: cannot open catalog ({exc})") from exc
    try:
        version = schema.schema_version(db)
        if not 0 < version < schema.SCHEMA_VERSION:
            return version
        checks.refuse_foreign(db, path, version)  # before anything is written to it
        checks.refuse_foreign_code(db, path)
        db.execute("PRAGMA busy_timeout = 10000")
        return (yield from schema.migrate_job(db))
    except sqlite3.Error as exc:
        raise CatalogCorruptError(
            f"{path}: the catalog could not be updated to this version ({exc}); it was left "
            "at its old version"
        ) from exc
    finally:
        db.close()
