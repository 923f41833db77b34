"""Opening the catalog's SQLite file: checks before anything is written (another program's
file, a newer schema, damaged pages), WAL, migration; and SQLite's errors in the user's words."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from qbi_desktop.core.atomic import DiskFullError
from qbi_desktop.core.catalog import checks, schema
from qbi_desktop.core.catalog.errors import (
    CatalogCorruptError,
    ProjectError,
    ProjectReadOnlyError,
    SchemaTooNewError,
)
from qbi_desktop.core.errors import UserFacingError

#: The catalog file in a project folder.
CATALOG = "catalog.sqlite"

#: Page size of a new catalog (bytes; SQLite's default is 4096). An MNIST import (70 000 items,
#: 25 indexes on items) builds its indexes and writes and checkpoints its ~48 MB in about a
#: tenth less CPU with 8 KiB pages (fewer pages to split, fill and copy); a label edit writes
#: a few more KiB to the WAL. Existing catalogs keep theirs (only VACUUM could change it).
NEW_PAGE_SIZE = 8192

#: SQLite's page cache per catalog connection (KiB; its default is 2 MiB). The pages fill as a
#: large catalog is read, so a small one never uses it. At a million items a Browser page of
#: sparse matches (5 000 rejected simulated items by a target: one targets page each) read
#: every page from the file again with 2 MiB: 14 -> 6 ms; the duplicates by a target 5.5 ->
#: 1.4 ms (tests/benchmarks/bench_catalog.py --grid).
PAGE_CACHE_KIB = 32 * 1024


def connect_catalog(db_path: Path, initialise: bool = False) -> sqlite3.Connection:
    """A new connection to the catalog file ``db_path`` (one per thread), checked and
    configured; with ``initialise`` (the project's own connection) also migrated."""
    try:
        db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise CatalogCorruptError(f"{db_path}: cannot open catalog ({exc})") from exc
    try:
        version = schema.schema_version(db)
        if initialise:
            checks.refuse_foreign(db, db_path, version)  # before anything is written to it
            checks.refuse_foreign_code(db, db_path)
        if version > schema.SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"{db_path}: catalog has schema version {version}, this QBI Desktop "
                f"reads up to version {schema.SCHEMA_VERSION}; open it with a newer QBI "
                "Desktop (the catalog was left untouched)"
            )
        db.execute("PRAGMA busy_timeout = 10000")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute(f"PRAGMA cache_size = {-PAGE_CACHE_KIB}")
        if initialise:
            # bounded here (the Browser opens on the GUI thread); imports check it all
            checks.check_pages(db, db_path, budget=checks.OPEN_CHECK_SECONDS)
            if _is_empty(db_path):  # a new catalog: nothing written yet
                db.execute(f"PRAGMA page_size = {NEW_PAGE_SIZE}")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ProjectReadOnlyError(f"{db_path}: cannot switch to WAL ({mode})")
            schema.migrate(db)
            checks.check_tables(db, db_path)
            _renew_triggers(db)
            if int(db.execute("PRAGMA application_id").fetchone()[0]) == 0:
                db.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        db.execute("PRAGMA synchronous = NORMAL")
    except ProjectError:
        db.close()
        raise
    except sqlite3.OperationalError as exc:
        db.close()
        if "readonly" in str(exc) or "read-only" in str(exc):
            raise ProjectReadOnlyError(
                f"{db_path}: catalog is read-only ({exc}); copy the project to a writable folder"
            ) from exc
        if checks.disk_full(exc, db_path):
            raise DiskFullError(db_path, what=f"the catalog {db_path}") from exc
        raise CatalogCorruptError(f"{db_path}: cannot use catalog ({exc})") from exc
    except sqlite3.DatabaseError as exc:
        db.close()
        if initialise and checks.disk_full(exc, db_path):
            raise DiskFullError(db_path, what=f"the catalog {db_path}") from exc
        raise CatalogCorruptError(
            f"{db_path}: not a readable SQLite catalog ({exc}); restore it from a "
            "backup or export/re-import the data"
        ) from exc
    return db


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:  # gone again: SQLite's own error follows
        return False


def open_read_only(db_path: Path) -> sqlite3.Connection:
    """A connection of its own that cannot write the catalog at ``db_path`` and never creates
    a missing one (SQLite's ``mode=ro``): for reading a catalog on the side, such as another
    project's or the one a sweep checks. Close it with a plain ``close()``, never through the
    project's close: that runs ``PRAGMA optimize``, which writes ``sqlite_stat1`` for the
    tables read, and a project that was only read must stay unchanged.
    Raises ``sqlite3.Error`` when it cannot be opened."""
    return sqlite3.connect(f"{Path(db_path).absolute().as_uri()}?mode=ro", uri=True)


def connect_reading(db_path: Path) -> sqlite3.Connection:
    """A connection that only reads the catalog at ``db_path``, for a project folder we cannot
    write (a read-only disk or share, no permission): SQLite's ``mode=ro``, and where even
    that needs files it cannot make (the WAL's shared memory), ``immutable`` when no change is
    pending in the WAL (the file on disk is then the whole catalog). Nothing is migrated: a
    catalog of an older version is refused with what to do.
    Raises :class:`ProjectError` subclasses with a message."""
    uri = Path(db_path).absolute().as_uri()
    db = None
    try:
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
            version = schema.schema_version(db)
        except sqlite3.OperationalError:
            if db is not None:
                db.close()
            wal = db_path.with_name(db_path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise ProjectReadOnlyError(
                    f"{db_path}: the project folder is read-only and the catalog has changes "
                    "pending in its write-ahead log (catalog.sqlite-wal) that SQLite cannot "
                    "read without writing; copy the project to a writable folder"
                ) from None
            db = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            version = schema.schema_version(db)
        checks.refuse_foreign(db, db_path, version)
        if version > schema.SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"{db_path}: catalog has schema version {version}, this QBI Desktop "
                f"reads up to version {schema.SCHEMA_VERSION}; open it with a newer QBI "
                "Desktop (the catalog was left untouched)"
            )
        if version < schema.SCHEMA_VERSION:
            raise ProjectReadOnlyError(
                f"{db_path}: catalog has schema version {version} and must be upgraded to "
                f"{schema.SCHEMA_VERSION} before this QBI Desktop can read it, but the project "
                "folder is read-only; copy the project to a writable folder"
            )
        db.execute(f"PRAGMA cache_size = {-PAGE_CACHE_KIB}")
        checks.check_pages(db, db_path, budget=checks.OPEN_CHECK_SECONDS)
    except ProjectError:
        if db is not None:
            db.close()
        raise
    except sqlite3.DatabaseError as exc:
        if db is not None:
            db.close()
        raise CatalogCorruptError(
            f"{db_path}: not a readable SQLite catalog ({exc}); restore it from a "
            "backup or export/re-import the data"
        ) from exc
    return db


def folder_writable(folder: Path) -> bool:
    """Whether a file can be made in ``folder`` (what :func:`check_writable` refuses)."""
    try:
        check_writable(folder)
    except ProjectReadOnlyError:
        return False
    return True


def check_writable(folder: Path) -> None:
    """Refuse a project folder we cannot write (read-only disk, no permission) up front."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".qbi-write-test-"):
            pass
    except OSError as exc:
        raise ProjectReadOnlyError(
            f"{folder}: the project folder is not writable ({exc.strerror}); QBI Desktop keeps "
            "its catalog there - copy the project to a writable folder"
        ) from exc


def _renew_triggers(db: sqlite3.Connection) -> None:
    """Our triggers that are missing or have another body (an older version's, or rewritten to
    do something else) are made again, and what they keep is counted again (rare: a bulk
    recount)."""
    stale = checks.stale_own_triggers(db)
    if not stale:
        return
    from qbi_desktop.core.catalog.bulk import recount
    from qbi_desktop.core.catalog.derived import rebuild

    db.execute("BEGIN IMMEDIATE")
    try:
        for name, sql in stale:
            db.execute(f'DROP TRIGGER IF EXISTS "{name}"')
            db.execute(sql)
        recount(db)
        rebuild(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _translate(exc: sqlite3.OperationalError, path: Path) -> UserFacingError:
    text = str(exc)
    if checks.disk_full(exc, path):
        return DiskFullError(path, what=f"the catalog {path}")
    if "readonly" in text or "read-only" in text:
        return ProjectReadOnlyError(f"{path}: catalog is read-only ({text})")
    if "locked" in text or "busy" in text:
        return ProjectError(f"{path}: catalog is busy in another program ({text})")
    return ProjectError(f"{path}: catalog write failed ({text})")
