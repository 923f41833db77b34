"""Schema v9: indexes that let every Browser sort and filter, in normal and in blind mode, read
its first page by walking an index at a million items instead of sorting the matches.

Each list holds ``CREATE INDEX IF NOT EXISTS`` statements; :func:`migrate_v9` runs them inside
the migration's transaction, so a catalog either has all of them or none.
"""

from __future__ import annotations

import sqlite3

#: Indexes behind the normal Browser's filter-and-sort pairs.
BROWSER_INDEXES: list[str] = []

#: Indexes behind blind mode's sorts by the user's own opinions (core.catalog.own_walks): the
#: person's labels, reviews and targets ordered by value as SQL compares it, covering (the value
#: is kept, so counting or skipping rows reads no table row; masks and box lists, sorted by
#: presence or length only, are left out), and their box lists by length.
OWN_INDEXES: list[str] = [
    "CREATE INDEX IF NOT EXISTS opinions_by_value ON opinions(annotator, kind, name, "
    "json_extract(value, '$'), item_id, value) "
    "WHERE kind = 'label' OR kind = 'target' OR kind = 'review'",
    "CREATE INDEX IF NOT EXISTS opinions_by_box_count ON opinions(annotator, name, "
    "json_array_length(value), item_id) WHERE kind = 'boxes'",
]


def migrate_v9(db: sqlite3.Connection) -> None:
    for statement in BROWSER_INDEXES + OWN_INDEXES:
        db.execute(statement)
