"""Schema v11: whether an item has a mask, kept in ``items.has_mask`` (0 or 1) by triggers on
``masks``, with the indexes that let the Browser's sort by "has a mask" read a page.

Before, the sort took the masked items from the masks table and the others by testing each
item in id order for a mask. A filter whose items all have masks (simulated items, in a
catalog where the simulator writes a mask with every image) then tested every one of its
items before the page could start with the masked ones: linear in the catalog (27 ms at a
million items, and growing). With the flag in items, each part of that sort (the items
without a mask, then those with one, each in id order) is one range of an index: of
``items_has_mask`` without a filter, of a (filter column, has_mask) pair index with a filter
on one value of label, split, review or origin (the pairs of schema v9: pages.py walks them
the same way as the box counts).

The triggers are named ``*counts*``: a bulk load drops them and :func:`derived.rebuild`
makes the flags again (:func:`rebuild_flags`), as for the box counts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from qbi_desktop.core.catalog.indexes_v9 import (
    PAIR_FILTERS,
    derived_column_steps,
    has_column,
    pair_index,
)

#: Trigger bodies by name (a mask per item at most: masks.item_id is the primary key). An
#: INSERT OR REPLACE of an item's mask fires only the insert trigger (SQLite's REPLACE runs
#: no delete trigger), which leaves the flag at 1, as it should.
TRIGGERS = {
    "mask_counts_insert": "AFTER INSERT ON masks BEGIN "
    "UPDATE items SET has_mask = 1 WHERE id = new.item_id; END",
    "mask_counts_delete": "AFTER DELETE ON masks BEGIN "
    "UPDATE items SET has_mask = 0 WHERE id = old.item_id; END",
    "mask_counts_update": "AFTER UPDATE OF item_id ON masks BEGIN "
    "UPDATE items SET has_mask = 0 WHERE id = old.item_id; "
    "UPDATE items SET has_mask = 1 WHERE id = new.item_id; END",
}

#: The flag's own index (either part of a sort without a filter column, in id order) and one
#: (filter column, has_mask) pair per filter column of schema v9: 9 and 11-20 MB at a million
#: items, 72 MB in all.
INDEXES: list[str] = [
    "CREATE INDEX IF NOT EXISTS items_has_mask ON items(has_mask)",
] + [
    f"CREATE INDEX IF NOT EXISTS {pair_index(column, 'has_mask')} ON items({column}, has_mask)"
    for column in PAIR_FILTERS
]


def has_flags(db: sqlite3.Connection) -> bool:
    """Whether ``items`` has the column yet (a catalog passing through older migrations)."""
    return has_column(db, "items", "has_mask")


def rebuild_flags(db: sqlite3.Connection) -> None:
    """Every item's flag again from the masks table."""
    db.execute("UPDATE items SET has_mask = 0 WHERE has_mask <> 0")
    db.execute("UPDATE items SET has_mask = 1 WHERE id IN (SELECT item_id FROM masks)")


def v11_steps() -> list[Callable[[sqlite3.Connection], None]]:
    """The migration in steps: the column, its triggers and flags, then one index each."""
    return derived_column_steps(
        "items", "has_mask INTEGER NOT NULL DEFAULT 0", TRIGGERS, rebuild_flags, INDEXES
    )


def migrate_v11(db: sqlite3.Connection) -> None:
    for step in v11_steps():
        step(db)
