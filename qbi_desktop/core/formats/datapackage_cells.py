"""The cells and columns of a Data Package's items.csv (datapackage_import.py): JSON cells read
through the guard whole JSON files get (common.parse_json_text), boxes typed and checked against
their image as every entry checks them (common.box_problem), ``target:<name>`` columns with
a name each, no name twice."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from qbi_desktop.core.annotation.boxes import MAX_BOXES
from qbi_desktop.core.catalog.project import Box
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.common import box_problem, parse_json_text


def json_cell(text: str, kind: type, what: str) -> Any:
    """A JSON cell of items.csv (empty = the empty value), or raise ValueError naming it."""
    if not text.strip():
        return kind()
    try:
        value = parse_json_text(text)  # the whole-file guard: depth, NaN, huge integers
    except ValueError as exc:
        raise ValueError(f"{what} is {exc}") from None
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise ValueError(f"{what} must be a JSON {'list' if kind is list else 'object'}")
    return value


def cell_box(value: Any) -> Box:
    if not isinstance(value, dict):
        raise ValueError("a box must be a JSON object")
    try:
        x, y, w, h = (float(value[k]) for k in ("x", "y", "w", "h"))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"box {value!r} needs numbers x, y, w, h") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w < 0 or h < 0:
        raise ValueError(f"box {value!r} has no finite, non-negative extent")
    annotator = value.get("annotator")
    return Box(
        str(value.get("label", "")), x, y, w, h, None if annotator is None else str(annotator)
    )


def boxes_outside(boxes: list[Box], width: int, height: int, rel: str) -> str | None:
    """Why the row's boxes cannot be kept on its ``width`` x ``height`` image (a box without
    an area or sticking out, the rule of every entry: ``common.box_problem``; too many
    boxes), or None."""
    if len(boxes) > MAX_BOXES:
        return f"boxes: {len(boxes)} boxes, more than the {MAX_BOXES} allowed in one image"
    for k, b in enumerate(boxes):
        if (why := box_problem(b.x, b.y, b.w, b.h, width, height)) is not None:
            return f"boxes[{k}]: {b.label!r} {why} (image {rel})"
    return None


def target_columns(header: list[str], path: Path) -> list[tuple[str, int]]:
    """(target name, column index) of the ``target:<name>`` columns; a column without a name or
    a name given twice is refused (one would silently win over the other)."""
    out: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        if not h.startswith("target:"):
            continue
        name = h.removeprefix("target:").strip()
        if not name:
            raise UserFacingError(
                f"{path}: column {i + 1} ({h!r}) names no target (write target:<name>)"
            )
        if name in seen:
            raise UserFacingError(
                f"{path}: columns {seen[name] + 1} and {i + 1} are both 'target:{name}' "
                "(one value per target and item; remove or rename one)"
            )
        seen[name] = i
        out.append((name, i))
    return out
