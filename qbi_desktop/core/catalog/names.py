"""The "name contains" filter at a million items, through the trigram index ``items_names``.

A substring of three characters or more that few names hold is found from the index (its
candidate rows, then the exact LIKE on each); a substring that many names hold is faster to
test row by row along the page's sort order. Which of the two: the index is asked for at most
:data:`FEW` rows (it returns them lazily, so a common substring costs a few milliseconds too);
fewer means few. Either way the result is exactly that of ``items.name LIKE '%text%'`` (ASCII
case folded, ``%`` and ``_`` literal).
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict

#: Up to this many candidates the index finds them faster than a test of every name (it costs
#: about ten LIKE tests per row it returns).
FEW = 5000

# (connection, text) -> (catalog state, candidates or None): a filter asks several times
_found: OrderedDict[tuple[int, str], tuple[tuple[int, int], int | None]] = OrderedDict()


def like_pattern(text: str) -> str:
    """The LIKE pattern (with ESCAPE '\\') that finds ``text`` anywhere in a name."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def indexed_matches(db: sqlite3.Connection, text: str) -> int | None:
    """How many names the index finds for ``text`` (a few more than hold it exactly: a % or
    _ in it, or a non-ASCII case), or None when they are many or the index cannot tell (fewer
    than three characters, no index)."""
    if len(text) < 3:
        return None
    state = (
        int(db.execute("PRAGMA data_version").fetchone()[0]),
        db.total_changes,  # data_version does not count this connection's own writes
    )
    key = (id(db), text)
    cached = _found.get(key)
    if cached is not None and cached[0] == state:
        return cached[1]
    try:
        n = int(
            db.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM items_names "
                "WHERE items_names.name LIKE ? LIMIT ?)",
                (f"%{text}%", FEW),
            ).fetchone()[0]
        )
    except sqlite3.OperationalError:  # a catalog without the index
        return None
    found = n if n < FEW else None
    _found[key] = (state, found)
    while len(_found) > 64:
        _found.popitem(last=False)
    return found


def condition(db: sqlite3.Connection | None, text: str) -> tuple[str, list[str]]:
    """The WHERE term (and its parameters) for "name contains ``text``": the index's rows
    first when they are few, then the exact test."""
    exact = "items.name LIKE ? ESCAPE '\\'"
    if db is None or indexed_matches(db, text) is None:
        return exact, [like_pattern(text)]
    # In the index, % and _ of the text stay wildcards (a LIKE there has no ESCAPE): it finds
    # a superset, which the exact test narrows.
    return (
        "items.id IN (SELECT rowid FROM items_names WHERE items_names.name LIKE ?) AND " + exact,
        [f"%{text}%", like_pattern(text)],
    )
