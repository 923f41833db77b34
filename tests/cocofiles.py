"""Small COCO sources for the import tests: n random 16-bit TIFF images beside a coco.json that
gives each one the same polygon of class 'blob'."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile


def write_coco(
    folder: Path, n: int, *, shape: tuple[int, int], polygon: list[int], area: float, seed: int
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    height, width = shape
    xs, ys = polygon[0::2], polygon[1::2]
    bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(n):
        tifffile.imwrite(folder / f"img{i}.tif", rng.integers(0, 60000, shape, np.uint16))
        images.append({"id": i + 1, "file_name": f"img{i}.tif", "width": width, "height": height})
        annotations.append(
            {
                "id": i + 1,
                "image_id": i + 1,
                "category_id": 1,
                "iscrowd": 0,
                "segmentation": [list(polygon)],
                "area": area,
                "bbox": bbox,
            }
        )
    path = folder / "coco.json"
    categories = [{"id": 1, "name": "blob"}]
    document = {"images": images, "annotations": annotations, "categories": categories}
    path.write_text(json.dumps(document))
    return path
