"""Schema v10: "name contains" one or two characters, which the trigram index cannot answer
(names.py), without testing every name when few names hold them (one LIKE per name: ~65 ms at
a million items, even when no name matches).

A name of L characters that holds the text at position p (from 0) either starts one of its
trigrams there (p <= L - 3): a term of the trigram index ``items_names`` that begins with the
text (its terms are case folded), read from the index's vocabulary (SQLite's fts5vocab, a
range of terms); or holds it in its last two characters: the index ``items_name_tail`` on
the lower-cased last two characters (a name of one or two characters is all tail). For two
characters that is one tail value; for one character c, the tails that begin with c (one
range) and those that end with it (one probe per first character the tails have). These
candidates, when few, are tested exactly (``LIKE``, ASCII case folded as before), so the
result is that of ``items.name LIKE '%text%'``; many candidates leave the old plans in place.

The index costs ~11 MB and ~0.6 s of CPU to build at a million items (~40 ms in an MNIST
import, built once at its end by bulk.py).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from qbi_desktop.core.catalog import count_cache

#: The lower-cased last two characters of a name (spelt exactly so, or SQLite does not use
#: the index: it matches expressions as written).
TAIL = "lower(substr(items.name, -2))"
TAIL_INDEX = "items_name_tail"
V10_INDEXES = [
    f"CREATE INDEX IF NOT EXISTS {TAIL_INDEX} ON items(lower(substr(name, -2)))",
]
#: The trigram index's vocabulary, one row per (term, item): a table of this connection only.
VOCAB = "temp.items_names_terms"
#: Up to this many candidates of each kind are read and tested; more leave the old plans.
FEW = 5000
#: Up to this many first characters of the tails are probed (one index step each).
MAX_FIRSTS = 256


def migrate_v10(db: sqlite3.Connection) -> None:
    for statement in V10_INDEXES:
        db.execute(statement)


def candidates(db: sqlite3.Connection, text: str) -> tuple[str, list[Any]] | None:
    """An ``items.id IN (...)`` term (and its parameters) whose items include every item
    whose name holds ``text``, when that is one or two printable ASCII characters and few
    names hold it; None otherwise (or in a catalog without the indexes). Kept per catalog
    state: a page asks for them when it plans (names.estimate) and when it reads."""
    if not 1 <= len(text) <= 2 or not all(" " <= ch <= "~" for ch in text):
        return None
    kept = count_cache.get(db, "short_names.candidates", text)
    if kept is not None:
        return kept[0]
    at = count_cache.state(db)
    found = _candidates(db, text)
    count_cache.put(db, "short_names.candidates", text, [found], at)
    return found


def _candidates(db: sqlite3.Connection, text: str) -> tuple[str, list[Any]] | None:
    low = text.lower()
    high = low[:-1] + chr(ord(low[-1]) + 1)
    try:
        db.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {VOCAB} "
            "USING fts5vocab(main, items_names, instance)"
        )
        terms = f"SELECT doc FROM {VOCAB} WHERE term >= ? AND term < ?"
        if _more_than(db, terms, [low, high]):
            return None
        tail = f"SELECT id FROM items INDEXED BY {TAIL_INDEX} WHERE {TAIL}"
        if len(low) == 2:
            tails, args = f"{tail} = ?", [low]
        else:
            firsts = _first_characters(db)
            if firsts is None:
                return None
            probes = ",".join("?" * len(firsts)) or "NULL"
            tails = f"{tail} >= ? AND {TAIL} < ? UNION ALL {tail} IN ({probes})"
            args = [low, high, *(first + low for first in firsts)]
        if _more_than(db, tails, args):
            return None
    except sqlite3.OperationalError:  # no trigram or tail index (a catalog from elsewhere)
        return None
    return f"items.id IN ({terms} UNION ALL {tails})", [low, high, *args]


def _more_than(db: sqlite3.Connection, sql: str, args: list[Any]) -> bool:
    """Whether ``sql`` gives more than :data:`FEW` rows (it reads at most that many)."""
    found = db.execute(f"SELECT COUNT(*) FROM ({sql} LIMIT ?)", [*args, FEW + 1]).fetchone()
    return int(found[0]) > FEW


def _first_characters(db: sqlite3.Connection) -> list[str] | None:
    """The first characters of the names' tails, one index step each; None when more than
    :data:`MAX_FIRSTS`."""
    found: list[str] = []
    after = ""
    step = f"SELECT MIN({TAIL}) FROM items INDEXED BY {TAIL_INDEX} WHERE {TAIL} > ?"
    while len(found) <= MAX_FIRSTS:
        tail = db.execute(step, (after,)).fetchone()[0]
        if tail is None:
            return found
        found.append(tail[0])
        after = tail[0] + "\U0010ffff"  # past every tail that begins with it
    return None
