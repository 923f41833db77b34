"""COCO figures at the size of val2017: 5 000 images, ~36 000 annotations (polygons, every
tenth a two-part one, and in every tenth image a compressed-RLE crowd region). Import into a
new project (typed parsing of every record, each image decoded once to refuse truncated files,
polygons rasterised as pycocotools does, one mask file per image) and export again (issue 12
asks <= 30 s for each). Also the typed parse alone, our polygon rasteriser against pycocotools'
own (``frPyObjects`` + ``decode``, the reference it matches pixel for pixel) on the file's
polygons and on a large and a many-vertex polygon.

Run: .venv/bin/python tests/benchmarks/bench_coco.py [repeat]   (prints median, min, max)
"""

from __future__ import annotations

import json
import os
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

IMAGES, PER_IMAGE, H, W = 5_000, 7, 48, 64  # 7.2 objects per image: 36 000, as in val2017


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
        for k in range(PER_IMAGE + (i % 5 == 0)):
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
            else:  # a 16-point polygon inside the box (every tenth in two parts)
                t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
                px = x + w / 2 + np.cos(t) * w / 2
                py = y + h / 2 + np.sin(t) * h / 2
                ann["segmentation"] = [np.column_stack([px, py]).ravel().round(2).tolist()]
                if len(annotations) % 10 == 0:
                    ann["segmentation"].append([x, y, x + 3, y, x + 3, y + 2, x, y + 2])
            annotations.append(ann)
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c, "name": f"class{c}"} for c in range(1, 81)],
    }
    path = folder / "instances_val.json"
    path.write_text(json.dumps(doc))
    return path


def timed(fn, repeat: int, cpu: list[float] | None = None) -> list[float]:
    """Wall-clock seconds of each run; with ``cpu``, also this process's CPU seconds (user +
    system), which a machine shared with other jobs inflates far less than the wall clock."""
    times = []
    for n in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(n)
        times.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(time.process_time() - start_cpu)
    return times


def median(fn, repeat: int) -> float:
    return statistics.median(timed(fn, repeat))


def spread(times: list[float], cpu: list[float]) -> str:
    return (
        f"median {statistics.median(times):.1f} s (min {min(times):.1f}, max {max(times):.1f}, "
        f"{len(times)} runs; CPU time median {statistics.median(cpu):.1f} s)"
    )


def against_pycocotools(data: dict, repeat: int) -> None:
    """Our rasteriser against pycocotools' on every polygon of the file, image by image."""
    from qbi_desktop.core.formats.raster import coco_polygon_runs, paint_runs

    by_image: dict[int, list[list[float]]] = {}
    for ann in data["annotations"]:
        if isinstance(ann.get("segmentation"), list):
            by_image.setdefault(ann["image_id"], []).extend(ann["segmentation"])

    def ours(n: int) -> None:
        mask = np.zeros((H, W), np.uint8)
        for polygons in by_image.values():
            for runs in coco_polygon_runs([np.asarray(p) for p in polygons], H, W):
                paint_runs(mask, runs, 1)

    line = f"rasterise the file's {sum(map(len, by_image.values()))} polygons: ours "
    mine = median(ours, repeat)
    try:
        from pycocotools import mask as mask_api
    except ImportError:
        print(line + f"median {mine:.2f} s (pycocotools not installed)")
        return

    def theirs(n: int) -> None:
        for polygons in by_image.values():
            for polygon in polygons:
                mask_api.decode(mask_api.frPyObjects([polygon], H, W))

    reference = median(theirs, repeat)
    print(line + f"median {mine:.2f} s, pycocotools {reference:.2f} s ({mine / reference:.1f}x)")


def polygons(repeat: int) -> None:
    """Our rasteriser against pycocotools' on a large and on a many-vertex polygon."""
    from qbi_desktop.core.formats.raster import fill_coco_polygon

    try:
        from pycocotools import mask as mask_api
    except ImportError:
        mask_api = None
    theta = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    outline = np.column_stack(
        [500 + 450 * np.cos(theta), 500 + 450 * np.sin(theta) * (1 + 0.3 * np.sin(37 * theta))]
    )
    cases = {
        "square 1490x1490 px in a 2000^2 image": (
            np.array([10, 10, 1500, 10, 1500, 1500, 10, 1500.0]),
            (2000, 2000),
        ),
        "2000-vertex outline in a 1000^2 image": (outline.ravel(), (1000, 1000)),
    }
    for name, (xy, shape) in cases.items():
        mask = np.zeros(shape, np.uint8)
        ours = median(lambda n, m=mask, xy=xy: fill_coco_polygon(m, xy, 1), repeat)
        line = f"polygon fill, {name}: median {ours:.3f} s"
        if mask_api is not None:
            theirs = median(
                lambda n, xy=xy, s=shape: mask_api.decode(mask_api.frPyObjects([xy.tolist()], *s)),
                repeat,
            )
            line += f" (pycocotools {theirs:.3f} s, {ours / theirs:.1f}x)"
        print(line)


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
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
        against_pycocotools(data, repeat)

        def do_import(n: int) -> None:
            with open_project(tmp / f"p{n}", create=True) as p:
                report = run_job(import_job(p, "coco", [source]))
                assert report.added == IMAGES, report

        cpu: list[float] = []
        imported = timed(do_import, repeat, cpu)
        print(f"import into a new project: {spread(imported, cpu)} (issue 12 asks <= 30 s)")

        def do_export(n: int) -> None:
            with open_project(tmp / "p0") as p:
                run_job(export_job(p, "coco", tmp / f"out{n}"))

        cpu = []
        exported = timed(do_export, repeat, cpu)
        print(f"export of that project: {spread(exported, cpu)} (issue 12 asks <= 30 s)")
        print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
