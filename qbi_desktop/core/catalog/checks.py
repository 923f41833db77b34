"""Checks a catalog passes before anything is written to it, and how SQLite's errors read.

* :func:`refuse_foreign`: an SQLite file another program made (its application id, its tables)
  is refused untouched, before the first write (WAL switch, migration);
* :func:`check_pages`: ``PRAGMA quick_check``, bounded in time and size on open, whole before
  imports;
* :func:`disk_full`: "database or disk is full", or "disk I/O error" with no room left, is a
  full disk and is reported as one.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from pathlib import Path

from qbi_desktop.core.atomic import disk_free
from qbi_desktop.core.catalog import schema
from qbi_desktop.core.catalog.errors import CatalogCorruptError, NotAProjectError


def refuse_foreign(db: sqlite3.Connection, path: Path, version: int) -> None:
    """Refuse an SQLite file another program made, before the first write (WAL, migration)."""
    app = int(db.execute("PRAGMA application_id").fetchone()[0])
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if app == schema.APPLICATION_ID:
        return
    foreign = app != 0 or (version == 0 and names)
    if not foreign and version > 0:
        # catalogs written before the application id: ours if they have our tables
        missing = {"items", "meta", "containers"} - set(names)
        foreign = bool(missing)
    if foreign:
        shown = ", ".join(sorted(names)[:6]) + (" ..." if len(names) > 6 else "")
        raise NotAProjectError(
            f"{path}: not a QBI Desktop catalog - an SQLite database made by another program "
            f"(tables: {shown or 'none'}); it was left untouched. Choose another folder for "
            "the project."
        )


@functools.cache
def own_code() -> dict[tuple[str, str], str]:
    """``(type, name) -> SQL`` of the triggers and views a catalog of this version has (read
    from a fresh catalog made in memory by the migrations, so it cannot drift from them)."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        schema.migrate(db)
        rows = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'view')"
        ).fetchall()
    finally:
        db.close()
    return {(kind, name): sql for kind, name, sql in rows}


@functools.cache
def own_tables() -> dict[str, frozenset[str]]:
    """The tables of a catalog of this version and their columns (from a fresh catalog)."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        schema.migrate(db)
        names = [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: frozenset(r[1] for r in db.execute(f'PRAGMA table_info("{n}")')) for n in names}
    finally:
        db.close()


def check_tables(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a catalog that lacks a table or column of its version (a version number that
    lies, a table dropped), and one whose settings are not JSON: each would fail later, in
    the middle of an edit, with SQLite's or the JSON reader's words."""
    have = {
        r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    }
    missing = sorted(set(own_tables()) - have)
    if missing:
        raise CatalogCorruptError(
            f"{path}: catalog is missing its tables {missing} (not a QBI Desktop catalog, or a "
            "damaged one)"
        )
    for table, columns in own_tables().items():
        found = {r[1] for r in db.execute(f'PRAGMA table_info("{table}")')}
        if not columns <= found:
            raise CatalogCorruptError(
                f"{path}: catalog table {table} lacks the columns {sorted(columns - found)} its "
                f"schema version {schema.schema_version(db)} has (a damaged or altered catalog)"
            )
    bad = [r[0] for r in db.execute("SELECT key FROM meta WHERE NOT json_valid(value) LIMIT 6")]
    if bad:
        raise CatalogCorruptError(
            f"{path}: catalog settings {bad} are not valid JSON (a damaged or altered catalog)"
        )
    # every row's JSON, as far as JSON_CHECK_SECONDS allow (a million-item catalog: a part)
    deadline = time.monotonic() + JSON_CHECK_SECONDS
    db.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        for what, sql in (
            (
                "an annotator's value is not valid JSON",
                "SELECT item_id FROM opinions WHERE NOT json_valid(value)",
            ),
            (
                "its metadata or provenance is not valid JSON",
                "SELECT id FROM items WHERE NOT json_valid(metadata) OR NOT json_valid(provenance)",
            ),
            (
                "its width or height is not a whole number of pixels",
                "SELECT id FROM items WHERE typeof(width) NOT IN ('integer', 'null') "
                "OR typeof(height) NOT IN ('integer', 'null') OR width < 0 OR height < 0",
            ),
        ):
            row = db.execute(f"{sql} LIMIT 1").fetchone()
            if row is not None:
                raise CatalogCorruptError(
                    f"{path}: item {row[0]}: {what} in the catalog (a damaged or altered catalog)"
                )
    except sqlite3.OperationalError as exc:
        if "interrupted" not in str(exc):
            raise
    finally:
        db.set_progress_handler(None, 0)


#: How long an open may spend checking the JSON of the catalog's rows (~40 000 items here).
JSON_CHECK_SECONDS = 0.03


def refuse_foreign_code(db: sqlite3.Connection, path: Path) -> None:
    """Refuse, before the first write, a catalog holding triggers or views QBI Desktop did not
    make: a trigger runs on every edit the app makes (one can delete the boxes a label edit
    should keep, or loop without end), a view can stand in for a table the app reads."""
    found = db.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view')"
    ).fetchall()
    foreign = sorted(f"{kind} {name!r}" for kind, name in found if (kind, name) not in own_code())
    if foreign:
        shown = ", ".join(foreign[:6]) + (
            f" and {len(foreign) - 6} more" if len(foreign) > 6 else ""
        )
        raise CatalogCorruptError(
            f"{path}: the catalog holds code QBI Desktop did not write ({shown}); it would run "
            "on every edit, so the project was not opened and nothing was written to it - "
            "remove them with an SQLite tool (DROP TRIGGER / DROP VIEW) or restore a backup"
        )


def stale_own_triggers(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """``(name, our SQL)`` of our triggers that are missing (dropped with an SQLite tool: what
    they keep, such as the box counts or the mask flags, would drift from then on) or whose
    SQL is not ours (an older version's body, or one rewritten by someone else): the caller
    makes them again and counts what they keep anew."""
    have = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    return [
        (name, sql)
        for (kind, name), sql in own_code().items()
        if kind == "trigger" and have.get(name) != sql
    ]


#: How long an open may spend checking the catalog's pages (a 100 000-item catalog takes
#: ~0.25 s, see bench_open_checks.py); a larger one is checked whole before each import.
OPEN_CHECK_SECONDS = 0.15

#: The largest catalog an open checks. SQLite before 3.44 runs ``quick_check`` as one VDBE step,
#: so the progress handler never fires inside it and the time budget alone does not bound it
#: (a million-item catalog, 450 MB, took 2.5-8 s); quick_check reads ~200 MB/s on a quiet
#: machine, so this is about what OPEN_CHECK_SECONDS allows.
OPEN_CHECK_BYTES = 32 * 1024**2


def check_pages(db: sqlite3.Connection, path: Path, budget: float | None = None) -> bool:
    """Refuse a catalog with a damaged page (``PRAGMA quick_check``); False when ``budget``
    seconds ran out before the check finished (nothing known), True when it is whole."""
    deadline = None if budget is None else time.monotonic() + budget
    if deadline is not None:
        size = (
            db.execute("PRAGMA page_count").fetchone()[0]
            * db.execute("PRAGMA page_size").fetchone()[0]
        )
        if size > OPEN_CHECK_BYTES * budget / OPEN_CHECK_SECONDS:
            return False  # too large to check in the budget: an import checks it whole
        db.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        rows = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            return False
        rows = [str(exc)]
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    finally:
        if deadline is not None:
            db.set_progress_handler(None, 0)
    if rows != ["ok"]:
        raise CatalogCorruptError(
            f"{path}: the catalog is damaged ({'; '.join(rows)[:300]}); nothing was written to "
            f"it - repair it (Dataset > Repair Project…, or: qbi-desktop repair --project "
            f"{path.parent}; it rebuilds what the rows still hold and keeps the damaged file), "
            "or restore it from a backup"
        )
    return True


def disk_full(exc: sqlite3.Error, path: Path) -> bool:
    """SQLite says "database or disk is full", or with no room left on the disk an error that
    running out of room leads to: an I/O error, a page found short ("malformed": a new
    catalog's first pages could not all be written), or the rollback that the full disk had
    already done ("cannot rollback - no transaction is active")."""
    text = str(exc).lower()
    if "full" in text:
        return True
    if any(w in text for w in ("disk i/o error", "malformed", "cannot rollback")):
        free = disk_free(path.parent)
        return free is not None and free < 4 * 1024**2
    return False
