"""What the round-trip tests of the dataset conventions (test_formats.py, test_formats_arrays.py)
share: small images and an image folder, a two-image COCO file, and what a round trip must
keep."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from qbi_desktop.core.catalog import open_project


def save_image(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def image_of(seed, shape=(20, 24)):
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


def imagefolder(root, per_class=3):
    for c, label in enumerate(["cat", "dog"]):
        for k in range(per_class):
            split = "train" if k else "test"
            save_image(root / split / label / f"{label}{k}.png", image_of(10 * c + k))
    return root


def state_of(project):
    """What a round trip must preserve, keyed by item name."""
    out = {}
    for row in project.query(limit=None):
        mask = project.mask(row["id"])
        out[row["name"]] = (
            row["label"],
            row["split"],
            row["targets"],
            None if mask is None else mask.tolist(),
            [(b.label, b.x, b.y, b.w, b.h) for b in project.boxes(row["id"])],
            project.image(row["id"]).tolist(),
        )
    return out


def new_project(tmp_path, name="p"):
    return open_project(tmp_path / name, create=True)


def coco_source(tmp_path, extra_annotations=()):
    src = tmp_path / "coco"
    save_image(src / "a.png", image_of(1, (30, 40)))
    save_image(src / "b.png", image_of(2, (30, 40)))
    doc = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.png", "width": 40, "height": 30},
        ],
        "categories": [{"id": 1, "name": "spot"}, {"id": 2, "name": "crack"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [2, 3, 10, 5],
                "iscrowd": 0,
                "segmentation": [[2, 3, 12, 3, 12, 8, 2, 8]],
            },
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 40, 30], "iscrowd": 0},
            *extra_annotations,
        ],
    }
    (src / "train").mkdir()
    path = src / "instances.json"
    path.write_text(json.dumps(doc))
    return path
