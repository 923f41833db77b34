"""COCO export: ``out/<split>/images/`` + ``out/<split>/annotations.json``, read the way
pycocotools, torchvision's ``CocoDetection``, detectron2 and mmdetection read COCO.

- A box framing a region of its class in the item's class mask (same class, IoU of the box
  and the region's extent at least 0.5) is one object, as COCO files from other tools hold it:
  the box as ``bbox``, the region as ``segmentation`` (exact compressed RLE).
- Any other box is an ordinary annotation (``iscrowd`` 0) whose ``segmentation`` is the box's
  outline as a 4-corner polygon: COCO tools expect every annotation to have a region
  (``COCO.annToMask``, ``COCOeval(iouType='segm')``), and pycocotools rasterises an integer box
  outline to exactly the box's pixels. ``"qbi_box_only": true`` tells our import to give the
  box back without painting that outline into a mask.
- The other regions of a class mask: ordinary annotations, one per 8-connected region (two
  touching spots are one object), with their bounding box and exact compressed RLE, and
  ``"qbi_mask_region": true`` so that our import paints them without making boxes of them
  (other tools ignore the extra keys). The export report says so.
- The ignore region (``__ignore__``, VOC 255, see ignore.py) is what COCO calls a crowd: one
  ``iscrowd`` 1 annotation per image of category ``__ignore__``; COCO tools skip it in
  training and evaluation. Nothing else is a crowd.
- Instance masks (a project with ``mask_instances``): one ordinary annotation per object with
  ``instance_id`` (its mask value), as coco.py describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.formats.coco_rle import close_rle, counts_to_rle_string, rle_of_window
from qbi_desktop.core.formats.common import (
    ExportFolder,
    ExportReport,
    item_shape,
    mask_class_names,
    mask_instances,
    not_kept,
    put_image,
    read_item_mask,
    run_export,
    split_dir,
)
from qbi_desktop.core.formats.ignore import IGNORE_NAME, mask_ignore
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.jobs import Job, Progress

#: The extra key that marks an annotation as a region of a class mask (not an object with a
#: box of its own).
REGION_KEY = "qbi_mask_region"
#: The extra key that marks a box whose polygon is only its outline (no mask of its own).
BOX_KEY = "qbi_box_only"
#: 8-connectivity: pixels touching at a corner belong to one region
_EIGHT = np.ones((3, 3), dtype=bool)


def box_outline(x: float, y: float, w: float, h: float) -> list[float]:
    """A box as the polygon COCO tools rasterise to exactly its pixels (clockwise from the
    top-left corner)."""
    return [x, y, x + w, y, x + w, y + h, x, y + h]


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
        counts = {"regions": 0, "paired": 0, "ignore": 0}
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
            annotations = doc["annotations"]
            mask = read_item_mask(project, row) if row["mask"] else None
            regions = [] if mask is None else _regions(mask, instances, ignore)
            unpaired: list[dict[str, Any]] = []  # class regions a box may still frame
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
                    by_name_later.append((annotation, instances))
                else:
                    annotation[REGION_KEY] = True
                    unpaired.append(annotation)
                if instances is None or crowd:
                    values.add(value)
                annotations.append(annotation)
            for label, x, y, bw, bh, _who in row["boxes"]:
                region = _framed(unpaired, names, label, (x, y, bw, bh))
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
                    "segmentation": [box_outline(x, y, bw, bh)],
                    BOX_KEY: True,
                }
                annotations.append(annotation)
                by_name_later.append((annotation, label))
            counts["regions"] += len(unpaired)
            if n % 100 == 0:
                yield Progress(n, len(rows), "writing images and annotations")
        categories = {v: names.get(v, str(v)) for v in sorted(values)}
        if ignore is not None and ignore in categories:
            categories[ignore] = IGNORE_NAME
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
            folder.write_json(f"{split}/annotations.json", doc, indent=None)
        notes = []
        if counts["paired"]:
            notes.append(
                f"{counts['paired']} box(es) written as one object with the class-mask region "
                "they frame (same class, overlap of at least half): the box as bbox, the "
                "region as exact RLE"
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
    regions: list[dict[str, Any]], names: dict[int, str], label: str, box: tuple
) -> dict[str, Any] | None:
    """The region annotation of class ``label`` whose extent overlaps ``box`` best (IoU of at
    least 0.5), or None."""
    best, best_iou = None, 0.5
    for region in regions:
        if names.get(region["category_id"], str(region["category_id"])) != label:
            continue
        iou = _iou(box, region["bbox"])
        if iou >= best_iou:
            best, best_iou = region, iou
    return best


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
