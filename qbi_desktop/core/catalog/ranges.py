"""Which range of which index a filtered page reads (schema v9, see pages.py).

* :func:`narrowest`: of the filter's columns that want one value, the one that keeps the fewest
  items (from item_counts), with the index whose range holds them: its own (v1) for the id
  order, a (column, sort key) pair index for name and box count (:func:`pair_of`);
* :func:`intersection`: the items of one box count that pass two or more such filters, from
  their pair indexes' ranges merged;
* :func:`combinations`: the matches of several such columns, one range of ``items_facets`` per
  combination of values that item_counts lists (:func:`matches_where` adds it to a filter
  whose few matches SQLite sorts);
* :func:`group_sources`: the id-ordered range a group of a sort by an item_counts column is
  read from;
* :func:`is_constant`: a sort key every item shares (its order is the ids').

A missing index (one dropped with an SQLite tool) is never named: the caller's walk goes on
through the sort key's own index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from qbi_desktop.core.catalog import names, short_names
from qbi_desktop.core.catalog.indexes_v9 import FACETS_INDEX, PAIR_FILTERS, pair_index
from qbi_desktop.core.catalog.queries import (
    _FACETS,
    NONE,
    Filters,
    _facet_where,
    count,
    where_clause,
)

#: The index of each item_counts column in ``items`` (id the tie-break).
FACET_INDEXES = {
    "label": "items_label",
    "split": "items_split",
    "review": "items_review",
    "provenance_kind": "items_provenance",
    "label_by": "items_label_by",
}


def matches_where(db: sqlite3.Connection, f: Filters) -> tuple[str, list[Any]]:
    """:func:`where_clause` for reading the matches, when they are few: a filter on two or more
    of the item_counts columns (label and split, ...) takes its items from the combinations of
    values item_counts lists, each one range of ``items_facets`` (no test of every item of the
    rarer value: 0.3 s at a million items for a rejected simulated image); a name substring
    the trigram index cannot answer takes its candidates from schema v10's indexes when few
    names hold it (short_names.py), or is tested along the name index."""
    where, params = where_clause(f, db)
    found = None
    if facet_columns(f) >= 2 and has_index(db, FACETS_INDEX):
        found = combinations(db, facets_of(f))
    if found is None and f.name and not names.uses_index(db, f.name):
        # one or two characters that few names hold: the candidates of schema v10
        found = short_names.candidates(db, f.name)
    if (
        found is None
        and f.name
        and not names.uses_index(db, f.name)
        and has_index(db, "items_name")
    ):
        # a name substring the trigram index cannot answer (one or two characters): every
        # name is tested, in the narrow name index rather than the table's rows (half the
        # time when the sort key is not in that index: 80 instead of 170 ms of CPU)
        found = (
            "items.id IN (SELECT id FROM items INDEXED BY items_name "
            "WHERE name LIKE ? ESCAPE '\\')",
            [names.like_pattern(f.name)],
        )
    if found is None:
        return where, params
    term, values = found
    return "WHERE " + term + " AND " + where[len("WHERE ") :], [*values, *params]


def facets_of(f: Filters) -> Filters:
    """``f``'s filters on the item_counts columns, the others left out."""
    return Filters(**{field: getattr(f, field) for field in _FACETS})


def facet_columns(f: Filters) -> int:
    """How many of the item_counts columns ``f`` filters."""
    return sum(getattr(f, field) is not None for field in _FACETS)


#: The most combinations read one by one (SQLite's compound SELECT holds up to 500).
MAX_COMBINATIONS = 400
#: The items of one combination: one range of items_facets.
_COMBINATION = f"SELECT id FROM items INDEXED BY {FACETS_INDEX} WHERE " + " AND ".join(
    f"{c} IS ?" for c in _FACETS.values()
)


def combinations(
    db: sqlite3.Connection, facets: Filters, column: str | None = None, value: Any = None
) -> tuple[str, list[Any]] | None:
    """``items.id IN (...)`` (and its parameters) over the combinations of item_counts values
    that ``facets`` keeps (and whose ``column`` is ``value``), each one range of items_facets;
    None when they are too many. (A join of item_counts with items would have SQLite build a
    Bloom filter over every item.)"""
    rows = facet_combinations(db, facets, column, value)
    if rows is None:
        return None
    if not rows:
        return "0", []
    found = combination_ids(rows)
    return "items.id IN (" + found[0] + ")", found[1]


def combination_ids(rows: list[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """The SELECT of the ids (and its parameters) of the combinations ``rows`` (values of the
    item_counts columns, in their order), one range of items_facets each."""
    return " UNION ALL ".join([_COMBINATION] * len(rows)), [v for row in rows for v in row]


def facet_combinations(
    db: sqlite3.Connection, facets: Filters, column: str | None = None, value: Any = None
) -> list[tuple[Any, ...]] | None:
    """The combinations of item_counts values that hold items ``facets`` keeps (its filters
    on those columns; and whose ``column`` is ``value``), or None when they are more than
    :data:`MAX_COMBINATIONS`."""
    facet_where, facet_params = _facet_where(facets_of(facets))
    facet_where = facet_where or "WHERE 1 "
    if column is not None:
        facet_where += f"AND {column} IS ? "
        facet_params = [*facet_params, value]
    columns = ", ".join(_FACETS.values())
    rows = db.execute(
        f"SELECT {columns} FROM item_counts {facet_where}AND n > 0 LIMIT ?",
        [*facet_params, MAX_COMBINATIONS + 1],
    ).fetchall()
    return None if len(rows) > MAX_COMBINATIONS else rows


def has_index(db: sqlite3.Connection, name: str) -> bool:
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?"
    return db.execute(sql, (name,)).fetchone() is not None


def is_constant(db: sqlite3.Connection, column: str, index: str) -> bool:
    """Whether every item has the same value of ``column`` (none without one): the first and
    the last entry of its ``index`` (a NULL would come first)."""
    low, high = db.execute(
        f"SELECT (SELECT {column} FROM items INDEXED BY {index} ORDER BY {column} LIMIT 1), "
        f"(SELECT {column} FROM items INDEXED BY {index} ORDER BY {column} DESC LIMIT 1)"
    ).fetchone()
    return low is not None and low == high


def single_values(
    db: sqlite3.Connection,
    f: Filters,
    index_of: Callable[[str], str | None],
    exclude: str | None = None,
) -> list[tuple[str, str, Any, int]]:
    """The filter's columns that want one value and have an index (``index_of(column)``), each
    as (column, index, its value (None for "unset"), the number of items it keeps from
    item_counts), the fewest first."""
    found = []
    for field, column in _FACETS.items():
        wanted = getattr(f, field)
        index = index_of(column) if column != exclude and wanted is not None else None
        values = [wanted] if isinstance(wanted, str) else list(wanted or ())
        if index is None or len(values) != 1:
            continue
        n = count(db, Filters(**{field: values[0]}))
        found.append((column, index, None if values[0] == NONE else values[0], n))
    return sorted(found, key=lambda driver: driver[3])


def narrowest(
    db: sqlite3.Connection,
    f: Filters,
    index_of: Callable[[str], str | None],
    exclude: str | None = None,
) -> tuple[str, str, Any, int] | None:
    """Of :func:`single_values`, the one that keeps the fewest items; None when there is none."""
    found = single_values(db, f, index_of, exclude)
    return found[0] if found else None


def intersection(
    db: sqlite3.Connection,
    drivers: list[tuple[str, str, Any, int]],
    key: str,
    rest: str,
    params: list[Any],
) -> Callable[[Any], tuple[Callable[[], int], Callable[[int, int], list[int]]]]:
    """For a sort by the pair key ``key`` with two or more filter columns of one value each
    (``drivers``, from :func:`single_values` over :func:`pair_of`): key value -> (size(),
    fetch(offset, limit)) of the items with that value that pass every filter, in id order.

    Each driver's (column, key) index holds one value's items in id order, so their ranges
    are merged (SQLite's INTERSECT with ORDER BY reads both covering ranges side by side, no
    table row): two filters that rarely meet (train items never have three boxes) cost index
    entries, not a lookup of each item of the rarer one (132 instead of ~10 ms at a million
    items). ``rest`` (``AND ...`` or empty, with ``params``) tests the other filters on the
    merged ids only."""
    arms = [
        f"SELECT id FROM items INDEXED BY {index} WHERE {column} IS ? AND {key} = ?"
        for column, index, _value, _n in drivers
    ]
    merged = " INTERSECT ".join(arms) + " ORDER BY 1"
    # no ORDER BY outside: SQLite keeps the merge (a co-routine read in order) only then
    source = f"FROM ({merged}) AS m " + (
        f"WHERE EXISTS (SELECT 1 FROM items WHERE items.id = m.id {rest}) " if rest else ""
    )

    def of(value: Any) -> tuple[Callable[[], int], Callable[[int, int], list[int]]]:
        args = [a for _c, _i, wanted, _n in drivers for a in (wanted, value)] + params

        def size() -> int:
            return int(db.execute("SELECT COUNT(*) " + source, args).fetchone()[0])

        def fetch(off: int, n: int) -> list[int]:
            sql = "SELECT m.id " + source + "LIMIT ? OFFSET ?"
            return [r[0] for r in db.execute(sql, [*args, n, off])]

        return size, fetch

    return of


def pair_of(db: sqlite3.Connection, key: str) -> Callable[[str], str | None]:
    """column -> the (column, ``key``) index of schema v9 when the catalog has it (one dropped
    by hand leaves its pairs to the walks of the sort key's own index)."""

    def index_of(column: str) -> str | None:
        name = pair_index(column, key) if column in PAIR_FILTERS else None
        return name if name is not None and has_index(db, name) else None

    return index_of


def group_sources(
    db: sqlite3.Connection, f: Filters, column: str, extra: str
) -> Callable[[Any], tuple[str, list[Any]]]:
    """For a sort by the item_counts ``column``: value -> (FROM ... WHERE clause, its first
    parameters) of that value's items in id order, ``extra`` (the filter) tested on each. A
    group is read from the column's index, or from the index of another filter column's one
    value when that keeps fewer items than the group holds (a rare label among the items of
    one split: the label's items, not the whole split, are walked)."""
    driver = narrowest(db, f, FACET_INDEXES.get, exclude=column)
    totals = dict(db.execute(f"SELECT {column}, SUM(n) FROM item_counts GROUP BY {column}"))

    def source(value: Any) -> tuple[str, list[Any], int]:
        if driver is not None and driver[3] < totals.get(value, 0):
            other, index, wanted, n = driver
            return (
                f"FROM items INDEXED BY {index} WHERE items.{other} IS ? "
                f"AND +items.{column} IS ? {extra}",
                [wanted, value],
                n,
            )
        index = FACET_INDEXES[column]
        source = f"FROM items INDEXED BY {index} WHERE items.{column} IS ? {extra}"
        return source, [value], int(totals.get(value, 0))

    return source
