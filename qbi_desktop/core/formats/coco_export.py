"""COCO export: ``out/<split>/images/`` + ``out/<split>/annotations.json``, read the way
pycocotools, torchvision's ``CocoDetection``, detectron2 and mmdetection read COCO.

- A box framing a region of its class in the item's class mask is one object, as COCO files
  from other tools hold it: the box as ``bbox``, the region as ``segmentation`` (exact
  compressed RLE). A box frames a region when the region lies inside the box, their extents
  overlap with an IoU of at least 0.5, and no pixel of the region lies in another box of the
  class: touching objects of one class are one region, which cannot say whose pixels are
  whose, so neither box gets it (the report counts such boxes).
- Any other box is an ordinary annotation (``iscrowd`` 0) with an empty ``segmentation``
  (``[]``, as Roboflow and datumaro write boxes): no mask is invented for it (a rectangle
  would be taken as a true mask by ``annToMask`` and ``COCOeval(iouType='segm')``, which
  refuse an empty one instead: such files are for ``iouType='bbox'``). ``"qbi_box_only":
  true`` tells our import to give the box back alone.
- The other regions of a class mask: ordinary annotations, one per 8-connected region (two
  touching spots are one object), with their bounding box and exact compressed RLE, and
  ``"qbi_mask_region": true`` so that our import paints them without making boxes of them
  (other tools ignore the extra keys). The export report says so.
- The ignore region (``__ignore__``, VOC 255, see ignore.py) is what COCO calls a crowd: one
  ``iscrowd`` 1 annotation per image of category ``__ignore__``; COCO tools skip it in
  training and evaluation. Nothing else is a crowd.
- Instance masks (a project with ``mask_instances``): one ordinary annotation per object with
  ``instance_id`` (its mask value), as coco.py describes.
- Category ids: with a class order (``classes --order``) 1..n in that order, each category
  with ``qbi_mask_value``, the class's value in the project's masks (said in the report);
  without one, the mask values, then the box classes.
- An item that is a page of a multi-page TIFF is written as that page, a 2-D image of its own
  (item_pages.py), as ``images[]`` declares one width and height.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from qbi_desktop.core.catalog.classes import stored_list
from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.formats.coco_rle import close_rle, counts_to_rle_string, rle_of_window
from qbi_desktop.core.formats.common import (
    ExportFolder,
    ExportReport,
    item_shape,
    mask_class_names,
    mask_instances,
    not_kept,
    read_item_mask,
    run_export,
    split_dir,
)
from qbi_desktop.core.formats.ignore import IGNORE_NAME, mask_ignore
from qbi_desktop.core.formats.item_pages import pages_note, put_page
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.jobs import Job, Progress

#: The extra key that marks an annotation as a region of a class mask (not an object with a
#: box of its own).
REGION_KEY = "qbi_mask_region"
#: The extra key that marks a box whose polygon is only its outline (no mask of its own).
BOX_KEY = "qbi_box_only"
#: 8-connectivity: pixels touching at a corner belong to one region
_EIGHT = np.ones((3, 3), dtype=bool)


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
        ignore = mask_ignore(db)
        if ignore is None:  # a class named __ignore__ is the ignore region all the same
            ignore = next((v for v, name in names.items() if name == IGNORE_NAME), None)
        docs: dict[str, dict[str, Any]] = {}
        by_name_later: list[tuple[dict[str, Any], str]] = []
        values: set[int] = set()
        counts = {"regions": 0, "paired": 0, "ignore": 0, "boxes": 0, "shared": 0}
        pages: list[str] = []  # stack items written as their page
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
            rel, paged = put_page(folder, project, db, row, f"{split}/images")
            if paged:
                pages.append(row["name"])
            h, w = item_shape(project, db, row)
            doc["images"].append(
                {"id": row["id"], "file_name": Path(rel).name, "width": w, "height": h}
            )
            annotations = doc["annotations"]
            mask = read_item_mask(project, row) if row["mask"] else None
            regions = [] if mask is None else _regions(mask, instances, ignore)
            unpaired: list[dict[str, Any]] = []  # class regions a box may still frame
            pixels: dict[int, tuple[np.ndarray, int, int]] = {}  # their windows, by id()
            for value, crowd, window, top, left in regions:
                runs = close_rle(rle_of_window(window, top, left, h), h, w)
                annotation = {
                    "id": len(annotations) + 1,
                    "image_id": row["id"],
                    "category_id": value,
                    "bbox": _bbox(window, top, left),
                    "area": int(np.count_nonzero(window)),
                    "iscrowd": int(crowd),
                    "segmentation": {"size": [h, w], "counts": counts_to_rle_string(runs)},
                }
                if crowd:
                    counts["ignore"] += 1
                elif instances is not None:
                    # Instance masks: every value is one object of one class (coco.py).
                    annotation["instance_id"] = value
                    annotation["category_id"] = None  # the objects' class, by name below
                    by_name_later.append((annotation, instances))
                else:
                    annotation[REGION_KEY] = True
                    unpaired.append(annotation)
                    pixels[id(annotation)] = (window, top, left)
                if instances is None or crowd:
                    values.add(value)
                annotations.append(annotation)
            for label, x, y, bw, bh, _who in row["boxes"]:
                box = (label, x, y, bw, bh)
                others = [b[1:5] for b in row["boxes"] if b[0] == label and b[:5] != box]
                region, shared = _framed(unpaired, pixels, names, box, others)
                counts["shared"] += shared
                if region is not None:
                    # one object: the box as its bbox, the region as its mask (our import
                    # gives both back); what COCO files from other tools hold
                    unpaired.remove(region)
                    del region[REGION_KEY]
                    region["bbox"] = [x, y, bw, bh]
                    counts["paired"] += 1
                    continue
                annotation = {
                    "id": len(annotations) + 1,
                    "image_id": row["id"],
                    "category_id": None,
                    "bbox": [x, y, bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                    "segmentation": [],  # a box, no mask (as Roboflow and datumaro write one)
                    BOX_KEY: True,
                }
                annotations.append(annotation)
                by_name_later.append((annotation, label))
                counts["boxes"] += 1
            counts["regions"] += len(unpaired)
            if n % 100 == 0:
                yield Progress(n, len(rows), "writing images and annotations")
        listed, order_note = _categories(db, values, names, ignore, by_name_later, docs)
        for split, doc in sorted(docs.items()):
            doc["categories"] = listed
            folder.write_json(f"{split}/annotations.json", doc, indent=None)
        notes = order_note + pages_note(pages)
        if counts["paired"]:
            notes.append(
                f"{counts['paired']} box(es) written as one object with the class-mask region "
                "they frame (same class, the region inside the box, overlap of at least half, "
                "and no other box of the class reaching the region): the box as bbox, the "
                "region as exact RLE"
            )
        if counts["shared"]:
            notes.append(
                f"{counts['shared']} box(es) not paired with the class-mask region they "
                "frame, as another box of the class reaches into it too (touching objects of "
                "one class are one region, which cannot say whose pixels are whose): the "
                "boxes written without a mask, the region on its own"
            )
        if counts["boxes"]:
            notes.append(
                f"{counts['boxes']} box(es) without a mask of their own written with an empty "
                "segmentation ([]): COCO tools read no mask for them (pycocotools' annToMask "
                "and COCOeval(iouType='segm') refuse such an annotation: evaluate boxes with "
                "iouType='bbox'); \"qbi_box_only\" marks them for our import"
            )
        if counts["regions"]:
            notes.append(
                f"{counts['regions']} class-mask region(s) written as ordinary (iscrowd 0) "
                "annotations, one per 8-connected region of a class, with exact RLE; "
                "touching objects of one class are one region"
            )
        if counts["ignore"]:
            notes.append(
                f"{counts['ignore']} ignore region(s) written as crowd (iscrowd 1) annotations "
                f"of category {IGNORE_NAME!r}, which COCO tools skip"
            )
        # COCO annotates objects, not images: an image's class label has no place in it
        labelled = sum(1 for r in rows if r["label"] is not None)
        if labelled:
            notes.append(
                Named(
                    f"{labelled} item class label(s) are not in the COCO files (COCO has no "
                    "per-image class; only boxes and masks become annotations): export "
                    "'{folders}' or '{sheet}' to keep them",
                    folders="imagefolder",
                    sheet="sheet",
                )
            )
        return notes + not_kept(rows, "coco", {"labels", "splits", "masks", "boxes"})

    return run_export(project, "coco", out, write, filters=filters, datapackage=datapackage)


#: The extra key of a category giving the class's value in the project's masks (category ids
#: follow the project's class order, mask values need not).
VALUE_KEY = "qbi_mask_value"


def _categories(
    db: Any,
    values: set[int],
    names: dict[int, str],
    ignore: int | None,
    later: list[tuple[dict[str, Any], str]],
    docs: dict[str, dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """The categories of every split's file, and a note. Annotations of mask regions hold
    their mask value as ``category_id`` so far, those in ``later`` their class name. Without a
    class order the ids are the mask values, and classes without one follow; with the
    project's order (``classes --order``) the ids are 1..n in that order (classes it lacks
    after it), and each category names its mask value (:data:`VALUE_KEY`)."""
    value_names = {v: names.get(v, str(v)) for v in sorted(values)}
    if ignore is not None and ignore in value_names:
        value_names[ignore] = IGNORE_NAME
    order = [n for n in stored_list(db) if n != IGNORE_NAME]
    categories = dict(value_names)  # id -> name (without an order, ids are mask values)
    mask_values: dict[str, int] = {}
    if order:
        ordered = [*order, *value_names.values(), *(name for _a, name in later)]
        ids = {name: i for i, name in enumerate(dict.fromkeys(ordered), start=1)}
        mask_values = {name: v for v, name in value_names.items()}
        spare = max(value_names, default=0) + 1  # values for classes no mask holds
        for name in ids:
            if name not in mask_values:
                mask_values[name], spare = spare, spare + 1
        for doc in docs.values():
            for annotation in doc["annotations"]:
                if annotation["category_id"] is not None:
                    annotation["category_id"] = ids[value_names[annotation["category_id"]]]
        categories = {cid: name for name, cid in ids.items()}
    by_name = {name: cid for cid, name in categories.items()}
    for annotation, name in later:
        if name not in by_name:
            by_name[name] = max(categories, default=0) + 1
            categories[by_name[name]] = name
        annotation["category_id"] = by_name[name]
    listed = []
    for cid, name in sorted(categories.items()):
        category = {"id": cid, "name": name, "supercategory": ""}
        if mask_values:
            category[VALUE_KEY] = mask_values[name]
        listed.append(category)
    if not order:
        return listed, []
    shown = ", ".join(f"{c['id']} = {c['name']!r}" for c in listed[:10])
    return listed, [
        f"category ids follow the project's class order ({shown}"
        + (", ..." if len(listed) > 10 else "")
        + f"); each category's {VALUE_KEY!r} is the class's value in the project's masks"
    ]


def _regions(mask: np.ndarray, instances: str | None, ignore: int | None):
    """(value, is crowd, pixels, top, left) of each region to export, its pixels a bool window
    of the mask from (top, left): every object of an instance mask, every 8-connected region
    of a class, the whole ignore region as one crowd."""
    mask = np.asarray(mask)
    small = mask.dtype.kind in "ui" and int(mask.max(initial=0)) < 1 << 20
    boxes = ndimage.find_objects(mask) if small else None
    present = np.unique(mask) if boxes is None else [i + 1 for i, b in enumerate(boxes) if b]
    for value in present:
        value = int(value)
        if value == 0:
            continue
        window = boxes[value - 1] if boxes is not None else (slice(None), slice(None))
        top, left = window[0].start or 0, window[1].start or 0
        region = mask[window] == value
        if instances is not None or value == ignore:
            yield value, value == ignore, region, top, left
            continue
        labels, count = ndimage.label(region, structure=_EIGHT)
        if count == 1:
            yield value, False, region, top, left
            continue
        for k, part in enumerate(ndimage.find_objects(labels), start=1):
            piece = labels[part] == k
            yield value, False, piece, top + part[0].start, left + part[1].start


def _framed(
    regions: list[dict[str, Any]],
    pixels: dict[int, tuple[np.ndarray, int, int]],
    names: dict[int, str],
    box: tuple,
    others: list[tuple],
) -> tuple[dict[str, Any] | None, bool]:
    """The region annotation of the box's class that the box frames, and whether a region was
    left unpaired because another box shares it. A box frames a region when the region lies
    inside the box (1 px of rounding allowed), their extents overlap best with an IoU of at
    least 0.5, and none of the region's pixels lies in one of ``others`` (the item's other boxes
    of the class): the box's object is then the region and nothing else. Two touching objects
    of one class are one region, which no box frames alone: the pixels of one would go to the
    other's box."""
    label, x, y, w, h = box
    best, best_iou = None, 0.5
    for region in regions:
        if names.get(region["category_id"], str(region["category_id"])) != label:
            continue
        rx, ry, rw, rh = region["bbox"]
        inside = rx >= x - 1 and ry >= y - 1 and rx + rw <= x + w + 1 and ry + rh <= y + h + 1
        iou = _iou((x, y, w, h), region["bbox"])
        if inside and iou >= best_iou:
            best, best_iou = region, iou
    if best is None:
        return None, False
    window, top, left = pixels[id(best)]
    for ox, oy, ow, oh in others:  # pixels of the window inside the other box
        r0, r1 = max(int(np.floor(oy)) - top, 0), int(np.ceil(oy + oh)) - top
        c0, c1 = max(int(np.floor(ox)) - left, 0), int(np.ceil(ox + ow)) - left
        if r1 > r0 and c1 > c0 and window[r0:r1, c0:c1].any():
            return None, True
    return best, False


def _iou(a: tuple | list, b: tuple | list) -> float:
    """Intersection over union of two [x, y, width, height] boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    union = a[2] * a[3] + b[2] * b[3] - w * h
    return w * h / union if union > 0 else 0.0


def _bbox(window: np.ndarray, top: int, left: int) -> list[int]:
    """COCO's [x, y, width, height] of the pixels set in a window at (top, left)."""
    rows = np.flatnonzero(window.any(axis=1))
    cols = np.flatnonzero(window.any(axis=0))
    return [
        left + int(cols[0]),
        top + int(rows[0]),
        int(cols[-1] - cols[0]) + 1,
        int(rows[-1] - rows[0]) + 1,
    ]
