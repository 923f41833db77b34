"""Full MNIST 1-NN (60 000 x 10 000, L2) through our core vs a plain scikit-learn script.

Run: ``.venv/bin/python tests/benchmarks/bench_baselines.py [--runs 3]``

Each measurement runs in its own fresh process (so peak RSS is that run's own), and the
variants are interleaved run by run, so a busy machine slows all of them alike. Timed: from the
arrays in memory to the predictions (loading the IDX files is not timed, for either side).

- ``sklearn-f32``: ``KNeighborsClassifier(1).fit(X, y).predict(Xt)`` on float32 pixels
  (its fastest input; the ratio is taken against this one);
- ``sklearn-u8``: the same on the uint8 arrays as loaded (what a naive script does);
- ``ours``: ``run_baseline(BaselineConfig(model="knn", k=1, train_score_max=0), mnist)``,
  test predictions only, as the peer does;
- ``ours+train``: the default run, which also scores 1000 training items for the side-by-side
  train score (what the app actually does).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
VARIANTS = ("sklearn-f32", "sklearn-u8", "ours", "ours+train")


def one(variant: str) -> dict:
    import numpy as np

    from qbi_desktop.core.datasets import mnist_dataset

    ds = mnist_dataset(MNIST, "all")
    images, labels, splits = ds.images(), ds.targets(), ds.splits()
    train, test = splits == "train", splits == "test"
    errors = None
    if variant.startswith("sklearn"):
        from sklearn.neighbors import KNeighborsClassifier

        X = images[train].reshape(int(train.sum()), -1)
        Xt = images[test].reshape(int(test.sum()), -1)
        if variant == "sklearn-f32":
            X, Xt = X.astype(np.float32), Xt.astype(np.float32)
        t0 = time.perf_counter()
        pred = KNeighborsClassifier(1).fit(X, labels[train]).predict(Xt)
        seconds = time.perf_counter() - t0
        errors = int(np.sum(pred != labels[test]))
    else:
        from qbi_desktop.core.baselines import BaselineConfig, run_baseline
        from qbi_desktop.core.jobs import run_job

        config = BaselineConfig(model="knn", k=1, train_score_max=0 if variant == "ours" else 1000)
        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick(_progress) -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        t0 = time.perf_counter()
        result = run_job(run_baseline(config, ds), on_progress=tick)
        seconds = time.perf_counter() - t0
        errors = len(result.misclassified)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"variant": variant, "seconds": seconds, "errors": errors, "peak_rss_mb": rss_mb}
    if not variant.startswith("sklearn"):
        out["max_progress_gap_s"] = max(gaps[2:]) if len(gaps) > 2 else None
        out["chunks"] = len(gaps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    if not MNIST.exists():
        sys.exit(f"MNIST not found at {MNIST}")
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for run in range(args.runs):
        for variant in VARIANTS:
            proc = subprocess.run(
                [sys.executable, __file__, "--one", variant],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            results[variant].append(row)
            print(
                f"run {run + 1} {variant:12s} {row['seconds']:6.2f} s  errors {row['errors']}  "
                f"peak RSS {row['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    med = {v: statistics.median(r["seconds"] for r in rows) for v, rows in results.items()}
    print(f"\nfull MNIST 1-NN, L2, medians of {args.runs} runs (each in a fresh process):")
    for v in VARIANTS:
        rss = max(r["peak_rss_mb"] for r in results[v])
        extra = ""
        if "max_progress_gap_s" in results[v][0]:
            gap = max(r["max_progress_gap_s"] for r in results[v])
            extra = f", longest gap between progress reports {gap:.2f} s"
        print(
            f"  {v:12s} {med[v]:6.2f} s   peak RSS {rss:5.0f} MB   test errors "
            f"{results[v][0]['errors']}{extra}"
        )
    print(f"\nratio ours / sklearn-f32 = {med['ours'] / med['sklearn-f32']:.2f}  (target <= 1.2)")
    print(f"ratio ours / sklearn-u8  = {med['ours'] / med['sklearn-u8']:.2f}")
    print(f"ratio ours+train / sklearn-f32 = {med['ours+train'] / med['sklearn-f32']:.2f}")


if __name__ == "__main__":
    main()
