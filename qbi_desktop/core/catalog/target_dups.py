"""Schema v14: each regression target keeps whether its item is a duplicate
(``targets.is_dup``, 0 or 1, the item's ``items.is_dup``: schema v12), kept by triggers, with a
small partial index per direction on (name, value) of the duplicates' targets alone, so that
the "Duplicates" filter sorted by a target reads a page of its own entries.

Before, that page took the duplicates from their index and looked up each one's target, then
sorted them all: the duplicates are a fixed share of a catalog, so the cost grew with it
(2 000 duplicates at a million items: 1.9 ms, growth exponent ~0.5; tests/benchmarks/
bench_catalog.py --grid, row "duplicates", sort by target). The indexes hold the duplicates'
targets only (a few kB), already in target order, ties in id order.

The triggers are named ``*counts*``: a bulk load drops them with the other derived triggers and
:func:`derived.rebuild` sets every row's flag again (:func:`rebuild`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from qbi_desktop.core.catalog.indexes_v9 import derived_column_steps, has_column
from qbi_desktop.core.catalog.ranges import has_index

_ITEM_FLAG = "(SELECT i.is_dup FROM items i WHERE i.id = new.item_id)"

TRIGGERS = {
    # also an INSERT OR REPLACE (a target set again); most items are no duplicates, and a new
    # row's flag is 0, so the row is written again only when the flags differ
    "target_dups_counts_insert": f"AFTER INSERT ON targets WHEN new.is_dup IS NOT {_ITEM_FLAG} "
    f"BEGIN UPDATE targets SET is_dup = {_ITEM_FLAG} "
    "WHERE item_id = new.item_id AND name = new.name; END",
    "target_dups_counts_move": "AFTER UPDATE OF item_id, is_dup ON targets "
    f"WHEN new.is_dup IS NOT {_ITEM_FLAG} BEGIN UPDATE targets SET is_dup = {_ITEM_FLAG} "
    "WHERE item_id = new.item_id AND name = new.name; END",
    # the item's flag changes (duplicate_flags' triggers: a copy added, removed or rehashed)
    "target_dups_counts_item": "AFTER UPDATE OF is_dup ON items WHEN new.is_dup IS NOT "
    "old.is_dup BEGIN UPDATE targets SET is_dup = new.is_dup WHERE item_id = new.id; END",
}

ASCENDING_INDEX = "targets_dups_value"
DESCENDING_INDEX = "targets_dups_value_desc"
INDEXES = [
    f"CREATE INDEX IF NOT EXISTS {ASCENDING_INDEX} ON targets(name, value, item_id) "
    "WHERE is_dup = 1",
    f"CREATE INDEX IF NOT EXISTS {DESCENDING_INDEX} ON targets(name, value DESC, item_id) "
    "WHERE is_dup = 1",
]


def has_flags(db: sqlite3.Connection) -> bool:
    """Whether ``targets`` has the column yet (a catalog passing through older migrations)."""
    return has_column(db, "targets", "is_dup")


def rebuild(db: sqlite3.Connection) -> None:
    """Every target's flag again from its item's (the items' flags set first)."""
    db.execute("UPDATE targets SET is_dup = 0 WHERE is_dup <> 0")
    db.execute(
        "UPDATE targets SET is_dup = 1 WHERE item_id IN (SELECT id FROM items WHERE is_dup = 1)"
    )


def v14_steps() -> list[Callable[[sqlite3.Connection], None]]:
    """The migration in steps: the column, its triggers and flags, then one index each."""
    return derived_column_steps(
        "targets", "is_dup INTEGER NOT NULL DEFAULT 0", TRIGGERS, rebuild, INDEXES
    )


def migrate_v14(db: sqlite3.Connection) -> None:
    for step in v14_steps():
        step(db)


def duplicates_page(
    db: sqlite3.Connection, name: str, descending: bool, offset: int, limit: int
) -> list[int] | None:
    """The ids of one page of the duplicates by target ``name``, ties in id order: one range
    of the duplicates' targets index; None when the catalog has not that index (only schema
    v14 makes it)."""
    index = DESCENDING_INDEX if descending else ASCENDING_INDEX
    if not has_index(db, index):
        return None
    direction = "DESC" if descending else "ASC"
    # the flag written literally: SQLite uses a partial index only for its very WHERE term
    sql = (
        f"SELECT item_id FROM targets INDEXED BY {index} WHERE name = ? AND is_dup = 1 "
        f"ORDER BY value {direction}, item_id ASC LIMIT ? OFFSET ?"
    )
    return [r[0] for r in db.execute(sql, (name, limit, offset))]
