"""labelme JSON: one JSON per image with ``shapes`` and ``imagePath``, read as labelme reads it.

Shapes: ``rectangle`` -> box; ``polygon``, ``circle``, ``line``, ``linestrip``, ``point`` and
``oriented_rectangle`` -> painted into the item's label mask exactly as labelme's own
``shape_to_mask`` draws them (lines 10 px wide, points as discs of radius 5: see
labelme_raster); ``mask`` (labelme 5: a base64 PNG of the region, its top-left corner the first
point) -> pasted as ``shapes_to_label`` does. Later shapes paint over earlier ones, as there.
One value per shape label (the project's ``mask_classes`` keeps value -> name); the label
``__ignore__`` paints the project's ignore value (see formats.ignore). ``flags`` with exactly
one true flag give the image's class label; every flag name is kept with the item
(``labelme_flags`` in its metadata) so an export writes the false ones back.
Which pixels: the file beside the JSON, turned by its EXIF orientation, or the embedded
``imageData`` (labelme_image); a size that disagrees with ``imageWidth``/``imageHeight`` is
refused, naming the file and both sizes.
Export: ``out/<split>/<image>`` + ``<stem>.json``; masks as ``mask`` shapes (exact), the ignore
region as a ``mask`` shape labelled ``__ignore__``; every flag name with its value. An item that
is a page of a multi-page TIFF is written as that page, a 2-D image of its own (item_pages.py:
labelme reads a TIFF with tifffile, and the whole stack would not be the declared size).

Rectangles: a box ``[x, y, w, h]`` is written as the corners ``[[x, y], [x + w, y + h]]`` and
read back as ``w = x2 - x1``: corners on pixel edges (pixel i covers i..i+1), the convention of
COCO's ``bbox``, of labelme's own labelme2coco (``bbox`` width = x2 - x1) and of labelme2yolo,
so boxes go through those tools exactly. labelme's rasteriser ``shape_to_mask`` (PIL's
``rectangle``, both corners inclusive) paints such a rectangle one pixel larger each way, w + 1
by h + 1 (a 100 x 50 box is a 101 x 51 mask there, a 3.5 x 2.75 box 5 x 4): masks or VOC boxes
made with labelme's utilities from our rectangles are 1 px larger. Coordinates are not moved to
suit it (x + w - 1 would shrink every box in the other tools).

Instance masks (a project with ``mask_instances``: each value one object) use labelme's own
instance mechanism, ``group_id``: one ``mask`` shape per object, labelled with the objects'
class, ``group_id`` = its mask value. Import paints shapes by ``group_id`` (shapes sharing one
are one object; a shape without one is a new object) when the project has instance masks, or
when it has no masks yet and every region shape has a ``group_id`` and all share one label.
A project with class masks reads regions by label (one value per label): the report says
what that loses, the objects of one class that overlap or touch another and became one region
with it, and the ``group_id`` objects (several shapes of one object) painted as their class.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.classes import class_name_problem
from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import Box, Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.errors import reason as error_reason
from qbi_desktop.core.formats.classnames import StoredNames
from qbi_desktop.core.formats.coco_notes import touching_notes
from qbi_desktop.core.formats.common import (
    ExportFolder,
    ExportReport,
    ImportReport,
    box_problem,
    existing_paths,
    file_item,
    item_shape,
    mask_class_names,
    mask_classes,
    mask_instances,
    mask_regions,
    not_kept,
    read_item_mask,
    reject_if,
    run_export,
    same_image_twice,
    split_dir,
    split_from_name,
)
from qbi_desktop.core.formats.ignore import (
    IGNORE_NAME,
    ignore_value,
    mask_ignore,
    next_class_value,
)
from qbi_desktop.core.formats.item_pages import pages_note, put_page
from qbi_desktop.core.formats.labelme_image import Staging, choose_image
from qbi_desktop.core.formats.labelme_raster import REGION_KINDS, Canvas
from qbi_desktop.core.formats.labelme_records import LabelmeFile, Shape, parse_labelme
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.formats.packed import PackedMask
from qbi_desktop.core.formats.raster import touched_owners
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.jsonfile import read_json

__all__ = ["LabelmeFile", "Shape", "export_job", "import_job", "parse_labelme"]

SUPPORTED = ("rectangle", "mask", *REGION_KINDS)
VERSION = "5.5.0"
#: item metadata key holding every flag name of the file the item came from
FLAGS_KEY = "labelme_flags"
#: notes shown per import (images taken from imageData or turned upright, flags or shape
#: descriptions left out), then a count
NOTES_SHOWN = 5


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
        raise UserFacingError(Named("{kind} import: no JSON files given or found", kind="labelme"))
    report = ImportReport("labelme", ", ".join(str(s) for s in sources))
    problems: list[Problem] = []
    staging = Staging(project.root)
    db = project.connect()
    try:
        classes = {name: int(v) for v, name in mask_classes(db).items()}
        instances = mask_instances(db)
        ignore = mask_ignore(db)
        docs = []
        for n, f in enumerate(files):
            doc = _read(f, problems)
            if doc is not None:
                docs.append((f, doc))
            if n % 100 == 0:
                yield Progress(n, len(files), "reading labelme files")
        stored = StoredNames()  # shape labels and flags are class names: stored in NFC
        docs = [(f, _in_nfc(doc, stored)) for f, doc in docs]
        if instances is None and not classes:
            instances = _instance_class(doc for _f, doc in docs)
        if ignore is None and any(sh.label == IGNORE_NAME for _f, d in docs for sh in d.shapes):
            ignore = ignore_value(None, classes, instances is not None)
            if instances is None:
                classes[IGNORE_NAME] = ignore
        plans = []
        for n, (f, doc) in enumerate(docs):
            plan = _plan(f, doc, classes, instances, problems, roots.get(f), staging, ignore)
            if plan is not None:
                plans.append(plan)
            if n % 100 == 0:
                yield Progress(n, len(docs), "drawing labelme shapes")
        problems += same_image_twice(plans, "json")
        reject_if(report.source, problems)
        known = existing_paths(project, db)
        notes = [f"{plan['json']}: {plan['note']}" for plan in plans if plan["note"]]
        report.warnings += [stored.note()] if stored.note() else []
        report.warnings += notes[:NOTES_SHOWN]
        if len(notes) > NOTES_SHOWN:
            report.warnings.append(f"... and {len(notes) - NOTES_SHOWN} more files like these")
        report.warnings += _object_notes(plans)
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
                    metadata={FLAGS_KEY: plan["flags"]} if plan["flags"] else {},
                )
            )
        staging.commit()
        try:
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
                if ignore is not None and any(plan["ignored"] for plan in plans):
                    tx.set_metadata(mask_ignore=ignore)
        except BaseException:
            staging.undo()
            raise
        report.added, report.updated = len(new), len(updates)
        return report
    finally:
        staging.discard()
        db.close()


def _object_notes(plans: list[dict]) -> list[str]:
    """The report's notes on what painting shapes by class lost of labelme's objects: objects
    of one class that overlap or touch became one region, and ``group_id`` (several shapes of
    one object) is kept by no class mask."""
    merged: dict[str, list[tuple[str, int | str]]] = {}
    for plan in plans:
        for label, places in plan["merged"].items():
            merged.setdefault(label, []).extend((Path(plan["json"]).name, s) for s in places)
    notes = touching_notes(
        "labelme shapes",
        merged,
        "an export writes each region of the mask as one object",
        "overlap or touch another object of their class",
    )
    groups = [(Path(plan["json"]).name, *g) for plan in plans for g in plan["groups"]]
    if groups:
        several = [g for g in groups if g[3] > 1]
        shown = "; ".join(
            f"{name} group {gid} {label!r} ({n} shapes)" for name, label, gid, n in several[:3]
        ) + (f" and {len(several) - 3} more" if len(several) > 3 else "")
        notes.append(
            f"labelme shapes: {sum(g[3] for g in groups)} shape(s) of {len(groups)} object(s) "
            "given by a group_id (labelme's mark of one object) painted as their class: the "
            "project's masks are class masks, which keep no objects"
            + (f"; {len(several)} object(s) drawn as several shapes: {shown}" if several else "")
            + " (a COCO or labelme export writes each connected region of a class as one object)"
        )
    return notes


def _in_nfc(doc: LabelmeFile, stored: StoredNames) -> LabelmeFile:
    """``doc`` with its shapes' labels and its flags in NFC, the form class names are stored
    in (``stored`` remembers the names that changed, for the report)."""
    shapes = [replace(sh, label=stored(sh.label)) for sh in doc.shapes]
    flags = {stored(k): v for k, v in doc.flags.items()}
    return replace(doc, shapes=shapes, flags=flags)


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
    files are instance masks of that class (see the module docstring); else None. Rectangles
    (boxes) and ignore regions do not count."""
    labels = set()
    for doc in docs:
        for shape in doc.shapes:
            if shape.kind == "rectangle" or shape.label == IGNORE_NAME:
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
    within: Path | None,
    staging: Staging,
    ignore: int | None = None,
) -> dict | None:
    """Plan one labelme file's item. Regions are painted with their class value from
    ``classes`` (growing it for new labels), or, when ``instances`` names the objects' class,
    with their ``group_id`` (one object each); ``__ignore__`` regions with ``ignore``. The
    image must lie inside ``within`` (default: the JSON's folder)."""
    where = str(f)
    chosen, bad = choose_image(f, doc, within or f.parent, staging)
    problems += [Problem(where, reason) for reason in bad]
    if chosen is None:
        return None
    h, w = chosen.info.height, chosen.info.width
    boxes: list[Box] = []
    mask = None
    canvas = None
    ignored = False
    # Objects without a group_id get ids after every id the file uses.
    next_id = max((s.group_id for s in doc.shapes if _is_group_id(s.group_id)), default=0)
    objects = _Objects(h, w)
    for shape in doc.shapes:
        what = f"shapes[{shape.index}] ({shape.label!r}, {shape.kind})"
        kind, label, points = shape.kind, shape.label, shape.points
        if kind not in SUPPORTED:
            problems.append(
                Problem(
                    where,
                    f"shapes[{shape.index}] ({label!r}): unsupported shape type {kind!r}; "
                    f"supported: {', '.join(SUPPORTED)}",
                )
            )
            continue
        if kind == "rectangle":
            if len(points) != 2:
                problems.append(Problem(where, f"{what}.points: a rectangle needs 2 points"))
                continue
            (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
            box = Box(label, float(x0), float(y0), float(x1 - x0), float(y1 - y0))
            if (why := box_problem(box.x, box.y, box.w, box.h, w, h)) is not None:
                problems.append(Problem(where, f"{what}: rectangle {why}"))
                continue
            boxes.append(box)
            continue
        if label == IGNORE_NAME and ignore is not None:
            value = ignore
            ignored = True
        elif instances is None:
            value = classes.get(label) or next_class_value(classes, ignore)
            if value > 65535:
                problems.append(Problem(where, f"{what}: more than 65535 classes of regions"))
                continue
            classes[label] = value
        elif label != instances:
            problems.append(
                Problem(
                    where,
                    f"{what}: labelled {label!r}, but the masks are instance masks of "
                    f"{instances!r} objects (one class per project)",
                )
            )
            continue
        elif _is_group_id(shape.group_id) and shape.group_id != ignore:
            value = shape.group_id
        else:
            next_id += 1 + (next_id + 1 == ignore)
            value = next_id
            if value >= 65536:
                problems.append(Problem(where, f"{what}: more than 65535 objects in one image"))
                continue
        if mask is None:
            mask = np.zeros((h, w), dtype=np.uint16)
        if kind == "mask":
            drawn = _png_place(mask.shape, shape)
        else:
            canvas = canvas or Canvas(h, w)
            drawn = canvas.region(kind, points)
        if isinstance(drawn, str):
            problems.append(Problem(where, f"{what}: {drawn}"))
            continue
        if drawn is None:
            continue
        top, left, region = drawn
        if instances is None and value != ignore:  # an object painted by class (see _Objects)
            objects.paint(mask, top, left, region, value, shape)
        mask[top : top + region.shape[0], left : left + region.shape[1]][region] = value
    if mask is not None:  # kept compressed until the import writes it (see packed.py)
        mask = PackedMask(mask.astype(np.uint8) if mask.max() < 256 else mask)
    flags = [k for k, v in doc.flags.items() if v is True]
    if len(flags) == 1 and (why := class_name_problem(flags[0])) is not None:
        problems.append(Problem(where, f"flags[{flags[0][:40]!r}] (the item's class): {why}"))
    notes = [chosen.note] if chosen.note else []
    if len(flags) > 1:  # multi-label: no one class for the item
        named = ", ".join(repr(k) for k in flags)
        notes.append(f"flags {named} are all true: no one class, the item comes in unlabelled")
    extras = [f"shapes[{shape.index}]" for shape in doc.shapes if shape.extras]
    if extras:
        notes.append(
            f"the description or flags of {', '.join(extras[:5])}"
            + (f" and {len(extras) - 5} more" if len(extras) > 5 else "")
            + " left out (the project keeps neither)"
        )
    return {
        "path": chosen.path,
        "info": chosen.info,
        "note": "; ".join(notes) or None,
        "boxes": boxes,
        "mask": mask,
        "ignored": ignored,
        "label": flags[0] if len(flags) == 1 else None,
        "flags": list(doc.flags),
        "split": split_from_name(f.parent.name),
        "json": where,
        "merged": objects.merged(),
        "groups": objects.groups(),
    }


def _png_place(shape_hw: tuple[int, ...], shape: Shape) -> tuple[int, int, np.ndarray] | str:
    """A ``mask`` shape as ``shapes_to_label`` places it: (top, left, its bool region), the
    PNG's top-left at the first point (coordinates truncated, as labelme's ``astype(int)``),
    or why it cannot be placed."""
    if len(shape.points) == 0:
        return "a mask shape needs its corner point"
    h, w = shape_hw
    region = _png_region(shape.mask or "", w, h)
    if isinstance(region, str):
        return f"mask: {region}"
    x0, y0 = (int(v) for v in shape.points[0])
    rh, rw = region.shape
    if x0 < 0 or y0 < 0 or x0 + rw > w or y0 + rh > h:
        return f"its {rw}x{rh} mask region at ({x0}, {y0}) lies outside the {w}x{h} image"
    return y0, x0, region


class _Objects:
    """The objects of one file painted into a class mask (by label: a shape's class value),
    to say what the class mask loses: labelme's objects are shapes, or several shapes sharing
    a ``group_id`` (one object, e.g. a sofa seen in four parts). An object overlapping or
    touching another of its class becomes one region with it; a group's shapes are painted
    as their class, the group itself is not kept. A map of which object painted each pixel
    tells an object's own shapes from another object's (a few shapes per file: its cost is
    one more paint per shape)."""

    def __init__(self, height: int, width: int):
        self.size = (height, width)
        self.owner: np.ndarray | None = None
        self.ids: dict[tuple, int] = {}  # (label, group_id) or (label, None, shape index)
        self.first: dict[int, Shape] = {}  # object -> its first shape
        self.shapes: dict[int, int] = {}  # object -> its number of shapes
        self.joined: set[int] = set()  # objects that became one region with another

    def paint(
        self, mask: np.ndarray, top: int, left: int, region: np.ndarray, value: int, shape: Shape
    ) -> None:
        grouped = shape.group_id is not None
        key = (shape.label, shape.group_id) if grouped else (shape.label, None, shape.index)
        me = self.ids.setdefault(key, len(self.ids) + 1)
        self.first.setdefault(me, shape)
        self.shapes[me] = self.shapes.get(me, 0) + 1
        if self.owner is None:
            self.owner = np.zeros(self.size, dtype=np.int32)
        hit = touched_owners(mask, self.owner, top, left, region, value, me)
        if hit:
            self.joined |= hit | {me}
        self.owner[top : top + region.shape[0], left : left + region.shape[1]][region] = me

    def merged(self) -> dict[str, list[str]]:
        """Class -> the first shape (``shapes[i]``) of each object joined with another."""
        out: dict[str, list[str]] = {}
        for me in sorted(self.joined):
            out.setdefault(self.first[me].label, []).append(f"shapes[{self.first[me].index}]")
        return out

    def groups(self) -> list[tuple[str, int, int]]:
        """(label, group_id, shapes) of each object given by a group_id."""
        return [
            (self.first[me].label, int(key[1]), self.shapes[me])
            for key, me in self.ids.items()
            if key[1] is not None
        ]


def _png_region(text: str, width: int, height: int) -> np.ndarray | str:
    """A labelme ``mask`` (base64 PNG) as a bool region, or why it is not one. Its declared
    size is checked against the image before decoding (a tiny PNG may claim a huge size)."""
    from PIL import Image

    from qbi_desktop.core.imageheader import guard_png_rows

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
            guard_png_rows("mask", img, what="the mask")  # rows cut short: not read as zeros
            # labelme's LabelFile: the PNG's own values (palette indices, not colours) != 0
            values = np.asarray(img)
            return values.any(axis=-1) if values.ndim == 3 else values != 0
    except Exception as exc:  # any decoder failure is a property of the data
        return f"not a readable PNG ({error_reason(exc)})"


def export_job(
    project: Project,
    out: str | Path,
    *,
    filters: Any = None,
    datapackage: bool = False,
    **_: Any,
) -> Job[ExportReport]:
    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[list[str]]:
        names = mask_class_names(db)
        instances = mask_instances(db)
        ignore = mask_ignore(db)
        if ignore is not None:
            names[ignore] = IGNORE_NAME
        flag_names = _flag_names(rows)
        with_splits = any(r["split"] for r in rows)
        pages: list[str] = []  # stack items written as their page
        for n, row in enumerate(rows):
            rel_dir = split_dir(row["split"]) if with_splits else ""
            rel, paged = put_page(folder, project, db, row, rel_dir)
            if paged:
                pages.append(row["name"])
            h, w = item_shape(project, db, row)
            shapes = []
            for label, x, y, bw, bh, _who in row["boxes"]:
                shapes.append(_shape(label, [[x, y], [x + bw, y + bh]], "rectangle"))
            if row["mask"]:
                for value, region, (x0, y0, x1, y1) in mask_regions(read_item_mask(project, row)):
                    if instances is None or value == ignore:
                        shape = _shape(names.get(value, str(value)), [[x0, y0], [x1, y1]], "mask")
                    else:  # one object: its class, and its id as labelme's instance group
                        shape = _shape(instances, [[x0, y0], [x1, y1]], "mask", group_id=value)
                    shape["mask"] = _bool_to_png(region[y0 : y1 + 1, x0 : x1 + 1])
                    shapes.append(shape)
            doc = {
                "version": VERSION,
                # labelme writes every flag of its list, false ones too
                "flags": {name: name == row["label"] for name in flag_names},
                "shapes": shapes,
                "imagePath": Path(rel).name,
                "imageData": None,
                "imageHeight": int(h),
                "imageWidth": int(w),
            }
            folder.write_json(str(Path(rel).with_suffix(".json")), doc)
            if n % 100 == 0:
                yield Progress(n, len(rows), "writing labelme files")
        notes = pages_note(pages)
        return notes + not_kept(rows, "labelme", {"labels", "splits", "masks", "boxes"})

    return run_export(project, "labelme", out, write, filters=filters, datapackage=datapackage)


def _flag_names(rows: list[dict]) -> list[str]:
    """Every flag name the exported items' labelme files had, then every class label, in
    the order first met: labelme's flag list (``--flags``) is one list for all files."""
    names: dict[str, None] = {}
    for row in rows:
        try:
            meta = json.loads(row["metadata"] or "{}")
        except (TypeError, ValueError):
            meta = {}
        flags = meta.get(FLAGS_KEY) if isinstance(meta, dict) else None
        if isinstance(flags, list):
            names.update((str(name), None) for name in flags)
    names.update((row["label"], None) for row in rows if row["label"] is not None)
    return list(names)


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
