"""Schema v13: each regression target keeps its item's item_counts combination
(``targets.facets``: the JSON array of the item's label, split, review, origin and annotator),
kept by triggers, with an index per direction on (name, facets, value), so that a sort by a
target under filters on those columns reads a page, not every match.

Before, such a page took the filter's matches (from their combinations' id ranges) and looked
up each one's target: one targets page per match, scattered over the table (5 000 rejected
simulated items at a million: 6-14 ms, growing with the catalog). Now each combination the
filter keeps is one range of the index, already in target order, and SQLite merges the ranges
of a compound SELECT (``MERGE (UNION ALL)``) until the page is full: a few steps per range and
per row of the page, whatever the catalog's size.

The triggers are named ``*counts*``: a bulk load drops them with the other derived triggers
and :func:`derived.rebuild` sets every row's combination again (:func:`rebuild`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from qbi_desktop.core.catalog.indexes_v9 import derived_column_steps, has_column
from qbi_desktop.core.catalog.ranges import has_index

#: The item columns of a combination, in the order of its JSON array.
COLUMNS = ("label", "split", "review", "provenance_kind", "label_by")


def _array(prefix: str) -> str:
    return "json_array(" + ", ".join(prefix + c for c in COLUMNS) + ")"


TRIGGERS = {
    # also an INSERT OR REPLACE (a target set again): SQLite's REPLACE inserts the new row
    "target_facets_counts_insert": "AFTER INSERT ON targets BEGIN "
    f"UPDATE targets SET facets = (SELECT {_array('i.')} FROM items i WHERE i.id = new.item_id) "
    "WHERE item_id = new.item_id AND name = new.name; END",
    "target_facets_counts_move": "AFTER UPDATE OF item_id ON targets BEGIN "
    f"UPDATE targets SET facets = (SELECT {_array('i.')} FROM items i WHERE i.id = new.item_id) "
    "WHERE item_id = new.item_id AND name = new.name; END",
    "target_facets_counts_item": f"AFTER UPDATE OF {', '.join(COLUMNS)} ON items BEGIN "
    f"UPDATE targets SET facets = {_array('new.')} WHERE item_id = new.id; END",
}

ASCENDING_INDEX = "targets_facets_value"
DESCENDING_INDEX = "targets_facets_value_desc"
INDEXES = [
    f"CREATE INDEX IF NOT EXISTS {ASCENDING_INDEX} ON targets(name, facets, value)",
    f"CREATE INDEX IF NOT EXISTS {DESCENDING_INDEX} ON targets(name, facets, value DESC, item_id)",
]

#: The most combinations a page merges (SQLite's compound SELECT holds up to 500 arms).
MAX_RANGES = 200


def has_facets(db: sqlite3.Connection) -> bool:
    """Whether ``targets`` has the column yet (a catalog passing through older migrations)."""
    return has_column(db, "targets", "facets")


def rebuild(db: sqlite3.Connection) -> None:
    """Every target row's combination again from its item."""
    db.execute(
        f"UPDATE targets SET facets = (SELECT {_array('i.')} FROM items i "
        "WHERE i.id = targets.item_id)"
    )


def v13_steps() -> list[Callable[[sqlite3.Connection], None]]:
    """The migration in steps: the column, its triggers and values, then one index each."""
    return derived_column_steps("targets", "facets TEXT", TRIGGERS, rebuild, INDEXES)


def migrate_v13(db: sqlite3.Connection) -> None:
    for step in v13_steps():
        step(db)


def merged_page(
    db: sqlite3.Connection,
    name: str,
    combinations: Sequence[Sequence[Any]],
    descending: bool,
    offset: int,
    limit: int,
) -> list[int] | None:
    """The ids of one page by target ``name`` over the items of ``combinations`` (rows of
    the :data:`COLUMNS` values), ties in id order: one range of the index per combination,
    merged; None when the index is missing or the combinations are too many to merge."""
    index = DESCENDING_INDEX if descending else ASCENDING_INDEX
    if not combinations or len(combinations) > MAX_RANGES:
        return None
    if not has_index(db, index):
        return None
    arm = (
        f"SELECT item_id, value FROM targets INDEXED BY {index} "
        f"WHERE name = ? AND facets = json_array({', '.join('?' * len(COLUMNS))})"
    )
    direction = "DESC" if descending else "ASC"
    sql = (
        " UNION ALL ".join([arm] * len(combinations))
        + f" ORDER BY value {direction}, item_id ASC LIMIT ? OFFSET ?"
    )
    args = [v for row in combinations for v in (name, *row)]
    return [r[0] for r in db.execute(sql, [*args, limit, offset])]
