"""Pages of items at a million items: a page costs what it holds, not what the catalog holds.

The ways there, by sort key:

* sort by a column of item_counts (label, split, review, origin, annotator), either direction:
  the counts give each value's group size, so the page's first group is found without reading
  items, and each group is read in id order from that column's index;
* sort by name, id or width with a filter: walk the sort column's index and test the filter
  per row when the filter keeps many items (a walk of about (offset + limit) / share rows),
  or let SQLite sort the matches when they are few;
* sort by a regression target: walk the targets index the same way, once target_counts says
  every item has that target (otherwise the items without it are found by a scan, as before).
* sort by "has a mask" or "number of boxes": the masked / boxed items come from the masks and
  boxes tables (their number, not the items'), the others from the items in id order.

:func:`planned_page` returns None when no plan applies (several sort keys, a name or
duplicate filter with a grouped sort, ...); the caller then runs the plain SQL of
:mod:`.queries`. Every plan gives exactly the order of that SQL (tests/test_catalog_scale.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import numpy as np

from qbi_desktop.core.catalog.queries import (
    _FACETS,
    SORT_COLUMNS,
    Filters,
    _facet_where,
    _snapshot,
    count,
    where_clause,
)

#: The index of each item_counts column in ``items`` (id the tie-break).
_FACET_INDEXES = {
    "label": "items_label",
    "split": "items_split",
    "review": "items_review",
    "provenance_kind": "items_provenance",
    "label_by": "items_label_by",
}
#: Sort keys walked through an index, per direction ("" for the rowid itself).
_WALKS = {
    "id": ("", ""),
    "name": ("items_name", "items_name"),
    "width": ("items_width", "items_width_desc"),
}


def planned_page(
    db: sqlite3.Connection, f: Filters, keys: list[str], offset: int, limit: int
) -> list[int] | None:
    """The ids of one page by one of the plans above, or None when none applies."""
    if len(keys) != 1 or limit <= 0:
        return None
    descending = keys[0].startswith("-")
    key = keys[0].lstrip("-+")
    with _snapshot(db):  # counts and rows from the same catalog state
        if key in _FACETS and _facet_where(f) is not None:
            return _grouped_page(db, f, _FACETS[key], descending, offset, limit)
        if key in _WALKS:
            return _walked_page(db, f, key, descending, offset, limit)
        if key.startswith("target:"):
            return _target_page(db, f, key[len("target:") :], descending, offset, limit)
        if key == "has_mask":
            return _mask_page(db, f, descending, offset, limit)
        if key == "n_boxes":
            return _boxes_page(db, f, descending, offset, limit)
    return None


def _parts_page(
    parts: list[tuple[Callable[[], int], Callable[[int, int], list[int]]]],
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


def _mask_page(
    db: sqlite3.Connection, f: Filters, descending: bool, offset: int, limit: int
) -> list[int]:
    """Sort by "has a mask": the masked items come from the masks table in id order (its key),
    the others from the items in id order; a first page reads only its rows, a later one the
    number of masks to know where the second part begins."""
    where, params = where_clause(f)
    extra = where.replace("WHERE ", "AND ", 1)
    joined = "FROM masks m CROSS JOIN items ON items.id = m.item_id WHERE 1 " + extra

    def n_masked() -> int:
        sql = "SELECT COUNT(*) " + (joined if where else "FROM masks")
        return int(db.execute(sql, params).fetchone()[0])

    def masked(off: int, n: int) -> list[int]:
        sql = f"SELECT m.item_id {joined}ORDER BY m.item_id LIMIT ? OFFSET ?"
        return [r[0] for r in db.execute(sql, [*params, n, off])]

    def unmasked(off: int, n: int) -> list[int]:
        sql = (
            "SELECT items.id FROM items WHERE NOT EXISTS "
            f"(SELECT 1 FROM masks m WHERE m.item_id = items.id) {extra}"
            "ORDER BY items.id LIMIT ? OFFSET ?"
        )
        return [r[0] for r in db.execute(sql, [*params, n, off])]

    parts = [(lambda: count(db, f) - n_masked(), unmasked), (n_masked, masked)]
    return _parts_page(parts[::-1] if descending else parts, offset, limit)


def _boxes_page(
    db: sqlite3.Connection, f: Filters, descending: bool, offset: int, limit: int
) -> list[int]:
    """Sort by number of boxes: the items with boxes are counted per item from the boxes index
    and ordered in numpy (count, then id), when the page reaches them; the items without boxes
    go first ascending, last descending, in id order."""
    where, params = where_clause(f)
    extra = where.replace("WHERE ", "AND ", 1)
    ranked: list[np.ndarray] = []

    def boxed() -> np.ndarray:
        if not ranked:
            rows = db.execute(
                "SELECT b.item_id, COUNT(*) FROM boxes b CROSS JOIN items ON items.id = b.item_id "
                f"WHERE 1 {extra}GROUP BY b.item_id",
                params,
            ).fetchall()
            counted = np.array(rows, dtype=np.int64).reshape(-1, 2)
            by = -counted[:, 1] if descending else counted[:, 1]
            ranked.append(counted[np.lexsort((counted[:, 0], by))][:, 0])
        return ranked[0]

    def some(off: int, n: int) -> list[int]:
        return boxed()[off : off + n].tolist()

    def none(off: int, n: int) -> list[int]:
        sql = (
            "SELECT items.id FROM items WHERE NOT EXISTS "
            f"(SELECT 1 FROM boxes b WHERE b.item_id = items.id) {extra}"
            "ORDER BY items.id LIMIT ? OFFSET ?"
        )
        return [r[0] for r in db.execute(sql, [*params, n, off])]

    parts = [(lambda: count(db, f) - len(boxed()), none), (lambda: len(boxed()), some)]
    return _parts_page(parts[::-1] if descending else parts, offset, limit)


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
    where, params = where_clause(f)
    extra = _no_filter_indexes(where.replace("WHERE ", "AND ", 1))
    page: list[int] = []
    for value, size in groups:
        if offset >= size:
            offset -= size
            continue
        take = min(limit - len(page), size - offset)
        page += [
            r[0]
            for r in db.execute(
                f"SELECT items.id FROM items INDEXED BY {_FACET_INDEXES[column]} "
                f"WHERE items.{column} IS ? {extra}"
                "ORDER BY items.id LIMIT ? OFFSET ?",
                [value, *params, take, offset],
            )
        ]
        offset = 0
        if len(page) >= limit:
            break
    return page


def _walk_pays(total: int, matching: int, offset: int, limit: int) -> bool:
    """Whether walking the sort order and testing each row beats sorting the matches."""
    return matching > 0 and (offset + limit) * total < matching * matching


def _walked_page(
    db: sqlite3.Connection, f: Filters, key: str, descending: bool, offset: int, limit: int
) -> list[int]:
    where, params = where_clause(f)
    direction = "DESC" if descending else "ASC"
    order = f"ORDER BY {SORT_COLUMNS[key]} {direction}, items.id ASC "
    source = "FROM items "
    if where and _walk_pays(count(db), count(db, f), offset, limit):
        index = _WALKS[key][descending]
        source = f"FROM items INDEXED BY {index} " if index else "FROM items NOT INDEXED "
        where = _no_filter_indexes(where)
    sql = "SELECT items.id " + source + where + order + "LIMIT ? OFFSET ?"
    return [r[0] for r in db.execute(sql, [*params, limit, offset])]


def _no_filter_indexes(where: str) -> str:
    # A unary + keeps SQLite from picking a filter column's index over the forced walk.
    for column in ("label", "split", "review", "provenance_kind", "label_by", "name"):
        where = where.replace(f"items.{column} ", f"+items.{column} ")
    return where


def _target_page(
    db: sqlite3.Connection, f: Filters, name: str, descending: bool, offset: int, limit: int
) -> list[int] | None:
    row = db.execute("SELECT n FROM target_counts WHERE name = ?", (name,)).fetchone()
    total = count(db)
    if row is None or int(row[0]) != total:
        return None  # some items lack the target: the full ordering handles them
    where, params = where_clause(f)
    direction = "DESC" if descending else "ASC"
    order = f"ORDER BY t.value {direction}, t.item_id ASC "
    if not where:
        sql = f"SELECT t.item_id FROM targets t WHERE t.name = ? {order}LIMIT ? OFFSET ?"
        return [r[0] for r in db.execute(sql, [name, limit, offset])]
    extra = where.replace("WHERE ", "AND ", 1)
    if _walk_pays(total, count(db, f), offset, limit):
        # CROSS JOIN keeps targets the outer loop: the index order is the page order
        sql = (
            "SELECT t.item_id FROM targets t CROSS JOIN items ON items.id = t.item_id "
            f"WHERE t.name = ? {_no_filter_indexes(extra)}{order}LIMIT ? OFFSET ?"
        )
    else:
        sql = (
            "SELECT t.item_id FROM items JOIN targets t ON t.item_id = items.id "
            f"WHERE t.name = ? {extra}ORDER BY +t.value {direction}, t.item_id ASC "
            "LIMIT ? OFFSET ?"
        )
    return [r[0] for r in db.execute(sql, [name, *params, limit, offset])]
