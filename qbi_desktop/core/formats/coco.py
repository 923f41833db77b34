"""COCO object-detection JSON: ``images``, ``categories``, ``annotations``, read the way
pycocotools reads it.

Import: each annotation with ``iscrowd`` 0 becomes a box (category name + ``bbox``); its polygon
or RLE segmentation is painted into the item's label mask with the category id as value.
Polygons are rasterised exactly as pycocotools' ``frPyObjects`` + ``decode`` do (raster.py), so
an integer 50 x 50 square is 2500 pixels, as in COCO's own tools. Our export's marks are
honoured: ``qbi_box_only`` (a box without a mask: an empty segmentation, or in older exports its
outline) gives the box alone, no mask; ``qbi_mask_region`` (a class mask's region) gives the mask
alone, no box; a category's ``qbi_mask_value`` (ids follow the project's class order) is the
class's mask value when every painted category has a distinct one. Crowd
annotations (``iscrowd`` 1) only paint the mask (COCO itself ignores crowd boxes); those of
category ``__ignore__`` are the project's ignore region (ignore.py). Category ids are mask
values, 0 (0-based exports) moved to a free value and ids of 65 536 and more kept
(32-bit masks). Image files resolve against ``images_dir`` (default: the JSON's folder, then its
``images/``). Entries naming one file at one size (Label Studio writes one per annotation
result) are one item with the annotations of all, in file order (the later one on top where
regions overlap), and the report names the ids merged; at different sizes they are refused.
COCO panoptic files are refused by name (not supported). Export: coco_export.py.

Instance masks (a project with ``mask_instances``, e.g. simulated "objects": each value one
object) export the way COCO describes instance segmentation: one ordinary (``iscrowd`` 0)
annotation per object, category = the objects' class, with its bounding box and exact RLE,
plus ``instance_id`` (the mask value; other tools ignore the extra key). Import into a project
with instance masks, or of a file whose annotations carry ``instance_id``, paints each object
with its id (the next free one when it has none) and makes no box from an object with an id
(its box is the object's extent, derived again on export), so the round trip gives back the
same objects. Other files read regions by category into class masks, as before; a file that
would mix the two kinds in one project is refused. A class mask cannot keep objects apart: an
object painted on or beside an earlier one of its class is one region with it; the report counts
them by class and names a few (each keeps its box).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.annotation.boxes import MAX_BOXES
from qbi_desktop.core.atomic import flush_batch
from qbi_desktop.core.catalog.bulk import bulk_items
from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import Box, NewItem, Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.classnames import StoredNames, class_name_problem, merge_classes
from qbi_desktop.core.formats.coco_notes import (
    case_twin,
    left_out_notes,
    merged_notes,
    touching_notes,
)
from qbi_desktop.core.formats.coco_records import CocoAnnotation, parse_coco
from qbi_desktop.core.formats.coco_rle import (  # noqa: F401 (the codec's old home)
    counts_to_rle_string,
    rle_decode,
    rle_encode,
    rle_string_runs,
    rle_string_to_counts,
)
from qbi_desktop.core.formats.common import (
    BOX_TOLERANCE,
    ImportReport,
    box_problem,
    existing_paths,
    file_item,
    mask_classes,
    mask_instances,
    mask_kind_conflict,
    reject_if,
    same_image_twice,
    scan_image,
    split_from_name,
)
from qbi_desktop.core.formats.ignore import IGNORE_NAME, ignore_value, mask_ignore
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.formats.packed import PackedMask
from qbi_desktop.core.formats.raster import (
    coco_polygon_runs,
    earlier_within_reach,
    extent_of,
    near_value,
    paint_segmentation,
    polygon_extents,
)
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.jsonfile import read_json
from qbi_desktop.core.safefile import is_regular_file, resolve_inside

TOLERANCE = BOX_TOLERANCE  # px a box may stick out (rounding in other tools)
#: The largest mask value (masks grow to 32 bits for category ids of 65 536 and more)
MAX_VALUE = (1 << 32) - 1


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
        raise UserFacingError(Named("{kind} import needs at least one JSON file", kind="coco"))
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
        old_ignore = mask_ignore(db)
        state = {"ignore": old_ignore, "classes": {int(k): v for k, v in old_classes.items()}}
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
                state,
            )
        # the ignore region is neither a class nor an object: it goes with either kind
        classes_only = {k: v for k, v in new_classes.items() if v != IGNORE_NAME}
        if len(new_instances) > 1 or (new_instances and classes_only):
            problems.append(
                Problem(
                    report.source,
                    "the files mix instance masks of "
                    f"{', '.join(repr(n) for n in sorted(new_instances))} objects"
                    + (" with class masks" if classes_only else " (one class per project)")
                    + "; import them into separate projects",
                )
            )
        instances = next(iter(new_instances)) if len(new_instances) == 1 else None
        known = existing_paths(project, db)
        # One name, one value: category ids join the project's classes by name (classnames.py)
        merge = merge_classes(old_classes, new_classes, report.source)
        report.warnings += merge.notes
        conflict = mask_kind_conflict(db, instances, classes_only)
        if conflict:
            problems.append(Problem(report.source, conflict))
        problems += same_image_twice(planned, "source")
        reject_if(report.source, problems)
        new: list[NewItem] = []
        updates = []
        for n, plan in enumerate(planned):
            plan["mask"] = merge.apply(plan["mask"])
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
        # into an empty catalog: indexes and counts built once at the end (bulk.py), not
        # updated box by box
        with project.transaction(db) as tx, bulk_items(db):
            report.ids = tx.add_items(new)
            for item_id, plan in updates:
                tx.set_boxes(item_id, plan["boxes"], annotator)
                if plan["mask"] is not None:
                    tx.set_mask(item_id, plan["mask"], annotator, sync=False)
            if any(plan["mask"] is not None for _, plan in updates):
                flush_batch(project.masks_dir)  # one flush before the commit, not 2 per mask
            if new_classes:
                tx.set_metadata(mask_classes=merge.classes)
            if str(state["ignore"]) in new_classes:
                ignore = merge.value(state["ignore"])
                if ignore != old_ignore:
                    tx.set_metadata(mask_ignore=ignore)
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
    state: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Check one COCO file and plan its items; ``mode`` is how the project reads masks
    ("instances", "classes", or None for a project without masks yet). Image files must
    resolve inside ``images_dir`` when given, else inside ``within`` (an extracted archive) or
    the JSON's own folder. ``state`` carries across files: ``classes`` (the project's, value ->
    name) and ``ignore`` (the ignore value, once known)."""
    state = {} if state is None else state
    where = str(source)
    try:
        data = read_json(source, "the COCO file", constants=True)
    except UserFacingError as exc:
        problems.append(Problem(where, str(exc).removeprefix(f"{where}: ")))
        return []
    # the typed records hold what is used: the parsed JSON goes as they are made
    coco, bad = parse_coco(data, consume=True)
    del data
    problems += [Problem(where, reason) for reason in bad]
    categories: dict[int, str] = {}
    nfc_names = StoredNames()  # category names stored in NFC
    for cat in coco.categories:
        if cat.id in categories:
            problems.append(Problem(where, f"categories[{cat.index}].id: {cat.id} is used twice"))
            continue
        reason = class_name_problem(cat.name)
        if reason:  # kept (its annotations are not "unknown"), the import is refused anyway
            problems.append(Problem(where, f"categories[{cat.index}].name: {reason}"))
        categories[cat.id] = nfc_names(cat.name)
    if notes is not None and (note := nfc_names.note(source.name)):
        notes.append(note)
    # A mask value per category: the id itself, but 0 is the background of a label mask, so a
    # category 0 (0-based exports) gets the next free value instead of vanishing.
    values = {cid: cid for cid, name in categories.items() if cid != 0 and name != IGNORE_NAME}
    if 0 in categories and categories[0] != IGNORE_NAME:
        values[0] = max(categories) + 1  # said below when a region of it is painted
    # Our export numbers categories in the project's class order and names each class's mask
    # value (``qbi_mask_value``): those values, when every class has a distinct one.
    given = {c.id: c.mask_value for c in coco.categories if c.id in values}
    if given and None not in given.values() and len(set(given.values())) == len(given):
        values.update(given)  # type: ignore[arg-type]
    # Our instance export marks each object with its mask value; such a file is instance masks.
    marked = any(a.has_instance_id for a in coco.annotations)
    as_instances = mode == "instances" or marked  # marked + class masks: refused later
    for cid, name in categories.items():
        if name == IGNORE_NAME:  # the ignore region (crowd): the project's one ignore value
            if state.get("ignore") is None:
                by_name = {n: v for v, n in state.get("classes", {}).items()}
                by_name.update({categories[c]: v for c, v in values.items()})
                state["ignore"] = ignore_value(None, by_name, as_instances)
            values[cid] = state["ignore"]
    if images_dir:  # the user's own choice of folder: its files, and nothing outside it
        bases, root = [Path(images_dir)], Path(images_dir)
    else:
        bases, root = [source.parent, source.parent / "images"], Path(within or source.parent)
    split = split_from_name(source.parent.name) or split_from_name(source.stem)
    images: dict[Any, dict[str, Any]] = {}
    seen_paths: dict[Path, int] = {}
    # Label Studio lists an image once per annotation result: entries naming the same file at
    # the same size are one item (alias: id -> the first entry's id), annotations of all of them
    kept: dict[Path, tuple[Any, int, int, int]] = {}  # file -> (id, index, width, height)
    alias: dict[Any, Any] = {}
    listings: dict[Path, dict[str, str]] = {}  # folder -> its names by lower case
    for img in coco.images:
        label = f"images[{img.index}]"
        if img.id in images or img.id in alias:
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
                reason += case_twin(bases, img.file_name, root, listings)
                if not images_dir:
                    reason += (
                        " (images kept elsewhere: name their folder, the import dialog's "
                        "Images folder or --images)"
                    )
            problems.append(Problem(where, f"{label}.file_name: {reason}"))
            continue
        key = path.resolve()
        if key in kept:
            first_id, first, width, height = kept[key]
            size = (
                width if img.width is None else img.width,
                height if img.height is None else img.height,
            )
            if size == (width, height):
                alias[img.id] = first_id
                continue
            problems.append(
                Problem(
                    where,
                    f"{label}.file_name: {img.file_name!r} ({size[0]}x{size[1]} pixels) is "
                    f"the same file as images[{first}] ({width}x{height} pixels); one file has "
                    "one size",
                )
            )
            continue
        if key in seen_paths:  # the same file as an entry that cannot be used (said already)
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
        kept[key] = (img.id, img.index, width, height)
        images[img.id] = {
            "path": path,
            "info": info,
            "split": split,
            "boxes": [],
            "mask": None,
            "source": where,
            "entry": f"{label} ({img.file_name})",
        }
    # Annotations by image, so that one image's mask is painted whole and packed before the
    # next one's (all masks as arrays at once can exceed the memory; see packed.py).
    by_image: dict[Any, list[CocoAnnotation]] = {}
    crowds: dict[str, int] = {}  # crowd regions painted as their class, by class
    # what the project cannot hold, said in the report (annotation indices)
    left_out: dict[str, list[int]] = {
        "crowd boxes": [],
        "attributes": [],
        "rotated": [],
        "keypoints": [],
    }
    attribute_keys: set[str] = set()
    zero_painted = False
    merged: dict[str, list[tuple[str, int]]] = {}  # class -> (image, annotation) painted into one
    ann_ids: dict[int | str, int] = {}  # annotation id -> index of the first one with it
    for ann in coco.annotations:
        label = f"annotations[{ann.index}]"
        if ann.ann_id is not None and (first := ann_ids.setdefault(ann.ann_id, ann.index)) != (
            ann.index
        ):  # pycocotools indexes annotations by id: one of the two would be lost
            problems.append(
                Problem(
                    where, f"{label}.id: {ann.ann_id!r} is used twice (also annotations[{first}])"
                )
            )
        image_id = alias.get(ann.image_id, ann.image_id)
        if ann.category_id not in categories:
            problems.append(
                Problem(where, f"{label}.category_id: unknown category {ann.category_id!r}")
            )
        elif image_id not in images:
            problems.append(
                Problem(where, f"{label}.image_id: unknown or unusable image {ann.image_id!r}")
            )
        else:
            # in file order across merged entries, so overlaps follow the later annotation
            by_image.setdefault(image_id, []).append(ann)
            if ann.attributes:
                left_out["attributes"].append(ann.index)
                attribute_keys.update(ann.attributes)
            if ann.keypoints:
                left_out["keypoints"].append(ann.index)
    for image_id, anns in by_image.items():
        target = images[image_id]
        w_img, h_img = target["info"].width, target["info"].height
        mask: np.ndarray | None = None
        # the image's polygons rasterised in one batch (a small polygon alone is mostly
        # numpy's per-call cost); each annotation takes its slice
        polygons: list[np.ndarray] = []
        slices: dict[int, slice] = {}
        for ann in anns:
            if isinstance(ann.segmentation, list) and not (ann.box_only and not ann.iscrowd):
                slices[ann.index] = slice(len(polygons), len(polygons) + len(ann.segmentation))
                polygons += [np.asarray(poly, dtype=np.float64) for poly in ann.segmentation]
        runs = coco_polygon_runs(polygons, h_img, w_img) if polygons else []
        near = polygon_extents(polygons, h_img, w_img)  # where each polygon can reach
        # Which polygon objects have an earlier polygon of their value within reach, all at
        # once from the extents: the others cannot touch one and skip the mask.
        reach: dict[int, bool] = {}
        keys = [ann.index for ann in anns if ann.index in slices]
        if keys and not as_instances:
            firsts = np.array([slices[k].start for k in keys])
            extents = np.column_stack(
                [np.minimum.reduceat(near[:, i], firsts) for i in (0, 1)]
                + [np.maximum.reduceat(near[:, i], firsts) for i in (2, 3)]
            )
            painting = np.array([values[a.category_id] for a in anns if a.index in slices])
            reach = dict(zip(keys, earlier_within_reach(extents, painting).tolist(), strict=True))
        painted: set[int] = set()  # values painted so far in this image
        painted_rle: set[int] = set()  # ... by RLE regions (not in ``reach``)
        for ann in anns:
            label = f"annotations[{ann.index}]"
            category = categories[ann.category_id]
            ignored = category == IGNORE_NAME
            instance = ann.instance_id if as_instances and not ignored else None
            if not (ann.iscrowd or ignored or ann.mask_region) and instance is None:
                if ann.bbox is None and ann.segmentation is None:
                    problems.append(
                        Problem(
                            where,
                            f"{label}: neither bbox nor segmentation (an image-level label, "
                            "which COCO import does not read: a sheet or an image folder gives "
                            "images their classes)",
                        )
                    )
                    continue
                if ann.bbox is None:
                    problems.append(Problem(where, f"{label}.bbox: missing ([x, y, w, h] needed)"))
                    continue
                x, y, w, h = ann.bbox
                if (why := box_problem(x, y, w, h, w_img, h_img)) is not None:
                    problems.append(
                        Problem(
                            where,
                            f"{label}.bbox: {list(ann.bbox)} of image {target['path'].name}: {why}",
                        )
                    )
                    continue
                target["boxes"].append(Box(category, x, y, w, h))
                if ann.rotation % 360:
                    left_out["rotated"].append(ann.index)
            if ann.segmentation is None and ann.iscrowd and ann.bbox is not None:
                left_out["crowd boxes"].append(ann.index)  # no region, and not an object
            if ann.segmentation is None or (ann.box_only and not ann.iscrowd):
                continue
            if as_instances and not ignored:
                # An object without an id (edited by hand in another tool) gets the next one.
                value = instance
                if value is None:
                    value = 1 if mask is None else int(mask.max()) + 1
            else:
                value = values[ann.category_id]
            if not 1 <= value <= (65535 if as_instances else MAX_VALUE):
                reason = (
                    "more than 65535 objects in one image"
                    if as_instances
                    else f"category_id: {ann.category_id} cannot be a mask value "
                    f"(label masks hold 1..{MAX_VALUE})"
                )
                problems.append(Problem(where, f"{label}: {reason}"))
                continue
            if mask is None:
                top = 65535 if as_instances else max(values.values(), default=0)
                dtype = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32
                mask = np.zeros((h_img, w_img), dtype=dtype)
            # an object (not a crowd, an ignore region or our export's class region) painted by
            # class: does it become one region with another object of its class?
            watch = value in painted and not (
                as_instances or ann.iscrowd or ignored or ann.mask_region
            )
            part = slices.get(ann.index, slice(0, 0))  # no polygons: an RLE region
            if watch and part.stop > part.start:  # polygons: a slice of the mask first
                extent = extent_of(near[part])
                close = reach.get(ann.index, True) or value in painted_rle
                watch = extent if close and near_value(mask, extent, value) else False
            reason, touched = paint_segmentation(mask, ann.segmentation, value, runs[part], watch)
            painted.add(value)
            if not part.stop > part.start:
                painted_rle.add(value)
            if touched:
                merged.setdefault(category, []).append((target["path"].name, ann.index))
            if reason:
                ident = "" if ann.ann_id is None else f" (annotation id {ann.ann_id!r})"
                problems.append(Problem(where, f"{label}.segmentation: {reason}{ident}"))
                continue
            if as_instances and not ignored:
                new_instances.add(category)
            else:
                new_classes[str(value)] = category
                zero_painted = zero_painted or ann.category_id == 0
            if ann.iscrowd and not ignored:
                crowds[category] = crowds.get(category, 0) + 1
        if len(target["boxes"]) > MAX_BOXES:  # as a boxes file is refused (annotation/boxes.py)
            problems.append(
                Problem(
                    where,
                    f"{target['entry']}: {len(target['boxes'])} boxes, more than the "
                    f"{MAX_BOXES} allowed in one image",
                )
            )
            target["boxes"] = []
        if mask is not None:
            top = int(mask.max())
            narrow = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32
            target["mask"] = PackedMask(mask.astype(narrow, copy=False))
    if notes is not None:
        notes += merged_notes(source.name, alias, images)
        notes += left_out_notes(source.name, left_out, attribute_keys)
        notes += touching_notes(source.name, merged)
        if zero_painted:
            notes.append(
                f"{source.name}: category 0 ({categories[0]!r}) painted as mask value "
                f"{values[0]} (0 is the masks' background)"
            )
    if crowds and notes is not None:
        # a class mask cannot say "this region is a crowd": said here, not lost silently
        listed = ", ".join(f"{n} {name!r}" for name, n in sorted(crowds.items()))
        notes.append(
            f"{source.name}: crowd regions (iscrowd 1, which COCO tools skip) painted as their "
            f"class: {listed}; a COCO export writes them as ordinary regions (name their "
            "class __ignore__ to keep them skipped)"
        )
    return list(images.values())


from qbi_desktop.core.formats.coco_export import export_job  # noqa: E402,F401 (registry)
