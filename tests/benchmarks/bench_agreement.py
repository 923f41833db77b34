"""Agreement figures, printed as medians.

1. Report: a project of 10 000 items, each labelled (3 classes), measured (one target) and boxed
   (1-4 boxes) by three annotators with realistic disagreement, plus 200 items with 256x256 spot
   masks by all three. Times the whole agreement report (labels, targets, boxes, masks) from the
   project folder; the brief's bound is 10 s.
2. STAPLE on three 2048x2048 masks (bound 2 s), against SimpleITK's STAPLEImageFilter when
   installed (ratio, and the largest difference in sensitivities).
3. Consensus written for the 10 000 items (majority vote, mean) and the 200 masks (STAPLE).

Run: .venv/bin/python tests/benchmarks/bench_agreement.py [--rounds 3] [--items 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from qbi_desktop.core.catalog import NewItem, open_project, opinions  # noqa: E402
from qbi_desktop.core.catalog.images import tiff_bytes  # noqa: E402
from qbi_desktop.core.catalog.project import now  # noqa: E402
from qbi_desktop.core.quality.agreement_report import agreement  # noqa: E402
from qbi_desktop.core.quality.consensus import build_consensus  # noqa: E402
from qbi_desktop.core.quality.staple import staple  # noqa: E402

PEOPLE = ("Ana", "Ben", "Cleo")


def _median(fn, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def build(folder: Path, n: int, n_masks: int) -> None:
    rng = np.random.default_rng(0)
    project = open_project(folder, create=True)
    project.set_metadata(mask_classes={"1": "spot"})
    with project.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(name=f"img{i:05d}.tif", hash=f"h{i}", path=folder / f"img{i:05d}.tif")
                for i in range(n)
            ]
        )
    truth = rng.choice(["a", "b", "c"], size=n)
    depth = rng.uniform(0, 50, n)
    stamp = now()
    with project.transaction() as tx:
        for k, person in enumerate(PEOPLE):
            care = (0.95, 0.9, 0.7)[k]
            labels = np.where(rng.random(n) < care, truth, rng.choice(["a", "b", "c"], n))
            values = depth + rng.normal(k * 0.5, 1 + k, n)
            for item, label, value in zip(ids, labels, values, strict=True):
                opinions.record(tx.db, [item], person, "label", str(label), stamp)
                opinions.record(tx.db, [item], person, "target", float(value), stamp, "depth")
                boxes = [
                    ["cell", float(x) + rng.normal(0, 2), 10.0, 20.0, 20.0]
                    for x in range(0, 30 * int(1 + item % 4), 30)
                ]
                opinions.record(tx.db, [item], person, "boxes", boxes, stamp)
    yy, xx = np.mgrid[:256, :256]
    for item in ids[:n_masks]:
        centres = rng.integers(10, 246, size=(12, 2))
        base = np.zeros((256, 256), bool)
        for cy, cx in centres:
            base |= (yy - cy) ** 2 + (xx - cx) ** 2 < 16
        with project.transaction() as tx:
            for k, person in enumerate(PEOPLE):
                drawn = base.copy()
                drawn[rng.random(drawn.shape) < 0.002 * (k + 1)] = True
                data = tiff_bytes(drawn.astype(np.uint8), compression="zlib")
                opinions.record_mask(tx, item, person, data, stamp)
    project.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--masks", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-agreement-") as tmp:
        folder = Path(tmp) / "p"
        t = time.perf_counter()
        build(folder, args.items, args.masks)
        print(f"setup: {args.items} items x 3 annotators in {time.perf_counter() - t:.1f} s")
        project = open_project(folder)
        seconds, report = _median(lambda: agreement(project), args.rounds)
        label = report.sections["label"]
        print(
            f"1. report of {args.items} items x 3 annotators (labels, target, boxes, "
            f"{args.masks} masks): median {seconds:.2f} s (bound 10 s); Fleiss' kappa "
            f"{label['fleiss_kappa']:.3f}, {len(report.items)} disagreeing items"
        )
        seconds, result = _median(lambda: build_consensus(project), 1)
        print(
            f"3. consensus: {result.labels_written} labels ({len(result.ties)} ties), "
            f"{result.targets_written} targets, {result.masks_written} STAPLE masks in "
            f"{seconds:.2f} s"
        )
        project.close()
    rng = np.random.default_rng(1)
    truth = rng.random((2048, 2048)) < 0.1
    masks = [
        (np.where(truth, rng.random(truth.shape) < s, rng.random(truth.shape) > p)).astype(np.uint8)
        for s, p in ((0.95, 0.99), (0.85, 0.995), (0.7, 0.97))
    ]
    seconds, ours = _median(lambda: staple(masks), args.rounds)
    line = f"2. STAPLE on three 2048x2048 masks: median {seconds:.3f} s (bound 2 s)"
    try:
        import SimpleITK as sitk
    except ImportError:
        print(line + "; SimpleITK not installed (no side-by-side)")
        return
    images = [sitk.GetImageFromArray(m) for m in masks]
    reference = sitk.STAPLEImageFilter()
    ref_seconds, _ = _median(lambda: reference.Execute(images), args.rounds)
    diff = np.abs(ours.sensitivity - reference.GetSensitivity()).max()
    print(
        f"{line}; SimpleITK {ref_seconds:.3f} s (ratio {ref_seconds / seconds:.1f}x faster "
        f"here), largest sensitivity difference {diff:.2e}"
    )


if __name__ == "__main__":
    main()
