"""Importing a large COCO file (hundreds of thousands of boxes, as COCO train2017's 860 000):
CPU time, wall time and peak resident memory (VmHWM) of our import into a new project, against
what a user's notebook does with the same file (``pycocotools.coco.COCO(path)``, then
``getAnnIds`` + ``loadAnns`` for every image), and against a plain ``json.load`` of it. Each run
is a fresh child process (its own peak RSS), the three interleaved run by run so that a change
in the machine's load hits all of them alike.

The file: N images (small PNGs) x M boxes each, fixed seed, every 25th annotation with a
polygon as well (painted into the image's mask).

Run: .venv/bin/python tests/benchmarks/bench_coco_import.py [repeat] [images x boxes ...]
     e.g. ... 3 200x400 800x400                      (prints medians, ranges and ratios)
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 256  # px, each image


def make_coco(folder: Path, images: int, per_image: int) -> Path:
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    pixels = rng.integers(0, 255, (SIDE, SIDE), dtype=np.uint8)
    records, annotations = [], []
    for i in range(1, images + 1):
        name = f"{i:06d}.png"
        pixels[0, :8] = np.frombuffer(i.to_bytes(8, "little"), np.uint8)  # distinct files
        Image.fromarray(pixels).save(folder / "images" / name, compress_level=1)
        records.append({"id": i, "file_name": name, "width": SIDE, "height": SIDE})
        xy = rng.uniform(0, SIDE - 20, (per_image, 2)).round(2)
        wh = rng.uniform(2, 20, (per_image, 2)).round(2)
        cats = rng.integers(1, 81, per_image)
        for k in range(per_image):
            x, y = float(xy[k, 0]), float(xy[k, 1])
            w, h = float(wh[k, 0]), float(wh[k, 1])
            ann = {
                "id": len(annotations) + 1,
                "image_id": i,
                "category_id": int(cats[k]),
                "bbox": [x, y, w, h],
                "area": round(w * h, 2),
                "iscrowd": 0,
                "segmentation": [],
            }
            if len(annotations) % 25 == 0:
                ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
            annotations.append(ann)
    doc = {
        "images": records,
        "annotations": annotations,
        "categories": [{"id": c, "name": f"class{c}"} for c in range(1, 81)],
    }
    path = folder / "instances.json"
    path.write_text(json.dumps(doc))
    return path


# -- what each child process does ----------------------------------------------------------------


def child(what: str, source: str, project: str) -> None:
    start, start_cpu = time.perf_counter(), time.process_time()
    if what == "ours":
        from qbi_desktop.core.catalog import open_project
        from qbi_desktop.core.formats import import_job
        from qbi_desktop.core.jobs import run_job

        with open_project(project, create=True) as p:
            report = run_job(import_job(p, "coco", [source]))
        count = report.added
    elif what == "pycocotools":
        import contextlib
        import io

        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
            coco = COCO(source)
        count = 0
        for image_id in coco.getImgIds():
            count += len(coco.loadAnns(coco.getAnnIds(imgIds=image_id)))
    else:
        with open(source, "rb") as f:
            count = len(json.load(f)["annotations"])
    rss = peak_rss_mib()
    out = {
        "cpu": time.process_time() - start_cpu,
        "wall": time.perf_counter() - start,
        "rss": rss,
        "count": count,
    }
    print(json.dumps(out))


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: that one keeps
    the parent's peak across the fork and exec (the parent built the whole file in memory)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB (Linux)


def run_child(what: str, source: Path, project: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", what, str(source), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def summary(values: list[float], unit: str, digits: int = 1) -> str:
    med = statistics.median(values)
    return f"{med:.{digits}f} {unit} ({min(values):.{digits}f}..{max(values):.{digits}f})"


def bench(images: int, per_image: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_coco_import_") as tmp:
        tmp = Path(tmp)
        source = make_coco(tmp / "coco", images, per_image)
        mb = source.stat().st_size / 1e6
        print(
            f"\n{images} images x {per_image} boxes = {images * per_image} annotations, "
            f"{mb:.1f} MB (load {load()})"
        )
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "pycocotools": [], "json": []}
        for n in range(repeat):
            for what in runs:  # interleaved: one of each, then the next round
                runs[what].append(run_child(what, source, tmp / f"p{n}"))
        for what, results in runs.items():
            print(
                f"  {what:12s} CPU {summary([r['cpu'] for r in results], 's', 2)}, "
                f"wall {summary([r['wall'] for r in results], 's', 2)}, "
                f"peak RSS {summary([r['rss'] for r in results], 'MB', 0)}"
            )
        for peer in ("pycocotools", "json"):
            cpu = [o["cpu"] / p["cpu"] for o, p in zip(runs["ours"], runs[peer], strict=True)]
            rss = [o["rss"] / p["rss"] for o, p in zip(runs["ours"], runs[peer], strict=True)]
            print(
                f"  ours / {peer}: CPU x{statistics.median(cpu):.2f} "
                f"({min(cpu):.2f}..{max(cpu):.2f}), peak RSS x{statistics.median(rss):.2f}"
            )
        print(f"  load at end {load()}")


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
        return
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    sizes = sys.argv[2:] or ["200x400", "800x400"]
    print(f"load average at start: {load()}")
    for size in sizes:
        images, per_image = (int(v) for v in size.split("x"))
        bench(images, per_image, repeat)


if __name__ == "__main__":
    main()
