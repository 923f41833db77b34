"""The parts of blind mode's list sorted by one of the person's own keys, each walked through
an index in its order, so the Browser's first window at a million items costs what it shows.

SQL sorts a key ``K`` of the person's own (their label, review, a target, a box count) as the
item's own column: ``ORDER BY K, items.id`` with NULL first, ``K DESC, items.id`` with NULL
last. The list is therefore a sequence of parts:

* label, ``target:<name>``: the items without the person's value (id order), then their
  opinions by value (reversed: the values first);
* review (never unset: "unreviewed" stands in): the opinions before "unreviewed", the
  unreviewed items (no opinion, or that one) in id order, the opinions after it;
* ``n_boxes``: the items without a box of theirs, then their box lists by length;
* ``has_mask``, ``annotator``: the items without a mask (a label), then those with one, each
  in id order.

The opinions by value are walked in the schema-v9 indexes (``indexes_v9.OWN_INDEXES``), ordered
by the value as SQL compares it (``json_extract``: numbers as numbers, text by code point),
then item id. Walked backwards they give the ties in descending id; :func:`_backwards` puts
each run of equal values back in ascending id (the one cut by the page's end is read again
forwards), so no second index in the other direction is needed. A filter on the same opinion
narrows the walk to its values, and a part the filters leave empty (unlabelled items under a
label filter, ...) is not walked at all. Other filters are tested on each row walked.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from qbi_desktop.core.catalog.indexes_v9 import COUNT_KINDS, VALUE_KINDS
from qbi_desktop.core.catalog.page_parts import Part, in_id_order
from qbi_desktop.core.catalog.queries import (
    _FROM,
    NONE,
    Filters,
    count,
    order_clause,
    where_clause,
)

#: the person's value of an opinion as SQL compares it, and a box list's length: the keys of
#: the indexes in indexes_v9.OWN_INDEXES (spelt exactly so, or SQLite does not walk them)
VALUE = "json_extract(o.value, '$')"
BOX_COUNT = "json_array_length(o.value)"


def partial_term(kind: str) -> str:
    """The WHERE term of the schema-v9 index that holds the opinions of ``kind`` by value."""
    return VALUE_KINDS if kind in ("label", "target", "review") else COUNT_KINDS


#: The filters on the person's own opinions (own_order.id_array reads them there)
OWN_FILTERS = ("label", "review", "annotator", "has_mask", "has_boxes", "has_target")


def item_where(db: sqlite3.Connection, f: Filters) -> tuple[list[str], list[Any]]:
    """The filters of ``f`` on the item's own fields (all but :data:`OWN_FILTERS`) as SQL
    conditions on ``items`` (none or one), and their parameters."""
    where, params = where_clause(replace(f, **dict.fromkeys(OWN_FILTERS)), db)
    return [c for c in (where.replace("WHERE ", "", 1).strip(),) if c], params


def own_parts(db: sqlite3.Connection, annotator: str, f: Filters, key: str) -> list[Part] | None:
    """The parts of the list of the items that pass ``f`` sorted by the person's own ``key``
    (``-`` for descending), in order; None for a key that is not one's own."""
    tested = replace(f, **dict.fromkeys(encoded(key)))  # the parts hold these
    if key.lstrip("-+") == f"target:{f.has_target}":
        tested = replace(tested, has_target=None)
    walks = Walks(db, annotator, tested, *item_where(db, f))
    walks.lead = driver(tested, annotator, "d")
    return walks.parts(f, key)


class Walks:
    """The parts of one list: the items and the person's opinions that pass the filters
    ``tested`` (one's own) and ``items`` (SQL on the item's own fields, ``item_params``)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        annotator: str,
        tested: Filters,
        items: list[str],
        item_params: list[Any],
    ):
        self.db, self.annotator = db, annotator
        own, own_params = own_where(tested, annotator)
        self.conditions, self.params = [*items, *own], [*item_params, *own_params]
        # the same tests of an opinion's item
        passes, self.pass_params = _item_tests(tested, annotator, items, item_params, "o.item_id")
        self.passes = "".join(f"AND {c} " for c in passes)
        self.items, self.item_params, self.tested = items, item_params, tested
        #: an opinion ``d`` every item kept has (:func:`driver`): the items without one of
        #: the sort's opinions are found among those, in item order, not among all items
        self.lead: tuple[str, list[Any]] | None = None

    def parts(self, f: Filters, key: str) -> list[Part] | None:
        """The parts of the list sorted by the person's own ``key`` (``-`` for descending), in
        order; None for a key that is not one's own."""
        descending = key.startswith("-")
        bare = key.lstrip("-+")
        if bare in ("has_mask", "annotator"):
            kind = "mask" if bare == "has_mask" else "label"
            without, with_ = _possible(f, self.annotator, kind, "")
            parts = [self.items_without(kind, "")] if without else []
            parts += [self.in_item_order(kind, "")] if with_ else []
            return parts[::-1] if descending else parts
        if bare == "review":
            return self._review(f, descending)
        if bare == "n_boxes":
            kind, name, expr, test = "boxes", "", BOX_COUNT, f"{BOX_COUNT} > 0"
            values = None
        elif bare == "label" or bare.startswith("target:"):
            kind, name = ("label", "") if bare == "label" else ("target", bare[len("target:") :])
            expr, test = VALUE, ""
            values = values_of(f.label)[0] if kind == "label" and f.label is not None else None
        else:
            return None
        without, with_ = _possible(f, self.annotator, kind, name)
        if values is not None and not values:
            with_ = False
        parts = [self.items_without(kind, name, test)] if without else []
        if with_:
            args: list[Any] = []
            if values is not None:
                test, args = _among(expr, values)
            parts.append(self.by_value(kind, name, expr, test, args, descending))
        return parts[::-1] if descending else parts

    def _review(self, f: Filters, descending: bool) -> list[Part]:
        """Before "unreviewed", the unreviewed items, after it (reversed: descending)."""
        wanted = None if f.review is None else values_of(f.review)[0]
        mid = "unreviewed"
        parts = []
        for side in ("<", None, ">"):
            if side is None:
                if wanted is None or mid in wanted:
                    parts.append(self.items_without("review", "", f"{VALUE} <> ?", [mid]))
                continue
            test, args = f"{VALUE} {side} ?", [mid]
            if wanted is not None:  # those of the wanted states on this side (code points
                # order as SQLite's bytes of UTF-8 do)
                values = [w for w in wanted if (w < mid if side == "<" else w > mid)]
                if not values:
                    continue
                test, args = _among(VALUE, values)
            parts.append(self.by_value("review", "", VALUE, test, args, descending))
        return parts[::-1] if descending else parts

    def _source(
        self, kind: str, name: str, test: str, args: list[Any], by_value: bool = False
    ) -> tuple[str, list]:
        """FROM ... WHERE ... of the person's opinions of ``kind`` that pass ``test`` and the
        filters; ``by_value``: with the term of the partial index that orders them by value."""
        src = (
            f"FROM opinions o WHERE o.annotator = ? AND o.kind = '{kind}' AND o.name = ? "
            + (f"AND o.{partial_term(kind)} " if by_value else "")
            + (f"AND {test} " if test else "")
            + self.passes
        )
        return src, [self.annotator, name, *args, *self.pass_params]

    def items_without(self, kind: str, name: str, test: str = "", args=()) -> Part:
        """The items without the person's opinion of ``kind`` (that passes ``test``), in id
        order: the item table walked, each item looked up."""
        no = (
            "NOT EXISTS (SELECT 1 FROM opinions o WHERE o.item_id = items.id AND "
            f"o.annotator = ? AND o.kind = '{kind}' AND o.name = ? {'AND ' + test if test else ''})"
        )
        if self.lead is not None:
            return self._lead_without(no, [self.annotator, name, *args])
        where = "WHERE " + " AND ".join([*self.conditions, no]) + " "
        params = [*self.params, self.annotator, name, *args]
        db = self.db

        def size() -> int:
            if not self.conditions:  # all items (item_counts) but those with the opinion
                with_ = (
                    "SELECT COUNT(*) FROM opinions o WHERE o.annotator = ? AND "
                    f"o.kind = '{kind}' AND o.name = ? {'AND ' + test if test else ''}"
                )
                n = db.execute(with_, [self.annotator, name, *args]).fetchone()[0]
                return count(db) - int(n)
            return int(db.execute("SELECT COUNT(*) FROM items " + where, params).fetchone()[0])

        def fetch(off: int, n: int) -> list[int]:
            # the table in id order, never a smaller index scanned whole and sorted (what
            # SQLite picks before the catalog has statistics)
            sql = "SELECT items.id FROM items NOT INDEXED " + where + "ORDER BY items.id "
            sql += "LIMIT ? OFFSET ?"
            return [r[0] for r in db.execute(sql, [*params, n, off])]

        return size, fetch

    def _lead_without(self, no: str, no_params: list[Any]) -> Part:
        """The items of the leading opinions ``d`` (in item order: opinions_own) that pass the
        filters and ``no`` (a test of ``items.id``, with ``no_params``)."""
        lead, lead_params = self.lead
        own, own_params = _item_tests(
            self.tested, self.annotator, self.items, self.item_params, "d.item_id"
        )
        tests = [lead, no.replace("items.id", "d.item_id"), *own]
        params = [*lead_params, *no_params, *own_params]
        src = "FROM opinions d WHERE " + " AND ".join(tests) + " "
        return in_id_order(self.db, src, params, "d.item_id")

    def in_item_order(self, kind: str, name: str) -> Part:
        """The person's opinions of ``kind`` in item order (the covering index opinions_own)."""
        src, params = self._source(kind, name, "", [])
        return in_id_order(self.db, src, params, "o.item_id")

    def by_value(
        self, kind: str, name: str, expr: str, test: str, args: list[Any], descending: bool
    ) -> Part:
        """The person's opinions of ``kind`` by ``expr``, ties by ascending item id."""
        src, params = self._source(kind, name, test, args, by_value=True)
        db = self.db

        def size() -> int:
            return int(db.execute("SELECT COUNT(*) " + src, params).fetchone()[0])

        def fetch(off: int, n: int) -> list[int]:
            if descending:
                return _backwards(db, src, params, expr, off, n)
            sql = f"SELECT o.item_id {src}ORDER BY {expr}, o.item_id LIMIT ? OFFSET ?"
            return [r[0] for r in db.execute(sql, [*params, n, off])]

        return size, fetch


#: (kind, SQL of the sort key on the person's opinion ``k`` of that kind) per own sort key
_KEYS = {
    "label": ("label", "json_extract(k.value, '$')"),
    "review": ("review", "COALESCE(json_extract(k.value, '$'), 'unreviewed')"),
    "annotator": ("label", "(k.value IS NOT NULL)"),
    "has_mask": ("mask", "(k.value IS NOT NULL)"),
    "n_boxes": ("boxes", "COALESCE(json_array_length(k.value), 0)"),
}


def sorted_matches(
    db: sqlite3.Connection,
    annotator: str,
    f: Filters,
    key: str,
    driver: tuple[str, list[Any]],
    offset: int,
    limit: int,
) -> list[int]:
    """The page from the matches sorted by SQLite, read from the opinions ``o`` each of them
    has (``driver``: a condition on ``o`` and its parameters): for filters that keep few of
    the rows a walk tests (a rare class of one's own, found late in the sort order)."""
    bare = key.lstrip("-+")
    test, args = driver
    items, item_params = item_where(db, f)
    if bare.startswith("target:"):
        kind, name, expr = "target", bare[len("target:") :], "json_extract(k.value, '$')"
    elif bare in _KEYS:
        (kind, expr), name = _KEYS[bare], ""
    else:  # the item's own key: the items of the driver's opinions, sorted (no index walk)
        joins, order, oparams = order_clause([key], unindexed=True)
        own, own_params = own_where(f, annotator)
        where = [f"items.id IN (SELECT o.item_id FROM opinions o WHERE {test})", *items, *own]
        sql = f"SELECT items.id {_FROM}{joins}WHERE {' AND '.join(where)} {order}LIMIT ? OFFSET ?"
        params = [*oparams, *args, *item_params, *own_params, limit, offset]
        return [r[0] for r in db.execute(sql, params)]
    own, own_params = _item_tests(f, annotator, items, item_params, "o.item_id")
    where, params = [test, *own], [*args, *own_params]
    sql = (
        "SELECT o.item_id FROM opinions o LEFT JOIN opinions k ON k.item_id = o.item_id "
        "AND k.annotator = ? AND k.kind = ? AND k.name = ? WHERE "
        + " AND ".join(where)
        + f" ORDER BY {expr} {'DESC' if key.startswith('-') else 'ASC'}, o.item_id "
        "LIMIT ? OFFSET ?"
    )
    rows = db.execute(sql, [annotator, kind, name, *params, limit, offset])
    return [r[0] for r in rows]


def parts_page(parts: list[Part], offset: int, limit: int) -> list[int]:
    """A page over consecutive parts. Each part is read at the page's offset first: a page
    that starts inside it needs no count of it (a count of the items without one's value walks
    every item); a part is counted only when the page starts past its end."""
    page: list[int] = []
    for size, fetch in parts:
        got = fetch(offset, limit - len(page))
        if got or offset == 0:
            page, offset = page + got, 0
        else:
            offset -= size()
        if len(page) >= limit:
            break
    return page


def _backwards(
    db: sqlite3.Connection, src: str, params: list[Any], expr: str, offset: int, limit: int
) -> list[int]:
    """Rows ``offset .. offset + limit`` of ``src`` by ``expr`` descending, ties by ascending
    item id, from the index ordered by (``expr``, item id) walked backwards."""
    back = f"ORDER BY {expr} DESC, o.item_id DESC "
    row = db.execute(f"SELECT {expr} {src}{back}LIMIT 1 OFFSET ?", [*params, offset]).fetchone()
    if row is None or limit <= 0:
        return []
    top = row[0]  # the value at the page's first row; its run starts ``skip`` rows before
    skip = offset
    if offset:
        above = f"SELECT COUNT(*) {src}AND {expr} > ?"
        skip -= int(db.execute(above, [*params, top]).fetchone()[0])
    page = _run(db, src, params, expr, top, limit, skip)
    if len(page) < limit:
        rows = db.execute(
            f"SELECT {expr}, o.item_id {src}AND {expr} < ? {back}LIMIT ?",
            [*params, top, limit - len(page)],
        ).fetchall()
        runs = [(v, [r[1] for r in run]) for v, run in itertools.groupby(rows, lambda r: r[0])]
        for _value, ids in runs[:-1]:  # whole runs: their ids ascending
            page += ids[::-1]
        if runs:  # the last run may be cut: its first ids are read again
            value, ids = runs[-1]
            page += _run(db, src, params, expr, value, len(ids), 0)
    return page


def _run(db, src: str, params: list[Any], expr: str, value: Any, limit: int, skip: int):
    """The ids of the rows whose ``expr`` equals ``value``, ascending (the index's order; a
    range, see :func:`_among`)."""
    sql = f"SELECT o.item_id {src}AND {expr} BETWEEN ? AND ? ORDER BY {expr}, o.item_id "
    return [
        r[0] for r in db.execute(sql + "LIMIT ? OFFSET ?", [*params, value, value, limit, skip])
    ]


def _opinion(kind: str, item: str, more: str = "") -> str:
    """An EXISTS test of the person's opinion ``mine`` of ``kind`` on the item ``item`` (a
    primary-key lookup); parameters: the annotator, the name, then ``more``'s."""
    return (
        f"EXISTS (SELECT 1 FROM opinions mine WHERE mine.item_id = {item} AND "
        f"mine.annotator = ? AND mine.kind = '{kind}' AND mine.name = ? {more})"
    )


def _item_tests(
    f: Filters, annotator: str, items: list[str], item_params: list[Any], item: str
) -> tuple[list[str], list[Any]]:
    """SQL conditions on the item ``item`` (a column such as an opinion's item_id): ``f``'s
    filters of one's own straight on it (:func:`own_where`), the item's own fields ``items``
    by a lookup in items (only when there are some); and their parameters."""
    own, params = own_where(f, annotator, item)
    if items:
        own.append(
            f"EXISTS (SELECT 1 FROM items WHERE items.id = {item} AND {' AND '.join(items)})"
        )
        params = [*params, *item_params]
    return own, params


def values_of(wanted: str | Sequence[str]) -> tuple[list[str], bool]:
    """A filter's wanted values: the real ones, and whether "none" is among them."""
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    return [w for w in wanted if w != NONE], NONE in wanted


def own_where(f: Filters, annotator: str, item: str = "items.id") -> tuple[list[str], list[Any]]:
    """SQL conditions on the item ``item`` (a column) for the filters of one's own (as
    own_order.id_array applies them), and their parameters."""
    where: list[str] = []
    params: list[Any] = []
    if f.label is not None:
        real, unset = values_of(f.label)
        parts = []
        if real:
            marks = ",".join("?" * len(real))
            among = f"AND json_extract(mine.value, '$') IN ({marks})"
            parts.append(_opinion("label", item, among))
            params += [annotator, "", *real]
        if unset:
            parts.append("NOT " + _opinion("label", item))
            params += [annotator, ""]
        where.append("(" + " OR ".join(parts) + ")" if parts else "0")
    if f.review is not None:
        real, _unset = values_of(f.review)  # never unset: "unreviewed" stands in
        if real:
            marks = ",".join("?" * len(real))
            where.append(
                "COALESCE((SELECT json_extract(mine.value, '$') FROM opinions mine WHERE "
                f"mine.item_id = {item} AND mine.annotator = ? AND mine.kind = 'review' "
                "AND mine.name = ?), "
                f"'unreviewed') IN ({marks})"
            )
            params += [annotator, "", *real]
        else:
            where.append("0")
    if f.annotator is not None:
        real, unset = values_of(f.annotator)
        mine = annotator in real
        if mine != unset:  # both: every item; neither: none
            where.append(("" if mine else "NOT ") + _opinion("label", item))
            params += [annotator, ""]
        elif not mine:
            where.append("0")
    if f.has_mask is not None:
        where.append(("" if f.has_mask else "NOT ") + _opinion("mask", item))
        params += [annotator, ""]
    if f.has_boxes is not None:
        boxed = _opinion("boxes", item, "AND json_array_length(mine.value) > 0")
        where.append(("" if f.has_boxes else "NOT ") + boxed)
        params += [annotator, ""]
    if f.has_target:
        where.append(_opinion("target", item))
        params += [annotator, f.has_target]
    return where, params


def required_opinion(f: Filters) -> tuple[str, str, str, list[str] | None] | None:
    """The filter, and the opinion (kind, name, its values or None: any) it requires of every
    item it keeps in the person's own, or None."""
    if f.label is not None:
        real, unset = values_of(f.label)
        if real and not unset:
            return "label", "label", "", real
    if f.review is not None:
        real, _unset = values_of(f.review)
        if real and "unreviewed" not in real:  # never unset: "unreviewed" is every other item
            return "review", "review", "", real
    if f.has_target:
        return "has_target", "target", f.has_target, None
    if f.has_mask:
        return "has_mask", "mask", "", None
    if f.has_boxes:
        return "has_boxes", "boxes", "", None
    return None


def driver(
    f: Filters, annotator: str, o: str = "o", ranged: bool = False
) -> tuple[str, list[Any]] | None:
    """A condition on the person's opinions ``o`` (an alias) that every item ``f`` keeps must
    meet (one opinion of one kind and name), or None; walked in item order (opinions_own), or
    ``ranged``: read as one range of the schema-v9 indexes (every match, any order)."""
    required = required_opinion(f)
    if required is None:
        return None
    _filter, kind, name, values = required
    value = VALUE.replace("o.", f"{o}.")
    args: list[Any]
    if ranged:  # the kind written out with the index's term, the values as index ranges
        test = f"{o}.annotator = ? AND {o}.kind = '{kind}' AND {o}.{partial_term(kind)} "
        test += f"AND {o}.name = ?"
        args = [annotator, name]
        among = _among(value, values) if values else None
    else:
        test = f"{o}.annotator = ? AND {o}.kind = ? AND {o}.name = ?"
        args = [annotator, kind, name]
        among = (f"{value} IN ({','.join('?' * len(values))})", values) if values else None
    if among is not None:
        test, args = f"{test} AND {among[0]}", [*args, *among[1]]
    elif kind == "boxes":
        test += f" AND {BOX_COUNT.replace('o.', f'{o}.')} > 0"
    return test, args


def _among(expr: str, values: list[Any]) -> tuple[str, list[Any]]:
    """``expr`` is one of ``values``: one value as a range (an equality on an expression
    makes SQLite sort the rows by id instead of walking them: a temporary B-tree)."""
    if len(values) == 1:
        return f"{expr} BETWEEN ? AND ?", [values[0], values[0]]
    return f"{expr} IN ({','.join('?' * len(values))})", list(values)


def encoded(key: str) -> tuple[str, ...]:
    """The filters that the parts of the list sorted by ``key`` hold entirely (the parts a
    filter leaves empty are not walked, a filter on the values walks those values only), so
    the rows walked need no test of them."""
    return {
        "label": ("label", "annotator"),
        "annotator": ("annotator",),
        "review": ("review",),
        "has_mask": ("has_mask",),
        "n_boxes": ("has_boxes",),
    }.get(key.lstrip("-+"), ())


def _possible(f: Filters, annotator: str, kind: str, name: str) -> tuple[bool, bool]:
    """Whether the filters can keep items without (with) the person's opinion of ``kind``."""
    without = with_ = True
    if kind == "label":
        if f.label is not None:
            real, unset = values_of(f.label)
            without, with_ = unset, bool(real)
        if f.annotator is not None:
            real, unset = values_of(f.annotator)
            without, with_ = without and unset, with_ and annotator in real
    elif kind == "mask" and f.has_mask is not None:
        without, with_ = not f.has_mask, bool(f.has_mask)
    elif kind == "boxes" and f.has_boxes is not None:
        without, with_ = not f.has_boxes, bool(f.has_boxes)
    elif kind == "target" and f.has_target == name:
        without = False
    return without, with_
