"""The "name contains" filter at a million items, through the trigram index ``items_names``.

A substring of three characters or more that few names hold is found from the index (its
candidate rows, then the exact LIKE on each); a substring that many names hold is faster to
test row by row along the page's sort order. Which of the two:

* the index is asked for at most :data:`FEW` rows (it returns them lazily, so a common
  substring costs a few milliseconds too); fewer means few, and that number is exact enough
  to plan with;
* otherwise (or for one or two characters, which the index cannot answer) the share of
  matching names is measured on a sample of the items (:func:`estimate`: 256 runs of 8
  consecutive ids spread over the id range, about 1 ms). A page plan walks the sort order
  only when that share fills a page quickly; a substring with a smaller share (one name in a
  hundred) takes its candidates from the index when it can, or tests every name once.

Either way the result is exactly that of ``items.name LIKE '%text%'`` (ASCII case folded,
``%`` and ``_`` literal). Answers are kept per catalog state (:mod:`.count_cache`).
"""

from __future__ import annotations

import sqlite3

from qbi_desktop.core.catalog import count_cache, short_names

#: Up to this many candidates the index finds them faster than a test of every name (it costs
#: about ten LIKE tests per row it returns).
FEW = 5000
#: The sample behind :func:`estimate`: this many runs of this many consecutive ids.
SAMPLE_RUNS, RUN = 256, 8
#: A first page of the Browser (rows): a share of matches that fills it within
#: ``FIRST_PAGE * total / matches`` rows tested is worth walking the sort order for.
FIRST_PAGE = 1000


def like_pattern(text: str) -> str:
    """The LIKE pattern (with ESCAPE '\\') that finds ``text`` anywhere in a name."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def index_query(text: str) -> str:
    """The MATCH query of the index for names that hold ``text`` (three characters or more):
    every trigram of it, each quoted (so that ``%``, ``_`` and the query syntax's own
    characters are literal). It finds a superset, as the index folds case beyond ASCII and
    does not check that the trigrams follow each other; the exact LIKE narrows it. Unlike a
    LIKE on the index, it reads no name: a LIKE there looks up each candidate's name in items
    to test it, which the exact test does again (10 000 of a million names: 16 -> 6.5 ms)."""
    grams = (text[i : i + 3] for i in range(len(text) - 2))
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


def indexed_matches(db: sqlite3.Connection, text: str) -> int | None:
    """How many names the index finds for ``text`` (a few more than hold it exactly: its
    trigrams apart, or a non-ASCII case), or None when they are many or the indexes cannot
    tell (no index). One or two characters: the number of schema v10's candidates
    (short_names.py) when they are few, instead of a sample of the items that costs more in a
    larger catalog (its runs lie further apart in the file: 1 -> 4 ms from 100 000 to a
    million items for a character no name holds)."""
    kept = count_cache.get(db, "names.indexed", text)
    if kept is not None:
        return kept[0]
    if len(text) < 3:
        return _short_candidates(db, text)
    if _sampled(db, text) > 4 * FEW:
        # many by the sample: the index would return FEW rows lazily, but its doclists of
        # trigrams that most names hold cost ~20 ms to start reading at a million names
        return None
    at = count_cache.state(db)
    try:
        n = int(
            db.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM items_names "
                "WHERE items_names MATCH ? LIMIT ?)",
                (index_query(text), FEW),
            ).fetchone()[0]
        )
    except sqlite3.OperationalError:  # a catalog without the index
        return None
    found = n if n < FEW else None
    count_cache.put(db, "names.indexed", text, [found], at)
    return found


def _short_candidates(db: sqlite3.Connection, text: str) -> int | None:
    at = count_cache.state(db)
    found = short_names.candidates(db, text)
    n = None
    if found is not None:
        term, args = found
        n = int(db.execute(f"SELECT COUNT(*) FROM items WHERE {term}", args).fetchone()[0])
    count_cache.put(db, "names.indexed", text, [n], at)
    return n


def estimate(db: sqlite3.Connection, text: str) -> int:
    """About how many names hold ``text``: the index's count when few do, else the share in a
    sample of the items times their number (0 when the sample holds none: a rare substring
    that the index cannot find, so no page plan walks the sort order for it)."""
    found = indexed_matches(db, text)
    return found if found is not None else _sampled(db, text)


def _sampled(db: sqlite3.Connection, text: str) -> int:
    """The share of names holding ``text`` in a sample of the items, times their number."""
    kept = count_cache.get(db, "names.sampled", text)
    if kept is not None:
        return kept
    at = count_cache.state(db)
    # apart, each is one step down the rowid tree; together SQLite reads every row
    low, high = db.execute(
        "SELECT (SELECT MIN(id) FROM items), (SELECT MAX(id) FROM items)"
    ).fetchone()
    total = _item_total(db)
    if low is None or total <= 0:
        return 0
    step = max(RUN, (high - low + 1) // SAMPLE_RUNS)
    # ids are integers from the catalog itself; as literals they keep SQLite's rowid ranges
    runs = " OR ".join(
        f"items.id BETWEEN {int(a)} AND {int(a) + RUN - 1}" for a in range(low, high + 1, step)
    )
    sampled, hits = db.execute(
        f"SELECT COUNT(*), TOTAL(items.name LIKE ? ESCAPE '\\') FROM items WHERE {runs}",
        (like_pattern(text),),
    ).fetchone()
    n = round(total * hits / sampled) if sampled else 0
    if hits and n == 0:
        n = 1
    count_cache.put(db, "names.sampled", text, n, at)
    return n


def uses_index(db: sqlite3.Connection, text: str) -> bool:
    """Whether "name contains ``text``" takes its candidates from the index: when few names
    hold it, and also when more do but too few to fill a first page by testing names along
    the sort order (a hundredth of a million: the index's 10 000 candidates take ~40 ms, a
    test of every name ~200 ms)."""
    if len(text) < 3 or not _has_index(db):
        return False
    if indexed_matches(db, text) is not None:
        return True
    n = _sampled(db, text)  # estimate() when the index cannot count
    return n * n < FIRST_PAGE * _item_total(db)


def _item_total(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COALESCE(SUM(n), 0) FROM item_counts").fetchone()[0])


def _has_index(db: sqlite3.Connection) -> bool:
    return (
        db.execute("SELECT 1 FROM sqlite_master WHERE name = 'items_names'").fetchone() is not None
    )


def condition(db: sqlite3.Connection | None, text: str) -> tuple[str, list[str]]:
    """The WHERE term (and its parameters) for "name contains ``text``": the index's rows
    first when :func:`uses_index`, then the exact test."""
    exact = "items.name LIKE ? ESCAPE '\\'"
    if db is None or not uses_index(db, text):
        return exact, [like_pattern(text)]
    return (
        "items.id IN (SELECT rowid FROM items_names WHERE items_names MATCH ?) AND " + exact,
        [index_query(text), like_pattern(text)],
    )
