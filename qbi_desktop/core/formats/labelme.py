"""labelme JSON: one JSON per image with ``shapes`` and ``imagePath``.

Supported shapes: ``rectangle`` -> box; ``polygon``, ``circle`` and ``mask`` (labelme 5: a
base64 PNG of the region) -> painted into the item's label mask, one value per shape label
(the project's ``mask_classes`` keeps value -> name). ``flags`` with exactly one true flag give
the image's class label. Lines, line strips and points cannot be a box or a region: they are
reported, and the import is refused, rather than dropped silently.
Export: ``out/<split>/<image>`` + ``<stem>.json``; masks as ``mask`` shapes (exact).

Instance masks (a project with ``mask_instances``: each value one object) use labelme's own
instance mechanism, ``group_id``: one ``mask`` shape per object, labelled with the objects'
class, ``group_id`` = its mask value. Import paints shapes by ``group_id`` (shapes sharing one
are one object; a shape without one is a new object) when the project has instance masks, or
when it has no masks yet and every region shape has a ``group_id`` and all share one label.
A project with class masks reads regions by label as before (``group_id`` ignored).
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import Box, Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.common import (
    ExportFolder,
    ExportReport,
    ImportReport,
    existing_paths,
    file_item,
    item_shape,
    mask_class_names,
    mask_classes,
    mask_instances,
    mask_regions,
    put_image,
    read_item_mask,
    reject_if,
    run_export,
    same_image_twice,
    scan_image,
    split_dir,
    split_from_name,
)
from qbi_desktop.core.formats.packed import PackedMask
from qbi_desktop.core.formats.raster import fill_polygon
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
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.jsonfile import read_json
from qbi_desktop.core.safefile import resolve_inside

SUPPORTED = ("rectangle", "polygon", "circle", "mask")
VERSION = "5.5.0"


@dataclass(frozen=True)
class Shape:
    index: int
    label: str
    kind: str
    points: np.ndarray  # (n, 2) finite x, y
    group_id: int | None
    mask: str | None


@dataclass(frozen=True)
class LabelmeFile:
    image_path: str
    shapes: list[Shape]
    flags: dict[str, bool]
    #: the image size the file was annotated on (``imageWidth``/``imageHeight``), if given
    width: int | None = None
    height: int | None = None


def parse_labelme(data: Any) -> tuple[LabelmeFile | None, list[str]]:
    """A parsed labelme JSON as typed records, and the problems (each naming its place, e.g.
    ``shapes[2].points[1]: expected a list, got a string 'x'``)."""
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
    if data.get("imageData") is not None and not isinstance(data["imageData"], str):
        problems.append(
            f"imageData: expected a base64 string or null, got {describe(data['imageData'])}"
        )
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
    return LabelmeFile(image_path, shapes, flags, *size), problems


def _shape_record(n: int, value: Any, where: str) -> Shape:
    record = as_object(value, where)
    label = as_str(record.get("label", ""), place(where, "label"), allow_numbers=True)
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
    return Shape(n, label, kind, points, group, mask)


def _bool_to_png(region: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(region.astype(np.uint8) * 255).convert("1").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def import_job(
    project: Project,
    sources: Sequence[str | Path],
    *,
    annotator: str | None = None,
    within: str | Path | None = None,
    **_: Any,
) -> Job[ImportReport]:
    """``sources``: labelme JSON files and/or folders holding them. Each ``imagePath`` must
    resolve inside ``within`` (set for an extracted archive), else inside the folder given as
    the source (``annotations/x.json`` may name ``../images/x.png`` when the folder holding
    both was given), else inside the JSON's own folder."""
    files: list[Path] = []
    roots: dict[Path, Path] = {}  # JSON file -> the folder its image must be in
    for s in sources:
        s = Path(s)
        found = sorted(p for p in s.rglob("*.json") if p.is_file()) if s.is_dir() else [s]
        files += [p for p in found if p.name != "datapackage.json"]
        for p in found:
            roots[p] = Path(within) if within else s if s.is_dir() else s.parent
    if not files:
        raise UserFacingError("labelme import: no JSON files given or found")
    report = ImportReport("labelme", ", ".join(str(s) for s in sources))
    problems: list[Problem] = []
    db = project.connect()
    try:
        classes = {name: int(v) for v, name in mask_classes(db).items()}
        instances = mask_instances(db)
        docs = []
        for n, f in enumerate(files):
            doc = _read(f, problems)
            if doc is not None:
                docs.append((f, doc))
            if n % 100 == 0:
                yield Progress(n, len(files), "reading labelme files")
        if instances is None and not classes:
            instances = _instance_class(doc for _f, doc in docs)
        plans = []
        for f, doc in docs:
            plan = _plan(f, doc, classes, instances, problems, roots.get(f))
            if plan is not None:
                plans.append(plan)
        problems += same_image_twice(plans, "json")
        reject_if(report.source, problems)
        known = existing_paths(project, db)
        new, updates = [], []
        for plan in plans:
            stored = project.store_path(plan["path"])
            if stored in known:
                updates.append((known[stored], plan))
                continue
            new.append(
                file_item(
                    plan["path"],
                    plan["info"],
                    label=plan["label"],
                    split=plan["split"],
                    annotator=annotator,
                    mask=plan["mask"],
                    boxes=plan["boxes"],
                    provenance={"source": "labelme", "imported_from": plan["json"]},
                )
            )
        with project.transaction(db) as tx:
            report.ids = tx.add_items(new)
            for item_id, plan in updates:
                tx.set_boxes(item_id, plan["boxes"], annotator)
                if plan["mask"] is not None:
                    tx.set_mask(item_id, plan["mask"], annotator)
                if plan["label"] is not None:
                    tx.set_label([item_id], plan["label"], annotator)
            if instances is not None:
                if any(plan["mask"] is not None for plan in plans):
                    tx.set_metadata(mask_instances=instances)
            elif classes:
                tx.set_metadata(mask_classes={str(v): k for k, v in classes.items()})
        report.added, report.updated = len(new), len(updates)
        return report
    finally:
        db.close()


def _read(f: Path, problems: list[Problem]) -> LabelmeFile | None:
    where = str(f)
    try:
        data = read_json(f, "the labelme file", constants=True)
    except UserFacingError as exc:
        problems.append(Problem(where, str(exc).removeprefix(f"{where}: ")))
        return None
    doc, bad = parse_labelme(data)
    problems += [Problem(where, reason) for reason in bad]
    return None if bad else doc


def _instance_class(docs: Any) -> str | None:
    """The one label of the region shapes when every one has a ``group_id`` of 1..65535: the
    files are instance masks of that class (see the module docstring); else None."""
    labels = set()
    for doc in docs:
        for shape in doc.shapes:
            if shape.kind == "rectangle":
                continue
            if not _is_group_id(shape.group_id):
                return None
            labels.add(shape.label)
    return labels.pop() if len(labels) == 1 else None


def _is_group_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 65536


def _plan(
    f: Path,
    doc: LabelmeFile,
    classes: dict[str, int],
    instances: str | None,
    problems: list[Problem],
    within: Path | None = None,
) -> dict | None:
    """Plan one labelme file's item. Regions are painted with their class value from
    ``classes`` (growing it for new labels), or, when ``instances`` names the objects' class,
    with their ``group_id`` (one object each). The image must lie inside ``within`` (default:
    the JSON's folder)."""
    from skimage.draw import disk

    where = str(f)
    path = resolve_inside(f.parent, doc.image_path, within or f.parent)
    if isinstance(path, str):
        named_alone = (within or f.parent) == f.parent
        hint = "; import the folder that holds both the JSON and the image" if named_alone else ""
        problems.append(Problem(where, f"imagePath: {path}{hint}"))
        return None
    info = scan_image(path)
    if isinstance(info, str):
        problems.append(Problem(where, f"imagePath {doc.image_path!r}: {info}"))
        return None
    h, w = info.height, info.width
    declared = (doc.width or w, doc.height or h)
    if declared != (w, h):
        # the shapes are in the frame the file declares: painting them on another is wrong
        rotated = " (an EXIF rotation? not applied yet)" if declared == (h, w) else ""
        problems.append(
            Problem(
                where,
                f"imageWidth/imageHeight: the JSON says {declared[0]}x{declared[1]} pixels, "
                f"the image file {doc.image_path!r} is {w}x{h}{rotated}",
            )
        )
        return None
    boxes: list[Box] = []
    mask = None
    # Objects without a group_id get ids after every id the file uses.
    next_id = max((s.group_id for s in doc.shapes if _is_group_id(s.group_id)), default=0)
    for shape in doc.shapes:
        what = f"shapes[{shape.index}]"
        kind, label, points = shape.kind, shape.label, shape.points
        if kind not in SUPPORTED:
            problems.append(
                Problem(
                    where,
                    f"{what} ({label!r}): unsupported shape type {kind!r}; "
                    f"supported: {', '.join(SUPPORTED)}",
                )
            )
            continue
        if kind == "rectangle":
            if len(points) != 2:
                problems.append(Problem(where, f"{what}.points: a rectangle needs 2 points"))
                continue
            (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
            boxes.append(Box(label, float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
            continue
        if instances is None:
            value = classes.setdefault(label, max(classes.values(), default=0) + 1)
            if value > 65535:
                problems.append(Problem(where, f"{what}: more than 65535 classes of regions"))
                continue
        elif label != instances:
            problems.append(
                Problem(
                    where,
                    f"{what}: labelled {label!r}, but the masks are instance masks of "
                    f"{instances!r} objects (one class per project)",
                )
            )
            continue
        elif _is_group_id(shape.group_id):
            value = shape.group_id
        else:
            next_id += 1
            value = next_id
            if value >= 65536:
                problems.append(Problem(where, f"{what}: more than 65535 objects in one image"))
                continue
        if mask is None:
            mask = np.zeros((h, w), dtype=np.uint16)
        if kind == "polygon":
            if len(points) < 3:
                problems.append(Problem(where, f"{what}.points: a polygon needs at least 3 points"))
                continue
            fill_polygon(mask, points[:, 1], points[:, 0], value)
        elif kind == "circle":
            if len(points) != 2:
                problems.append(
                    Problem(where, f"{what}.points: a circle needs centre and rim point")
                )
                continue
            radius = float(np.hypot(*(points[1] - points[0])))
            rr, cc = disk((points[0][1], points[0][0]), radius, shape=(h, w))
            mask[rr, cc] = value
        else:  # mask: a PNG of the region whose top-left is the first point
            if len(points) == 0:
                problems.append(Problem(where, f"{what}.points: a mask shape needs its corner"))
                continue
            region = _png_region(shape.mask or "", w, h)
            if isinstance(region, str):
                problems.append(Problem(where, f"{what}.mask: {region}"))
                continue
            x0, y0 = (int(round(v)) for v in points.min(axis=0))
            rh, rw = region.shape
            if x0 < 0 or y0 < 0 or x0 + rw > w or y0 + rh > h:
                problems.append(Problem(where, f"{what}: mask region lies outside the image"))
                continue
            mask[y0 : y0 + rh, x0 : x0 + rw][region] = value
    if mask is not None:  # kept compressed until the import writes it (see packed.py)
        mask = PackedMask(mask.astype(np.uint8) if mask.max() < 256 else mask)
    flags = [k for k, v in doc.flags.items() if v is True]
    return {
        "path": path,
        "info": info,
        "boxes": boxes,
        "mask": mask,
        "label": flags[0] if len(flags) == 1 else None,
        "split": split_from_name(f.parent.name),
        "json": where,
    }


def _png_region(text: str, width: int, height: int) -> np.ndarray | str:
    """A labelme ``mask`` (base64 PNG) as a bool region, or why it is not one. Its declared
    size is checked against the image before decoding (a tiny PNG may claim a huge size)."""
    from PIL import Image

    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        return f"not base64 ({exc})"
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG":
                return f"not a PNG image ({img.format})"
            if img.width > width or img.height > height:
                return f"{img.width}x{img.height} region is larger than the {width}x{height} image"
            return np.asarray(img.convert("L")) > 0
    except Exception as exc:  # any decoder failure is a property of the data
        return f"not a readable PNG ({exc})"


def export_job(
    project: Project,
    out: str | Path,
    *,
    filters: Any = None,
    datapackage: bool = False,
    **_: Any,
) -> Job[ExportReport]:
    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[None]:
        names = mask_class_names(db)
        instances = mask_instances(db)
        with_splits = any(r["split"] for r in rows)
        for n, row in enumerate(rows):
            rel_dir = split_dir(row["split"]) if with_splits else ""
            rel = put_image(folder, project, db, row, rel_dir)
            h, w = item_shape(project, db, row)
            shapes = []
            for label, x, y, bw, bh, _who in row["boxes"]:
                shapes.append(_shape(label, [[x, y], [x + bw, y + bh]], "rectangle"))
            if row["mask"]:
                for value, region, (x0, y0, x1, y1) in mask_regions(read_item_mask(project, row)):
                    if instances is None:
                        shape = _shape(names.get(value, str(value)), [[x0, y0], [x1, y1]], "mask")
                    else:  # one object: its class, and its id as labelme's instance group
                        shape = _shape(instances, [[x0, y0], [x1, y1]], "mask", group_id=value)
                    shape["mask"] = _bool_to_png(region[y0 : y1 + 1, x0 : x1 + 1])
                    shapes.append(shape)
            doc = {
                "version": VERSION,
                "flags": {row["label"]: True} if row["label"] is not None else {},
                "shapes": shapes,
                "imagePath": Path(rel).name,
                "imageData": None,
                "imageHeight": int(h),
                "imageWidth": int(w),
            }
            folder.write_json(str(Path(rel).with_suffix(".json")), doc)
            if n % 100 == 0:
                yield Progress(n, len(rows), "writing labelme files")

    return run_export(project, "labelme", out, write, filters=filters, datapackage=datapackage)


def _shape(label: str, points: list, kind: str, group_id: int | None = None) -> dict[str, Any]:
    return {
        "label": label,
        "points": points,
        "group_id": group_id,
        "description": "",
        "shape_type": kind,
        "flags": {},
        "mask": None,
    }
