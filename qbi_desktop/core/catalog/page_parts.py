"""The parts a page of pages.py is made of, and the pages that merge filter ranges.

* :func:`in_id_order` and :func:`parts_page`: a page over consecutive parts of the order, each
  part's size asked for only when the page starts beyond it;
* :func:`stepped_page`: descending by a (filter column, key) pair index, value by value, ties in
  id order;
* :func:`intersected_page`: by box count with two or more filter columns of one value each,
  each value's matches merged from their pair indexes' ranges (ranges.intersection);
* :func:`merged_name_page`: by name with such filters, their (column, name) ranges merged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from qbi_desktop.core.catalog.queries import _FACETS, Filters, where_clause
from qbi_desktop.core.catalog.ranges import intersection

#: A part of a page's order: (its size, fetch(offset, limit) -> its ids at those rows)
Part = tuple[Callable[[], int], Callable[[int, int], list[int]]]


def in_id_order(
    db: sqlite3.Connection, src: str, params: list[Any], item_id: str = "items.id"
) -> Part:
    """The part whose rows ``src`` (``FROM ... WHERE ...``, with ``params``) selects, in the
    order of ``item_id``."""

    def size() -> int:
        return int(db.execute("SELECT COUNT(*) " + src, params).fetchone()[0])

    def fetch(off: int, n: int) -> list[int]:
        sql = f"SELECT {item_id} {src}ORDER BY {item_id} LIMIT ? OFFSET ?"
        return [r[0] for r in db.execute(sql, [*params, n, off])]

    return size, fetch


def parts_page(
    parts: Iterable[Part],
    offset: int,
    limit: int,
) -> list[int]:
    """A page over consecutive parts, each (size(), fetch(offset, limit) -> ids in order).

    A part's size is asked for only when the page starts inside or after it at an offset:
    from the first row on, the part is read until the page is full or the part ends."""
    page: list[int] = []
    for size, fetch in parts:
        want = limit - len(page)
        if offset == 0:
            page += fetch(0, want)
        else:
            n = size()
            if offset >= n:
                offset -= n
                continue
            page += fetch(offset, min(want, n - offset))
            offset = 0
        if len(page) >= limit:
            break
    return page


def stepped_page(
    db: sqlite3.Connection,
    index: str,
    column: str | None,
    value: Any,
    key: str,
    extra: str,
    params: list[Any],
    offset: int,
    limit: int,
) -> list[int]:
    """Descending by ``key`` with ties in ascending id, over the (column, key) index: its key
    values from the largest down, one index step each, each value's items read in id order
    (one range of the index), then the items without a value (NULL sorts last descending).
    Walking the index backwards would give the ties in descending id (SQLite then sorts each
    tie group: at a million items one group can hold most of them). ``column`` None: the
    key's own ``index``, every item (``value`` unused)."""
    within, first = _range(column, value)
    head = f"FROM items INDEXED BY {index} WHERE {within}items.{key} "

    def part(test: str, args: list[Any]) -> Part:
        return in_id_order(db, head + test + " " + extra, [*first, *args, *params])

    def parts() -> Iterator[Part]:
        for top in key_values(db, index, column, value, key, True):
            yield part("= ?", [top])
        if key not in ("n_boxes", "has_mask"):  # NOT NULL (SQLite would scan for IS NULL)
            yield part("IS NULL", [])

    return parts_page(parts(), offset, limit)


def _range(column: str | None, value: Any) -> tuple[str, list[Any]]:
    """The test (and its parameter) that keeps one ``column`` value's items; none for None.
    The duplicates' flag is tested as its partial indexes' WHERE has it: SQLite uses such an
    index only for that very term, not for one with a parameter (duplicate_flags.py)."""
    if column == "is_dup" and value == 1:
        return "items.is_dup = 1 AND ", []
    return ("", []) if column is None else (f"items.{column} IS ? AND ", [value])


def key_values(
    db: sqlite3.Connection,
    index: str,
    column: str | None,
    value: Any,
    key: str,
    descending: bool,
) -> Iterator[Any]:
    """The values of ``key`` (none NULL) among the items whose ``column`` is ``value`` (every
    item: None), in order, one step of their (column, key) ``index`` (the key's own) each."""
    within, first = _range(column, value)
    head = f"FROM items INDEXED BY {index} WHERE {within}items.{key} "
    step, beyond = ("MAX", "<") if descending else ("MIN", ">")
    after: list[Any] = []
    while True:
        sql = f"SELECT {step}(items.{key}) {head}IS NOT NULL" + (
            f" AND items.{key} {beyond} ?" * bool(after)
        )
        found = db.execute(sql, [*first, *after]).fetchone()[0]
        if found is None:
            return
        after = [found]
        yield found


def intersected_page(
    db: sqlite3.Connection,
    f: Filters,
    drivers: list[tuple[str, str, Any, int]],
    key: str,
    descending: bool,
    offset: int,
    limit: int,
) -> list[int]:
    """By box count or "has a mask" (``key``) with two or more filter columns of one value
    each: value by value (in the sort's direction, from the rarest filter's pair index), each
    value's matches from the pair ranges of all of them merged (ranges.intersection), in id
    order."""
    rest, params = _other_filters(db, f, drivers)
    part_of = intersection(db, drivers, key, rest, params)
    column, index, value, _n = drivers[0]
    values = key_values(db, index, column, value, key, descending)
    return parts_page((part_of(v) for v in values), offset, limit)


def _other_filters(
    db: sqlite3.Connection, f: Filters, drivers: list[tuple[str, str, Any, int]]
) -> tuple[str, list]:
    """The filters the drivers' pair ranges do not already apply, as an ``AND ...`` clause
    that keeps SQLite on the forced walk (and its parameters)."""
    columns = {column for column, _i, _v, _n in drivers}
    rest, params = where_clause(
        replace(f, **{k: None for k, c in _FACETS.items() if c in columns}), db
    )
    return no_filter_indexes(rest.replace("WHERE ", "AND ", 1)), params


def no_filter_indexes(where: str) -> str:
    # A unary + keeps SQLite from picking a filter column's index over the forced walk.
    for column in ("label", "split", "review", "provenance_kind", "label_by", "name"):
        where = where.replace(f"items.{column} ", f"+items.{column} ")
    return where


#: The deepest row a descending merged name page starts at (it reads every row before it).
MERGED_OFFSET = 20_000


def merged_name_page(
    db: sqlite3.Connection,
    f: Filters,
    drivers: list[tuple[str, str, Any, int]],
    descending: bool,
    offset: int,
    limit: int,
) -> list[int] | None:
    """By name with two or more filter columns of one value each (``drivers``): their (column,
    name) pair ranges merged in name order, ties by id, index entries only (rejected simulated
    items: 15 -> 0.6 ms at a million items). SQLite's merge reads both ranges in one direction,
    so descending the ties come in descending id: each run of equal names is put back in id
    order, reading the page from the start (None past :data:`MERGED_OFFSET`, or for a name
    that is not text: the caller sorts the matches)."""
    if descending and offset > MERGED_OFFSET:
        return None
    rest, params = _other_filters(db, f, drivers)
    arms = " INTERSECT ".join(
        f"SELECT name, id FROM items INDEXED BY {index} WHERE {column} IS ?"
        for column, index, _v, _n in drivers
    )
    order = "1 DESC, 2 DESC" if descending else "1, 2"
    # no ORDER BY outside: SQLite keeps the merge (a co-routine read in order) only then
    source = f"FROM ({arms} ORDER BY {order}) AS m " + (
        f"WHERE EXISTS (SELECT 1 FROM items WHERE items.id = m.id {rest}) " if rest else ""
    )
    args = [wanted for _c, _i, wanted, _n in drivers] + params
    if not descending:
        sql = "SELECT m.id " + source + "LIMIT ? OFFSET ?"
        return [r[0] for r in db.execute(sql, [*args, limit, offset])]
    rows: list[tuple[str, int]] = []
    cursor = db.execute("SELECT m.name, m.id " + source, args)
    try:
        for name, item in cursor:
            if not isinstance(name, str):
                return None
            if len(rows) >= offset + limit and name != rows[-1][0]:
                break  # the run of the page's last name is whole
            rows.append((name, item))
    finally:
        cursor.close()
    rows.sort(key=lambda row: row[1])
    rows.sort(key=lambda row: row[0], reverse=True)  # stable: equal names keep id order
    return [item for _name, item in rows[offset : offset + limit]]
