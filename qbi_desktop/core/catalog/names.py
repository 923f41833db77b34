"""The "name contains" filter at a million items, through the trigram index ``items_names``.

A substring of three characters or more that few names hold is found from the index (the
rows that hold its rarest trigram, then the exact LIKE on each); a substring that most names
hold is faster to test row by row along the page's sort order, so the index is used only when
the trigram counts (the fts5vocab of the index) say the matches are few. Either way the result
is exactly that of ``items.name LIKE '%text%'`` (ASCII case folded, ``%`` and ``_`` literal).
"""

from __future__ import annotations

import sqlite3

#: Up to this many candidate rows the index beats a walk along the sort order.
INDEX_ROWS = 50_000


def like_pattern(text: str) -> str:
    """The LIKE pattern (with ESCAPE '\\') that finds ``text`` anywhere in a name."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def trigrams(text: str) -> list[str]:
    """The trigrams of ``text`` that the index holds (case folded), rarest not known yet."""
    folded = text.lower()
    return sorted({folded[i : i + 3] for i in range(len(folded) - 2)})


def candidates(db: sqlite3.Connection, text: str) -> int | None:
    """At most how many names hold ``text`` (the rows of its rarest trigram), or None when the
    index cannot tell (fewer than three characters, no index)."""
    grams = trigrams(text)
    if not grams or not _vocab(db):
        return None
    fewest = None
    for gram in grams:
        row = db.execute(
            "SELECT doc FROM temp.items_names_vocab WHERE term = ?", (gram,)
        ).fetchone()
        n = 0 if row is None else int(row[0])
        fewest = n if fewest is None else min(fewest, n)
        if fewest == 0:
            break
    return fewest


def condition(db: sqlite3.Connection | None, text: str) -> tuple[str, list[str]]:
    """The WHERE term (and its parameters) for "name contains ``text``": the index's rows
    first when they are few, then the exact test."""
    exact = "items.name LIKE ? ESCAPE '\\'"
    if db is None:
        return exact, [like_pattern(text)]
    n = candidates(db, text)
    if n is None or n > INDEX_ROWS:
        return exact, [like_pattern(text)]
    # In the index, % and _ of the text stay wildcards (a LIKE there has no ESCAPE): it finds
    # a superset, which the exact test narrows.
    return (
        "items.id IN (SELECT rowid FROM items_names WHERE items_names.name LIKE ?) AND " + exact,
        [f"%{text}%", like_pattern(text)],
    )


def _vocab(db: sqlite3.Connection) -> bool:
    """Make the connection's view of the index's trigram counts (a temp table); False when the
    catalog has no name index."""
    try:
        db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.items_names_vocab "
            "USING fts5vocab(main, items_names, 'row')"
        )
    except sqlite3.OperationalError:
        return False
    return True
