"""Items filtered and sorted by one annotator's own opinions: what the Browser lists while
annotating blind.

The item's columns (label, review, targets, boxes, mask) hold the latest edit by anyone, or a
consensus. Blind, a person must find *their* unlabelled items, sort by *their* classes and
targets, and count *their* work, not someone else's. :func:`id_array` answers the same
filters and sort keys as :func:`qbi_desktop.core.catalog.queries.id_array`, with these fields
taken from ``annotator``'s rows of the ``opinions`` table (what they never gave counts as
unset, a review as "unreviewed"):

* filters ``label`` (``""``: unlabelled), ``review``, ``annotator`` (the person themselves when
  they gave a label), ``has_mask``, ``has_boxes``, ``has_target``;
* sort keys ``label``, ``review``, ``annotator``, ``has_mask``, ``n_boxes``, ``target:<name>``.

The other filters and keys (split, origin, name, ids, duplicates, metadata; id, name, width,
source, ...) are the item's own, as always: the catalog's own query lists the items by them,
the person's opinions of each kind used are read once through the ``opinions_own`` index
(annotator, kind, name, item_id, value: schema v8, no table row read), and numpy filters and
orders the list (a stable sort, so ties keep the item order, ids ascending). A join per item
and opinion costs ten times more at 100 000 items; it is kept for sorts that put an item key
before one of the person's own (tests/benchmarks/bench_catalog_own.py prints both).

One page of this list without reading the rest: :mod:`.own_pages`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.queries import (
    NONE,
    SORT_COLUMNS,
    Filters,
    _id_column,
    _snapshot,
    _sort_keys,
    as_filters,
    where_clause,
)
from qbi_desktop.core.catalog.queries import id_array as queries_id_array

#: sort keys and filters answered from the person's own opinions
OWN_KEYS = ("label", "review", "annotator", "has_mask", "n_boxes")


def id_array(
    db: sqlite3.Connection,
    annotator: str,
    filters: Filters | Mapping[str, Any] | None = None,
    sort: str | Sequence[str] | None = None,
) -> np.ndarray:
    """The ids of the items matching ``filters`` in ``sort`` order, as ``annotator`` sees them
    (ties broken by ascending id; NULLs first ascending, as the item queries sort them)."""
    f = as_filters(filters)
    keys = _sort_keys(sort)
    own = [_is_own(k) for k in keys]
    if any(own[i] and not own[i - 1] for i in range(1, len(own))):
        return _by_sql(db, annotator, f, sort)  # an item key before one's own: SQL sorts it
    rest = replace(
        f, label=None, review=None, annotator=None, has_mask=None, has_boxes=None, has_target=None
    )
    with _snapshot(db):  # the item list and the opinions of one catalog state
        base = queries_id_array(db, rest, [k for k, o in zip(keys, own, strict=True) if not o])
        mine = _Opinions(db, annotator, base)
        keep = np.ones(base.size, dtype=bool)
        if f.label is not None:
            keep &= mine.matches("label", f.label)
        if f.review is not None:
            keep &= mine.matches("review", f.review, default="unreviewed")
        if f.annotator is not None:
            wanted = [f.annotator] if isinstance(f.annotator, str) else list(f.annotator)
            labelled = mine.present("label")
            keep &= (labelled & (annotator in wanted)) | (~labelled & (NONE in wanted))
        if f.has_mask is not None:
            keep &= mine.present("mask") == bool(f.has_mask)
        if f.has_boxes is not None:
            keep &= (mine.numbers("boxes") > 0) == bool(f.has_boxes)
        if f.has_target:
            keep &= mine.present("target", f.has_target)
        ranks = [mine.rank(k) for k, o in zip(keys, own, strict=True) if o]
    if not ranks:
        return base[keep]
    if len(ranks) == 1:  # a stable sort keeps ties in item order
        order = np.argsort(ranks[0], kind="stable")
    else:
        order = np.lexsort([np.arange(base.size), *reversed(ranks)])  # last key: the primary
    return base[order[keep[order]]]


def _is_own(key: str) -> bool:
    bare = key.lstrip("-+")
    return bare in OWN_KEYS or bare.startswith("target:")


class _Opinions:
    """One person's opinions of each kind, aligned with ``base`` (a list of item ids)."""

    def __init__(self, db: sqlite3.Connection, annotator: str, base: np.ndarray):
        self.db, self.annotator, self.base = db, annotator, base
        self._read: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._rows: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _raw(self, kind: str, name: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the person's values of ``kind`` in item order, where each base item's would be
        among them, whether it is); read once."""
        key = (kind, name)
        if key not in self._rows:
            # two strings, not a Python tuple per row: the ids, and the values as one JSON list
            value = "json_array_length(value)" if kind == "boxes" else "value"
            ids_text, values_text = self.db.execute(
                f"SELECT group_concat(item_id, ' '), '[' || group_concat({value}, ',') || ']' "
                "FROM (SELECT item_id, value FROM opinions WHERE annotator = ? AND kind = ? "
                "AND name = ? ORDER BY item_id)",
                (self.annotator, kind, name),
            ).fetchone()
            ids = np.fromstring(ids_text or "", dtype=np.int64, sep=" ")
            values = np.empty(ids.size, dtype=object)
            if ids.size:
                values[:] = json.loads(values_text)
            at = np.searchsorted(ids, self.base)
            inside = at < ids.size
            present = np.zeros(self.base.size, dtype=bool)
            present[inside] = ids[at[inside]] == self.base[inside]
            self._rows[key] = (values, at, present)
        return self._rows[key]

    def _get(self, kind: str, name: str = "") -> tuple[np.ndarray, np.ndarray]:
        """(whether each base item has one, its value) for ``kind``; read once."""
        key = (kind, name)
        if key not in self._read:
            values, at, present = self._raw(kind, name)
            aligned = np.empty(self.base.size, dtype=object)
            aligned[present] = values[at[present]]
            self._read[key] = (present, aligned)
        return self._read[key]

    def present(self, kind: str, name: str = "") -> np.ndarray:
        """Whether each base item has an opinion of ``kind``: the ids alone, read from the
        index without visiting the rows (about ten times faster than their values)."""
        if (kind, name) in self._rows:
            return self._rows[(kind, name)][2]
        text = self.db.execute(
            "SELECT group_concat(item_id, ' ') FROM opinions WHERE annotator = ? AND kind = ? "
            "AND name = ?",
            (self.annotator, kind, name),
        ).fetchone()[0]
        ids = np.sort(np.fromstring(text or "", dtype=np.int64, sep=" "))
        return np.isin(self.base, ids, assume_unique=False)

    def numbers(self, kind: str) -> np.ndarray:
        present, values = self._get(kind)
        out = np.zeros(self.base.size, dtype=np.int64)
        out[present] = values[present].astype(np.int64)
        return out

    def matches(self, kind: str, wanted: str | Sequence[str], default: str | None = None):
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        real = [w for w in wanted if w != NONE]
        if not real and default is None:  # only "unset": no value needs reading
            return ~self.present(kind)
        present, values = self._get(kind)
        if default is not None:  # never unset (a review): the default stands in
            values = values.copy()
            values[~present] = default
            present = np.ones_like(present)
        hit = np.zeros_like(present)
        if real:
            hit = present & np.isin(values, np.array(real, dtype=object))
        return hit | (~present & (NONE in wanted))

    def rank(self, key: str) -> np.ndarray:
        """Integers that sort the base items as SQL sorts ``key`` (NULLs first ascending)."""
        descending = key.startswith("-")
        bare = key.lstrip("-+")
        if bare == "has_mask":
            rank = self.present("mask").astype(np.int64)
        elif bare == "annotator":
            rank = self.present("label").astype(np.int64)
        elif bare == "n_boxes":
            rank = self.numbers("boxes")
        else:
            kind, name = ("target", bare[len("target:") :]) if ":" in bare else (bare, "")
            rank = np.zeros(self.base.size, dtype=np.int64)
            if kind == "review":  # never unset: "unreviewed" stands in
                present, values = self._get(kind, name)
                values = values.copy()
                values[~present] = "unreviewed"
                _, codes = np.unique(_typed(values), return_inverse=True)
                rank[:] = codes.ravel() + 1
            else:  # the person's values ranked as they are read, then placed on the base
                values, at, present = self._raw(kind, name)
                if present.any():
                    _, codes = np.unique(_typed(values), return_inverse=True)
                    rank[present] = codes.ravel()[at[present]] + 1
        return -rank if descending else rank


def _typed(values: np.ndarray) -> np.ndarray:
    """The values as numbers or as fixed-width text when they are all of one such kind: numpy
    sorts those in C, five times faster than Python objects at 60 000 labels. Text keeps its
    order (code points, as SQLite's byte order of UTF-8); mixed kinds stay objects."""
    kinds = {type(v) for v in values}
    if kinds == {str}:
        return values.astype(str)
    if kinds <= {int, float}:
        return values.astype(np.float64)
    return values


def _by_sql(
    db: sqlite3.Connection, annotator: str, f: Filters, sort: str | Sequence[str] | None
) -> np.ndarray:
    """The same, all in SQL: each opinion joined per item (about ten times slower at 100 000
    items); for sorts where an item key comes before one of the person's own."""
    from qbi_desktop.core.errors import UserFacingError

    joins = _Joins(annotator)
    where: list[str] = []
    params: list[Any] = []
    label = joins.value("label")
    for wanted, expr in (
        (f.label, label),
        (f.review, f"COALESCE({joins.value('review')}, 'unreviewed')"),
        (f.annotator, f"(CASE WHEN {label} IS NULL THEN NULL ELSE ? END)"),
    ):
        if wanted is not None:
            extra = [annotator] if wanted is f.annotator else []
            _in(expr, wanted, extra, where, params)
    if f.has_mask is not None:
        where.append(("" if f.has_mask else "NOT ") + joins.exists("mask"))
        params += [annotator]
    if f.has_boxes is not None:
        exists = joins.exists("boxes", "AND json_array_length(x.value) > 0")
        where.append(("" if f.has_boxes else "NOT ") + exists)
        params += [annotator]
    if f.has_target:
        where.append(joins.exists("target", "AND x.name = ?"))
        params += [annotator, f.has_target]
    rest = replace(
        f, label=None, review=None, annotator=None, has_mask=None, has_boxes=None, has_target=None
    )
    item_where, item_params = where_clause(rest)

    terms: list[str] = []
    needs_containers = False
    for key in _sort_keys(sort):
        descending = key.startswith("-")
        bare = key.lstrip("-+")
        if bare == "label":
            expr = label
        elif bare == "review":
            expr = f"COALESCE({joins.value('review')}, 'unreviewed')"
        elif bare == "annotator":  # the person where they labelled, else none: labelled last
            expr = f"({label} IS NOT NULL)"
        elif bare == "has_mask":
            expr = f"({joins.value('mask')} IS NOT NULL)"
        elif bare == "n_boxes":
            expr = f"COALESCE(json_array_length({joins.raw('boxes')}), 0)"
        elif bare.startswith("target:"):
            expr = joins.value("target", bare[len("target:") :])
        elif bare in SORT_COLUMNS:
            expr = SORT_COLUMNS[bare]
            needs_containers |= bare == "source"
        else:
            raise UserFacingError(
                f"cannot sort by {bare!r}; choose one of {', '.join(SORT_COLUMNS)} or target:<name>"
            )
        terms.append(f"{expr} {'DESC' if descending else 'ASC'}")
    terms.append("items.id ASC")

    source = "FROM items "
    if needs_containers:
        source += "LEFT JOIN containers ON containers.id = items.container_id "
    conditions = [c for c in (item_where.replace("WHERE ", "", 1).strip(), *where) if c]
    sql = (
        "SELECT items.id "
        + source
        + joins.sql()
        + ("WHERE " + " AND ".join(conditions) + " " if conditions else "")
        + "ORDER BY "
        + ", ".join(terms)
    )
    return _id_column(db, sql, [*joins.params, *item_params, *params])


class _Joins:
    """LEFT JOINs of the person's opinions, one per (kind, name) used, by the primary key."""

    def __init__(self, annotator: str):
        self.annotator = annotator
        self._aliases: dict[tuple[str, str], str] = {}
        self.params: list[Any] = []

    def raw(self, kind: str, name: str = "") -> str:
        key = (kind, name)
        if key not in self._aliases:
            self._aliases[key] = f"o{len(self._aliases)}"
            self.params += [self.annotator, kind, name]
        return f"{self._aliases[key]}.value"

    def value(self, kind: str, name: str = "") -> str:
        return f"json_extract({self.raw(kind, name)}, '$')"

    def exists(self, kind: str, more: str = "") -> str:
        """An EXISTS test; its parameters (annotator, then ``more``'s) follow in the caller's."""
        return (
            "EXISTS (SELECT 1 FROM opinions x WHERE x.item_id = items.id AND x.annotator = ? "
            f"AND x.kind = '{kind}' {more})"
        )

    def sql(self) -> str:
        return "".join(
            f"LEFT JOIN opinions {alias} ON {alias}.item_id = items.id AND {alias}.annotator = ? "
            f"AND {alias}.kind = ? AND {alias}.name = ? "
            for alias in self._aliases.values()
        )


def _in(
    expr: str, wanted: str | Sequence[str], extra: list[Any], where: list[str], params: list
) -> None:
    values = [wanted] if isinstance(wanted, str) else list(wanted)
    real = [v for v in values if v != NONE]
    parts = []
    if real:
        parts.append(f"{expr} IN ({','.join('?' * len(real))})")
        params.extend([*extra, *real])
    if len(real) < len(values):
        parts.append(f"{expr} IS NULL")
        params.extend(extra)
    where.append("(" + " OR ".join(parts) + ")" if parts else "0")
