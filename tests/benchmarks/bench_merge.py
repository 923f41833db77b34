"""Disagreement review figures, printed as medians.

1. Merging three annotators' 2048x2048 masks (two classes) by each method of
   core.quality.merge: what a click on Merge costs before the mask is written.
2. Merging boxes: three annotators with 200 boxes each (most drawn by all, jittered).
3. A mask decision written and undone (set_item_mask, revert_mask) on a 2048x2048 item, and the
   item's versions read for the view (image, three masks, Dice/IoU of each pair).

Run: .venv/bin/python tests/benchmarks/bench_merge.py [--rounds 5] [--size 2048]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from qbi_desktop.core.catalog import NewItem, open_project  # noqa: E402
from qbi_desktop.core.quality.item_review import (  # noqa: E402
    item_versions,
    revert_mask,
    set_item_mask,
)
from qbi_desktop.core.quality.merge import MASK_METHODS, merge_boxes, merge_masks  # noqa: E402


def _median(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _masks(size: int, rng: np.random.Generator) -> list[np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    truth = np.zeros((size, size), np.uint8)
    for _ in range(40):
        cy, cx, r = rng.integers(0, size), rng.integers(0, size), rng.integers(10, size // 16)
        truth[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(1, 3)
    out = []
    for shift in (0, 3, -4):
        m = np.roll(truth, shift, axis=1)
        noise = rng.random((size, size)) < 0.002
        m[noise] = 0
        out.append(m)
    return out


def _boxes(rng: np.random.Generator, n: int = 200) -> dict[str, list]:
    base = rng.uniform(0, 2000, (n, 2))
    sizes = rng.uniform(10, 60, (n, 2))
    out = {}
    for person in ("Ana", "Ben", "Cleo"):
        keep = rng.random(n) < 0.9
        jitter = rng.normal(0, 2, (n, 4))
        out[person] = [
            ("cell", *(base[i] + jitter[i, :2]), *(sizes[i] + jitter[i, 2:]))
            for i in range(n)
            if keep[i]
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    masks = _masks(args.size, rng)
    for method in MASK_METHODS:
        t = _median(lambda m=method: merge_masks(masks, m), args.rounds)
        print(f"merge 3 masks {args.size}^2 by {method:<12} median {t * 1000:8.1f} ms")
    boxes = _boxes(rng)
    t = _median(lambda: merge_boxes(boxes), args.rounds)
    print(f"merge 3 x ~180 boxes                 median {t * 1000:8.1f} ms")

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "proj"
        with open_project(root, create=True) as project:
            with project.transaction() as tx:
                path = tx.store_image(
                    rng.integers(0, 65535, (args.size, args.size), dtype=np.uint16), "big"
                )
                (item,) = tx.add_items([NewItem(name="big.tif", hash="h", path=path)])
            for person, m in zip(("Ana", "Ben", "Cleo"), masks, strict=True):
                project.set_mask(item, m, person)
            merged = merge_masks(masks, "majority")

            def decide_and_undo():
                change = set_item_mask(project, item, merged, "consensus of Ana, Ben, Cleo", "")
                revert_mask(project, change, "Cleo")

            t = _median(decide_and_undo, args.rounds)
            print(f"mask decision written and undone     median {t * 1000:8.1f} ms")
            t = _median(lambda: item_versions(project, item, "mask"), args.rounds)
            print(f"item versions read (image, 3 masks)  median {t * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
