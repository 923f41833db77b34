"""Pages of items at a million items: a page costs what it holds, not what the catalog holds.

The ways there, by sort key:

* sort by a column of item_counts (label, split, review, origin, annotator), either direction:
  the counts give each value's group size, so the page's first group is found without reading
  items, and each group is read in id order from that column's index, or from another
  filtered column's index when its value keeps fewer items, or from the combinations;
* sort by name, id, width, box count or "has a mask" with a filter: walk the sort column's
  index and test the filter per row when the filter keeps many items (a walk of about
  (offset + limit) / share rows), or let SQLite sort the matches when they are few. A filter
  on one value of label, split, review or origin walks only that value's items: for id its
  column's index, for name, box count and "has a mask" a (column, key) pair index of schema
  v9 or v11 (indexes_v9.py, mask_flags.py), so the walk no longer depends on where the
  matches lie in the whole order (simulated items that all have masks); descending box
  counts and masks go value by value (page_parts.stepped_page), and a width, box count or
  mask flag every item shares is the id order. Two or more such filters by box count or
  mask go value by value too, each value's matches merged from their pair ranges
  (page_parts.intersected_page). Matches of two or more such columns, when few, come from
  the combinations item_counts lists, one range of ``items_facets`` each
  (:func:`combinations`);
* sort by a regression target: walk the targets index the same way, once target_counts says
  every item has that target (otherwise the items without it are found by a scan, as before);
* sort by source: the files by path, each container's rows in id order (:func:`_source_page`);
  a source every item shares (one array import) is the id order.

A walk pays when the filter keeps many items. The number kept is exact for the columns of
item_counts and the duplicates, and for a name substring that few names hold; for one that the
index cannot count it comes from a sample (names.estimate). A sample can be wrong (a name held
by one run of consecutive items), and even an exact number says nothing of where the matches
lie in the sort order (simulated items that all have boxes lie after 800 000 items without
boxes), so such a walk, and any walk expected to be short, has a time budget
(:data:`WALK_BUDGET`): past it the plan gives way to the sort of the matches, which reads each
match once (every name, for a name filter: ~0.2 s at a million items) instead of walking the
whole sort order (up to 6 s, a lookup per item).
When the matches are few, SQLite sorts them (:func:`_sorted_matches`, with the sort column's
index kept out of its plan: it would otherwise walk that index testing every item).

:func:`planned_page` returns None when no plan applies (several sort keys, a sort key
without a plan); the caller then runs the plain SQL of :mod:`.queries`. Every plan gives
exactly the order of that SQL (tests/test_catalog_scale.py).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from qbi_desktop.core.catalog import duplicate_flags, names, target_dups, target_facets
from qbi_desktop.core.catalog.indexes_v9 import FACETS_INDEX
from qbi_desktop.core.catalog.page_parts import (
    Part,
    in_id_order,
    intersected_page,
    merged_name_page,
    no_filter_indexes,
    parts_page,
    stepped_page,
)
from qbi_desktop.core.catalog.queries import (
    _FACETS,
    _FROM,
    SORT_COLUMNS,
    Filters,
    _facet_where,
    _snapshot,
    count,
    order_clause,
    where_clause,
)
from qbi_desktop.core.catalog.ranges import (
    FACET_INDEXES,
    combination_ids,
    combinations,
    facet_columns,
    facet_combinations,
    facets_of,
    group_sources,
    has_index,
    is_constant,
    matches_where,
    narrowest,
    pair_of,
    single_values,
)

#: Seconds a walk planned from a sampled estimate may take before the matches are sorted,
#: and how many SQLite steps pass between two looks at the clock.
WALK_BUDGET = 0.15
CHECK_EVERY = 20_000
#: A walk expected to test at most this many rows has the same budget (its matches may lie
#: late in the sort order: the estimate says how many, not where).
SHORT_WALK = 100_000

#: Matches of several filters that are worth a merge of their pair ranges rather than a sort
#: (pages by box count), and the most entries such a merge may have to read (~0.08 us each).
MANY_MATCHES = 2000
MERGED_ENTRIES = 300_000

#: The sort key of each item_counts column.
_SORT_KEY = {column: key for key, column in _FACETS.items()}
#: Sort keys walked through an index, per direction ("" for the rowid itself).
_WALKS = {
    "id": ("", ""),
    "name": ("items_name", "items_name"),
    "width": ("items_width", "items_width_desc"),
    "n_boxes": ("items_n_boxes", "items_n_boxes_desc"),  # kept in items (derived.py)
    # kept in items (mask_flags.py); descending: value by value over the one index
    "has_mask": ("items_has_mask", "items_has_mask"),
}
#: Sort keys kept in items as small whole numbers, never NULL: a (filter column, key) pair
#: index of each, and descending pages value by value (page_parts.stepped_page).
_COUNTED = ("n_boxes", "has_mask")


def planned_page(
    db: sqlite3.Connection, f: Filters, keys: list[str], offset: int, limit: int
) -> list[int] | None:
    """The ids of one page by one of the plans above, or None when none applies."""
    if len(keys) != 1 or limit <= 0:
        return None
    guessed = bool(f.name) and names.indexed_matches(db, f.name) is None
    with _snapshot(db):  # counts and rows from the same catalog state
        budget = None
        if f != Filters():
            total, matching = count(db), _estimate(db, f)
            if guessed and not _walk_pays(total, matching, offset, limit):
                return _sorted_matches(db, f, keys[0], offset, limit)
            # a walk expected to be short that is not: the matches lie late in the sort order
            # (a filter and a sort key that go together, e.g. simulated items all have boxes)
            short = (offset + limit) * total <= SHORT_WALK * matching
            budget = WALK_BUDGET if guessed or short else None
        try:
            with _deadline(db, budget):
                return _plan(db, f, keys[0], offset, limit)
        except _Expired:
            return _sorted_matches(db, f, keys[0], offset, limit)


class _Expired(Exception):
    """A walk ran past its time budget."""


@contextlib.contextmanager
def _deadline(db: sqlite3.Connection, seconds: float | None) -> Iterator[None]:
    """Interrupt the statements run inside after ``seconds`` (raising :class:`_Expired`)."""
    if seconds is None:
        yield
        return
    end = time.monotonic() + seconds
    db.set_progress_handler(lambda: time.monotonic() > end, CHECK_EVERY)
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc) and time.monotonic() > end:
            raise _Expired from exc
        raise
    finally:
        db.set_progress_handler(None, 0)


def _sorted_matches(
    db: sqlite3.Connection, f: Filters, spec: str, offset: int, limit: int
) -> list[int]:
    """The page from the matches sorted by SQLite (no walk of the sort column's index)."""
    if spec.lstrip("-+") == "id" and facet_columns(f) >= 2 and _facet_where(f):
        rows = facet_combinations(db, f) if has_index(db, FACETS_INDEX) else None
        if rows:
            # filters on item_counts columns only, by id: their combinations' ids alone, no
            # item row read (5 000 rejected simulated items: 12 -> 0.3 ms)
            ids, args = combination_ids(rows)
            direction = "DESC" if spec.startswith("-") else "ASC"
            sql = f"SELECT id FROM ({ids}) ORDER BY id {direction} LIMIT ? OFFSET ?"
            return [r[0] for r in db.execute(sql, [*args, limit, offset])]
    where, params = matches_where(db, f)
    joins, order, oparams = order_clause([spec], unindexed=True)
    base = _FROM if spec.lstrip("-+") == "source" else "FROM items "
    sql = "SELECT items.id " + base + joins + where + order + "LIMIT ? OFFSET ?"
    return [r[0] for r in db.execute(sql, [*oparams, *params, limit, offset])]


def _plan(
    db: sqlite3.Connection, f: Filters, spec: str, offset: int, limit: int
) -> list[int] | None:
    descending = spec.startswith("-")
    key = spec.lstrip("-+")
    if f.duplicates:
        page = _duplicates_page(db, f, key, descending, offset, limit)
        if page is not None:
            return page
    if key in _FACETS and _facet_where(f) is not None:
        return _grouped_page(db, f, _FACETS[key], descending, offset, limit)
    if key in _FACETS:
        return _grouped_walk(db, f, _FACETS[key], descending, offset, limit)
    if key in _WALKS:
        if key in ("width", *_COUNTED) and is_constant(db, SORT_COLUMNS[key], _WALKS[key][0]):
            key, descending = "id", False  # all ties: the order is the ids' (MNIST's widths)
        return _walked_page(db, f, key, descending, offset, limit)
    if key.startswith("target:"):
        return _target_page(db, f, key[len("target:") :], descending, offset, limit)
    if key == "source":
        if _one_source(db):
            # all ties (one array import, or its files under one name): the ids' order, whose
            # plans read a filter's own range instead of sorting its matches by source
            return _plan(db, f, "id", offset, limit)
        return _source_page(db, f, descending, offset, limit)
    return None


def _duplicates_page(
    db: sqlite3.Connection, f: Filters, key: str, descending: bool, offset: int, limit: int
) -> list[int] | None:
    """The "Duplicates" filter (and any other) sorted by ``key``: the duplicates' own index in
    that key's order (schema v12, duplicate_flags.py), each entry tested against the other
    filters; None without such an index or when the duplicates are too many for it."""
    index = duplicate_flags.sort_index(key)
    if index is None or not duplicate_flags.in_schema(db) or not has_index(db, index):
        return None
    if duplicate_flags.count(db) > duplicate_flags.MAX_DUPLICATES:
        return None
    where, params = where_clause(f, db)
    if descending and key not in ("id", "name"):
        # many ties (a label's duplicates): value by value, each value's in id order, instead
        # of the index backwards and each tie group sorted again
        column = SORT_COLUMNS[key].removeprefix("items.")
        extra = where.replace("WHERE ", "AND ", 1)
        return stepped_page(db, index, "is_dup", 1, column, extra, params, offset, limit)
    direction = "DESC" if descending else "ASC"
    order = f"{SORT_COLUMNS[key]} {direction}" + (", items.id ASC" if key != "id" else "")
    sql = f"SELECT items.id FROM items INDEXED BY {index} {where}ORDER BY {order} LIMIT ? OFFSET ?"
    return [r[0] for r in db.execute(sql, [*params, limit, offset])]


def _one_source(db: sqlite3.Connection) -> bool:
    """Whether every item has the same source: no image file items, the containers all of one
    file (the few container rows are read, the items' path index is probed once)."""
    paths = db.execute("SELECT COUNT(DISTINCT path) FROM containers").fetchone()[0]
    if paths > 1:
        return False
    files = "SELECT 1 FROM items INDEXED BY items_path WHERE path IS NOT NULL LIMIT 1"
    return paths == 1 and db.execute(files).fetchone() is None


def _estimate(db: sqlite3.Connection, f: Filters) -> int:
    """About how many items ``f`` keeps, without reading the items: exact for the columns of
    item_counts, the number of candidates for a name, duplicates or id list, and otherwise
    as if the other filters kept every item."""
    facets = Filters(**{k: getattr(f, k) for k in _FACETS})
    n = count(db, facets)
    if f.ids is not None:
        n = min(n, len(f.ids))
    if f.duplicates:
        n = min(n, duplicate_flags.count(db))
    if f.name:
        n = min(n, names.estimate(db, f.name))
    return n


def _grouped_page(
    db: sqlite3.Connection, f: Filters, column: str, descending: bool, offset: int, limit: int
) -> list[int]:
    facet_where, facet_params = _facet_where(f)
    direction = "DESC" if descending else "ASC"
    groups = db.execute(
        f"SELECT {column}, SUM(n) FROM item_counts {facet_where}"
        f"GROUP BY {column} ORDER BY {column} {direction}",
        facet_params,
    ).fetchall()
    where, params = where_clause(f, db)
    extra = no_filter_indexes(where.replace("WHERE ", "AND ", 1))
    group_source = group_sources(db, f, column, extra)
    combos = has_index(db, FACETS_INDEX) and any(
        getattr(f, k) is not None for k, c in _FACETS.items() if c != column
    )
    page: list[int] = []
    for value, size in groups:
        if offset >= size:
            offset -= size
            continue
        take = min(limit - len(page), size - offset)
        source, args, span = group_source(value)
        if combos and not _walk_pays(span, size, offset, take):
            # few of the walked range match: the group's own items, from its combinations
            found = combinations(db, facets_of(f), column, value)
            if found is not None:
                source, args = f"FROM items WHERE {found[0]} {extra}", found[1]
        page += [
            r[0]
            for r in db.execute(
                f"SELECT items.id {source}ORDER BY items.id LIMIT ? OFFSET ?",
                [*args, *params, take, offset],
            )
        ]
        offset = 0
        if len(page) >= limit:
            break
    return page


def _walk_pays(total: int, matching: int, offset: int, limit: int) -> bool:
    """Whether walking the sort order of ``total`` rows and testing each beats sorting the
    matches: the walk reads about (offset + limit) / share rows, never more than ``total``
    (a walk of one filter value's own range, every row a match, always pays)."""
    return matching > 0 and min(total, (offset + limit) * total / matching) <= matching


def _walked_page(
    db: sqlite3.Connection, f: Filters, key: str, descending: bool, offset: int, limit: int
) -> list[int]:
    where, params = where_clause(f, db)
    direction = "DESC" if descending else "ASC"
    order = f"ORDER BY {SORT_COLUMNS[key]} {direction}, items.id ASC "
    source = "FROM items "
    driver = None
    if where:
        # a filter on one value of a column walks only that value's items, in the sort's order
        # (the column's own index for id, a schema-v9 pair index for the other keys)
        driver = narrowest(db, f, FACET_INDEXES.get if key == "id" else pair_of(db, key))
        span = driver[3] if driver else count(db)
        # a walk testing a second filter column risks reading the whole range (rejected
        # simulated items all have boxes: 40 000 rejected ones without come first); matches
        # read from their combinations cost their number, so a walk must be ten times shorter
        risk = 10 if has_index(db, FACETS_INDEX) and facet_columns(f) >= 2 else 1
        matching = _estimate(db, f)
        drivers = single_values(db, f, pair_of(db, key)) if key in ("name", *_COUNTED) else []
        walk = _walk_pays(span, matching, risk * offset, risk * limit)
        if len(drivers) >= 2 and (walk or _merge_pays(drivers, matching)):
            if key == "name":
                page = merged_name_page(db, f, drivers, descending, offset, limit)
                if page is not None:
                    return page
            else:
                return intersected_page(db, f, drivers, key, descending, offset, limit)
        if not walk:
            return _sorted_matches(db, f, ("-" if descending else "") + key, offset, limit)
        where = no_filter_indexes(where)
        if driver is not None:
            column, index, value, _n = driver
            extra = where.replace("WHERE ", "AND ", 1)
            if descending and key in ("width", *_COUNTED):
                return stepped_page(db, index, column, value, key, extra, params, offset, limit)
            source = f"FROM items INDEXED BY {index} WHERE items.{column} IS ? "
            where, params = extra, [value, *params]
        else:
            index = _WALKS[key][descending]
            source = f"FROM items INDEXED BY {index} " if index else "FROM items NOT INDEXED "
    if descending and key == "has_mask" and driver is None:
        # no (column, has_mask) range: the flag's own index, masked items first, each in id order
        extra = where.replace("WHERE ", "AND ", 1)
        return stepped_page(db, _WALKS[key][0], None, None, key, extra, params, offset, limit)
    sql = "SELECT items.id " + source + where + order + "LIMIT ? OFFSET ?"
    return [r[0] for r in db.execute(sql, [*params, limit, offset])]


def _merge_pays(drivers: list[tuple[str, str, Any, int]], matching: int) -> bool:
    """Whether merging the pair ranges of ``drivers`` (by box count or name) beats sorting
    ``matching`` matches read from their combinations: when those are many (a row and a sort
    each: 13 ms for 5 000 at a million items) and the ranges small enough that even a merge
    of all their entries (the matches lying last) stays short; the merge usually stops after
    its first page (1 ms)."""
    return matching >= MANY_MATCHES and sum(n for *_d, n in drivers) <= MERGED_ENTRIES


_DUPLICATES_ONLY = Filters(duplicates=True)


def _target_page(
    db: sqlite3.Connection, f: Filters, name: str, descending: bool, offset: int, limit: int
) -> list[int] | None:
    row = db.execute("SELECT n FROM target_counts WHERE name = ?", (name,)).fetchone()
    total = count(db)
    if row is None or int(row[0]) != total:
        return None  # some items lack the target: the full ordering handles them
    if f == _DUPLICATES_ONLY:
        # the duplicates' targets have their own index (schema v14, target_dups.py)
        page = target_dups.duplicates_page(db, name, descending, offset, limit)
        if page is not None:
            return page
    where, params = where_clause(f, db)
    direction = "DESC" if descending else "ASC"
    order = f"ORDER BY t.value {direction}, t.item_id ASC "
    # the walks in target order, whatever statistics the other targets indexes have
    walked = "targets_name_value_desc" if descending else "targets_name_value"
    by_value = f"INDEXED BY {walked}" if has_index(db, walked) else ""
    if not where:
        sql = f"SELECT t.item_id FROM targets t {by_value} WHERE t.name = ? {order}LIMIT ? OFFSET ?"
        return [r[0] for r in db.execute(sql, [name, limit, offset])]
    extra = where.replace("WHERE ", "AND ", 1)
    if f == facets_of(f):
        # filters on item_counts columns only: their combinations' ranges of the targets'
        # (name, combination, value) index, merged (schema v13, target_facets.py)
        rows = facet_combinations(db, f)
        if rows == []:
            return []
        if rows is not None:
            page = target_facets.merged_page(db, name, rows, descending, offset, limit)
            if page is not None:
                return page
    if _walk_pays(total, _estimate(db, f), offset, limit):
        # the targets index order is the page order, each row tested by a lookup of its item
        # (a join would have SQLite build a Bloom filter over every item first)
        sql = (
            f"SELECT t.item_id FROM targets t {by_value} WHERE t.name = ? AND EXISTS "
            f"(SELECT 1 FROM items WHERE items.id = t.item_id {extra}) {order}LIMIT ? OFFSET ?"
        )
    else:
        # the few matches first, then their targets (CROSS JOIN keeps that order: SQLite
        # would otherwise walk every item's target testing the filter, 0.4 s at 100 000 items
        # for the duplicates)
        rows = facet_combinations(db, f) if facet_columns(f) >= 2 and _facet_where(f) else None
        if rows and has_index(db, FACETS_INDEX):
            # filters on item_counts columns only: their combinations' ranges hold exactly
            # the matches, no item row is read (5 000 rejected simulated items: 22 -> 17 ms)
            ids, args = combination_ids(rows)
            sql = (
                f"SELECT t.item_id FROM ({ids}) AS m CROSS JOIN targets t ON t.item_id = m.id "
                f"AND t.name = ? ORDER BY +t.value {direction}, t.item_id ASC LIMIT ? OFFSET ?"
            )
            return [r[0] for r in db.execute(sql, [*args, name, limit, offset])]
        where, params = matches_where(db, f)
        sql = (
            "SELECT t.item_id FROM items CROSS JOIN targets t ON t.item_id = items.id "
            f"{where}AND t.name = ? ORDER BY +t.value {direction}, t.item_id ASC "
            "LIMIT ? OFFSET ?"
        )
        return [r[0] for r in db.execute(sql, [*params, name, limit, offset])]
    return [r[0] for r in db.execute(sql, [name, *params, limit, offset])]


def _grouped_walk(
    db: sqlite3.Connection, f: Filters, column: str, descending: bool, offset: int, limit: int
) -> list[int] | None:
    """Sort by an item_counts column with another filter too (name, duplicates, ...): the
    groups of that column in order, each walked along its index testing the filter, when most
    items pass it; None (SQLite sorts the few matches) otherwise. A group's size under the
    filter is counted only when the page starts beyond it."""
    if not _walk_pays(count(db), _estimate(db, f), offset, limit):
        return _sorted_matches(
            db, f, ("-" if descending else "") + _SORT_KEY[column], offset, limit
        )
    facets = Filters(**{k: getattr(f, k) for k in _FACETS})
    facet_where, facet_params = _facet_where(facets)
    direction = "DESC" if descending else "ASC"
    values = [
        r[0]
        for r in db.execute(
            f"SELECT {column} FROM item_counts {facet_where}"
            f"GROUP BY {column} HAVING SUM(n) > 0 ORDER BY {column} {direction}",
            facet_params,
        )
    ]
    where, params = where_clause(f, db)
    extra = no_filter_indexes(where.replace("WHERE ", "AND ", 1))
    group_source = group_sources(db, f, column, extra)

    def part(value: Any) -> Part:
        source, args, _span = group_source(value)
        return in_id_order(db, source, [*args, *params])

    return parts_page([part(v) for v in values], offset, limit)


def _source_page(
    db: sqlite3.Connection, f: Filters, descending: bool, offset: int, limit: int
) -> list[int] | None:
    """Sort by source (the image file, or the container's file): the items with a file come
    from the unique path index, each container's rows from its (container, id) index, merged
    by path; a container's size comes from container_counts. None (plain SQL) when a file item
    has the path of a container (their ties would interleave by id) or when a filter keeps
    few items."""
    where, params = where_clause(f, db)
    if where and not _walk_pays(count(db), _estimate(db, f), offset, limit):
        return _sorted_matches(db, f, "-source" if descending else "source", offset, limit)
    groups: dict[str, list[int]] = {}
    for cid, path in db.execute("SELECT id, path FROM containers ORDER BY path, id"):
        groups.setdefault(path, []).append(cid)
    if (
        groups
        and db.execute(
            f"SELECT 1 FROM items WHERE path IN ({','.join('?' * len(groups))}) LIMIT 1",
            list(groups),
        ).fetchone()
    ):
        return None
    extra = no_filter_indexes(where.replace("WHERE ", "AND ", 1))
    direction = "DESC" if descending else "ASC"

    def files(low: str | None, high: str | None):
        bounds, values = ["items.path IS NOT NULL"], []
        if low is not None:
            bounds.append("items.path > ?")
            values.append(low)
        if high is not None:
            bounds.append("items.path < ?")
            values.append(high)
        source = f"FROM items INDEXED BY items_path WHERE {' AND '.join(bounds)} {extra}"

        def size() -> int:
            sql = "SELECT COUNT(*) " + source
            return int(db.execute(sql, [*values, *params]).fetchone()[0])

        def fetch(off: int, n: int) -> list[int]:
            sql = f"SELECT items.id {source}ORDER BY items.path {direction} LIMIT ? OFFSET ?"
            return [r[0] for r in db.execute(sql, [*values, *params, n, off])]

        return size, fetch

    def rows_of(cids: list[int]):
        marks = ",".join("?" * len(cids))
        source = (
            "FROM items INDEXED BY items_container_id "
            f"WHERE items.container_id IN ({marks}) {extra}"
        )

        def size() -> int:
            if not where:
                sql = "SELECT COALESCE(SUM(n), 0) FROM container_counts WHERE container_id IN "
                sql += f"({marks})"
                return int(db.execute(sql, cids).fetchone()[0])
            return int(db.execute("SELECT COUNT(*) " + source, [*cids, *params]).fetchone()[0])

        def fetch(off: int, n: int) -> list[int]:
            sql = "SELECT items.id " + source + "ORDER BY items.id LIMIT ? OFFSET ?"
            return [r[0] for r in db.execute(sql, [*cids, *params, n, off])]

        return size, fetch

    parts = []
    low = None
    for path, cids in groups.items():
        parts += [files(low, path), rows_of(cids)]
        low = path
    parts.append(files(low, None))
    return parts_page(parts[::-1] if descending else parts, offset, limit)
