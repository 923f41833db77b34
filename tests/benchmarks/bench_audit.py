"""Audit, leak and labelling-queue figures on MNIST (../shared/data/mnist), printed as medians.

1. Labels: MNIST's test set (10 000 digits) with 5 % of the labels flipped at random, imported
   into a project; the whole audit (features + cross-validated kNN + duplicates + outliers) is
   timed from the project folder, first without and then with the feature cache. Figures: the
   share of flipped items among the top 500 `label` rows and of the flipped items in them.
2. Leaks: 10 000 training digits (split train) + the test set (split test) + 50 slightly noised
   copies of training digits put in the test split: recall of the planted copies among `leak`
   rows and the number of other leaks.
3. Simulated labeller on the test set, in queue order and in random order: key presses per
   digit (1 to accept a right suggestion, 2 to correct), suggestion accuracy on the last 100
   labels after 100 / 1 000 / 5 000 labels, the model's accuracy on the rest, core time per item.

Run: .venv/bin/python tests/benchmarks/bench_audit.py [--mnist DIR] [--rounds 3] [--only a,l,s]
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

from qbi_desktop.core.catalog import open_project  # noqa: E402
from qbi_desktop.core.formats import import_job  # noqa: E402
from qbi_desktop.core.idx import read_idx  # noqa: E402
from qbi_desktop.core.jobs import run_job  # noqa: E402
from qbi_desktop.core.quality.audit import audit_job  # noqa: E402
from qbi_desktop.core.quality.features import project_items_job  # noqa: E402
from qbi_desktop.core.quality.suggest import simulate_labeller  # noqa: E402


def _mnist(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(folder / f"{part}-images-idx3-ubyte.gz")
    y = read_idx(folder / f"{part}-labels-idx1-ubyte.gz").astype(np.int64)
    return x, y


def _project(tmp: Path, name: str, **arrays: np.ndarray):
    npz = tmp / f"{name}.npz"
    np.savez(npz, **arrays)
    project = open_project(tmp / name, create=True)
    run_job(import_job(project, "npz", [npz]))
    return project


def _audit(project):
    t = time.perf_counter()
    items = run_job(project_items_job(project))
    report = run_job(audit_job(items))
    return items, report, time.perf_counter() - t


def bench_labels(tmp: Path, x: np.ndarray, y: np.ndarray, rounds: int) -> None:
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(y), len(y) // 20, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, 10, len(flipped))) % 10
    project = _project(tmp, "labels", x_test=x, y_test=noisy)
    times, precision, recall = [], [], []
    for _ in range(rounds):
        items, report, seconds = _audit(project)
        times.append(seconds)
        planted = {items.names[i] for i in flipped}
        top = [i.item for i in report.sorted_issues() if i.kind == "label"][:500]
        hits = len(planted & set(top))
        precision.append(hits / max(1, len(top)))
        recall.append(hits / len(planted))
    project.close()
    print("1. audit of MNIST test (10 000) with 5 % flipped labels")
    print(f"   whole audit, first (no feature cache): {times[0]:.1f} s")
    if rounds > 1:
        print(
            f"   whole audit, cached features, median of {rounds - 1}: "
            f"{statistics.median(times[1:]):.1f} s"
        )
    print(f"   top 500 label rows that are flipped: {100 * statistics.median(precision):.1f} %")
    print(f"   flipped items within the top 500: {100 * statistics.median(recall):.1f} %")
    print(
        f"   kNN cross-validated accuracy (on the noisy labels): "
        f"{report.models[0]['cv_accuracy']:.4f}"
    )


def bench_leaks(tmp: Path, folder: Path, x_test: np.ndarray, y_test: np.ndarray) -> None:
    x_train, y_train = _mnist(folder, "train")
    x_train, y_train = x_train[:10000], y_train[:10000]
    rng = np.random.default_rng(1)
    source = rng.choice(len(x_train), 50, replace=False)
    noise = rng.normal(0, 8, x_train[source].shape)  # sigma = 8 grey levels of 255
    copies = np.clip(x_train[source] + noise, 0, 255).astype(np.uint8)
    project = _project(
        tmp,
        "leaks",
        x_train=x_train,
        y_train=y_train,
        x_test=np.concatenate([x_test, copies]),
        y_test=np.concatenate([y_test, y_train[source]]),
    )
    items, report, seconds = _audit(project)
    project.close()
    planted = set(items.names[len(x_train) + len(x_test) :])
    leaks = [i for i in report.issues if i.kind == "leak"]
    found = {i.item for i in leaks} | {i.related_item for i in leaks}
    false = [i for i in leaks if i.item not in planted and i.related_item not in planted]
    print("2. leaks: 10 000 train + 10 000 test + 50 noised train copies in test")
    print(
        f"   planted copies reported as leak: {len(planted & found)}/50 "
        f"(recall {len(planted & found) / 50:.2f})"
    )
    print(f"   other leaks reported: {len(false)}; audit of 20 050 items: {seconds:.1f} s")


def bench_labeller(x: np.ndarray, y: np.ndarray) -> None:
    X = x.reshape(len(x), -1).astype(np.float32) / 255
    print("3. simulated labeller on MNIST test (10 000)")
    for order in ("queue", "random"):
        t = time.perf_counter()
        r = simulate_labeller(X, y, 10, order=order, checkpoints=(100, 1000, 5000))
        per_item = 1000 * (time.perf_counter() - t) / r.labelled
        recent = ", ".join(f"{k}: {100 * v:.1f} %" for k, v in r.recent_accuracy.items())
        rest = ", ".join(f"{k}: {100 * v:.1f} %" for k, v in r.remaining_accuracy.items())
        print(
            f"   {order:6s}: {r.keys_per_item:.3f} keys per digit; suggestion accuracy on the "
            f"last 100 labels after {recent}"
        )
        print(
            f"           model accuracy on the items still unlabelled after {rest}; "
            f"core time {per_item:.2f} ms per item (refits included)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="a,l,s", help="a = audit, l = leaks, s = simulated labeller")
    args = ap.parse_args()
    folder = Path(args.mnist)
    x, y = _mnist(folder, "t10k")
    parts = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="bench_audit_") as name:
        tmp = Path(name)
        if "a" in parts:
            bench_labels(tmp, x, y, args.rounds)
        if "l" in parts:
            bench_leaks(tmp, folder, x, y)
    if "s" in parts:
        bench_labeller(x, y)


if __name__ == "__main__":
    main()
