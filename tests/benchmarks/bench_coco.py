"""COCO figures at the size of val2017: 5 000 images, ~36 000 annotations (polygons, with every
tenth object a compressed-RLE crowd region). Import into a new project (typed parsing of every
record, each image decoded once to refuse truncated files, masks painted) and export again.
Also the typed parse alone, to show what checking every field costs, and the polygon filler
against scikit-image's (the importers' old one) on a large and a many-vertex polygon.

Run: .venv/bin/python tests/benchmarks/bench_coco.py [repeat]   (prints medians)
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.formats.coco import counts_to_rle_string, rle_encode
from qbi_desktop.core.formats.coco_records import parse_coco
from qbi_desktop.core.jobs import run_job

IMAGES, PER_IMAGE, H, W = 5_000, 7, 48, 64


def make_coco(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    images, annotations = [], []
    (folder / "images").mkdir(parents=True)
    for i in range(1, IMAGES + 1):
        name = f"{i:012d}.png"
        Image.fromarray(rng.integers(0, 255, (H, W), dtype=np.uint8)).save(
            folder / "images" / name, compress_level=1
        )
        images.append({"id": i, "file_name": name, "width": W, "height": H})
        for k in range(PER_IMAGE + (i % 3)):  # ~7.2 objects per image, as in val2017
            x, y = float(rng.uniform(0, W - 12)), float(rng.uniform(0, H - 12))
            w, h = float(rng.uniform(4, 12)), float(rng.uniform(4, 12))
            ann = {
                "id": len(annotations) + 1,
                "image_id": i,
                "category_id": int(rng.integers(1, 81)),
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
            }
            if k == 0 and i % 10 == 0:
                region = np.zeros((H, W), bool)
                region[int(y) : int(y + h), int(x) : int(x + w)] = True
                ann["iscrowd"] = 1
                ann["segmentation"] = {
                    "size": [H, W],
                    "counts": counts_to_rle_string(rle_encode(region)),
                }
            else:  # a 16-point polygon inside the box
                t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
                px = x + w / 2 + np.cos(t) * w / 2
                py = y + h / 2 + np.sin(t) * h / 2
                ann["segmentation"] = [np.column_stack([px, py]).ravel().round(2).tolist()]
            annotations.append(ann)
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c, "name": f"class{c}"} for c in range(1, 81)],
    }
    path = folder / "instances_val.json"
    path.write_text(json.dumps(doc))
    return path


def median(fn, repeat: int) -> float:
    times = []
    for n in range(repeat):
        start = time.perf_counter()
        fn(n)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def polygons(repeat: int) -> None:
    from skimage.draw import polygon

    from qbi_desktop.core.formats.raster import fill_polygon

    theta = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    cases = {
        "square 1490x1490 px in a 2000^2 image": (
            np.array([10, 10, 1500, 1500.0]),
            np.array([10, 1500, 1500, 10.0]),
            (2000, 2000),
        ),
        "2000-vertex outline in a 1000^2 image": (
            500 + 450 * np.sin(theta) * (1 + 0.3 * np.sin(37 * theta)),
            500 + 450 * np.cos(theta),
            (1000, 1000),
        ),
    }
    for name, (r, c, shape) in cases.items():
        mask = np.zeros(shape, np.uint8)
        ours = median(lambda n, m=mask, r=r, c=c: fill_polygon(m, r, c, 1), repeat)
        theirs = median(lambda n, r=r, c=c, s=shape: polygon(r, c, shape=s), 1)
        print(f"polygon fill, {name}: median {ours:.2f} s (skimage.draw.polygon {theirs:.1f} s)")


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    polygons(repeat)
    with tempfile.TemporaryDirectory(prefix="bench_coco_") as tmp:
        tmp = Path(tmp)
        source = make_coco(tmp / "coco")
        data = json.loads(source.read_text())
        print(
            f"COCO file: {len(data['images'])} images, {len(data['annotations'])} annotations, "
            f"{source.stat().st_size / 1e6:.1f} MB"
        )
        parse = median(lambda n: parse_coco(data), repeat)
        print(f"typed parse of every record (parse_coco): median {parse:.2f} s")

        def do_import(n: int) -> None:
            with open_project(tmp / f"p{n}", create=True) as p:
                report = run_job(import_job(p, "coco", [source]))
                assert report.added == IMAGES, report

        imported = median(do_import, repeat)
        print(f"import into a new project: median {imported:.1f} s (issue 12 asks <= 30 s)")

        def do_export(n: int) -> None:
            with open_project(tmp / "p0") as p:
                run_job(export_job(p, "coco", tmp / f"out{n}"))

        exported = median(do_export, repeat)
        print(f"export of that project: median {exported:.1f} s (issue 12 asks <= 30 s)")


if __name__ == "__main__":
    main()
