"""One page of blind mode's list (:func:`.own_order.id_array`, the items filtered and sorted by
one annotator's own opinions) without reading the rest: the Browser's window at a million items.

:func:`page_ids` walks the requested order, so a page costs what it holds, not what the
catalog holds: for one sort key of the item's own (id, name, split, ...) the items in that
order, each tested on the person's opinions by primary-key lookups; by id with an opinion one
must have, those opinions in item order (the covering index ``opinions_own``); for a key of
one's own (label, review, target, box count, mask, annotator; either direction) the parts of
the list walked in the indexes of schema v9 (:mod:`.own_walks`). Several sort keys, and a walk
past :data:`WALK_BUDGET` (filters that keep few of the rows walked), cut the page from the
whole list, kept for the next window while the catalog stays as it was. :func:`count` is the
list's length: the Browser runs it on a worker when a filter of one's own is set.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from qbi_desktop.core.catalog import count_cache, queries
from qbi_desktop.core.catalog.own_order import _is_own, id_array
from qbi_desktop.core.catalog.own_walks import (
    OWN_FILTERS,
    driver,
    item_where,
    own_parts,
    own_where,
    parts_page,
    required_opinion,
    sorted_matches,
)
from qbi_desktop.core.catalog.pages import WALK_BUDGET, _deadline, _Expired
from qbi_desktop.core.catalog.queries import (
    Filters,
    _snapshot,
    _sort_keys,
    as_filters,
    order_clause,
)


def page_ids(
    db: sqlite3.Connection,
    annotator: str,
    filters: Filters | Mapping[str, Any] | None = None,
    sort: str | Sequence[str] | None = None,
    offset: int = 0,
    limit: int = 1000,
) -> np.ndarray:
    """The ids of rows ``offset .. offset + limit`` of :func:`id_array`'s list (one page),
    walked in order where a walk applies (see the module docstring)."""
    f = as_filters(filters)
    keys = _sort_keys(sort) or ["id"]
    offset, limit = max(0, int(offset)), max(0, int(limit))
    if not _own_filters(f) and not any(_is_own(k) for k in keys):
        return queries.page_ids(db, f, keys, offset, limit)  # nothing of one's own: as always
    if len(keys) == 1 and limit > 0:
        with _snapshot(db):  # the walk and any fallback see one catalog state
            page = None
            if _few(db, annotator, f):  # few matches: sorted at once
                page = _sorted_matches(db, annotator, f, keys[0], offset, limit)
            if page is None:
                try:
                    with _deadline(db, WALK_BUDGET):
                        page = _walk(db, annotator, f, keys[0], offset, limit)
                except _Expired:  # the filters keep few of the rows walked: sort the matches
                    page = _sorted_matches(db, annotator, f, keys[0], offset, limit)
            if page is not None:
                return np.asarray(page, dtype=np.int64)
    return _whole(db, annotator, f, keys)[offset : offset + limit]


#: (connection, catalog state, question, ids): the last whole list a page was cut from, so
#: scrolling through a sort that has no walk sorts once per catalog state, not once per window
#: (one list only: 8 MB at a million items)
_last_whole: tuple[sqlite3.Connection, Any, str, np.ndarray] | None = None


def _whole(db: sqlite3.Connection, annotator: str, f: Filters, keys: list[str]) -> np.ndarray:
    global _last_whole
    question = json.dumps([annotator, asdict(f), keys], sort_keys=True, default=list)
    with _snapshot(db):
        at = count_cache.state(db)
        last = _last_whole
        if last is not None and last[0] is db and last[1] == at and last[2] == question:
            return last[3]
        ids = id_array(db, annotator, f, keys)
    _last_whole = (db, at, question, ids)
    return ids


def count(
    db: sqlite3.Connection, annotator: str, filters: Filters | Mapping[str, Any] | None = None
) -> int:
    """The number of items :func:`id_array` lists (the catalog's count when no filter is one's
    own; otherwise every item is tested: run it on a worker at a million items)."""
    f = as_filters(filters)
    if not _own_filters(f):
        return queries.count(db, f)
    return int(id_array(db, annotator, f, "id").size)


def count_is_quick(
    db: sqlite3.Connection, annotator: str, filters: Filters | Mapping[str, Any] | None = None
) -> bool:
    """Whether :func:`count` reads counts or an index (else it tests every item)."""
    f = as_filters(filters)
    return not _own_filters(f) and queries.count_is_quick(db, f)


@dataclass(frozen=True)
class Own:
    """This module's reads for one annotator, with the signatures of :mod:`.queries`'
    (``page_ids``, ``id_array``, ``count``, ``count_is_quick``): the Browser's window reads
    either, so blind mode pages and counts on a worker as the catalog's own list does."""

    annotator: str

    def page_ids(self, db, filters=None, sort=None, offset: int = 0, limit: int = 1000):
        return page_ids(db, self.annotator, filters, sort, offset, limit)

    def id_array(self, db, filters=None, sort=None) -> np.ndarray:
        return id_array(db, self.annotator, filters, sort)

    def count(self, db, filters=None) -> int:
        return count(db, self.annotator, filters)

    def count_is_quick(self, db, filters=None) -> bool:
        return count_is_quick(db, self.annotator, filters)


def _own_filters(f: Filters) -> bool:
    """Whether ``f`` filters by the person's own opinions (as :func:`id_array` reads them)."""
    return any(getattr(f, k) is not None for k in OWN_FILTERS[:-1]) or bool(f.has_target)


#: Sorting the matches of a filter that requires an opinion costs ~6 us per match, a walk of
#: the sort order ~3 us per row tested, 200 x items / matches rows for a first window when
#: the matches are spread evenly: the matches are sorted when they are at most
#: sqrt(FEW x items) (10 000 at a million items: ~50 ms either way), walked when more.
FEW = 100


def _few(db: sqlite3.Connection, annotator: str, f: Filters) -> bool:
    """Whether the matches of ``f`` are few enough to be sorted (:data:`FEW`): the items with
    the opinion it requires, the index range :func:`_sorted_matches` reads them from, counted
    up to that number."""
    lead = driver(f, annotator, ranged=True)
    if lead is None:
        return False
    test, args = lead
    items = db.execute("SELECT MAX(id) FROM items").fetchone()[0] or 0  # ids grow: about N
    few = int(math.sqrt(FEW * items))
    sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM opinions o WHERE {test} LIMIT ?)"
    return int(db.execute(sql, [*args, few + 1]).fetchone()[0]) <= few


def _sorted_matches(
    db: sqlite3.Connection, annotator: str, f: Filters, key: str, offset: int, limit: int
) -> list[int] | None:
    """The page from the matches sorted by SQLite when an opinion one must have leads to them
    (:func:`.own_walks.driver`), else None (the whole list)."""
    lead = driver(f, annotator, ranged=True)  # every match is read: an index range
    if lead is None:
        return None
    driving = required_opinion(f)[0]  # the filter that leads: its matches need no other test
    tested = replace(f, **{driving: None})
    return sorted_matches(db, annotator, tested, key, lead, offset, limit)


def _walk(
    db: sqlite3.Connection, annotator: str, f: Filters, key: str, offset: int, limit: int
) -> list[int] | None:
    """One page by a walk of the sort order, or None when no walk applies."""
    if _is_own(key):  # the person's own key: its parts, each walked in order
        parts = own_parts(db, annotator, f, key)
        return None if parts is None else parts_page(parts, offset, limit)
    items, item_params = item_where(db, f)
    own, own_params = own_where(f, annotator)
    conditions, params = [*items, *own], [*item_params, *own_params]
    if key in ("id", "+id") and (lead := driver(f, annotator)) is not None:
        # by id with an opinion one must have: walk those opinions in item order (the covering
        # index, a few entries per row shown) rather than every item with a lookup each
        test, args = lead
        where = " AND ".join(conditions)
        sql = (
            f"SELECT o.item_id FROM opinions o WHERE {test} AND EXISTS (SELECT 1 FROM items "
            f"WHERE items.id = o.item_id AND {where}) ORDER BY o.item_id LIMIT ? OFFSET ?"
        )
        return [r[0] for r in db.execute(sql, [*args, *params, limit, offset])]
    # the item's own order, each item tested on the way
    joins, order, oparams = order_clause([key])
    source = "FROM items "
    if key.lstrip("-+") == "source":
        source += "LEFT JOIN containers ON containers.id = items.container_id "
    where = "WHERE " + " AND ".join(conditions) + " " if conditions else ""
    sql = "SELECT items.id " + source + joins + where + order + "LIMIT ? OFFSET ?"
    return [r[0] for r in db.execute(sql, [*oparams, *params, limit, offset])]
