"""COCO object-detection JSON: ``images``, ``categories``, ``annotations``.

Import: each annotation with ``iscrowd`` 0 becomes a box (category name + ``bbox``); its polygon
or RLE segmentation is painted into the item's label mask with the category id as value.
Crowd annotations (``iscrowd`` 1) only paint the mask (COCO itself ignores crowd boxes). Image
files resolve against ``images_dir`` (default: the JSON's folder, then its ``images/``).
Export: ``out/<split>/images/`` + ``out/<split>/annotations.json``; boxes as plain annotations,
masks as crowd annotations with uncompressed RLE, which is exact, so a round trip loses nothing.

Instance masks (a project with ``mask_instances``, e.g. simulated "objects": each value one
object) export the way COCO describes instance segmentation: one ordinary (``iscrowd`` 0)
annotation per object, category = the objects' class, with its bounding box and exact RLE,
plus ``instance_id`` (the mask value; other tools ignore the extra key). Import into a project
with instance masks, or of a file whose annotations carry ``instance_id``, paints each object
with its id (the next free one when it has none) and makes no box from an object with an id
(its box is the object's extent, derived again on export), so the round trip gives back the
same objects. Other files read regions by category into class masks, as before; a file that
would mix the two kinds in one project is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import Box, NewItem, Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.coco_records import CocoAnnotation, Rle, parse_coco
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
    mask_kind_conflict,
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
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.jsonfile import read_json
from qbi_desktop.core.safefile import is_regular_file, resolve_inside

TOLERANCE = 0.5  # px a box may stick out (rounding in other tools)


# -- RLE ----------------------------------------------------------------------------------------


def rle_decode(counts: list[int], height: int, width: int) -> np.ndarray:
    """Uncompressed COCO RLE (column-major runs, starting with background) -> bool mask."""
    if len(counts) > height * width + 1:  # runs of length 0 aside, a run covers a pixel
        raise ValueError(f"{len(counts)} runs for an image of {height * width} pixels")
    flat = np.zeros(height * width, dtype=bool)
    pos, value = 0, False
    for run in counts:
        if run < 0:
            raise ValueError(f"negative run length {run}")
        if pos + run > height * width:
            raise ValueError(f"RLE covers more than the image's {height * width} pixels")
        if value:
            flat[pos : pos + run] = True
        pos += run
        value = not value
    if pos != height * width:
        raise ValueError(f"RLE covers {pos} pixels, image has {height * width}")
    return flat.reshape((width, height)).T


def rle_encode(mask: np.ndarray) -> list[int]:
    flat = np.asarray(mask, dtype=bool).T.ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return [int(r) for r in runs]


def rle_string_to_counts(text: str) -> list[int]:
    """COCO's compressed RLE string (pycocotools' 6-bit variable-length, delta-coded) -> runs."""
    counts: list[int] = []
    pos = 0
    while pos < len(text):
        value, shift, more = 0, 0, True
        while more:
            c = ord(text[pos]) - 48
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
            if not more and c & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def counts_to_rle_string(counts: list[int]) -> str:
    out = []
    for i, run in enumerate(counts):
        value = run - counts[i - 2] if i > 2 else run
        more = True
        while more:
            c = value & 0x1F
            value >>= 5
            more = (value != -1) if c & 0x10 else (value != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def _paint(mask: np.ndarray, segmentation: list[list[float]] | Rle, value: int) -> str | None:
    """Paint one (typed, see coco_records) segmentation into ``mask``; a reason if it cannot be
    used."""
    h, w = mask.shape
    if isinstance(segmentation, list):
        for poly in segmentation:
            xy = np.asarray(poly, dtype=float).reshape(-1, 2)
            fill_polygon(mask, xy[:, 1], xy[:, 0], value)
        return None
    if (segmentation.height, segmentation.width) != (h, w):
        return (
            f"RLE size [{segmentation.height}, {segmentation.width}] differs from the image "
            f"size [{h}, {w}]"
        )
    counts = segmentation.counts
    if isinstance(counts, str):
        try:
            counts = rle_string_to_counts(counts)
        except IndexError:
            return "compressed RLE string ends in the middle of a number"
        negative = next((i for i, c in enumerate(counts) if c < 0), None)
        if negative is not None:
            return f"compressed RLE decodes to a negative run ({counts[negative]}, run {negative})"
    try:
        region = rle_decode(counts, h, w)
    except ValueError as exc:
        return f"bad RLE ({exc})"
    mask[region] = value
    return None


# -- import ------------------------------------------------------------------------------------


def import_job(
    project: Project,
    sources: Sequence[str | Path],
    *,
    images_dir: str | Path | None = None,
    annotator: str | None = None,
    within: str | Path | None = None,
    **_: Any,
) -> Job[ImportReport]:
    """Import one or more COCO JSON files (e.g. one per split) in one transaction. Image files
    must lie inside ``images_dir`` when given, else inside ``within`` (set for an extracted
    archive), else inside the folder given as the source or the JSON's own folder."""
    if not sources:
        raise UserFacingError("coco import needs at least one JSON file")
    roots = _json_files(sources)  # COCO file -> the folder its images must be in
    sources = list(roots)
    report = ImportReport("coco", ", ".join(str(s) for s in sources))
    problems: list[Problem] = []
    planned: list[dict[str, Any]] = []
    new_classes: dict[str, str] = {}
    new_instances: set[str] = set()  # class names of instance-mask objects
    db = project.connect()
    try:
        # Regions are objects when the project has instance masks or the file marks them.
        old_classes = mask_classes(db)
        mode = "instances" if mask_instances(db) else "classes" if old_classes else None
        for source in sources:
            yield Progress(0, 0, f"reading {Path(source).name}")
            planned += _plan(
                Path(source),
                images_dir,
                problems,
                new_classes,
                new_instances,
                mode,
                Path(within) if within else roots[source],
                report.warnings,
            )
        if len(new_instances) > 1 or (new_instances and new_classes):
            problems.append(
                Problem(
                    report.source,
                    "the files mix instance masks of "
                    f"{', '.join(repr(n) for n in sorted(new_instances))} objects"
                    + (" with class masks" if new_classes else " (one class per project)")
                    + "; import them into separate projects",
                )
            )
        instances = next(iter(new_instances)) if len(new_instances) == 1 else None
        known = existing_paths(project, db)
        for key, name in new_classes.items():
            if old_classes.get(key, name) != name:
                problems.append(
                    Problem(
                        report.source,
                        f"category id {key} is {name!r} here but "
                        f"{old_classes[key]!r} in the project's mask classes",
                    )
                )
        conflict = mask_kind_conflict(db, instances, new_classes)
        if conflict:
            problems.append(Problem(report.source, conflict))
        problems += same_image_twice(planned, "source")
        reject_if(report.source, problems)
        new: list[NewItem] = []
        updates = []
        for n, plan in enumerate(planned):
            stored = project.store_path(plan["path"])
            if stored in known:
                updates.append((known[stored], plan))
                continue
            new.append(
                file_item(
                    plan["path"],
                    plan["info"],
                    split=plan["split"],
                    annotator=annotator,
                    mask=plan["mask"],
                    boxes=plan["boxes"],
                    provenance={"source": "coco", "imported_from": plan["source"]},
                )
            )
            if n % 100 == 0:
                yield Progress(n, len(planned), "preparing items")
        with project.transaction(db) as tx:
            report.ids = tx.add_items(new)
            for item_id, plan in updates:
                tx.set_boxes(item_id, plan["boxes"], annotator)
                if plan["mask"] is not None:
                    tx.set_mask(item_id, plan["mask"], annotator)
            if new_classes:
                tx.set_metadata(mask_classes={**old_classes, **new_classes})
            if instances is not None:
                tx.set_metadata(mask_instances=instances)
        report.added, report.updated = len(new), len(updates)
        return report
    finally:
        db.close()


def _json_files(sources: Sequence[str | Path]) -> dict[Path, Path]:
    """The sources with each folder (e.g. an extracted archive) replaced by the COCO JSON files
    below it (a Data Package's ``datapackage.json`` is not one), each with the folder its image
    files must be in: the folder given, or a JSON file's own folder."""
    files: dict[Path, Path] = {}
    for source in map(Path, sources):
        if not source.is_dir():
            files[source] = source.parent
            continue
        found = sorted(
            p
            for p in source.rglob("*.json")
            if p.is_file() and p.name != "datapackage.json" and not p.name.startswith(".")
        )
        if not found:
            raise UserFacingError(f"{source}: no COCO JSON file found in the folder")
        files.update((f, source) for f in found)
    return files


def _plan(
    source: Path,
    images_dir: str | Path | None,
    problems: list[Problem],
    new_classes: dict[str, str],
    new_instances: set[str],
    mode: str | None,
    within: Path | None = None,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Check one COCO file and plan its items; ``mode`` is how the project reads masks
    ("instances", "classes", or None for a project without masks yet). Image files must
    resolve inside ``images_dir`` when given, else inside ``within`` (an extracted archive) or
    the JSON's own folder."""
    where = str(source)
    try:
        data = read_json(source, "the COCO file", constants=True)
    except UserFacingError as exc:
        problems.append(Problem(where, str(exc).removeprefix(f"{where}: ")))
        return []
    coco, bad = parse_coco(data)
    problems += [Problem(where, reason) for reason in bad]
    categories: dict[int, str] = {}
    for cat in coco.categories:
        if cat.id in categories:
            problems.append(Problem(where, f"categories[{cat.index}].id: {cat.id} is used twice"))
            continue
        categories[cat.id] = cat.name
    # A mask value per category: the id itself, but 0 is the background of a label mask, so a
    # category 0 (0-based exports) gets the next free value instead of vanishing.
    values = {cid: cid for cid in categories if cid != 0}
    if 0 in categories:
        values[0] = max(categories) + 1
        if notes is not None:
            notes.append(
                f"{source.name}: category 0 ({categories[0]!r}) painted as mask value "
                f"{values[0]} (0 is the masks' background)"
            )
    if images_dir:  # the user's own choice of folder: its files, and nothing outside it
        bases, root = [Path(images_dir)], Path(images_dir)
    else:
        bases, root = [source.parent, source.parent / "images"], Path(within or source.parent)
    split = split_from_name(source.parent.name) or split_from_name(source.stem)
    images: dict[Any, dict[str, Any]] = {}
    seen_paths: dict[Path, int] = {}
    for img in coco.images:
        label = f"images[{img.index}]"
        if img.id in images:
            problems.append(Problem(where, f"{label}.id: {img.id!r} is used twice"))
            continue
        path, reason = None, "not found"
        for base in bases:
            found = resolve_inside(base, img.file_name, root)
            if isinstance(found, str):
                path, reason = None, found
                if not images_dir:
                    reason += "; import the folder holding both, or name the images folder"
                break
            if is_regular_file(found):
                path = found
                break
        if path is None:
            where_looked = " or ".join(str(b) for b in bases)
            if reason == "not found":
                reason = f"file {img.file_name!r} not found in {where_looked}"
                if not images_dir:
                    reason += (
                        " (images kept elsewhere: name their folder, the import dialog's "
                        "Images folder or --images)"
                    )
            problems.append(Problem(where, f"{label}.file_name: {reason}"))
            continue
        key = path.resolve()
        if key in seen_paths:
            problems.append(
                Problem(
                    where,
                    f"{label}.file_name: {img.file_name!r} is the same file as "
                    f"images[{seen_paths[key]}]",
                )
            )
            continue
        seen_paths[key] = img.index
        info = scan_image(path)
        if isinstance(info, str):
            problems.append(Problem(str(path), f"{label} of {where}: {info}"))
            continue
        width = info.width if img.width is None else img.width
        height = info.height if img.height is None else img.height
        if (width, height) != (info.width, info.height):
            problems.append(
                Problem(
                    where,
                    f"{label} ({img.file_name}): the JSON says {width}x{height} pixels, "
                    f"the image file is {info.width}x{info.height}",
                )
            )
            continue
        images[img.id] = {
            "path": path,
            "info": info,
            "split": split,
            "boxes": [],
            "mask": None,
            "source": where,
        }
    # Our instance export marks each object with its mask value; such a file is instance masks.
    marked = any(a.has_instance_id for a in coco.annotations)
    as_instances = mode == "instances" or marked  # marked + class masks: refused later
    # Annotations by image, so that one image's mask is painted whole and packed before the
    # next one's (all masks as arrays at once can exceed the memory; see packed.py).
    by_image: dict[Any, list[CocoAnnotation]] = {}
    for ann in coco.annotations:
        label = f"annotations[{ann.index}]"
        if ann.category_id not in categories:
            problems.append(
                Problem(where, f"{label}.category_id: unknown category {ann.category_id!r}")
            )
        elif ann.image_id not in images:
            problems.append(
                Problem(where, f"{label}.image_id: unknown or unusable image {ann.image_id!r}")
            )
        else:
            by_image.setdefault(ann.image_id, []).append(ann)
    for image_id, anns in by_image.items():
        target = images[image_id]
        w_img, h_img = target["info"].width, target["info"].height
        mask: np.ndarray | None = None
        for ann in anns:
            label = f"annotations[{ann.index}]"
            category = categories[ann.category_id]
            instance = ann.instance_id if as_instances else None
            if not ann.iscrowd and instance is None:
                if ann.bbox is None:
                    problems.append(Problem(where, f"{label}.bbox: missing ([x, y, w, h] needed)"))
                    continue
                x, y, w, h = ann.bbox
                if (
                    x < -TOLERANCE
                    or y < -TOLERANCE
                    or x + w > w_img + TOLERANCE
                    or y + h > h_img + TOLERANCE
                ):
                    problems.append(
                        Problem(
                            where,
                            f"{label}.bbox: {list(ann.bbox)} lies outside the {w_img}x{h_img} "
                            f"image {target['path'].name}",
                        )
                    )
                    continue
                target["boxes"].append(Box(category, x, y, w, h))
            if ann.segmentation is None:
                continue
            if as_instances:
                # An object without an id (edited by hand in another tool) gets the next one.
                value = instance
                if value is None:
                    value = 1 if mask is None else int(mask.max()) + 1
            else:
                value = values[ann.category_id]
            if not 1 <= value <= 65535:
                reason = (
                    "more than 65535 objects in one image"
                    if as_instances
                    else f"category_id: {ann.category_id} cannot be a mask value "
                    "(label masks hold 1..65535)"
                )
                problems.append(Problem(where, f"{label}: {reason}"))
                continue
            if mask is None:
                top = 65535 if as_instances else max(values.values(), default=0)
                dtype = np.uint8 if top < 256 else np.uint16
                mask = np.zeros((h_img, w_img), dtype=dtype)
            reason = _paint(mask, ann.segmentation, value)
            if reason:
                problems.append(Problem(where, f"{label}.segmentation: {reason}"))
                continue
            if as_instances:
                new_instances.add(category)
            else:
                new_classes[str(value)] = category
        if mask is not None:
            target["mask"] = PackedMask(mask.astype(np.uint8) if mask.max() < 256 else mask)
    return list(images.values())


# -- export ------------------------------------------------------------------------------------


def export_job(
    project: Project,
    out: str | Path,
    *,
    filters: Any = None,
    datapackage: bool = False,
    **_: Any,
) -> Job[ExportReport]:
    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[list[str]]:
        # One pass, one mask in memory at a time (a thousand 2048^2 masks would not fit);
        # category ids are known only at the end, so annotations naming a category by name
        # (boxes, instance objects) get their id then, and the files are written last.
        instances = mask_instances(db)
        names = mask_class_names(db)
        docs: dict[str, dict[str, Any]] = {}
        by_name_later: list[tuple[dict[str, Any], str]] = []
        values: set[int] = set()
        for n, row in enumerate(rows):
            split = split_dir(row["split"])
            doc = docs.setdefault(
                split,
                {
                    "info": {"description": "exported by QBI Desktop"},
                    "images": [],
                    "annotations": [],
                },
            )
            rel = put_image(folder, project, db, row, f"{split}/images")
            h, w = item_shape(project, db, row)
            doc["images"].append(
                {"id": row["id"], "file_name": Path(rel).name, "width": w, "height": h}
            )
            for label, x, y, bw, bh, _who in row["boxes"]:
                annotation = {
                    "id": len(doc["annotations"]) + 1,
                    "image_id": row["id"],
                    "category_id": None,
                    "bbox": [x, y, bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                    "segmentation": [],
                }
                doc["annotations"].append(annotation)
                by_name_later.append((annotation, label))
            mask = read_item_mask(project, row) if row["mask"] else None
            for value, region, (x0, y0, x1, y1) in [] if mask is None else mask_regions(mask):
                annotation = {
                    "id": len(doc["annotations"]) + 1,
                    "image_id": row["id"],
                    "category_id": value,
                    "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
                    "area": int(region.sum()),
                    "iscrowd": 1 if instances is None else 0,
                    "segmentation": {"size": [h, w], "counts": rle_encode(region)},
                }
                if instances is not None:
                    # Instance masks: every value is one object of one class (module docstring).
                    annotation["instance_id"] = value
                    by_name_later.append((annotation, instances))
                values.add(value)
                doc["annotations"].append(annotation)
            if n % 100 == 0:
                yield Progress(n, len(rows), "writing images and annotations")
        if instances is not None:
            categories = {1: instances} if values else {}
        else:
            categories = {v: names.get(v, str(v)) for v in sorted(values)}
        by_name = {name: cid for cid, name in categories.items()}
        next_id = max(categories, default=0) + 1
        for annotation, name in by_name_later:
            if name not in by_name:
                by_name[name] = next_id
                categories[next_id] = name
                next_id += 1
            annotation["category_id"] = by_name[name]
        listed = [
            {"id": cid, "name": name, "supercategory": ""}
            for cid, name in sorted(categories.items())
        ]
        for split, doc in sorted(docs.items()):
            doc["categories"] = listed
            folder.write_json(f"{split}/annotations.json", doc)
        # COCO annotates objects, not images: an image's class label has no place in it
        labelled = sum(1 for r in rows if r["label"] is not None)
        if labelled:
            return [
                f"{labelled} item class label(s) are not in the COCO files (COCO has no per-image "
                "class; only boxes and masks become annotations): export 'imagefolder' or "
                "'sheet' to keep them"
            ]
        return []

    return run_export(project, "coco", out, write, filters=filters, datapackage=datapackage)
