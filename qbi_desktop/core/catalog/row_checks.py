"""Values read from a catalog's rows, checked where they are read: a catalog is input too.

A project can come from someone else, and SQLite keeps whatever it is given: text in a ``REAL``
column (``x = 'abc'``), an infinite coordinate, a box 1e308 pixels from its 128-pixel image, a
mask row with no file name, an item naming a container that is not there. Read unchecked, such a
value fails far away (a ``TypeError`` inside an exporter) or is copied out into a file that our
own import then refuses. Each reader here checks the rows it hands on and refuses the first bad
one with :class:`CatalogValueError`, naming the catalog, the item, the box or target and what is
wrong, before anything is written.

The checks of many rows (an export of a million boxes) are done on whole columns at once:
``set(map(type, column))`` and numpy, tens of milliseconds; only a failing check walks the rows
to name the first bad one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.errors import CatalogCorruptError

#: How far a box may stick out of its image and still be kept (rounding in other tools): the
#: rule of every import (``formats.common`` takes it from here) and of a stored box.
BOX_TOLERANCE = 0.5

#: What the user can do about a bad value (``repair`` mends damaged pages, not values).
ADVICE = (
    "a damaged or altered catalog: correct or delete that row with an SQLite tool, or restore "
    "a backup of the project (repair mends damaged pages, not wrong values)"
)

_NUMBERS = {float, int}


class CatalogValueError(CatalogCorruptError):
    """A row of the catalog holds a value no QBI Desktop writes (text for a number, ...)."""


def _refuse(catalog: Path | str, where: str, problem: str) -> CatalogValueError:
    return CatalogValueError(f"{catalog}: {where}: {problem} - {ADVICE}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def number_problem(name: str, value: Any) -> str | None:
    """Why ``value`` (column ``name``) is not a finite number, or None."""
    if type(value) not in _NUMBERS:
        if value is None:
            return f"{name} is empty, not a number"
        return f"{name} is {_shown(value)}, not a number"
    if not math.isfinite(value):
        return f"{name} is {value!r}: NaN or infinite, not a finite number"
    return None


def box_problem(x: Any, y: Any, w: Any, h: Any, width: Any, height: Any) -> str | None:
    """Why a stored box cannot be read, or None: a coordinate that is not a finite number, a
    negative size, or a box outside its ``width`` x ``height`` image by more than
    :data:`BOX_TOLERANCE` (every entry clips or refuses those; a size not known: not checked)."""
    for name, value in (("x", x), ("y", y), ("w", w), ("h", h)):
        if (why := number_problem(name, value)) is not None:
            return why
    if w < 0 or h < 0:
        return f"its size {w:g}x{h:g} is negative"
    if type(width) is int and type(height) is int and width > 0 and height > 0:
        t = BOX_TOLERANCE
        if x < -t or y < -t or x + w > width + t or y + h > height + t:
            return (
                f"at x={x:g}, y={y:g}, {w:g}x{h:g} it lies outside its {width}x{height} image "
                "(boxes are kept inside their image)"
            )
    return None


def check_box(
    catalog: Path | str,
    item_id: int,
    box_id: Any,
    row: Sequence[Any],
    width: Any,
    height: Any,
) -> None:
    """Refuse one box row ``(label, x, y, w, h, ...)`` of item ``item_id``."""
    why = box_problem(row[1], row[2], row[3], row[4], width, height)
    if why is not None:
        raise _refuse(catalog, f"item {item_id}, box {box_id} ({_shown(row[0])})", why)


class ItemSizes:
    """Item id -> (width, height) as sorted arrays, made once for many blocks of box rows
    (:func:`check_box_columns`); a size that is not a whole number counts as not known."""

    def __init__(self, sizes: Mapping[int, tuple[Any, Any]]):
        self.sizes = sizes
        order = sorted(sizes)
        self.keys = np.array(order, np.int64)

        def whole(value: Any) -> int:
            return value if type(value) is int and value > 0 else 0

        self.width = np.fromiter((whole(sizes[k][0]) for k in order), np.int64, len(order))
        self.height = np.fromiter((whole(sizes[k][1]) for k in order), np.int64, len(order))


def check_box_columns(
    catalog: Path | str,
    rows: Sequence[Sequence[Any]],
    sizes: Mapping[int, tuple[Any, Any]] | ItemSizes,
) -> None:
    """Refuse the first bad box of ``rows`` ``(item_id, label, x, y, w, h, annotator, id)``;
    ``sizes``: item id -> (width, height). Whole columns at once; a failing check names the
    first bad row."""
    if not rows:
        return
    table = sizes if isinstance(sizes, ItemSizes) else ItemSizes(sizes)
    items = np.fromiter(map(itemgetter(0), rows), np.int64, len(rows))
    for k in np.flatnonzero(_bad_boxes(items, rows, 2, table)):
        row = rows[int(k)]
        width, height = table.sizes.get(row[0], (None, None))
        if box_problem(*row[2:6], width, height) is not None:
            check_box(catalog, row[0], row[7], row[1:], width, height)


def check_item_boxes(
    catalog: Path | str,
    boxes: Mapping[int, Sequence[Sequence[Any]]],
    sizes: Mapping[int, tuple[Any, Any]],
    box_id: Callable[[int, int], Any],
) -> None:
    """Refuse the first bad box of ``boxes`` (item id -> its rows ``(label, x, y, w, h, ...)``
    in id order) among the items of ``sizes`` (an export's: the other boxes are not read);
    ``box_id(item, k)``: the id of the item's ``k``-th box, asked of the bad one only (an
    export of a million boxes does not read their ids). Whole columns at once."""
    items = [i for i in boxes if i in sizes]
    if not items:
        return
    counts = np.fromiter((len(boxes[i]) for i in items), np.int64, len(items))
    rows = list(itertools.chain.from_iterable(boxes[i] for i in items))
    item_of = np.repeat(np.array(items, np.int64), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    table = ItemSizes(sizes)
    for k in np.flatnonzero(_bad_boxes(item_of, rows, 1, table)):
        row, item = rows[int(k)], int(item_of[k])
        width, height = sizes[item]
        if box_problem(*row[1:5], width, height) is not None:
            check_box(catalog, item, box_id(item, int(k - starts[k])), row, width, height)


def _bad_boxes(
    items: np.ndarray, rows: Sequence[Sequence[Any]], first: int, table: ItemSizes
) -> np.ndarray:
    """Which ``rows`` (x, y, w, h from column ``first``) of the items ``items`` may be bad:
    all of them when a value is no number (the caller's walk names the first)."""
    keys, n = table.keys, len(rows)
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, items), len(keys) - 1)
        known = keys[pos] == items
        w_of = np.where(known, table.width[pos], 0)
        h_of = np.where(known, table.height[pos], 0)
    else:
        w_of = h_of = np.zeros(n, np.int64)
    columns = range(first, first + 4)
    if not all(set(map(type, map(itemgetter(k), rows))) <= _NUMBERS for k in columns):
        return np.ones(n, bool)
    x, y, w, h = (np.fromiter(map(itemgetter(k), rows), float, n) for k in columns)
    t = BOX_TOLERANCE
    with np.errstate(invalid="ignore", over="ignore"):
        bad = ~(np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & np.isfinite(h))
        bad |= (w < 0) | (h < 0)
        outside = (x < -t) | (y < -t) | (x + w > w_of + t) | (y + h > h_of + t)
    return bad | ((w_of > 0) & (h_of > 0) & outside)


def check_target(catalog: Path | str, item_id: int, name: Any, value: Any) -> None:
    """Refuse a target row whose value is not a finite number."""
    why = number_problem("its value", value)
    if why is not None:
        raise _refuse(catalog, f"item {item_id}, target {_shown(name)}", why)


def check_target_columns(catalog: Path | str, rows: Sequence[Sequence[Any]]) -> None:
    """Refuse the first bad target of ``rows`` ``(item_id, name, value)``, whole columns at once."""
    if not rows:
        return
    values = [r[2] for r in rows]
    if set(map(type, values)) <= _NUMBERS and np.isfinite(np.array(values, float)).all():
        return
    for item_id, name, value in rows:
        check_target(catalog, item_id, name, value)


def check_sizes(catalog: Path | str, item_id: int, width: Any, height: Any) -> None:
    """Refuse an item whose width or height is not a whole number of pixels (or empty)."""
    for value in (width, height):
        if value is not None and (type(value) is not int or value < 0):
            raise _refuse(
                catalog,
                f"item {item_id}",
                f"its width or height {_shown(value)} is not a whole number of pixels",
            )


def check_mask_path(catalog: Path | str, item_id: int, path: Any) -> None:
    """Refuse a mask row whose file name is not a non-empty text."""
    if type(path) is not str or not path.strip() or "\0" in path:
        raise _refuse(catalog, f"item {item_id}, mask", f"its file name {_shown(path)} is no path")


def check_container(catalog: Path | str, container: Any, row: Any) -> None:
    """Refuse a container row ``(path, kind, key)`` that is missing or not text (the items
    naming it cannot be read)."""
    where = f"container {_shown(container)}"
    if row is None:
        raise _refuse(catalog, where, "items name this container, which is not in the catalog")
    path, kind, key = row[0], row[1], row[2]
    if type(path) is not str or not path.strip() or "\0" in path:
        raise _refuse(catalog, where, f"its path {_shown(path)} is no file name")
    if type(kind) is not str or type(key) is not str:
        raise _refuse(
            catalog, where, f"its kind {_shown(kind)} or array name {_shown(key)} is not text"
        )


def json_value(catalog: Path | str, item_id: int, what: str, text: Any) -> Any:
    """The JSON ``text`` of item ``item_id`` (``what``: "its metadata") parsed, refused when it
    is not JSON (the open checks every row only as far as its time allows)."""
    import json

    try:
        if isinstance(text, str | bytes):
            return json.loads(text)
    except ValueError:
        pass
    raise _refuse(catalog, f"item {item_id}", f"{what} {_shown(text)} is not valid JSON")
