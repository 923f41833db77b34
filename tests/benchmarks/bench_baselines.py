"""Full MNIST 1-NN (60 000 x 10 000, L2) through our core vs a plain scikit-learn script.

Run: ``.venv/bin/python tests/benchmarks/bench_baselines.py [--runs 3] [--busy 2] [--variants ...]``

By default two busy-looping processes (``python -c "while True: pass"``) run during the
measurement, started and stopped by the benchmark (``--busy 0``: the machine as it is); the
load average is recorded, and the ratio is the median (and range) of per-round ratios. Each
measured run and each busy process has a session of its own, as separate programs on a desktop
do (Linux autogroup shares the CPU between sessions first).

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
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from sidebyside import SideBySide, busy, load_text  # noqa: E402  (this folder)

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
    parser.add_argument(
        "--busy",
        type=int,
        default=2,
        help="busy-looping processes kept running during the runs (0: as the machine is)",
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=["sklearn-f32", "ours"])
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    if not MNIST.exists():
        sys.exit(f"MNIST not found at {MNIST}")
    variants = list(args.variants)
    sbs = SideBySide(
        f"full MNIST 1-NN, L2, {args.runs} interleaved rounds (each run in a fresh process), "
        f"{args.busy} busy processes started by the benchmark"
    )
    results: dict[str, list[dict]] = {v: [] for v in variants}
    print(load_text(), flush=True)
    with busy(args.busy, own_sessions=True):
        for run in range(args.runs):
            before = os.getloadavg()[0]
            k = run % len(variants)
            for variant in variants[k:] + variants[:k]:  # alternate who goes first
                proc = subprocess.run(
                    [sys.executable, __file__, "--one", variant],
                    capture_output=True,
                    text=True,
                    check=True,
                    start_new_session=True,  # each program its own session, as on a desktop
                )
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                results[variant].append(row)
                sbs.record(variant, run, row["seconds"])
                extra = ""
                if "chunks" in row:
                    extra = (
                        f"  {row['chunks']} chunks, longest progress gap "
                        f"{row['max_progress_gap_s']:.2f} s"
                    )
                print(
                    f"run {run + 1} {variant:12s} {row['seconds']:6.2f} s  errors {row['errors']}"
                    f"  peak RSS {row['peak_rss_mb']:.0f} MB{extra}",
                    flush=True,
                )
            sbs.note_load(before)
    sbs.summary(unit="s", scale=1.0)
    for v in variants:
        rss = max(r["peak_rss_mb"] for r in results[v])
        print(f"  {v:12s} peak RSS {rss:5.0f} MB   test errors {results[v][0]['errors']}")
    if "ours" in variants:
        sbs.ratio(
            "ours", "sklearn-f32", "time ours / sklearn-f32", "<= 0.6 under two busy processes"
        )
        sbs.ratio("ours", "sklearn-u8", "time ours / sklearn-u8")
    if "ours+train" in variants:
        sbs.ratio("ours+train", "sklearn-f32", "time ours+train / sklearn-f32")


if __name__ == "__main__":
    main()
