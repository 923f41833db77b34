"""Each annotator's own annotation of an item (schema v4 table ``opinions``).

The item's columns, targets, boxes and mask are *the item's annotation*: the latest edit, or a
consensus once one is built, and what exports use by default. Next to it every person's version
is kept apart here, one row per (item, annotator, kind, name):

=========  ======================  ===========================================================
kind       name                    value (JSON)
=========  ======================  ===========================================================
label      ''                      the class label
target     the target's name       a number
boxes      ''                      ``[[label, x, y, w, h], ...]``
mask       ''                      the mask file, relative to the project:
                                   ``annotators/<annotator folder>/<item>-<random>.tif``
review     ''                      the review state
=========  ======================  ===========================================================

:class:`~qbi_desktop.core.catalog.project.Writer` records an opinion in the same transaction as
the edit whenever it is given an annotator. Readers: :func:`for_item` (one item, every
annotator: blind mode, the disagreement queue), :func:`table` (one kind over the project: the
agreement report), :func:`annotators` and :func:`counts` (Browser filters, "needs a second
opinion").
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.catalog.connection import open_read_only

if TYPE_CHECKING:
    from qbi_desktop.core.catalog.project import Project, Writer

KINDS = ("label", "target", "boxes", "mask", "review")
#: Each annotator's own mask files, one folder per person. Not under masks/: that folder holds
#: the items' masks only (what the leftover sweep and the catalog checks expect there).
ANNOTATORS_DIR = "annotators"
#: Who the consensus is written as (the item's annotation only, never an opinion).
CONSENSUS_PREFIX = "consensus of "


def annotator_folder(annotator: str) -> str:
    """A file-system-safe, collision-free folder name for an annotator's masks."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in annotator)[:40].strip(".")
    digest = hashlib.blake2b(annotator.encode("utf-8"), digest_size=4).hexdigest()
    return f"{stem or 'annotator'}-{digest}"


def is_consensus(annotator: str | None) -> bool:
    return bool(annotator) and str(annotator).startswith(CONSENSUS_PREFIX)


def record(
    db: sqlite3.Connection,
    ids: Iterable[int],
    annotator: str,
    kind: str,
    value: Any,
    at: str,
    name: str = "",
) -> None:
    """Keep ``annotator``'s ``value`` of ``kind`` (``None``: they cleared it) for items ``ids``."""
    if kind not in KINDS:
        raise ValueError(f"opinion kind {kind!r} is not one of {KINDS}")
    ids = list(ids)
    if value is None:
        db.executemany(
            "DELETE FROM opinions WHERE item_id = ? AND annotator = ? AND kind = ? AND name = ?",
            [(i, annotator, kind, name) for i in ids],
        )
        return
    _remember(db, annotator)
    text = json.dumps(value)
    db.executemany(
        "INSERT INTO opinions(item_id, annotator, kind, name, value, at) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(item_id, annotator, kind, name) DO UPDATE SET value = excluded.value, "
        "at = excluded.at",
        [(i, annotator, kind, name, text, at) for i in ids],
    )


def texts(
    db: sqlite3.Connection, ids: Iterable[int], annotator: str, kind: str, name: str = ""
) -> dict[int, str | None]:
    """The stored JSON text of ``annotator``'s opinion of ``kind`` per item (``None``: none)."""
    ids = [int(i) for i in ids]
    out: dict[int, str | None] = dict.fromkeys(ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = db.execute(
            "SELECT item_id, value FROM opinions WHERE annotator = ? AND kind = ? AND name = ? "
            f"AND item_id IN ({','.join('?' * len(chunk))})",
            [annotator, kind, name, *chunk],
        )
        for item_id, value in rows:
            out[int(item_id)] = value
    return out


def put_texts(db: sqlite3.Connection, rows: Iterable[tuple], at: str) -> None:
    """Write opinions back as stored texts: rows of (item, annotator, kind, name, text), a
    ``None`` text removing the opinion (how undo gives a person their earlier version back)."""
    for item_id, annotator, kind, name, text in rows:
        if text is None:
            db.execute(
                "DELETE FROM opinions WHERE item_id = ? AND annotator = ? AND kind = ? "
                "AND name = ?",
                (item_id, annotator, kind, name),
            )
        else:
            db.execute(
                "INSERT INTO opinions(item_id, annotator, kind, name, value, at) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(item_id, annotator, kind, name) DO UPDATE "
                "SET value = excluded.value, at = excluded.at",
                (item_id, annotator, kind, name, text, at),
            )


def _remember(db: sqlite3.Connection, annotator: str) -> None:
    """Keep the project's list of annotators in its metadata (key ``annotators``), which a
    Data Package export states next to the consensus method (key ``consensus``)."""
    from qbi_desktop.core.catalog.classes import refuse_bad_annotators

    refuse_bad_annotators([(annotator, "opinion's annotator")])
    row = db.execute("SELECT value FROM meta WHERE key = 'annotators'").fetchone()
    people = json.loads(row[0]) if row is not None else []
    if annotator not in people:
        db.execute(
            "INSERT INTO meta(key, value) VALUES ('annotators', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (json.dumps(sorted([*people, annotator])),),
        )


def record_mask(
    writer: Writer, item_id: int, annotator: str, data: bytes | None, at: str
) -> str | None:
    """Keep ``annotator``'s mask of an item: ``data`` is the TIFF the item's mask was written
    as (``None``: they cleared it). Written atomically into the annotator's folder; the file it
    replaces is deleted after the transaction commits, a new one removed if it rolls back."""
    from qbi_desktop.core.atomic import atomic_write_bytes

    project = writer.project
    old = writer.db.execute(
        "SELECT value FROM opinions WHERE item_id = ? AND annotator = ? AND kind = 'mask'",
        (item_id, annotator),
    ).fetchone()
    if old is not None:
        writer.obsolete.append(project.resolve(json.loads(old[0])))
    if data is None:
        record(writer.db, [item_id], annotator, "mask", None, at)
        return None
    folder = project.root / ANNOTATORS_DIR / annotator_folder(annotator)
    folder.mkdir(parents=True, exist_ok=True)
    import secrets

    path = folder / f"{item_id}-{secrets.token_hex(4)}.tif"
    atomic_write_bytes(path, data)
    writer.created.append(path)
    stored = project.store_path(path)
    record(writer.db, [item_id], annotator, "mask", stored, at)
    return stored


def mask_paths(db_path: Path) -> set[str] | None:
    """The stored paths of every annotator's own mask file (what the leftover sweep keeps),
    or None when they cannot be read.

    Read on a read-only connection of its own, closed without ``PRAGMA optimize``: the
    project's connection runs that pragma when it closes, and it ANALYZEs each table that
    connection queried and that has no statistics yet. Reading ``opinions`` there while opening
    a project wrote ``sqlite_stat1`` into the catalog of a project that was only read."""
    try:
        db = open_read_only(db_path)
    except sqlite3.Error:
        return None
    try:
        rows = db.execute(
            "SELECT json_extract(value, '$') FROM opinions WHERE kind = 'mask'"
        ).fetchall()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return {r[0] for r in rows if isinstance(r[0], str)}


def boxes_value(boxes: Sequence[Any]) -> list[list[Any]]:
    """Boxes (objects with label, x, y, w, h) as an opinion value."""
    return [[b.label, float(b.x), float(b.y), float(b.w), float(b.h)] for b in boxes]


# -- reading -------------------------------------------------------------------------------------


def for_item(db: sqlite3.Connection, item_id: int) -> dict[str, dict[str, Any]]:
    """Every annotator's annotation of one item: ``{annotator: {"label": ..., "targets":
    {name: value}, "boxes": [...], "mask": path, "review": ...}}`` (only what each one set)."""
    out: dict[str, dict[str, Any]] = {}
    rows = db.execute(
        "SELECT annotator, kind, name, value, at FROM opinions WHERE item_id = ? "
        "ORDER BY annotator, kind, name",
        (item_id,),
    )
    for annotator, kind, name, value, _at in rows:
        mine = out.setdefault(annotator, {})
        if kind == "target":
            mine.setdefault("targets", {})[name] = json.loads(value)
        else:
            mine[kind] = json.loads(value)
    return out


def table(db: sqlite3.Connection, kind: str, name: str = "") -> dict[int, dict[str, Any]]:
    """One kind over the whole project: ``{item_id: {annotator: value}}``."""
    out: dict[int, dict[str, Any]] = {}
    if kind == "boxes":
        rows = db.execute(
            "SELECT item_id, annotator, value FROM opinions WHERE kind = ? AND name = ? "
            "ORDER BY item_id, annotator",
            (kind, name),
        )
        for item_id, annotator, value in rows:
            out.setdefault(item_id, {})[annotator] = json.loads(value)
        return out
    # scalars (text, number): SQLite decodes the JSON, far faster than json.loads per row
    rows = db.execute(
        "SELECT item_id, annotator, json_extract(value, '$') FROM opinions "
        "WHERE kind = ? AND name = ? ORDER BY item_id, annotator",
        (kind, name),
    )
    for item_id, annotator, value in rows:
        out.setdefault(item_id, {})[annotator] = value
    return out


def target_names(db: sqlite3.Connection) -> list[str]:
    rows = db.execute("SELECT DISTINCT name FROM opinions WHERE kind = 'target' ORDER BY name")
    return [r[0] for r in rows]


def annotators(db: sqlite3.Connection, kind: str | None = None) -> list[str]:
    """Everyone who annotated something (of ``kind``), sorted."""
    if kind is None:
        rows = db.execute("SELECT DISTINCT annotator FROM opinions ORDER BY annotator")
    else:
        rows = db.execute(
            "SELECT DISTINCT annotator FROM opinions WHERE kind = ? ORDER BY annotator", (kind,)
        )
    return [r[0] for r in rows]


#: Metadata key: the project is shared, so every annotator gives a name before their first edit
#: (Edit ▸ Shared Project), also before anyone else has annotated it.
SHARED_KEY = "shared"


def marked_shared(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (SHARED_KEY,)).fetchone()
    return row is not None and json.loads(row[0]) is True


def mark_shared(project: Project, shared: bool) -> None:
    """Say in the project's metadata whether it is shared (kept in the catalog, so every copy
    and every person opening it sees it)."""
    with project.transaction() as tx:
        tx.set_metadata(**{SHARED_KEY: True if shared else None})


def shared_with(db: sqlite3.Connection, annotator: str) -> list[str]:
    """The people besides ``annotator`` whose work the project holds: their opinions, the
    project's list of annotators and the history (``annotation_log``). The simulator and
    consensus provenances are nobody's own work."""
    from qbi_desktop.core.annotation.own_view import SIMULATOR, others

    people = set(others(db, annotator))
    rows = db.execute(
        "SELECT DISTINCT annotator FROM annotation_log WHERE annotator IS NOT NULL "
        "AND annotator NOT IN (?, ?)",
        (annotator, SIMULATOR),
    )
    people.update(r[0] for r in rows if r[0] and not is_consensus(r[0]))
    return sorted(people)


def counts(db: sqlite3.Connection, kind: str, name: str = "") -> dict[int, int]:
    """How many annotators gave each item an annotation of ``kind`` (a Browser filter "needs a
    second opinion" is the items with 1)."""
    rows = db.execute(
        "SELECT item_id, COUNT(*) FROM opinions WHERE kind = ? AND name = ? GROUP BY item_id",
        (kind, name),
    )
    return {int(i): int(n) for i, n in rows}


def load_mask(
    project: Project,
    stored: str,
    item_id: int,
    annotator: str,
    expected_shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Read one annotator's mask file (a regular file; its declared size checked before
    decoding); a clear message names the file, the item and the person."""
    from qbi_desktop.core.errors import UserFacingError
    from qbi_desktop.core.maskio import read_mask_file
    from qbi_desktop.core.safefile import not_regular

    path = Path(project.resolve(stored))
    problem = not_regular(path)
    if problem:
        raise UserFacingError(f"{path}: mask of item {item_id} by {annotator!r}: {problem}")
    try:
        return np.asarray(read_mask_file(path, expected_shape)[0])
    except UserFacingError as exc:
        raise UserFacingError(f"mask of item {item_id} by {annotator!r}: {exc}") from exc


# -- exports -------------------------------------------------------------------------------------

#: What an export carries: the item's annotation only (the consensus, or the latest edit), or
#: also every annotator's own (``annotators/`` in the export).
EXPORT_ANNOTATIONS = ("item", "every")
#: The choice of the export being made: ``export_job`` sets it around the format's exporter,
#: whose common frame (``formats.common.run_export``) asks it, so the exporters of every format
#: need not each carry the option.
EXPORTING: contextvars.ContextVar[str] = contextvars.ContextVar("annotations", default="item")


def export_opinions(
    project: Project, db: sqlite3.Connection, rows: list[dict], folder: Any
) -> list[str]:
    """Write every annotator's own annotations of the exported items into ``folder`` (an
    ``ExportFolder``): ``annotators/annotations.csv`` (item, name, annotator, kind, target,
    value as JSON, at) and their masks as ``annotators/<annotator>/<item name>.tif``. Returns
    notes for the export report."""
    import csv
    import io

    wanted = {int(r["id"]): str(r["name"]) for r in rows}
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("item", "name", "annotator", "kind", "target", "value", "at"))
    masks = 0
    query = db.execute(
        "SELECT item_id, annotator, kind, name, value, at FROM opinions "
        "ORDER BY item_id, annotator, kind, name"
    )
    for item_id, annotator, kind, name, value, at in query:
        if item_id not in wanted:
            continue
        if kind == "mask":
            source = project.resolve(json.loads(value))
            stem = Path(wanted[item_id]).stem or str(item_id)
            value = json.dumps(
                folder.copy_file(f"annotators/{annotator_folder(annotator)}/{stem}.tif", source)
            )
            masks += 1
        writer.writerow((item_id, wanted[item_id], annotator, kind, name, value, at))
    folder.write_bytes("annotators/annotations.csv", text.getvalue().encode("utf-8"))
    people = annotators(db)
    return [
        f"every annotator's own annotations ({', '.join(people) or 'none'}) are in annotators/"
        + (f", with {masks} mask file(s)" if masks else "")
    ]
