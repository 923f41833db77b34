"""Filtered, sorted, paged item queries, done in SQL on indexed columns.

The browser asks for ``count(filters)`` once and then pages of ``query(filters, sort, offset,
limit)`` as the user scrolls; both use the indexes of schema.py, so on 100 000 items a filter or
a sort takes milliseconds. Every value goes in as an SQL parameter; column names come only from
the fixed tables below, never from the caller's text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

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
    "has_mask": "(masks.item_id IS NOT NULL)",
    "n_boxes": "(SELECT COUNT(*) FROM boxes WHERE boxes.item_id = items.id)",
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
    "masks.item_id IS NOT NULL, "
    "(SELECT COUNT(*) FROM boxes WHERE boxes.item_id = items.id) "
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


def _as_filters(filters: Filters | Mapping[str, Any] | None) -> Filters:
    if filters is None:
        return Filters()
    if isinstance(filters, Filters):
        return filters
    unknown = set(filters) - set(asdict(Filters()))
    if unknown:
        from qbi_desktop.core.errors import UserFacingError

        raise UserFacingError(f"unknown filter(s): {', '.join(sorted(unknown))}")
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


def where_clause(filters: Filters | Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """The WHERE clause (with leading ``WHERE`` or empty) and its parameters."""
    f = _as_filters(filters)
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
        escaped = f.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("items.name LIKE ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
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
        where.append("items.hash IN (SELECT hash FROM items GROUP BY hash HAVING COUNT(*) > 1)")
    for key, value in (f.metadata or {}).items():
        where.append("json_extract(items.metadata, ?) = ?")
        params.extend([_json_path(key), value])
    return ("WHERE " + " AND ".join(where) + " " if where else ""), params


def _json_path(key: str) -> str:
    return '$."' + key.replace('"', '\\"') + '"'


def order_clause(sort: str | Sequence[str] | None) -> tuple[str, str, list[Any]]:
    """(extra joins, ORDER BY clause, parameters) for a sort spec such as ``["label", "-name"]``."""
    from qbi_desktop.core.errors import UserFacingError

    keys = [sort] if isinstance(sort, str) else list(sort or [])
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
        terms.append(f"{expr} {'DESC' if descending else 'ASC'}")
    terms.append("items.id ASC")  # stable pages
    return "".join(joins), "ORDER BY " + ", ".join(terms) + " ", params


def query(
    db: sqlite3.Connection,
    filters: Filters | Mapping[str, Any] | None = None,
    sort: str | Sequence[str] | None = None,
    offset: int = 0,
    limit: int | None = 100,
) -> list[dict[str, Any]]:
    """Item rows (dicts with the keys of ``_ROW_COLUMNS`` plus ``targets``), one page."""
    where, wparams = where_clause(filters)
    joins, order, oparams = order_clause(sort)
    sql = _SELECT + _FROM + joins + where + order + "LIMIT ? OFFSET ?"
    params = oparams + wparams + [-1 if limit is None else int(limit), int(offset)]
    rows = [dict(zip(_ROW_COLUMNS, r, strict=True)) for r in db.execute(sql, params)]
    for row in rows:
        row["has_mask"] = bool(row["has_mask"])
        row["targets"] = {}
    if rows:
        by_id = {row["id"]: row for row in rows}
        for start in range(0, len(rows), 900):  # stay below SQLite's parameter limit
            chunk = list(by_id)[start : start + 900]
            for item_id, name, value in db.execute(
                f"SELECT item_id, name, value FROM targets WHERE item_id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            ):
                by_id[item_id]["targets"][name] = value
    return rows


def count(db: sqlite3.Connection, filters: Filters | Mapping[str, Any] | None = None) -> int:
    where, params = where_clause(filters)
    return int(db.execute("SELECT COUNT(*) FROM items " + where, params).fetchone()[0])


def ids(
    db: sqlite3.Connection,
    filters: Filters | Mapping[str, Any] | None = None,
    sort: str | Sequence[str] | None = None,
) -> list[int]:
    """All matching item ids in sort order (for selections, montages, datasets)."""
    where, wparams = where_clause(filters)
    joins, order, oparams = order_clause(sort)
    keys = [sort] if isinstance(sort, str) else list(sort or [])
    needs_join = any(k.lstrip("-+") in ("source", "has_mask") for k in keys)
    base = _FROM if needs_join else "FROM items "
    sql = "SELECT items.id " + base + joins + where + order
    return [r[0] for r in db.execute(sql, oparams + wparams)]


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
