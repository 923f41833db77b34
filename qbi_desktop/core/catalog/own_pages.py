"""One page of blind mode's list (:func:`.own_order.id_array`, the items filtered and sorted by
one annotator's own opinions) without reading the rest: the Browser's window at a million items.

:func:`page_ids` walks the requested order and tests the person's opinions of each item by
primary-key lookups, or walks the person's opinions of one kind in item order through the
covering index ``opinions_own`` (by id with an opinion one must have; the items that have a
mask or a label in those sorts), so a page costs what it holds, not what the catalog holds. It
walks for one sort key that is the item's own (id, name, split, ...), for "has a mask" and
"annotator" (the items without the opinion in id order, then those with it), and for label,
target and box-count sorts ascending while the page lies among the items without the person's
value (they sort first: a person who has not labelled everything sees those first). Other
sorts (descending classes and targets, review: the values have no index in value order), and
a walk past :data:`WALK_BUDGET` (a filter that keeps few items), cut the page from the whole
list, kept for the next window while the catalog stays as it was. :func:`count` is the list's
length: the Browser runs it on a worker when a filter of one's own is set.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from qbi_desktop.core.catalog import count_cache, queries
from qbi_desktop.core.catalog.own_order import _is_own, id_array
from qbi_desktop.core.catalog.pages import WALK_BUDGET, _deadline, _Expired, _parts_page
from qbi_desktop.core.catalog.queries import (
    NONE,
    Filters,
    _snapshot,
    _sort_keys,
    as_filters,
    order_clause,
    where_clause,
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
            try:
                with _deadline(db, WALK_BUDGET):
                    page = _walk(db, annotator, f, keys[0], offset, limit)
            except _Expired:  # the filter keeps few items: sorting them is quicker
                page = None
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


_OWN_FILTERS = ("label", "review", "annotator", "has_mask", "has_boxes", "has_target")


def _own_filters(f: Filters) -> bool:
    """Whether ``f`` filters by the person's own opinions (as :func:`id_array` reads them)."""
    return any(getattr(f, k) is not None for k in _OWN_FILTERS[:-1]) or bool(f.has_target)


def _opinion(kind: str, more: str = "") -> str:
    """An EXISTS test of the person's opinion of ``kind`` on ``items.id`` (a primary-key
    lookup); parameters: the annotator, the name, then ``more``'s."""
    return (
        "EXISTS (SELECT 1 FROM opinions o WHERE o.item_id = items.id AND o.annotator = ? "
        f"AND o.kind = '{kind}' AND o.name = ? {more})"
    )


def _values(wanted: str | Sequence[str]) -> tuple[list[str], bool]:
    """A filter's wanted values: the real ones, and whether "none" is among them."""
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    return [w for w in wanted if w != NONE], NONE in wanted


def _own_where(f: Filters, annotator: str) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``items`` for the filters of one's own (as :func:`id_array` applies
    them), and their parameters."""
    where: list[str] = []
    params: list[Any] = []
    if f.label is not None:
        real, unset = _values(f.label)
        parts = []
        if real:
            marks = ",".join("?" * len(real))
            parts.append(_opinion("label", f"AND json_extract(o.value, '$') IN ({marks})"))
            params += [annotator, "", *real]
        if unset:
            parts.append("NOT " + _opinion("label"))
            params += [annotator, ""]
        where.append("(" + " OR ".join(parts) + ")" if parts else "0")
    if f.review is not None:
        real, _unset = _values(f.review)  # never unset: "unreviewed" stands in
        if real:
            marks = ",".join("?" * len(real))
            where.append(
                "COALESCE((SELECT json_extract(o.value, '$') FROM opinions o WHERE "
                "o.item_id = items.id AND o.annotator = ? AND o.kind = 'review' AND o.name = ?), "
                f"'unreviewed') IN ({marks})"
            )
            params += [annotator, "", *real]
        else:
            where.append("0")
    if f.annotator is not None:
        real, unset = _values(f.annotator)
        mine = annotator in real
        if mine != unset:  # both: every item; neither: none
            where.append(("" if mine else "NOT ") + _opinion("label"))
            params += [annotator, ""]
        elif not mine:
            where.append("0")
    if f.has_mask is not None:
        where.append(("" if f.has_mask else "NOT ") + _opinion("mask"))
        params += [annotator, ""]
    if f.has_boxes is not None:
        boxed = _opinion("boxes", "AND json_array_length(o.value) > 0")
        where.append(("" if f.has_boxes else "NOT ") + boxed)
        params += [annotator, ""]
    if f.has_target:
        where.append(_opinion("target"))
        params += [annotator, f.has_target]
    return where, params


def _driver(f: Filters, annotator: str) -> tuple[str, list[Any]] | None:
    """A condition on the person's opinions ``o`` that every item ``f`` keeps must meet (one
    opinion of one kind and name), or None."""
    head = "o.annotator = ? AND o.kind = ? AND o.name = ?"
    if f.label is not None:
        real, unset = _values(f.label)
        if real and not unset:
            marks = ",".join("?" * len(real))
            test = f"{head} AND json_extract(o.value, '$') IN ({marks})"
            return test, [annotator, "label", "", *real]
    if f.has_target:
        return head, [annotator, "target", f.has_target]
    if f.has_mask:
        return head, [annotator, "mask", ""]
    if f.has_boxes:
        return f"{head} AND json_array_length(o.value) > 0", [annotator, "boxes", ""]
    return None


def _walk(
    db: sqlite3.Connection, annotator: str, f: Filters, key: str, offset: int, limit: int
) -> list[int] | None:
    """One page by a walk of the sort order, or None when no walk applies."""
    rest = replace(f, **dict.fromkeys(_OWN_FILTERS))
    item_where, item_params = where_clause(rest, db)
    own_where, own_params = _own_where(f, annotator)
    conditions = [c for c in (item_where.replace("WHERE ", "", 1).strip(), *own_where) if c]
    params = [*item_params, *own_params]
    descending = key.startswith("-")
    bare = key.lstrip("-+")
    if key in ("id", "+id") and (driver := _driver(f, annotator)) is not None:
        # by id with an opinion one must have: walk those opinions in item order (the covering
        # index, a few entries per row shown) rather than every item with a lookup each
        test, args = driver
        where = " AND ".join(conditions)
        sql = (
            f"SELECT o.item_id FROM opinions o WHERE {test} AND EXISTS (SELECT 1 FROM items "
            f"WHERE items.id = o.item_id AND {where}) ORDER BY o.item_id LIMIT ? OFFSET ?"
        )
        return [r[0] for r in db.execute(sql, [*args, *params, limit, offset])]
    if not _is_own(key):  # the item's own order, each item tested on the way
        joins, order, oparams = order_clause([key])
        source = "FROM items "
        if bare == "source":
            source += "LEFT JOIN containers ON containers.id = items.container_id "
        where = "WHERE " + " AND ".join(conditions) + " " if conditions else ""
        sql = "SELECT items.id " + source + joins + where + order + "LIMIT ? OFFSET ?"
        return [r[0] for r in db.execute(sql, [*oparams, *params, limit, offset])]
    # the person's own key: the items without the opinion first (NULL, 0, no mask), in id order
    kind, name, more = {
        "has_mask": ("mask", "", ""),
        "annotator": ("label", "", ""),
        "label": ("label", "", ""),
        "n_boxes": ("boxes", "", "AND json_array_length(o.value) > 0"),
    }.get(bare, ("target", bare[len("target:") :], "") if ":" in bare else (None, "", ""))
    if kind is None:
        return None  # review: "unreviewed" sorts among the values

    def part(present: bool):
        test = ("" if present else "NOT ") + _opinion(kind, more)
        where = "WHERE " + " AND ".join([*conditions, test]) + " "
        args = [*params, annotator, name]
        if present and not more:  # the opinions in item order (the covering index) drive
            items = " AND ".join(conditions)
            where = "WHERE o.annotator = ? AND o.kind = ? AND o.name = ? " + (
                f"AND EXISTS (SELECT 1 FROM items WHERE items.id = o.item_id AND {items}) "
                if conditions
                else ""
            )
            args = [annotator, kind, name, *params]

            def size() -> int:
                sql = "SELECT COUNT(*) FROM opinions o " + where
                return int(db.execute(sql, args).fetchone()[0])

            def fetch(off: int, n: int) -> list[int]:
                sql = "SELECT o.item_id FROM opinions o " + where + "ORDER BY o.item_id "
                return [r[0] for r in db.execute(sql + "LIMIT ? OFFSET ?", [*args, n, off])]

            return size, fetch

        def size() -> int:
            return int(db.execute("SELECT COUNT(*) FROM items " + where, args).fetchone()[0])

        def fetch(off: int, n: int) -> list[int]:
            sql = "SELECT items.id FROM items " + where + "ORDER BY items.id LIMIT ? OFFSET ?"
            return [r[0] for r in db.execute(sql, [*args, n, off])]

        return size, fetch

    if bare in ("has_mask", "annotator"):  # two groups, each in id order
        parts = [part(False), part(True)]
        return _parts_page(parts[::-1] if descending else parts, offset, limit)
    if descending:
        return None  # the values come first: they need the whole list
    size, fetch = part(False)
    page = fetch(offset, limit)
    return page if len(page) == limit else None  # past them the values need the whole list
