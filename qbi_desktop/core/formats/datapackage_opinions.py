"""Each annotator's own annotations in a Data Package (``annotators/annotations.csv``), read
back by the ``datapackage`` import (:mod:`.datapackage_import`).

``export --annotations every`` writes them (``catalog.opinions.export_opinions``): one row per
(item, annotator, kind, target) with the value as JSON and when it was made, and every
person's masks as ``annotators/<annotator folder>/<item>.tif``; both are listed and
checksummed in datapackage.json like every other file. The import checks every row (item of
items.csv, kind, value of the right type, a class name, a finite number, boxes with an area
inside the image, a mask file of the package of the image's size) before anything is written,
names the file and row of each problem, and writes each person's version as their opinion of
the new item (``catalog.opinions``) with its time, so the agreement report, blind mode and the
disagreement queue see every annotator again. Items already in the project are left as they
are, their annotators' versions too (a note counts them).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from qbi_desktop.core.catalog import opinions, schema
from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.images import tiff_bytes
from qbi_desktop.core.formats.classnames import class_name_problem
from qbi_desktop.core.formats.common import box_problem, parse_json_text, read_mask_file
from qbi_desktop.core.safefile import read_text

#: The table of every annotator's own annotations, as the export writes it.
TABLE = f"{opinions.ANNOTATORS_DIR}/annotations.csv"
HEADER = ["item", "name", "annotator", "kind", "target", "value", "at"]


@dataclass
class Opinion:
    """One row of the table, checked: ``item`` is the exporting project's id (items.csv)."""

    item: int
    annotator: str
    kind: str
    name: str
    value: Any
    at: str


def read_opinions(
    files: dict[str, Any],
    sizes: dict[int, tuple[int, int]],
    known: set[int],
    problems: list[Problem],
) -> tuple[list[Opinion], int]:
    """The rows of :data:`TABLE` for the items about to be added (``sizes``: exporting id ->
    (width, height) of its image), and how many rows are of items ``known`` to items.csv but
    not added (already in the project, or refused with a problem of their own). Rows that
    cannot be kept are problems. No table in the package: nothing."""
    entry = files.get(TABLE)
    if entry is None:
        return [], 0
    where = str(entry.path)
    text = read_text(entry.path, "the annotators' table", encoding="utf-8-sig")
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)  # a person's boxes are one JSON cell
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        problems.append(Problem(where, f"not a readable CSV table ({exc})"))
        return [], 0
    finally:
        csv.field_size_limit(limit)
    if not rows or [h.strip() for h in rows[0]] != HEADER:
        problems.append(Problem(where, f"the header must be {','.join(HEADER)}", row=1))
        return [], 0
    out: list[Opinion] = []
    left = 0
    for n, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(HEADER):
            problems.append(Problem(where, f"{len(cells)} cells, expected {len(HEADER)}", row=n))
            continue
        got = _row(dict(zip(HEADER, cells, strict=True)), sizes, known, files)
        if isinstance(got, str):
            problems.append(Problem(where, got, row=n))
        elif got is None:
            left += 1
        else:
            out.append(got)
    return out, left


def _row(
    cell: dict[str, str],
    sizes: dict[int, tuple[int, int]],
    known: set[int],
    files: dict[str, Any],
) -> Opinion | str | None:
    """The row as an Opinion, the reason it cannot be one, or None (its item is not added)."""
    try:
        item = int(cell["item"])
    except ValueError:
        return f"item {cell['item']!r} is not a whole number"
    if item not in known:
        return f"item {item} is not an item of items.csv"
    annotator, kind, name = cell["annotator"].strip(), cell["kind"].strip(), cell["target"]
    if not annotator or opinions.is_consensus(annotator):
        return f"annotator {annotator!r} is not a person's name"
    if kind not in opinions.KINDS:
        return f"kind {kind!r} is not one of {', '.join(opinions.KINDS)}"
    if (kind == "target") != bool(name.strip()):
        return "a target's value names its target, no other kind does"
    try:
        value = parse_json_text(cell["value"])
    except ValueError as exc:
        return f"value is {exc}"
    if item not in sizes:
        return None
    why = _value_problem(kind, value, sizes[item], files)
    if why is not None:
        return f"{kind} of item {item} by {annotator!r}: {why}"
    return Opinion(item, annotator, kind, name.strip(), value, cell["at"].strip())


def _value_problem(
    kind: str, value: Any, size: tuple[int, int], files: dict[str, Any]
) -> str | None:
    if kind == "label":
        return "not a text" if not isinstance(value, str) else class_name_problem(value)
    if kind == "review":
        ok = value in schema.REVIEW_STATES
        return None if ok else f"{value!r} is not one of {', '.join(schema.REVIEW_STATES)}"
    if kind == "target":
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return None if number and math.isfinite(value) else f"{value!r} is not a finite number"
    if kind == "boxes":
        if not isinstance(value, list):
            return "not a list of boxes"
        for k, box in enumerate(value):
            if not (isinstance(box, list) and len(box) == 5 and isinstance(box[0], str)):
                return f"box {k}: expected [label, x, y, w, h]"
            if (why := class_name_problem(box[0])) is not None:
                return f"box {k}: {why}"
            numbers = box[1:]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
                return f"box {k}: x, y, w, h must be numbers"
            if (why := box_problem(*map(float, numbers), *size)) is not None:
                return f"box {k}: {why}"
        return None
    # a mask: a file of the package, a label image of the item's size
    if not isinstance(value, str) or value not in files:
        return f"{value!r} is not a file listed in datapackage.json"
    mask = read_mask_file(files[value].path)
    if isinstance(mask, str):
        return f"{value}: {mask}"
    if mask.shape != (size[1], size[0]):
        return f"{value} is {mask.shape[1]}x{mask.shape[0]}, the image is {size[0]}x{size[1]}"
    return None


def write_opinions(
    writer: Any, rows: list[Opinion], new_id: dict[int, int], files: dict[str, Any], merge: Any
) -> list[str]:
    """Write the checked rows as opinions of the added items (inside the import's
    transaction ``writer``); mask values renumbered as the items' masks (``merge``)."""
    people: set[str] = set()
    for row in rows:
        item = new_id[row.item]
        people.add(row.annotator)
        if row.kind == "mask":
            mask = np.asarray(merge.apply(read_mask_file(files[row.value].path)))
            top = int(mask.max()) if mask.size else 0
            mask = mask.astype(np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32)
            data = tiff_bytes(mask, compression="zlib")
            opinions.record_mask(writer, item, row.annotator, data, row.at)
        else:
            opinions.record(writer.db, [item], row.annotator, row.kind, row.value, row.at, row.name)
    if not rows:
        return []
    return [
        f"every annotator's own annotations read from {TABLE}: {len(rows)} from "
        f"{len(people)} annotator(s) ({', '.join(sorted(people))})"
    ]
