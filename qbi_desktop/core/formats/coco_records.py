"""A COCO file read into typed records before the importer uses any of it: every field that is
there is checked for its type (and numbers for being finite), and each bad record becomes one
problem naming its place, ``images[3].id: expected an integer, got a list``; the other records
are still read so that all problems are reported at once.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbi_desktop.core.formats.records import (
    MAX_COORDINATE,
    FieldError,
    as_id,
    as_int,
    as_list,
    as_object,
    as_str,
    describe,
    numbers,
    place,
)

#: The largest image side a COCO file may declare (JSON width/height, RLE size).
MAX_SIDE = 1 << 20
_PLAIN = (float, int)  # exact types: bool is no number here
_BLOCK = 65536  # annotations typed and checked together (and let go, see parse_coco)


@dataclass(frozen=True, slots=True)
class Rle:
    """A run-length encoded region: ``size`` = (height, width); ``counts`` uncompressed runs or
    pycocotools' compressed string."""

    height: int
    width: int
    counts: list[int] | str


@dataclass(frozen=True, slots=True)
class CocoImage:
    index: int
    id: int | str
    file_name: str
    width: int | None
    height: int | None


@dataclass(frozen=True, slots=True)
class CocoCategory:
    index: int
    id: int
    name: str
    #: our export's ``qbi_mask_value``: the project's mask value of the class (category ids
    #: follow the project's class order, mask values need not); None when not given
    mask_value: int | None = None


@dataclass(frozen=True, slots=True)
class CocoAnnotation:
    index: int
    image_id: int | str
    category_id: int
    bbox: tuple[float, float, float, float] | None
    #: polygons (each a flat list x0, y0, x1, y1, ...), an Rle, or None for no region
    segmentation: list[list[float]] | Rle | None
    iscrowd: bool
    instance_id: int | None
    has_instance_id: bool
    #: our export's mark of a class mask's region (a mask, not an object with a box)
    mask_region: bool = False
    #: our export's mark of a box whose polygon is only its outline (a box, not a mask)
    box_only: bool = False
    #: the keys of the record's ``attributes`` (CVAT, datumaro), which a project cannot keep
    attributes: tuple[str, ...] = ()
    #: CVAT's ``attributes.rotation`` of a rotated box (degrees; ``bbox`` is the upright box)
    rotation: float = 0.0
    #: the record has ``keypoints`` (person keypoints files), which a project cannot keep
    keypoints: bool = False
    #: the record's own ``id`` (an int or a short string), for messages; None when it has none
    ann_id: int | str | None = None


@dataclass(slots=True)
class CocoFile:
    images: list[CocoImage] = field(default_factory=list)
    categories: list[CocoCategory] = field(default_factory=list)
    annotations: list[CocoAnnotation] = field(default_factory=list)


def results_problem(data: list) -> str:
    """What a COCO *results* file is (a top-level list of one model's detections, as
    pycocotools' ``COCO.loadRes`` and COCOeval take them) and what to import instead."""
    first = data[0]
    what = (
        "captions"
        if "caption" in first
        else "keypoints"
        if "keypoints" in first
        else "segmentations"
        if "segmentation" in first
        else "boxes"
    )
    scored = " with scores" if "score" in first else ""
    return (
        f"a COCO results (detections) file, not a dataset: a list of {len(data)} predicted "
        f"{what}{scored} (image_id, category_id, ...), without the images and categories they "
        "refer to; import the dataset's annotation file (instances_*.json: an object with "
        "'images', 'annotations', 'categories'), the ground truth these results are scored "
        "against (pycocotools: COCO(annotations).loadRes(results))"
    )


def parse_coco(data: Any, consume: bool = False) -> tuple[CocoFile, list[str]]:
    """The typed content of a parsed COCO file and a list of problems (each naming its place).
    A file that is not a COCO object at all gives one problem and nothing else. ``consume``:
    each annotation record of ``data`` is let go (None) once typed, so that the file's objects
    and the records are not both held whole."""
    problems: list[str] = []
    out = CocoFile()
    if isinstance(data, list) and data and isinstance(data[0], dict) and "image_id" in data[0]:
        return out, [results_problem(data)]
    if not isinstance(data, dict):
        return out, [f"not a COCO file: the top level is {describe(data)}, not an object"]
    if not isinstance(data.get("images"), list):
        got = describe(data.get("images")) if "images" in data else "nothing"
        return out, [f"not a COCO file: 'images' must be a list, got {got}"]
    sections = (
        ("images", _image, out.images),
        ("categories", _category, out.categories),
        ("annotations", _annotation, out.annotations),
    )
    other = _panoptic(data.get("annotations")) or _captions(data.get("annotations"))
    if other:
        return out, [other]
    for key, parse, into in sections:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            problems.append(f"{key}: expected a list, got {describe(value)}")
            continue
        if key == "annotations":
            _annotations(value, into, problems, consume)  # type: ignore[arg-type]
            continue
        for n, record in enumerate(value):
            try:
                into.append(parse(n, record, place(key, n)))
            except FieldError as exc:
                problems.append(str(exc))
    return out, problems


def _annotations(
    records: list[Any], into: list[CocoAnnotation], problems: list[str], consume: bool
) -> None:
    """The annotations, in file order, with their problems in file order. A bbox of four plain
    numbers is taken as it is and a block's bboxes are checked at once (finite, not too large,
    no negative size: one array instead of one per record); a record whose bbox fails is read
    again the careful way, which names its problem exactly. ``consume``: each block's records
    are let go once checked."""
    for start in range(0, len(records), _BLOCK):
        block = range(start, min(start + _BLOCK, len(records)))
        parsed: list[CocoAnnotation | str] = []
        plain: list[int] = []  # positions in ``parsed`` of records with an unchecked bbox
        for n in block:
            record = records[n]
            try:
                ann = _annotation(n, record, "", quick=True)
            except FieldError:  # rare: read again with the record's place for the message
                try:
                    ann = _annotation(n, record, place("annotations", n))
                except FieldError as exc:
                    parsed.append(str(exc))
                    continue
            if ann.bbox is not None and type(record.get("bbox")) is list:
                plain.append(len(parsed))
            parsed.append(ann)
        if plain:
            boxes = np.fromiter(
                itertools.chain.from_iterable(parsed[i].bbox for i in plain),  # type: ignore[union-attr]
                dtype=np.float64,
                count=4 * len(plain),
            ).reshape(-1, 4)
            good = (np.abs(boxes) <= MAX_COORDINATE).all(axis=1) & (boxes[:, 2:] >= 0).all(axis=1)
            for k in np.flatnonzero(~good):  # NaN fails the comparisons too
                n = parsed[plain[k]].index  # type: ignore[union-attr]
                try:
                    parsed[plain[k]] = _annotation(n, records[n], place("annotations", n))
                except FieldError as exc:
                    parsed[plain[k]] = str(exc)
        for entry in parsed:
            if isinstance(entry, str):
                problems.append(entry)
            else:
                into.append(entry)
        if consume:
            records[block.start : block.stop] = [None] * len(block)


def _panoptic(annotations: Any) -> str | None:
    """Why the file is refused when it is COCO panoptic (annotations are PNG files with
    ``segments_info``, not regions), else None."""
    if not isinstance(annotations, list):
        return None
    for n, record in enumerate(annotations):
        if isinstance(record, dict) and "segments_info" in record:
            return (
                f"annotations[{n}]: has 'segments_info': this is a COCO panoptic file, which is "
                "not supported; import the instances file (instances_*.json) of the same "
                "images instead"
            )
    return None


def _captions(annotations: Any) -> str | None:
    """Why the file is refused when it is a COCO captions file (text per image, no boxes or
    regions), else None."""
    if not isinstance(annotations, list):
        return None
    for n, record in enumerate(annotations):
        if isinstance(record, dict) and "caption" in record:
            if record.get("bbox") is None and not record.get("segmentation"):
                return (
                    f"annotations[{n}]: has 'caption': this is a COCO captions file, which "
                    "holds text, no boxes or regions; import the instances file "
                    "(instances_*.json) of the same images instead"
                )
    return None


def _image(n: int, value: Any, where: str) -> CocoImage:
    record = as_object(value, where)
    for key in ("id", "file_name"):
        if key not in record:
            raise FieldError(place(where, key), "missing")
    name = as_str(record["file_name"], place(where, "file_name"))
    if not name.strip():
        raise FieldError(place(where, "file_name"), "is empty")
    if "\x00" in name:
        raise FieldError(place(where, "file_name"), "contains a NUL character")
    sizes = []
    for key in ("width", "height"):
        value = record.get(key)
        sizes.append(None if value is None else as_int(value, place(where, key), 1, MAX_SIDE))
    return CocoImage(n, as_id(record["id"], place(where, "id")), name, *sizes)


def _category(n: int, value: Any, where: str) -> CocoCategory:
    record = as_object(value, where)
    for key in ("id", "name"):
        if key not in record:
            raise FieldError(place(where, key), "missing")
    cid = as_int(record["id"], place(where, "id"), 0)
    value = record.get("qbi_mask_value")
    if value is not None:
        value = as_int(value, place(where, "qbi_mask_value"), 1, (1 << 32) - 1)
    name = as_str(record["name"], place(where, "name"), allow_numbers=True)
    return CocoCategory(n, cid, name, value)


def _annotation(n: int, value: Any, where: str, quick: bool = False) -> CocoAnnotation:
    """One annotation record. ``quick``: a bbox of four plain numbers comes back unchecked
    (the caller checks them all at once); ``where`` may then be empty, as the caller reads a
    record that fails again with its place, for the message."""
    record = value if type(value) is dict else as_object(value, where)
    if "image_id" not in record or "category_id" not in record:
        key = "category_id" if "image_id" in record else "image_id"
        raise FieldError(place(where, key), "missing")
    # plain integers (nearly every file) need no checks, nor places for their messages
    image_id = record["image_id"]
    if type(image_id) is not int:
        image_id = as_id(image_id, place(where, "image_id"))
    category_id = record["category_id"]
    if type(category_id) is not int:
        category_id = as_int(category_id, place(where, "category_id"))
    crowd = record.get("iscrowd", 0)
    if crowd is None:
        crowd = 0
    if crowd not in (0, 1) or isinstance(crowd, float):
        raise FieldError(place(where, "iscrowd"), f"expected 0 or 1, got {describe(crowd)}")
    bbox = None
    box = record.get("bbox")
    if quick and type(box) is list and len(box) == 4:
        x, y, w, h = box
        if type(x) in _PLAIN and type(y) in _PLAIN and type(w) in _PLAIN and type(h) in _PLAIN:
            try:
                bbox = (float(x), float(y), float(w), float(h))
            except OverflowError:  # an integer beyond floats: the careful path names it
                bbox = None
    if bbox is None and box is not None:
        values = numbers(record["bbox"], place(where, "bbox"))
        if len(values) != 4:
            raise FieldError(
                place(where, "bbox"), f"expected [x, y, width, height], got {len(values)} numbers"
            )
        if values[2] < 0 or values[3] < 0:
            raise FieldError(place(where, "bbox"), f"{values} has a negative width or height")
        bbox = (values[0], values[1], values[2], values[3])
    instance = record.get("instance_id")
    if instance is not None:
        instance = as_int(instance, place(where, "instance_id"), 1, 65535)
    attributes = record.get("attributes")
    rotation = None
    if type(attributes) is not dict or not attributes:
        attributes = ()
    else:
        rotation = attributes.get("rotation")
        attributes = tuple(sorted(str(k) for k in attributes))
    finite = isinstance(rotation, int | float) and not isinstance(rotation, bool)
    segmentation = record.get("segmentation")
    return CocoAnnotation(
        n,
        image_id,
        category_id,
        bbox,
        None
        if segmentation is None or segmentation == []
        else _segmentation(segmentation, place(where, "segmentation")),
        bool(crowd),
        instance,
        "instance_id" in record,
        record.get("qbi_mask_region") is True,
        record.get("qbi_box_only") is True,
        attributes,
        float(rotation) if finite and math.isfinite(rotation) else 0.0,
        bool(record.get("keypoints")),
        _record_id(record.get("id")),
    )


def _record_id(value: Any) -> int | str | None:
    """An annotation's ``id`` as messages may name it (not checked: COCO tools ignore it)."""
    if type(value) is int or (type(value) is str and value.isprintable() and len(value) <= 64):
        return value
    return None


def _segmentation(value: Any, where: str) -> list[list[float]] | Rle | None:
    if value is None or value == [] or value == {}:
        return None
    if isinstance(value, list):
        polygons = []
        for i, poly in enumerate(value):
            coords = numbers(poly, place(where, i))
            if len(coords) < 6 or len(coords) % 2:
                raise FieldError(
                    place(where, i),
                    f"a polygon needs at least 3 (x, y) points, got {len(coords)} numbers",
                )
            polygons.append(coords)
        return polygons
    if isinstance(value, dict):
        size = as_list(value.get("size"), place(where, "size"))
        if len(size) != 2:
            raise FieldError(place(where, "size"), f"expected [height, width], got {len(size)}")
        height = as_int(size[0], place(place(where, "size"), 0), 1, MAX_SIDE)
        width = as_int(size[1], place(place(where, "size"), 1), 1, MAX_SIDE)
        counts = value.get("counts")
        if isinstance(counts, str):
            if not counts.isascii():
                raise FieldError(place(where, "counts"), "compressed RLE must be ASCII text")
            return Rle(height, width, counts)
        runs = [
            as_int(c, place(place(where, "counts"), i), 0, height * width)
            for i, c in enumerate(as_list(counts, place(where, "counts")))
        ]
        return Rle(height, width, runs)
    raise FieldError(where, f"expected polygons (a list) or RLE (an object), got {describe(value)}")
