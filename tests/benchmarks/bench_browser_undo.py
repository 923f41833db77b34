"""Browser undo on a 70 000-item project (MNIST-sized): what one Ctrl+Z costs in the catalog.

Prints medians (ms) of: a label key on one item, its undo; a re-split of all items (planning
and writing with its snapshot), its undo (70 000 assignments back in one transaction), and
restore-previous-split. Run: .venv/bin/python tests/benchmarks/bench_browser_undo.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from qbi_desktop.core.catalog import open_project, splits
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.idx import write_idx
from qbi_desktop.core.jobs import run_job


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mnist"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for prefix, n in (("train", 60000), ("t10k", 10000)):
            images = rng.integers(0, 255, (n, 8, 8), np.uint8)
            write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
            write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
        t = time.perf_counter()
        project = open_project(Path(tmp) / "proj", create=True)
        run_job(import_job(project, "mnist", [folder]))
        print(f"import 70 000 items: {(time.perf_counter() - t):.1f} s")

        label_ms, undo_ms = [], []
        for k in range(21):
            t = time.perf_counter()
            change = project.set_label([12345 + k], "7", "bench")
            label_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            project.revert(change, "bench")
            undo_ms.append((time.perf_counter() - t) * 1000)
        print(f"label one item (key 0-9): {statistics.median(label_ms):.2f} ms (median of 21)")
        print(f"undo it (Ctrl+Z, GUI thread): {statistics.median(undo_ms):.2f} ms")

        plan_ms, write_ms, undo_ms, restore_ms = [], [], [], []
        for seed in range(3):
            t = time.perf_counter()
            plan = splits.plan_stratified(project, seed=seed)
            plan_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            change = splits.apply_plan(project, plan)
            write_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            project.revert(change, "bench")
            undo_ms.append((time.perf_counter() - t) * 1000)
            splits.apply_plan(project, plan)
            t = time.perf_counter()
            splits.restore_previous(project)
            restore_ms.append((time.perf_counter() - t) * 1000)
        print(f"plan a 70 000-item split: {statistics.median(plan_ms):.0f} ms")
        print(f"write it (with snapshot): {statistics.median(write_ms):.0f} ms")
        print(f"undo it (Ctrl+Z, on a worker): {statistics.median(undo_ms):.0f} ms")
        print(f"restore previous split: {statistics.median(restore_ms):.0f} ms")
        project.close()


if __name__ == "__main__":
    main()
