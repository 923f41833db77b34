"""labelme shapes into a label mask, and a whole labelme import, side by side with labelme's own
way of drawing.

Drawing: one 2048 x 2048 image with 400 shapes (polygons of 40 vertices, circles, lines, line
strips, points; 5-60 px across, as cells or spots are). QBI: ``labelme_raster.Canvas`` (PIL on
one canvas, only each shape's box read back). Peer: labelme's ``shapes_to_label`` approach,
restated (a new full-size PIL image per shape, ``np.array`` of it, ``cls[mask] = value``; same
pixels, as tests/test_labelme_fidelity.py checks). Interleaved rounds, the ratio per round.

Import: 20 labelme files of that kind (PNG images beside them) into a new project, end to end
(read JSON, scan and hash images, draw, write masks and catalog).

Run: .venv/bin/python tests/benchmarks/bench_labelme.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sidebyside import SideBySide  # noqa: E402

from qbi_desktop.core.catalog import open_project  # noqa: E402
from qbi_desktop.core.formats import import_job  # noqa: E402
from qbi_desktop.core.formats.labelme_raster import Canvas  # noqa: E402
from qbi_desktop.core.jobs import run_job  # noqa: E402

SIZE = 2048
SHAPES = 400


def make_shapes(seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    shapes = []
    kinds = ["polygon", "polygon", "circle", "line", "linestrip", "point"]
    for n in range(SHAPES):
        kind = kinds[n % len(kinds)]
        cx, cy = rng.uniform(0, SIZE, 2)
        r = rng.uniform(5, 30)
        if kind == "polygon":
            t = np.sort(rng.uniform(0, 2 * math.pi, 40))
            radius = r * rng.uniform(0.6, 1.0, 40)
            pts = np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], 1)
        elif kind == "circle":
            pts = np.array([[cx, cy], [cx + r, cy]])
        elif kind == "line":
            pts = np.array([[cx, cy], [cx + r, cy + r / 2]])
        elif kind == "linestrip":
            pts = np.array([[cx, cy], [cx + r, cy], [cx + r, cy + r]])
        else:
            pts = np.array([[cx, cy]])
        shapes.append({"label": f"c{n % 5}", "shape_type": kind, "points": pts.tolist()})
    return shapes


def labelme_way(shapes: list[dict]) -> np.ndarray:
    """labelme's shapes_to_label: one full-size image per shape (restated, same drawing)."""
    cls = np.zeros((SIZE, SIZE), np.int32)
    for value, s in enumerate(shapes, 1):
        image = Image.fromarray(np.zeros((SIZE, SIZE), np.uint8))
        draw = ImageDraw.Draw(image)
        xy = [tuple(p) for p in s["points"]]
        kind = s["shape_type"]
        if kind == "circle":
            (cx, cy), (px, py) = xy
            d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
            draw.ellipse(((cx - d, cy - d), (cx + d, cy + d)), outline=1, fill=1)
        elif kind in ("line", "linestrip"):
            draw.line(xy=xy, fill=1, width=10)
        elif kind == "point":
            (cx, cy), r = xy[0], 5
            draw.ellipse(((cx - r, cy - r), (cx + r, cy + r)), outline=1, fill=1)
        else:
            draw.polygon(xy=xy, outline=1, fill=1)
        cls[np.array(image, dtype=bool)] = value
    return cls


def qbi_way(shapes: list[dict]) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.uint16)
    canvas = Canvas(SIZE, SIZE)
    for value, s in enumerate(shapes, 1):
        canvas.paint(mask, s["shape_type"], np.asarray(s["points"], float), value)
    return mask


def make_files(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(folder / f"im{i}.png")
        doc = {
            "version": "5.5.0",
            "flags": {},
            "shapes": make_shapes(i),
            "imagePath": f"im{i}.png",
            "imageData": None,
            "imageHeight": SIZE,
            "imageWidth": SIZE,
        }
        (folder / f"im{i}.json").write_text(json.dumps(doc))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--files", type=int, default=20)
    args = parser.parse_args()
    shapes = make_shapes(0)
    same = np.array_equal(labelme_way(shapes), qbi_way(shapes).astype(np.int32))
    print(f"same pixels as labelme's way: {same}")
    bench = SideBySide(f"{SHAPES} labelme shapes on a {SIZE}x{SIZE} image")
    bench.run(
        {
            "labelme shapes_to_label way": lambda: labelme_way(shapes),
            "QBI Canvas": lambda: qbi_way(shapes),
        },
        args.rounds,
    )
    bench.summary()
    bench.ratio("labelme shapes_to_label way", "QBI Canvas", "labelme way / QBI")

    tmp = Path(tempfile.mkdtemp(prefix="bench_labelme."))
    try:
        src = make_files(tmp / "src", args.files)
        runs = iter(range(10**6))

        def import_once() -> None:
            project = open_project(tmp / f"p{next(runs)}", create=True)
            report = run_job(import_job(project, "labelme", [src]))
            assert report.added == args.files
            project.close()

        whole = SideBySide(f"labelme import: {args.files} files x {SHAPES} shapes, {SIZE}^2 PNGs")
        whole.run({"import into a new project": import_once}, args.rounds, warmup=0)
        whole.summary(unit="s", scale=1.0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
