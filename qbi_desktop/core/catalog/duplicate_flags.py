"""Schema v12: whether an item's content hash occurs more than once, kept in ``items.is_dup``
(0 or 1) by triggers, with small partial indexes that give the "Duplicates" filter a page in
any Browser sort order.

Before, the filter found its items through ``duplicate_hashes``: each duplicated hash looked up
in the items' hash index. The duplicates are a fixed share of a catalog (a re-imported folder,
copies of one image), so that cost grew with it: 3.5 ms for 2 000 duplicates at a million
items, before the matches were sorted by looking up each one's sort key (5-6 ms in all). With
the flag, each sort key has an index of the duplicates alone (``WHERE is_dup = 1``: a few kB
for a few thousand duplicates, whatever the catalog's size), already in that key's order, and a
page reads its own entries (0.02 ms).

The flag follows ``duplicate_hashes`` (kept by the triggers of derived.py):
* a hash entering it (a second item with that hash) flags both items;
* the hash leaving it (one item left) clears the last one's flag;
* an item added or given another hash is flagged from the items themselves (whether another
  item has its hash), whatever order SQLite runs the triggers of one statement in.
The triggers on ``duplicate_hashes`` stay through a bulk load (it drops the derived triggers
of the items, targets, boxes and masks tables only); :func:`derived.rebuild` sets every flag
again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from qbi_desktop.core.catalog import count_cache
from qbi_desktop.core.catalog.indexes_v9 import derived_column_steps, has_column

#: Trigger bodies by name. Each reads only the items it changes: an item's own flag from one
#: probe of the hash index, a group's items only when the group forms (2 items) or ends (1
#: left); flagging the whole group at every copy made loading k copies of one image take k^2
#: steps. The item triggers are named ``*counts*`` so that a bulk load drops them with the
#: other derived triggers (its rebuild then sets every flag).
TRIGGERS = {
    "duplicate_flags_insert": "AFTER INSERT ON duplicate_hashes BEGIN "
    "UPDATE items SET is_dup = 1 WHERE hash = new.hash AND is_dup = 0; END",
    "duplicate_flags_delete": "AFTER DELETE ON duplicate_hashes BEGIN "
    "UPDATE items SET is_dup = 0 WHERE hash = old.hash AND is_dup = 1; END",
    "duplicate_counts_flag_insert": "AFTER INSERT ON items WHEN EXISTS "
    "(SELECT 1 FROM items i WHERE i.hash = new.hash AND i.id <> new.id) BEGIN "
    "UPDATE items SET is_dup = 1 WHERE id = new.id; END",
    "duplicate_counts_flag_update": "AFTER UPDATE OF hash ON items BEGIN "
    "UPDATE items SET is_dup = EXISTS (SELECT 1 FROM items i WHERE i.hash = new.hash "
    "AND i.id <> new.id) WHERE id = new.id; END",
}

#: The duplicates' own index (their ids in order) and, per Browser sort key, an index of the
#: duplicates in that key's order, ties in id order. Each also holds the filter columns of
#: item_counts, so "Duplicates" with a label or a split tests its entries without reading the
#: items (a page of 200 of 2 000 duplicates at a million items: 1.6 -> 0.15 ms).
DUPLICATES_INDEX = "items_dups"
SORT_INDEXES = {
    "name": "name",
    "label": "label",
    "annotator": "label_by",
    "split": "split",
    "review": "review",
    "provenance": "provenance_kind",
    "width": "width",
    "n_boxes": "n_boxes",
    "has_mask": "has_mask",
}
_FILTER_COLUMNS = ("label", "split", "review", "provenance_kind", "label_by")


def _index(name: str, first: str) -> str:
    columns = [first, "id"] if first != "id" else ["id"]
    columns += [c for c in _FILTER_COLUMNS if c != first]
    return f"CREATE INDEX IF NOT EXISTS {name} ON items({', '.join(columns)}) WHERE is_dup = 1"


INDEXES: list[str] = [_index(DUPLICATES_INDEX, "id")] + [
    _index(f"items_dups_{key}", column) for key, column in SORT_INDEXES.items()
]

#: The most duplicates a page reads through these indexes (pages.py): one whose key has many
#: ties (a descending sort by box count) or with a rare second filter may sort or test them
#: all (~1 us each); beyond this the other page plans walk the sort order instead, of which
#: the duplicates are then a large share.
MAX_DUPLICATES = 20_000


#: The schema version that has the flag (the column is checked on open: catalogs.checks).
VERSION = 12


def in_schema(db: sqlite3.Connection) -> bool:
    """Whether the catalog of ``db`` keeps the flag (read at every filtered query: the
    version, ~5 us, not the table's columns, ~40 us)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0]) >= VERSION


def sort_index(key: str) -> str | None:
    """The index of the duplicates in the order of the Browser's sort ``key`` (id: their own)."""
    if key == "id":
        return DUPLICATES_INDEX
    return f"items_dups_{key}" if key in SORT_INDEXES else None


def count(db: sqlite3.Connection) -> int:
    """How many items are duplicates (kept in ``duplicate_hashes``: a row per duplicated
    hash, whatever the schema version), read once per catalog state: a page asks when it
    plans and when it reads (count_cache.py)."""
    kept = count_cache.get(db, "duplicates", None)
    if kept is not None:
        return int(kept)
    at = count_cache.state(db)
    n = int(db.execute("SELECT COALESCE(SUM(n), 0) FROM duplicate_hashes").fetchone()[0])
    count_cache.put(db, "duplicates", None, n, at)
    return n


def has_flags(db: sqlite3.Connection) -> bool:
    """Whether ``items`` has the column yet (a catalog older than v12, or passing through older
    migrations)."""
    return has_column(db, "items", "is_dup")


def rebuild_flags(db: sqlite3.Connection) -> None:
    """Every item's flag again from ``duplicate_hashes``."""
    db.execute("UPDATE items SET is_dup = 0 WHERE is_dup = 1")
    db.execute("UPDATE items SET is_dup = 1 WHERE hash IN (SELECT hash FROM duplicate_hashes)")


def v12_steps() -> list[Callable[[sqlite3.Connection], None]]:
    """The migration in steps: the column, its triggers and flags, then one index each (each
    reads every item once, ~0.15 s at a million items)."""
    return derived_column_steps(
        "items", "is_dup INTEGER NOT NULL DEFAULT 0", TRIGGERS, rebuild_flags, INDEXES
    )


def migrate_v12(db: sqlite3.Connection) -> None:
    for step in v12_steps():
        step(db)
