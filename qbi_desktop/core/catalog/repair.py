"""Repairing a damaged catalog whose data still reads: a fresh copy with every index rebuilt.

A damaged page in an index (a torn write, a bad sector) makes the whole catalog refuse to
open, though every item, label and mask row is intact. The repair copies each table's rows into
a new file and builds its indexes there from those rows, never reading the old index pages, so
that damage is left behind. Damage in a table's own pages cannot be mended this way:
the copy then fails, and nothing is changed.

The damaged file is kept beside the new one (``catalog.damaged-<time>.sqlite``, with its WAL),
never deleted: what the repair could not see is still there for an expert.

Before anything is written, the catalog is looked at read-only (:func:`diagnose`): one that
passes SQLite's integrity check needs no repair and is left as it is (no copy is added); a
catalog of a newer QBI Desktop (a higher schema version), another program's SQLite file and a
file that is no SQLite database at all are refused untouched, as every other command leaves
them; a project folder that cannot be written is named before the copy is attempted.

Whole or repaired, the project then loses its spot reviews of deleted items
(``spots/<id>-<hash>.spots.json`` whose item is gone or now names another image: clutter an
item taking the id could meet); the result counts them (:attr:`RepairResult.leftover_reviews`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from qbi_desktop.core.catalog import checks, schema
from qbi_desktop.core.catalog.connection import check_writable, open_read_only
from qbi_desktop.core.catalog.errors import CatalogCorruptError, ProjectError, SchemaTooNewError
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress

CATALOG = "catalog.sqlite"
_SIDE_FILES = ("-wal", "-shm")


@dataclass(frozen=True)
class RepairResult:
    catalog: Path  # the repaired catalog (same path as before)
    damaged: Path | None  # where the damaged file was kept; None: nothing needed repair
    rows: dict[str, int]  # rows per table in the repaired catalog (empty when not repaired)
    #: spot reviews of deleted items removed from ``spots/`` (:func:`sweep_reviews`)
    leftover_reviews: tuple[Path, ...] = ()

    @property
    def repaired(self) -> bool:
        return self.damaged is not None

    @property
    def note(self) -> str | None:
        """What the repair removed besides, in the user's words, or None."""
        gone = self.leftover_reviews
        if not gone:
            return None
        names = ", ".join(p.name for p in gone[:5])
        if len(gone) > 5:
            names += f" and {len(gone) - 5} more"
        return (
            f"{self.catalog.parent / 'spots'}: removed {len(gone)} spot review(s) of items "
            f"no longer in the project: {names}"
        )


def repair_catalog(root: str | Path) -> RepairResult:
    """Replace ``root``'s damaged catalog by a copy of its rows with rebuilt indexes; a whole
    catalog is left as it is (the result says it was not repaired).

    Refused (:class:`CatalogCorruptError`, nothing changed) when the rows themselves do not
    read, the file is no SQLite database or the copy is not whole; a :class:`ProjectError`
    when the catalog is a newer version's or another program's, another program is writing to
    it or the folder is not writable."""
    from qbi_desktop.core.outfolder import is_file

    root = Path(root)
    path = root / CATALOG
    try:
        found = is_file(path)
    except UserFacingError as exc:  # a name too long for the file system, a link loop
        raise ProjectError(str(exc)) from None
    if not found:
        raise ProjectError(f"{root}: no {CATALOG} to repair")
    if diagnose(path):
        return RepairResult(path, None, {}, sweep_reviews(root))
    check_writable(root)  # a read-only disk: said before the copy is attempted
    fresh = root / f".{CATALOG}.repair-{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        fresh.unlink()
    lock = _connect(path)
    try:
        try:  # no other program may write while the copy is taken
            lock.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:  # OperationalError is one; "malformed" is not
            if "locked" in str(exc) or "busy" in str(exc):
                raise ProjectError(
                    f"{path}: another program is using the catalog; close it and repair again"
                ) from exc
            raise _unreadable(path, exc) from exc
        try:
            _copy_rows(path, fresh)
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "unable to open" in str(exc):
                raise ProjectError(
                    f"{root}: cannot write the repaired catalog here ({exc})"
                ) from exc
            raise _unrepairable(path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise _unrepairable(path, exc) from exc
        rows = _check_copy(fresh, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            fresh.unlink()
        lock.close()
        raise
    lock.close()  # every connection closed before the files move (SQLite finds its WAL by name)
    damaged = _keep_damaged(path)
    os.replace(fresh, path)  # the repaired file takes the catalog's name in one step
    return RepairResult(path, damaged, rows, sweep_reviews(root))


def leftover_review_count(root: str | Path) -> int:
    """How many spot reviews in ``root``'s ``spots/`` belong to no item any more (read-only:
    what a repair would remove); 0 when the catalog cannot be read."""
    return len(_reviews(root, remove=False))


def sweep_reviews(root: str | Path) -> tuple[Path, ...]:
    """Remove the spot reviews of items no longer in ``root``'s catalog; the files removed.
    Cleaning up never stops a repair: a catalog that cannot be read removes nothing."""
    return tuple(_reviews(root, remove=True))


def _reviews(root: str | Path, remove: bool) -> list[Path]:
    from qbi_desktop.core.spot_review import leftover_reviews, remove_leftover_reviews

    root = Path(root)
    if not (root / "spots").is_dir():
        return []
    try:
        db = open_read_only(root / CATALOG)
    except sqlite3.Error:
        return []
    try:
        return (remove_leftover_reviews if remove else leftover_reviews)(root, db)
    except sqlite3.Error:
        return []
    finally:
        db.close()


def diagnose(path: Path) -> bool:
    """Whether the catalog at ``path`` is whole (``PRAGMA integrity_check``), read without
    writing; refused as it is when a repair must not touch it: a newer schema, another
    program's database, a file that is no SQLite database, an empty (0-byte) file."""
    try:
        empty = path.stat().st_size == 0
    except OSError:
        empty = False  # gone again: the open below says so
    if empty:  # SQLite reads 0 bytes as a whole, empty database: it is a lost catalog
        raise CatalogCorruptError(
            f"{path}: the catalog file is empty (0 bytes); there are no rows to repair and it "
            "was left as it is - restore it from a backup, or move it away to start a new "
            "project here"
        )
    try:
        db = open_read_only(path)
    except sqlite3.Error as exc:
        raise CatalogCorruptError(f"{path}: cannot open the catalog to repair it ({exc})") from exc
    try:
        version = schema.schema_version(db)
        if version > schema.SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"{path}: catalog has schema version {version}, this QBI Desktop reads up to "
                f"version {schema.SCHEMA_VERSION}; repair it with a newer QBI Desktop (the "
                "catalog was left untouched)"
            )
        checks.refuse_foreign(db, path, version)
        rows = [r[0] for r in db.execute("PRAGMA integrity_check(5)")]
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc) or "encrypted" in str(exc):
            raise CatalogCorruptError(
                f"{path}: not an SQLite database at all ({exc}); a repair rebuilds a catalog "
                "from its rows and cannot mend this. Nothing was changed: restore the catalog "
                "from a backup"
            ) from exc
        if isinstance(exc, sqlite3.OperationalError) and not _damage(exc):
            check_writable(path.parent)  # a read-only disk (its WAL cannot be read there)
            raise ProjectError(f"{path}: cannot read the catalog to repair it ({exc})") from exc
        return False  # damaged pages: what the repair is for
    finally:
        db.close()
    return rows == ["ok"]


def _damage(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("malformed", "corrupt", "disk i/o"))


def repair_job(root: str | Path) -> Job[RepairResult]:
    """:func:`repair_catalog` as a job (for a worker thread): one step, its result."""
    yield Progress(0, 1, "copying the rows and rebuilding the indexes")
    result = repair_catalog(root)
    yield Progress(1, 1, "repaired" if result.repaired else "nothing needed repair")
    return result


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path, isolation_level=None, timeout=1.0)
    except sqlite3.Error as exc:
        raise CatalogCorruptError(f"{path}: cannot open the catalog to repair it ({exc})") from exc


def _unreadable(path: Path, exc: Exception) -> CatalogCorruptError:
    return CatalogCorruptError(
        f"{path}: not a readable SQLite catalog ({exc}); a repair cannot read its rows and "
        "nothing was changed: restore the catalog from a backup"
    )


def _unrepairable(path: Path, exc: Exception) -> CatalogCorruptError:
    return CatalogCorruptError(
        f"{path}: the damage is in the data itself, not only in its indexes ({exc}); a "
        "repair cannot mend it and nothing was changed: restore the catalog from a backup"
    )


def _copy_rows(path: Path, fresh: Path) -> None:
    """A new catalog at ``fresh`` with ``path``'s schema and rows, its indexes built anew.

    Not ``VACUUM INTO``, nor a plain ``INSERT ... SELECT *``: for those SQLite copies an index's
    pages as they are (its transfer optimisation), damage included. ``WHERE 1`` turns that off,
    so rows are read from the tables' own pages and every index is built from them."""
    new = sqlite3.connect(fresh, isolation_level=None)
    try:
        new.execute("ATTACH DATABASE ? AS old", (str(path),))
        old_pragma = {
            name: new.execute(f"PRAGMA old.{name}").fetchone()[0]
            for name in ("page_size", "user_version", "application_id")
        }
        new.execute(f"PRAGMA page_size = {int(old_pragma['page_size'])}")
        objects = new.execute(
            "SELECT type, name, sql FROM old.sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
        new.execute("BEGIN")
        # virtual tables (the names' full-text index) make their own shadow tables
        virtual = [n for k, n, sql in objects if k == "table" and _is_virtual(sql)]
        shadows = {n for k, n, _ in objects if any(n.startswith(f"{v}_") for v in virtual)}
        tables = [n for k, n, sql in objects if k == "table" and n not in shadows]
        for kind, name, sql in objects:  # tables first, then what is built on their rows
            if kind == "table" and name not in shadows:
                new.execute(sql)
        for name in tables:
            if name in virtual:
                continue
            new.execute(f'INSERT INTO main."{name}" SELECT * FROM old."{name}" WHERE 1')
        for _kind, name, sql in objects:  # a full-text index: built again from its rows
            if name in virtual and "fts5" in sql.lower():
                if "content=" in sql.replace(" ", "").lower():  # over another table's rows
                    new.execute(f'INSERT INTO main."{name}"("{name}") VALUES (\'rebuild\')')
                else:
                    new.execute(f'INSERT INTO main."{name}" SELECT * FROM old."{name}"')
        if new.execute("SELECT 1 FROM old.sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
            new.execute("DELETE FROM main.sqlite_sequence")
            new.execute("INSERT INTO main.sqlite_sequence SELECT * FROM old.sqlite_sequence")
        for kind in ("index", "view", "trigger"):
            for k, _name, sql in objects:
                if k == kind:
                    new.execute(sql)
        new.execute(f"PRAGMA user_version = {int(old_pragma['user_version'])}")
        new.execute(f"PRAGMA application_id = {int(old_pragma['application_id'])}")
        new.execute("COMMIT")
        new.execute("DETACH DATABASE old")
    finally:
        new.close()


def _is_virtual(sql: str) -> bool:
    return sql.lstrip().upper().startswith("CREATE VIRTUAL TABLE")


def _check_copy(fresh: Path, path: Path) -> dict[str, int]:
    """The copy reads whole (``integrity_check``); its rows per table."""
    db = sqlite3.connect(fresh, isolation_level=None)
    try:
        result = [r[0] for r in db.execute("PRAGMA integrity_check(5)")]
        if result != ["ok"]:
            raise CatalogCorruptError(
                f"{path}: the repaired copy is not whole either ({'; '.join(result)[:200]}); "
                "nothing was changed: restore the catalog from a backup"
            )
        db.execute("PRAGMA journal_mode = WAL")  # the mode the project keeps its catalog in
        names = [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        db.close()


def _keep_damaged(path: Path) -> Path:
    """Move the damaged catalog and its WAL aside under one new name (a WAL left beside the
    repaired file would be replayed into it)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    damaged = path.with_name(f"catalog.damaged-{stamp}.sqlite")
    n = 1
    while damaged.exists():
        n += 1
        damaged = path.with_name(f"catalog.damaged-{stamp}-{n}.sqlite")
    os.link(path, damaged)  # a second name first: the catalog is never without its file
    for side in _SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{side}", f"{damaged}{side}")
    return damaged
