"""Filtered, sorted, paged item queries, done in SQL on indexed columns.

The browser asks for all matching ids in order once (:func:`id_array`) and then rows by id as
the view paints them; other callers use pages of ``query(filters, sort, offset, limit)`` and
``count(filters)``. All use the indexes of schema.py, so on 100 000 items a filter or a sort takes
tens of milliseconds. Every value goes in as an SQL parameter; column names come only from the
fixed tables below, never from the caller's text.

Sorting by one regression target does not join the targets table per item (a temp B-tree over
every item): the ``targets(name, value, item_id)`` indexes already hold the order, ascending and
descending with the ascending-id tie-break, so it is one index walk plus, in numpy, the items
without that target (they sort first ascending and last descending, as SQL's NULLs do).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from qbi_desktop.core.catalog import count_cache, duplicate_flags, names, row_checks

#: Sort keys and the SQL they sort by. Also ``"target:<name>"``; prefix ``-`` for descending.
SORT_COLUMNS = {
    "id": "items.id",
    "name": "items.name",
    "label": "items.label",
    "annotator": "items.label_by",
    "split": "items.split",
    "review": "items.review",
    "reviewed_by": "items.reviewed_by",
    "notes": "items.notes",
    "provenance": "items.provenance_kind",
    "parent": "items.parent_id",
    "hash": "items.hash",
    "width": "items.width",
    "height": "items.height",
    "size": "items.size",
    "added": "items.added",
    "source": "COALESCE(items.path, containers.path)",
    "has_mask": "items.has_mask",  # kept by triggers on masks (mask_flags.py)
    "n_boxes": "items.n_boxes",
}

#: Columns whose distinct values :func:`distinct` lists (for filter menus).
DISTINCT_COLUMNS = {
    "label": "label",
    "split": "split",
    "review": "review",
    "provenance": "provenance_kind",
    "annotator": "label_by",
}

_ROW_COLUMNS = (
    "id",
    "name",
    "label",
    "annotator",
    "split",
    "review",
    "reviewed_by",
    "notes",
    "provenance",
    "parent",
    "hash",
    "width",
    "height",
    "source",
    "index",
    "has_mask",
    "n_boxes",
)

_SELECT = (
    "SELECT items.id, items.name, items.label, items.label_by, items.split, items.review, "
    "items.reviewed_by, items.notes, items.provenance_kind, items.parent_id, items.hash, "
    "items.width, items.height, COALESCE(items.path, containers.path), items.idx, "
    "masks.item_id IS NOT NULL, items.n_boxes "
)
_FROM = (
    "FROM items LEFT JOIN containers ON containers.id = items.container_id "
    "LEFT JOIN masks ON masks.item_id = items.id "
)

#: Stands for "no value" in a label/split/annotator filter (items never labelled, not split).
NONE = ""


@dataclass
class Filters:
    """What to show. Each field None = no filter; a list = any of; ``NONE`` ("") = unset.

    ``label``, ``split``, ``review``, ``provenance``, ``annotator``: column values.
    ``name``: substring of the item name. ``has_mask``/``has_boxes``: True/False.
    ``has_target``: a regression target name the item must have. ``ids``: item ids.
    ``duplicates``: True = only items whose content hash occurs more than once.
    ``metadata``: {key: value} equality on the item's metadata JSON.
    """

    label: str | Sequence[str] | None = None
    split: str | Sequence[str] | None = None
    review: str | Sequence[str] | None = None
    provenance: str | Sequence[str] | None = None
    annotator: str | Sequence[str] | None = None
    name: str | None = None
    has_mask: bool | None = None
    has_boxes: bool | None = None
    has_target: str | None = None
    ids: Sequence[int] | None = None
    duplicates: bool | None = None
    metadata: Mapping[str, Any] | None = None


def as_filters(filters: Filters | Mapping[str, Any] | None) -> Filters:
    if filters is None:
        return Filters()
    if isinstance(filters, Filters):
        return filters
    unknown = set(filters) - set(asdict(Filters()))
    if unknown:
        from qbi_desktop.core.errors import UserFacingError, listed

        raise UserFacingError(f"unknown filter(s): {listed(sorted(unknown))}")
    return Filters(**filters)


def _in(column: str, value: str | Sequence[str], where: list[str], params: list[Any]) -> None:
    values = [value] if isinstance(value, str) else list(value)
    parts = []
    real = [v for v in values if v != NONE]
    if real:
        parts.append(f"{column} IN ({','.join('?' * len(real))})")
        params.extend(real)
    if len(real) < len(values):
        parts.append(f"{column} IS NULL")
    where.append("(" + " OR ".join(parts) + ")" if parts else "0")


def where_clause(
    filters: Filters | Mapping[str, Any] | None, db: sqlite3.Connection | None = None
) -> tuple[str, list[Any]]:
    """The WHERE clause (with leading ``WHERE`` or empty) and its parameters. Given the
    catalog ``db``, a "name contains" filter that few names match reads the name index."""
    f = as_filters(filters)
    where: list[str] = []
    params: list[Any] = []
    for value, column in (
        (f.label, "items.label"),
        (f.split, "items.split"),
        (f.review, "items.review"),
        (f.provenance, "items.provenance_kind"),
        (f.annotator, "items.label_by"),
    ):
        if value is not None:
            _in(column, value, where, params)
    if f.name:
        term, values = names.condition(db, f.name)
        where.append(term)
        params.extend(values)
    if f.has_mask is not None:
        where.append(
            ("" if f.has_mask else "NOT ")
            + "EXISTS (SELECT 1 FROM masks m WHERE m.item_id = items.id)"
        )
    if f.has_boxes is not None:
        where.append(
            ("" if f.has_boxes else "NOT ")
            + "EXISTS (SELECT 1 FROM boxes b WHERE b.item_id = items.id)"
        )
    if f.has_target:
        where.append("EXISTS (SELECT 1 FROM targets t WHERE t.item_id = items.id AND t.name = ?)")
        params.append(f.has_target)
    if f.ids is not None:
        ids = [int(i) for i in f.ids]
        # A temp table would be faster for huge id lists; a selection is small in practice.
        where.append(f"items.id IN ({','.join('?' * len(ids))})" if ids else "0")
        params.extend(ids)
    if f.duplicates:
        # kept by triggers: the flag (duplicate_flags.py, schema v12: the duplicates' own
        # indexes), or the hashes that occur more than once (derived.py)
        flagged = db is not None and duplicate_flags.in_schema(db)
        where.append(
            "items.is_dup = 1" if flagged else "items.hash IN (SELECT hash FROM duplicate_hashes)"
        )
    for key, value in (f.metadata or {}).items():
        where.append("json_extract(items.metadata, ?) = ?")
        params.extend([_json_path(key), value])
    return ("WHERE " + " AND ".join(where) + " " if where else ""), params


def _json_path(key: str) -> str:
    return '$."' + key.replace('"', '\\"') + '"'


def order_clause(
    sort: str | Sequence[str] | None, unindexed: bool = False
) -> tuple[str, str, list[Any]]:
    """(extra joins, ORDER BY clause, parameters) for a sort spec such as ``["label", "-name"]``.
    ``unindexed``: SQLite sorts the matches instead of walking an index of a sort column (the
    matches are few, a walk would test nearly every item)."""
    from qbi_desktop.core.errors import UserFacingError

    keys = _sort_keys(sort)
    joins, terms, params = [], [], []
    for n, key in enumerate(keys):
        descending = key.startswith("-")
        key = key.lstrip("-+")
        if key.startswith("target:"):
            alias = f"st{n}"
            joins.append(
                f"LEFT JOIN targets {alias} ON {alias}.item_id = items.id AND {alias}.name = ? "
            )
            params.append(key[len("target:") :])
            expr = f"{alias}.value"
        elif key in SORT_COLUMNS:
            expr = SORT_COLUMNS[key]
        else:
            raise UserFacingError(
                f"cannot sort by {key!r}; choose one of {', '.join(SORT_COLUMNS)} or target:<name>"
            )
        terms.append(f"{'+' if unindexed else ''}{expr} {'DESC' if descending else 'ASC'}")
    terms.append(("+" if unindexed else "") + "items.id ASC")  # stable pages
    return "".join(joins), "ORDER BY " + ", ".join(terms) + " ", params


def _sort_keys(sort: str | Sequence[str] | None) -> list[str]:
    return [sort] if isinstance(sort, str) else list(sort or [])


def _single_target(sort: str | Sequence[str] | None) -> tuple[str, bool] | None:
    """(target name, descending) when the sort is exactly one ``target:<name>`` key."""
    keys = _sort_keys(sort)
    if len(keys) != 1:
        return None
    key = keys[0]
    bare = key.lstrip("-+")
    if not bare.startswith("target:"):
        return None
    return bare[len("target:") :], key.startswith("-")


def query(
    db: sqlite3.Connection,
    filters: Filters | Mapping[str, Any] | None = None,
    sort: str | Sequence[str] | None = None,
    offset: int = 0,
    limit: int | None = 100,
) -> list[dict[str, Any]]:
    """Item rows (dicts with the keys of ``_ROW_COLUMNS`` plus ``targets``), one page."""
    if limit is not None:
        from qbi_desktop.core.catalog.pages import planned_page

        page = planned_page(db, as_filters(filters), _sort_keys(sort), int(offset), int(limit))
        if page is not None:
            return _rows_in_order(db, page)
    by_target = _single_target(sort)
    if by_target is not None:
        # The order comes from the target index (see the module docstring); rows by id.
        order = _ids_by_target(db, filters, *by_target)
        stop = None if limit is None else int(offset) + int(limit)
        page = order[int(offset) : stop].tolist()
        return _rows_in_order(db, page)
    where, wparams = where_clause(filters, db)
    joins, order_sql, oparams = order_clause(sort)
    sql = _SELECT + _FROM + joins + where + order_sql + "LIMIT ? OFFSET ?"
    params = oparams + wparams + [-1 if limit is None else int(limit), int(offset)]
    return _with_targets(db, [_row(r) for r in db.execute(sql, params)])


def page_ids(
    db: sqlite3.Connection,
    filters: Filters | Mapping[str, Any] | None = None,
    sort: str | Sequence[str] | None = None,
    offset: int = 0,
    limit: int = 1000,
) -> np.ndarray:
    """The ids of one page in sort order (the rows of ``query`` without their contents): what
    the Browser holds of a million items, its visible window and a margin."""
    from qbi_desktop.core.catalog.pages import planned_page

    offset, limit = max(0, int(offset)), max(0, int(limit))
    page = planned_page(db, as_filters(filters), _sort_keys(sort), offset, limit)
    if page is not None:
        return np.asarray(page, dtype=np.int64)
    by_target = _single_target(sort)
    if by_target is not None:
        return _ids_by_target(db, filters, *by_target)[offset : offset + limit]
    where, wparams = where_clause(filters, db)
    joins, order, oparams = order_clause(sort)
    keys = _sort_keys(sort)
    needs_join = any(k.lstrip("-+") == "source" for k in keys)
    base = _FROM if needs_join else "FROM items "
    sql = "SELECT items.id " + base + joins + where + order + "LIMIT ? OFFSET ?"
    return _id_column(db, sql, [*oparams, *wparams, limit, offset])


def _row(values: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(_ROW_COLUMNS, values, strict=True))
    row["has_mask"] = bool(row["has_mask"])
    row["targets"] = {}
    return row


def _rows_in_order(db: sqlite3.Connection, page: list[int]) -> list[dict[str, Any]]:
    """The rows of the items ``page``, in that order."""
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(page), 900):  # stay below SQLite's parameter limit
        chunk = page[start : start + 900]
        sql = _SELECT + _FROM + f"WHERE items.id IN ({','.join('?' * len(chunk))})"
        for values in db.execute(sql, chunk):
            found[values[0]] = _row(values)
    return _with_targets(db, [found[i] for i in page if i in found])


def _with_targets(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill each row's ``targets`` dict (one query per 900 rows)."""
    if rows:
        by_id = {row["id"]: row for row in rows}
        for start in range(0, len(rows), 900):  # stay below SQLite's parameter limit
            chunk = list(by_id)[start : start + 900]
            found = db.execute(
                f"SELECT item_id, name, value FROM targets WHERE item_id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            row_checks.check_target_columns(_catalog(db), found)
            for item_id, name, value in found:
                by_id[item_id]["targets"][name] = value
    return rows


def _catalog(db: sqlite3.Connection) -> str:
    """The file of ``db``, for a message."""
    row = db.execute("PRAGMA database_list").fetchone()
    return (row[2] if row else "") or "the catalog"


def count(db: sqlite3.Connection, filters: Filters | Mapping[str, Any] | None = None) -> int:
    """Number of matching items; from ``item_counts`` when only its columns are filtered. A
    count with a name filter is kept for the catalog's state (count_cache.py): the same filter
    under another sort is not counted again."""
    f = as_filters(filters)
    facet = _facet_where(f)
    if facet is not None:
        where, params = facet
        sql = "SELECT COALESCE(SUM(n), 0) FROM item_counts " + where
        return int(db.execute(sql, params).fetchone()[0])
    if f == Filters(duplicates=True):  # the duplicated hashes' counts
        return duplicate_flags.count(db)
    if f.name and f.ids is None:
        kept = count_cache.get(db, "count", f)
        if kept is not None:
            return int(kept)
    with _snapshot(db):
        at = count_cache.state(db)
        where, params = where_clause(f, db)
        n = int(db.execute("SELECT COUNT(*) FROM items " + where, params).fetchone()[0])
    if f.name and f.ids is None:
        count_cache.put(db, "count", f, n, at)
    return n


def remember_count(
    db: sqlite3.Connection,
    filters: Filters | Mapping[str, Any] | None,
    n: int,
    at: count_cache.State,
) -> None:
    """A count made elsewhere (a worker's connection) of the catalog as ``db`` saw it in state
    ``at``: :func:`count` on ``db`` gives it while that state holds."""
    f = as_filters(filters)
    if f.name and f.ids is None:
        count_cache.put(db, "count", f, int(n), at)


def count_is_quick(db: sqlite3.Connection, filters: Filters | Mapping[str, Any] | None) -> bool:
    """Whether :func:`count` reads counts, an index or a count kept for this catalog state;
    False when it tests every item (a name substring that many names hold: ~0.2 s at a
    million items)."""
    f = as_filters(filters)
    if not f.name or names.indexed_matches(db, f.name) is not None:
        return True
    return f.ids is None and count_cache.get(db, "count", f) is not None


#: Filter fields that item_counts answers, and their columns there.
_FACETS = {
    "label": "label",
    "split": "split",
    "review": "review",
    "provenance": "provenance_kind",
    "annotator": "label_by",
}


def _facet_where(f: Filters) -> tuple[str, list[Any]] | None:
    """WHERE clause over ``item_counts`` for ``f``, or None when ``f`` filters anything else."""
    if f.name or f.has_target or f.duplicates or f.metadata:
        return None
    if f.has_mask is not None or f.has_boxes is not None or f.ids is not None:
        return None
    where: list[str] = []
    params: list[Any] = []
    for field, column in _FACETS.items():
        value = getattr(f, field)
        if value is not None:
            _in(column, value, where, params)
    return ("WHERE " + " AND ".join(where) + " " if where else ""), params


def ids(
    db: sqlite3.Connection,
    filters: Filters | Mapping[str, Any] | None = None,
    sort: str | Sequence[str] | None = None,
) -> list[int]:
    """All matching item ids in sort order (for selections, montages, datasets)."""
    return id_array(db, filters, sort).tolist()


def id_array(
    db: sqlite3.Connection,
    filters: Filters | Mapping[str, Any] | None = None,
    sort: str | Sequence[str] | None = None,
) -> np.ndarray:
    """All matching item ids in sort order as an int64 array: what the Browser's model holds.

    Same order as :func:`query` pages (ties broken by ascending id), about three times faster
    than fetching the ids row by row.
    """
    by_target = _single_target(sort)
    if by_target is not None:
        return _ids_by_target(db, filters, *by_target)
    where, wparams = where_clause(filters, db)
    joins, order, oparams = order_clause(sort)
    keys = _sort_keys(sort)
    needs_join = any(k.lstrip("-+") == "source" for k in keys)
    base = _FROM if needs_join else "FROM items "
    return _id_column(db, "SELECT items.id " + base + joins + where + order, oparams + wparams)


def _id_column(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> np.ndarray:
    """The first column of ``sql`` (integer ids, in its order) as an int64 array.

    Fetching 100 000 one-value rows builds 100 000 Python tuples (~20 ms); SQLite joins them
    into one string that numpy parses in a third of the time. group_concat takes the rows in
    the order the subquery delivers them; SQLite keeps a FROM-subquery's ORDER BY when the
    outer aggregate depends on order (it drops it only under count/min/max), and the tests
    compare the result with the row-by-row order for every sort. (A ``LIMIT -1`` to pin the
    order would switch SQLite to its slower bounded sorter: twice the time.)
    """
    text = db.execute(f"SELECT group_concat(id, ' ') FROM ({sql})", params).fetchone()[0]
    if not text:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=" ")


def _ids_by_target(
    db: sqlite3.Connection,
    filters: Filters | Mapping[str, Any] | None,
    name: str,
    descending: bool,
) -> np.ndarray:
    """Matching ids sorted by target ``name`` (ties: ascending id), without a temp B-tree.

    One walk of the target index gives every item that has the target in order (the
    descending index keeps ascending ids within equal values); the matching items are the
    filter's ids; the items without the target go first ascending, last descending (NULL).
    """
    where, wparams = where_clause(filters, db)
    direction = "DESC" if descending else "ASC"
    with _snapshot(db):  # the two lists must describe the same catalog state
        ranked = _id_column(
            db,
            f"SELECT item_id AS id FROM targets WHERE name = ? ORDER BY value {direction}, item_id",
            [name],
        )
        if not where and ranked.size == count(db):
            return ranked  # every item has the target (the usual case for a regression sheet)
        matching = _id_column(
            db, "SELECT items.id FROM items " + where + "ORDER BY items.id", wparams
        )
    if where:
        ranked = ranked[np.isin(ranked, matching)]
    without = matching[~np.isin(matching, ranked)]
    return np.concatenate([ranked, without] if descending else [without, ranked])


@contextlib.contextmanager
def _snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """Run several reads on one snapshot of the catalog (a read transaction in WAL mode), so a
    writer on another connection cannot change it between them; inside the caller's own
    transaction, that transaction already is one."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


def distinct(db: sqlite3.Connection, column: str) -> list[Any]:
    """Distinct values of a filterable column (NULL left out), or ``"targets"``: target names."""
    from qbi_desktop.core.errors import UserFacingError

    if column == "targets":
        return [r[0] for r in db.execute("SELECT DISTINCT name FROM targets ORDER BY name")]
    if column not in DISTINCT_COLUMNS:
        raise UserFacingError(
            f"no value list for {column!r}; choose one of {list(DISTINCT_COLUMNS)}"
        )
    col = DISTINCT_COLUMNS[column]
    sql = f"SELECT DISTINCT {col} FROM items WHERE {col} IS NOT NULL ORDER BY {col}"
    return [r[0] for r in db.execute(sql)]
