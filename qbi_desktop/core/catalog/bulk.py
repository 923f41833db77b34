"""Loading many items into an empty catalog: build the items' lookup indexes once at the end.

Inserting 70 000 MNIST rows updates eight secondary indexes of ``items`` row by row (the hash
index in random order): about half the insert time. Into an empty table it is cheaper to drop
those indexes, insert, and build each index once from sorted data (``CREATE INDEX``). All of it
happens inside the caller's transaction, so a failed or cancelled import rolls the indexes back
with the rows; the unique indexes stay in place throughout, so duplicates are still refused at
the row that makes them. The count triggers (schema v5) are dropped too and the counts made
once from the loaded rows.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from qbi_desktop.core.catalog import stored_paths
from qbi_desktop.core.catalog.derived import is_derived_trigger, rebuild

#: Page cache of a bulk load (KiB): 70 000 MNIST rows and their indexes fit.
BULK_CACHE_KIB = 65536


def _secondary_indexes(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the non-unique indexes on ``items``."""
    rows = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items' "
        "AND sql IS NOT NULL"
    ).fetchall()
    return [(name, sql) for name, sql in rows if not sql.upper().startswith("CREATE UNIQUE")]


@contextlib.contextmanager
def bulk_items(db: sqlite3.Connection) -> Iterator[bool]:
    """Within a write transaction on ``db``: when ``items`` is empty, its secondary indexes are
    dropped for the block and rebuilt after it. Yields whether that happened."""
    if not db.in_transaction:
        raise RuntimeError("bulk_items needs an open write transaction")
    if db.execute("SELECT 1 FROM items LIMIT 1").fetchone() is not None:
        yield False
        return
    indexes = _secondary_indexes(db)
    for name, _sql in indexes:
        db.execute(f'DROP INDEX "{name}"')
    triggers = [
        (name, sql)
        for name, sql in db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name IN ('items', 'targets', 'boxes', 'masks')"
        ).fetchall()
        if is_derived_trigger(name)
    ]
    for name, _sql in triggers:
        db.execute(f'DROP TRIGGER "{name}"')
    indexes += triggers
    # a larger page cache for the load: the index builds sort in memory instead of spilling
    cache = int(db.execute("PRAGMA cache_size").fetchone()[0])
    db.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
    try:
        yield True
    except BaseException:
        # The caller normally rolls back, which restores the dropped indexes; rebuilding them
        # anyway keeps the catalog whole if it commits what it has instead.
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                _create(db, indexes)
        raise
    else:
        _create(db, indexes)
    finally:
        db.execute(f"PRAGMA cache_size = {cache}")


def _create(db: sqlite3.Connection, objects: list[tuple[str, str]]) -> None:
    """Recreate the dropped indexes and triggers, and count what was loaded."""
    for _name, sql in objects:
        for kind in ("INDEX", "TRIGGER"):
            sql = sql.replace(f"CREATE {kind} ", f"CREATE {kind} IF NOT EXISTS ", 1)
        db.execute(sql)
    if any(is_derived_trigger(name) for name, _ in objects):
        recount(db)
        rebuild(db)


def recount(db: sqlite3.Connection) -> None:
    """Rebuild item_counts and target_counts from the items and targets."""
    db.execute("DELETE FROM item_counts")
    db.execute(
        "INSERT INTO item_counts SELECT "
        "json_array(label, split, review, provenance_kind, label_by), "
        "label, split, review, provenance_kind, label_by, COUNT(*) FROM items "
        "GROUP BY label, split, review, provenance_kind, label_by"
    )
    db.execute("DELETE FROM target_counts")
    db.execute("INSERT INTO target_counts SELECT name, COUNT(*) FROM targets GROUP BY name")


def add_container_rows(
    db: sqlite3.Connection,
    container: int,
    indices: Sequence[int],
    names: Sequence[str],
    hashes: Sequence[str],
    size: tuple[int, int],
    labels: Sequence[str | None] | None,
    targets: Sequence[dict[str, float]] | None,
    split: str | None,
    annotator: str | None,
    provenance: dict[str, Any],
) -> list[int]:
    """Insert rows of an array container (MNIST, NPZ) column by column; their new ids.

    The same rows :meth:`Writer.add_items` writes for ``NewItem(container=..., index=i, ...)``
    (tests compare every column), without building an object per item. The provenance of row
    ``i`` is ``provenance`` plus ``"index": i``: kept once in the container when its rows share
    it (``derived.provenance_sql`` reads it back), else written per row from one prefix.
    """
    from qbi_desktop.core.catalog import schema
    from qbi_desktop.core.catalog.records import _check_choice, now

    _check_choice(split, schema.SPLITS, "split")
    if not indices:
        return []
    if labels is not None:  # the class-name rule of every other way in (classes.py)
        from qbi_desktop.core.catalog.classes import nfc, refuse_bad_names

        first: dict[Any, int] = {}
        for label, i in zip(labels, indices, strict=True):
            first.setdefault(label, i)
        refuse_bad_names((label, f"row {i} of the array") for label, i in first.items())
        if any(nfc(label) != label for label in first):  # stored in NFC (classes.nfc)
            labels = [nfc(label) for label in labels]
    start = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]) + 1
    ids = list(range(start, start + len(indices)))
    if _shares_provenance(db, container, provenance):
        texts: Any = "{}"
    else:
        prefix = json.dumps({**provenance, "index": 0})
        prefix = prefix[: prefix.rindex("0}")]  # '{"source": ..., "index": '
        texts = [f"{prefix}{i}}}" for i in indices]
    if labels is None or annotator is None:
        by: Any = None
    elif any(label is None for label in labels):
        by = [None if label is None else annotator for label in labels]
    else:
        by = annotator
    width, height = size
    # A value shared by every row is written into the statement instead of bound per row (a
    # fifth of the insert time); the ids follow on from the largest (SQLite's own choice for
    # a row without one, checked below).
    values = {
        "name": [stored_paths.shown(name) for name in names],  # non-UTF-8 bytes as \\xff
        "path": None,
        "container_id": int(container),
        "idx": indices,
        "hash": hashes,
        "size": None,
        "width": int(width),
        "height": int(height),
        "label": labels,
        "label_by": by,
        "split": split,
        "provenance_kind": "acquired",
        "provenance": texts,
        "parent_id": None,
        "metadata": "{}",
        "added": now(),
    }
    places, columns = [], []
    for value in values.values():
        literal = _literal(value)
        places.append("?" if literal is None else literal)
        if literal is None:
            columns.append(value)
    # The CHECK constraints of items cost two thirds of the insert time (SQLite builds each
    # "IN (...)" list again per row). Every checked value is fixed here or checked above
    # (split), so they are skipped for this statement only.
    db.execute("PRAGMA ignore_check_constraints = ON")
    try:
        db.executemany(
            f"INSERT INTO items({', '.join(values)}) VALUES ({','.join(places)})",
            zip(*columns, strict=True),
        )
    finally:
        db.execute("PRAGMA ignore_check_constraints = OFF")
    last = db.execute("SELECT MAX(id) FROM items").fetchone()[0]
    if last != ids[-1]:  # cannot happen in our own write transaction; never guess at ids
        raise RuntimeError(f"items got ids up to {last}, expected {ids[-1]}")
    if targets is not None:
        db.executemany(
            "INSERT INTO targets(item_id, name, value, annotator) VALUES (?,?,?,?)",
            [
                (i, name, float(v), annotator)
                for i, row in zip(ids, targets, strict=True)
                for name, v in row.items()
            ],
        )
    return ids


def _literal(value: Any) -> str | None:
    """``value`` as an SQL literal, or None when it is bound instead (a sequence of per-row
    values, text SQLite cannot take literally)."""
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and "\x00" not in value:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: bound, so SQLite's own error says so
            return None
        return "'" + value.replace("'", "''") + "'"
    return None


def _shares_provenance(db: sqlite3.Connection, container: int, provenance: dict[str, Any]) -> bool:
    """Whether new rows of ``container`` take its stored provenance (set now when the container
    has no rows yet); False when the container's rows keep their own."""
    row = db.execute("SELECT provenance FROM containers WHERE id = ?", (container,)).fetchone()
    if row is None:
        return False
    if row[0] is not None:
        return json.loads(row[0]) == provenance
    if db.execute("SELECT 1 FROM items WHERE container_id = ? LIMIT 1", (container,)).fetchone():
        return False
    db.execute(
        "UPDATE containers SET provenance = ? WHERE id = ?", (json.dumps(provenance), container)
    )
    return True


#: The count triggers that fire once per inserted box (derived.py)
_BOX_INSERT_TRIGGERS = ("box_counts_insert", "box_label_counts_insert")
#: From this many boxes in one insert, the counts are made once after it (dropping and making
#: the triggers again changes the schema, which every other connection then reads again)
BULK_BOXES = 5000


@contextlib.contextmanager
def box_inserts(db: sqlite3.Connection, count: int) -> Iterator[None]:
    """Within a write transaction, around a block that only inserts ``count`` boxes: when they
    are many, the per-box count triggers are dropped for the block and the items' box counts
    and the label counts made up once at its end, from the boxes with ids above the largest
    before it (new rows of a block without deletes). Into an existing catalog, a COCO file of
    80 000 boxes spent ~40 us per box in the triggers, more than the rest of the import."""
    triggers = []
    if count >= BULK_BOXES:
        placeholders = ", ".join("?" * len(_BOX_INSERT_TRIGGERS))
        triggers = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            f"AND name IN ({placeholders})",
            _BOX_INSERT_TRIGGERS,
        ).fetchall()
    if not triggers:
        yield
        return
    last = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM boxes").fetchone()[0])
    for name, _sql in triggers:
        db.execute(f'DROP TRIGGER "{name}"')
    try:
        yield
    except BaseException:
        # the caller rolls back; made whole anyway in case it commits what it has (as
        # bulk_items), without hiding the first error behind a second one
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                _count_new_boxes(db, triggers, last)
        raise
    _count_new_boxes(db, triggers, last)


def _count_new_boxes(db: sqlite3.Connection, triggers: list[tuple[str, str]], last: int) -> None:
    """What the dropped insert triggers would have counted for the boxes with ids above
    ``last``; then the triggers again."""
    names = {name for name, _sql in triggers}
    if "box_counts_insert" in names:
        db.execute(
            "UPDATE items SET n_boxes = n_boxes + "
            "(SELECT COUNT(*) FROM boxes b WHERE b.item_id = items.id AND b.id > ?) "
            "WHERE id IN (SELECT item_id FROM boxes WHERE id > ?)",
            (last, last),
        )
    if "box_label_counts_insert" in names:
        db.execute(
            "INSERT INTO box_label_counts SELECT label, COUNT(*) FROM boxes WHERE id > ? "
            "GROUP BY label ON CONFLICT(label) DO UPDATE SET n = n + excluded.n",
            (last,),
        )
    for _name, sql in triggers:
        db.execute(sql)
