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


DATA = Path(__file__).parent / "data" / "coco"


def with_blank_images(name: str, folder: Path) -> Path:
    """A copy of the real COCO file ``tests/data/coco/<name>`` in ``folder``, beside blank
    8-bit PNGs of the sizes it declares (the photos' pixels do not matter to the masks)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes((DATA / name).read_bytes())
    for image in json.loads(path.read_text())["images"]:
        blank = np.zeros((image["height"], image["width"]), np.uint8)
        target = folder / image["file_name"]  # may name a sub-folder (labelme2coco's JPEGImages/)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(blank).save(target, format="PNG")
    return path


def coco_detection_class():
    """torchvision's own ``CocoDetection``. ``import torchvision`` fails beside the CPU build
    of torch (its compiled operators were built for the CUDA one), but the dataset class is
    plain Python: its module is loaded under stub packages and ``sys.modules`` restored."""
    import importlib
    import importlib.util
    import sys
    import types

    try:
        return importlib.import_module("torchvision.datasets").CocoDetection
    except (ImportError, RuntimeError):
        pass
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    saved = {k: v for k, v in sys.modules.items() if k.startswith("torchvision")}
    root = list(spec.submodule_search_locations)[0]
    try:
        for name, where in (("torchvision", root), ("torchvision.datasets", f"{root}/datasets")):
            stub = types.ModuleType(name)
            stub.__path__ = [where]
            sys.modules[name] = stub
        return importlib.import_module("torchvision.datasets.coco").CocoDetection
    finally:
        for name in [k for k in sys.modules if k.startswith("torchvision")]:
            del sys.modules[name]
        sys.modules.update(saved)
