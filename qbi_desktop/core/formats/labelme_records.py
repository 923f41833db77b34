"""A labelme JSON file as typed records (parsed before anything is planned or written), each
problem naming its place, e.g. ``shapes[2].points[1]: expected a list, got a string 'x'``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.classes import class_name_problem
from qbi_desktop.core.formats.records import (
    FieldError,
    as_int,
    as_list,
    as_object,
    as_str,
    describe,
    numbers,
    place,
)


@dataclass(frozen=True)
class Shape:
    index: int
    label: str
    kind: str
    points: np.ndarray  # (n, 2) finite x, y
    group_id: int | None
    mask: str | None
    #: labelme 5's per-shape ``description`` or true ``flags`` were given (a project keeps neither)
    extras: bool = False


@dataclass(frozen=True)
class LabelmeFile:
    image_path: str
    shapes: list[Shape]
    flags: dict[str, bool]
    #: the image size the file was annotated on (``imageWidth``/``imageHeight``), if given
    width: int | None = None
    height: int | None = None
    #: the embedded image (``imageData``, base64), if any: labelme shows it instead of the file
    image_data: str | None = None


def parse_labelme(data: Any) -> tuple[LabelmeFile | None, list[str]]:
    """A parsed labelme JSON as typed records, and the problems (each naming its place)."""
    if not isinstance(data, dict) or "shapes" not in data or not data.get("imagePath"):
        return None, ["not a labelme file (needs 'shapes' and 'imagePath')"]
    problems: list[str] = []
    try:
        image_path = as_str(data["imagePath"], "imagePath")
        if "\x00" in image_path:
            raise FieldError("imagePath", "contains a NUL character")
        shapes_in = as_list(data["shapes"], "shapes")
        flags_in = as_object(data.get("flags") or {}, "flags")
    except FieldError as exc:
        return None, [str(exc)]
    size = []
    for key in ("imageWidth", "imageHeight"):
        try:
            value = data.get(key)
            size.append(None if value is None else as_int(value, key, 1, 1 << 20))
        except FieldError as exc:
            problems.append(str(exc))
            size.append(None)
    image_data = data.get("imageData")
    if image_data is not None and not isinstance(image_data, str):
        problems.append(f"imageData: expected a base64 string or null, got {describe(image_data)}")
        image_data = None
    flags = {}
    for key, value in flags_in.items():
        if not isinstance(value, bool):
            problems.append(f"flags.{key}: expected true or false, got {describe(value)}")
        else:
            flags[key] = value
    shapes = []
    for n, value in enumerate(shapes_in):
        try:
            shapes.append(_shape_record(n, value, place("shapes", n)))
        except FieldError as exc:
            problems.append(str(exc))
    return LabelmeFile(image_path, shapes, flags, *size, image_data=image_data or None), problems


def _shape_record(n: int, value: Any, where: str) -> Shape:
    record = as_object(value, where)
    label = as_str(record.get("label", ""), place(where, "label"), allow_numbers=True)
    if (why := class_name_problem(label)) is not None:  # the rule of every import
        raise FieldError(place(where, "label"), why)
    kind = record.get("shape_type") or "polygon"
    kind = as_str(kind, place(where, "shape_type"))
    raw = as_list(record.get("points"), place(where, "points"))
    pairs = []
    for i, point in enumerate(raw):
        xy = numbers(point, place(place(where, "points"), i))
        if len(xy) != 2:
            raise FieldError(
                place(place(where, "points"), i), f"expected [x, y], got {len(xy)} numbers"
            )
        pairs.append(xy)
    points = np.asarray(pairs, dtype=float).reshape(-1, 2)
    group = record.get("group_id")
    if group is not None:
        group = as_int(group, place(where, "group_id"))
    mask = record.get("mask")
    if mask is not None:
        mask = as_str(mask, place(where, "mask"))
    flags, description = record.get("flags"), record.get("description")
    extras = (isinstance(flags, dict) and True in flags.values()) or (
        isinstance(description, str) and bool(description.strip())
    )
    return Shape(n, label, kind, points, group, mask, extras)
