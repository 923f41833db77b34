"""What the catalog keeps beside its items so that every Browser sort and filter reads a page,
not the whole table (schema v7), and the migration that adds it.

* ``items.n_boxes``: each item's number of boxes, kept by triggers on ``boxes``, with an index
  per direction: a sort by box count walks an index instead of counting every item's boxes.
* ``duplicate_hashes``: the content hashes that occur more than once and how often, kept by
  triggers on ``items``: the "Duplicates" filter reads the few duplicated hashes and their items
  through the hash index instead of grouping every hash.
* ``container_counts``: the number of items of each array container, kept by triggers: a sort
  by source knows the size of a container's group of rows at once.
* ``items_names``: an FTS5 trigram index over the item names (external content: the names are
  stored once, in ``items``), kept by triggers: a "name contains" filter of three characters
  or more finds its few matches without reading every name.
* ``containers.provenance``: the provenance an array import gives every row of a container,
  stored once. Such rows keep ``'{}'`` in ``items.provenance``; their full provenance is
  :func:`provenance_sql` (the container's, plus ``"index"``: the row), as it was per row before.

Schema v8 (:func:`migrate_v8`) adds ``box_label_counts``: the number of boxes of each class,
kept by triggers on ``boxes``, so the class picker (key C) lists its classes without grouping
every box (32 ms at 40 000 boxes, on the GUI thread).

Bulk loads into an empty catalog (:mod:`.bulk`) drop the triggers named ``*counts*`` and
``items_names_*`` and call :func:`rebuild` at the end.
"""

from __future__ import annotations

import sqlite3

from qbi_desktop.core.catalog import duplicate_flags, target_dups, target_facets
from qbi_desktop.core.catalog.mask_flags import has_flags, rebuild_flags

#: Trigger bodies by name (CREATE TRIGGER IF NOT EXISTS <name> <body>).
TRIGGERS = {
    "box_counts_insert": "AFTER INSERT ON boxes BEGIN "
    "UPDATE items SET n_boxes = n_boxes + 1 WHERE id = new.item_id; END",
    "box_counts_delete": "AFTER DELETE ON boxes BEGIN "
    "UPDATE items SET n_boxes = n_boxes - 1 WHERE id = old.item_id; END",
    "box_counts_update": "AFTER UPDATE OF item_id ON boxes BEGIN "
    "UPDATE items SET n_boxes = n_boxes - 1 WHERE id = old.item_id; "
    "UPDATE items SET n_boxes = n_boxes + 1 WHERE id = new.item_id; END",
    # a hash enters (n = 2) when a second item has it and is counted up after that: counting
    # its items at every insert made loading k copies of one image take k^2 steps (100 000
    # identical items: hours)
    "duplicate_counts_insert": "AFTER INSERT ON items BEGIN "
    "UPDATE duplicate_hashes SET n = n + 1 WHERE hash = new.hash; "
    "INSERT INTO duplicate_hashes SELECT new.hash, 2 "
    "WHERE NOT EXISTS (SELECT 1 FROM duplicate_hashes d WHERE d.hash = new.hash) "
    "AND EXISTS (SELECT 1 FROM items i WHERE i.hash = new.hash AND i.id <> new.id); END",
    "duplicate_counts_delete": "AFTER DELETE ON items "
    "WHEN EXISTS (SELECT 1 FROM duplicate_hashes d WHERE d.hash = old.hash) BEGIN "
    "UPDATE duplicate_hashes SET n = n - 1 WHERE hash = old.hash; "
    "DELETE FROM duplicate_hashes WHERE hash = old.hash AND n < 2; END",
    "duplicate_counts_update": "AFTER UPDATE OF hash ON items BEGIN "
    "UPDATE duplicate_hashes SET n = n - 1 WHERE hash = old.hash; "
    "DELETE FROM duplicate_hashes WHERE hash = old.hash AND n < 2; "
    "UPDATE duplicate_hashes SET n = n + 1 WHERE hash = new.hash; "
    "INSERT INTO duplicate_hashes SELECT new.hash, 2 "
    "WHERE NOT EXISTS (SELECT 1 FROM duplicate_hashes d WHERE d.hash = new.hash) "
    "AND EXISTS (SELECT 1 FROM items i WHERE i.hash = new.hash AND i.id <> new.id); END",
    "container_counts_insert": "AFTER INSERT ON items WHEN new.container_id IS NOT NULL BEGIN "
    "INSERT INTO container_counts VALUES (new.container_id, 1) "
    "ON CONFLICT(container_id) DO UPDATE SET n = n + 1; END",
    "container_counts_delete": "AFTER DELETE ON items WHEN old.container_id IS NOT NULL BEGIN "
    "UPDATE container_counts SET n = n - 1 WHERE container_id = old.container_id; END",
    "container_counts_update": "AFTER UPDATE OF container_id ON items BEGIN "
    "UPDATE container_counts SET n = n - 1 WHERE container_id = old.container_id; "
    "INSERT INTO container_counts SELECT new.container_id, 1 WHERE new.container_id IS NOT NULL "
    "ON CONFLICT(container_id) DO UPDATE SET n = n + 1; END",
    "items_names_insert": "AFTER INSERT ON items BEGIN "
    "INSERT INTO items_names(rowid, name) VALUES (new.id, new.name); END",
    "items_names_delete": "AFTER DELETE ON items BEGIN "
    "INSERT INTO items_names(items_names, rowid, name) VALUES ('delete', old.id, old.name); END",
    "items_names_update": "AFTER UPDATE OF name ON items BEGIN "
    "INSERT INTO items_names(items_names, rowid, name) VALUES ('delete', old.id, old.name); "
    "INSERT INTO items_names(rowid, name) VALUES (new.id, new.name); END",
}

#: Schema v8's triggers: boxes counted per class.
TRIGGERS_V8 = {
    "box_label_counts_insert": "AFTER INSERT ON boxes BEGIN "
    "INSERT INTO box_label_counts VALUES (new.label, 1) "
    "ON CONFLICT(label) DO UPDATE SET n = n + 1; END",
    "box_label_counts_delete": "AFTER DELETE ON boxes BEGIN "
    "UPDATE box_label_counts SET n = n - 1 WHERE label = old.label; END",
    "box_label_counts_update": "AFTER UPDATE OF label ON boxes BEGIN "
    "UPDATE box_label_counts SET n = n - 1 WHERE label = old.label; "
    "INSERT INTO box_label_counts VALUES (new.label, 1) "
    "ON CONFLICT(label) DO UPDATE SET n = n + 1; END",
}

_TABLES = (
    "CREATE INDEX IF NOT EXISTS items_n_boxes ON items(n_boxes)",
    "CREATE INDEX IF NOT EXISTS items_n_boxes_desc ON items(n_boxes DESC, id)",
    # a container's rows in id order (items_container orders them by row index)
    "CREATE INDEX IF NOT EXISTS items_container_id ON items(container_id)",
    "CREATE TABLE IF NOT EXISTS duplicate_hashes (hash TEXT PRIMARY KEY, n INTEGER NOT NULL) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS container_counts "
    "(container_id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
    # detail=none: a substring query needs only which rows hold each trigram (smaller, faster
    # to build); the LIKE on this table still tests the whole pattern
    "CREATE VIRTUAL TABLE IF NOT EXISTS items_names USING fts5(name, content='items', "
    "content_rowid='id', tokenize='trigram', detail='none', columnsize=0)",
)


def migrate_v7(db: sqlite3.Connection) -> None:
    """Schema version 7 (inside the migration's transaction); may run again over its result."""
    columns = {r[1] for r in db.execute("PRAGMA table_info(items)")}
    if "n_boxes" not in columns:
        db.execute("ALTER TABLE items ADD COLUMN n_boxes INTEGER NOT NULL DEFAULT 0")
    if "provenance" not in {r[1] for r in db.execute("PRAGMA table_info(containers)")}:
        db.execute("ALTER TABLE containers ADD COLUMN provenance TEXT")  # JSON, see module doc
    for sql in _TABLES:
        db.execute(sql)
    create_triggers(db)
    rebuild(db)
    _share_container_provenance(db)


def migrate_v8(db: sqlite3.Connection) -> None:
    """Schema version 8 (inside the migration's transaction); may run again over its result.

    Blind mode reads a person's opinions of one kind in item order with their values: this
    index holds all of it (a WITHOUT ROWID table's index would put item_id after value and lose
    the order), so the read walks one index range instead of looking up each row (420 ms at
    100 000 items). It starts with (annotator, kind), so the older index on those two goes.
    """
    db.execute(
        "CREATE INDEX IF NOT EXISTS opinions_own ON opinions(annotator, kind, name, item_id, value)"
    )
    db.execute("DROP INDEX IF EXISTS opinions_annotator")
    db.execute(
        "CREATE TABLE IF NOT EXISTS box_label_counts (label TEXT PRIMARY KEY, n INTEGER NOT NULL) "
        "WITHOUT ROWID"
    )
    create_triggers(db, TRIGGERS_V8)
    _count_box_labels(db)


def create_triggers(db: sqlite3.Connection, triggers: dict[str, str] | None = None) -> None:
    for name, body in (TRIGGERS if triggers is None else triggers).items():
        db.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")


def _count_box_labels(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM box_label_counts")
    db.execute("INSERT INTO box_label_counts SELECT label, COUNT(*) FROM boxes GROUP BY label")


def is_derived_trigger(name: str) -> bool:
    """Whether a bulk load drops this trigger and :func:`rebuild` makes up for it."""
    return "counts" in name or name.startswith("items_names_")


def rebuild(db: sqlite3.Connection, boxes: bool = True) -> None:
    """Make every derived table of this module again from the items and boxes."""
    if boxes:
        db.execute("UPDATE items SET n_boxes = 0 WHERE n_boxes <> 0")
        db.execute(
            "UPDATE items SET n_boxes = (SELECT COUNT(*) FROM boxes b WHERE b.item_id = items.id) "
            "WHERE id IN (SELECT item_id FROM boxes)"
        )
        # absent while a catalog older than v8 passes through the v7 migration
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'box_label_counts'").fetchone():
            _count_box_labels(db)
        if has_flags(db):  # schema v11 (a catalog passing through v7 has no column yet)
            rebuild_flags(db)
    db.execute("DELETE FROM duplicate_hashes")
    db.execute(
        "INSERT INTO duplicate_hashes SELECT hash, COUNT(*) FROM items "
        "GROUP BY hash HAVING COUNT(*) > 1"
    )
    if duplicate_flags.has_flags(db):  # schema v12 (absent while older migrations run)
        duplicate_flags.rebuild_flags(db)
    if target_facets.has_facets(db):  # schema v13
        target_facets.rebuild(db)
    if target_dups.has_flags(db):  # schema v14, from the items' flags set above
        target_dups.rebuild(db)
    db.execute("DELETE FROM container_counts")
    db.execute(
        "INSERT INTO container_counts SELECT container_id, COUNT(*) FROM items "
        "WHERE container_id IS NOT NULL GROUP BY container_id"
    )
    db.execute("INSERT INTO items_names(items_names) VALUES ('rebuild')")


def _share_container_provenance(db: sqlite3.Connection) -> None:
    """Rows of a container whose provenance is the same apart from their own ``"index"`` (what
    array imports wrote) keep it once, in the container; a container with any other row keeps
    every row's own provenance."""
    same = (
        "json_valid(i.provenance) AND json_extract(i.provenance, '$.index') IS i.idx "
        "AND json_remove(i.provenance, '$.index') = {shared}"
    )
    for (cid,) in db.execute("SELECT id FROM containers WHERE provenance IS NULL").fetchall():
        row = db.execute(
            "SELECT json_remove(i.provenance, '$.index') FROM items i WHERE i.container_id = ? "
            "AND json_valid(i.provenance) AND json_extract(i.provenance, '$.index') IS i.idx "
            "ORDER BY i.id LIMIT 1",
            (cid,),
        ).fetchone()
        if row is None:
            continue
        other = db.execute(
            f"SELECT 1 FROM items i WHERE i.container_id = ? AND NOT ({same.format(shared='?')}) "
            "LIMIT 1",
            (cid, row[0]),
        ).fetchone()
        if other is None:
            db.execute("UPDATE containers SET provenance = ? WHERE id = ?", (row[0], cid))
            db.execute("UPDATE items SET provenance = '{}' WHERE container_id = ?", (cid,))


def provenance_sql(items: str = "items") -> str:
    """An SQL expression for the full provenance JSON of the row ``items`` (a table alias)."""
    return (
        "COALESCE((SELECT json_patch(json_set(c.provenance, '$.index', "
        f"{items}.idx), {items}.provenance) FROM containers c WHERE c.id = {items}.container_id "
        f"AND c.provenance IS NOT NULL), {items}.provenance)"
    )
