"""Blind mode's Browser list by one annotator's own opinions (core.catalog.own_order and its
pages, own_pages) on a project of N items with three annotators (each labels ~60 %, reviews
~20 %, types a target for ~50 %, draws boxes on ~10 % and a mask on ~5 % of the items).

Per case, interleaved rounds (the cases in a new random order each round), median [min-max]:

* ``first 200``: ``own_pages.page_ids(..., 0, 200)``, what the Browser asks for when a filter or
  sort changes (the goal: <= 50 ms at a million items, growing at most as N^0.5);
* ``whole list``: ``own_order.id_array``, every id (the count's worker, the label-next queue);
* ``item cols``: the catalog's own first page by the item's columns (``queries.page_ids``),
  the normal Browser's figure beside it.

With several ``--n`` the growth exponent of the first window (log of the time ratio over log
of the size ratio) is printed. ``--busy K`` starts K busy Python processes (each in a session
of its own, stopped at the end) for a reproducible load; the load average is printed before
and after.

Run: .venv/bin/python tests/benchmarks/bench_catalog_own.py [--n 100000 1000000] [--repeat 5]
     [--busy 2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_catalog import build_scaled  # noqa: E402

from qbi_desktop.core.catalog import open_project, own_order, own_pages  # noqa: E402
from qbi_desktop.core.catalog.queries import NONE  # noqa: E402
from qbi_desktop.core.catalog.queries import page_ids as item_page_ids  # noqa: E402

PEOPLE = ("Ada", "Bob", "Cleo")
FIRST = 200
CASES = [
    ("all, by id", {}, "id"),
    ("unlabelled", {"label": NONE}, "id"),
    ("label = 3", {"label": "3"}, "id"),
    ("sort by label", {}, "label"),
    ("sort by label desc", {}, "-label"),
    ("sort by review", {}, "review"),
    ("sort by target", {}, "target:size"),
    ("sort by target desc", {}, "-target:size"),
    ("sort by has mask desc", {}, "-has_mask"),
    ("sort by boxes", {}, "n_boxes"),
    ("review = accepted", {"review": "accepted"}, "id"),
    ("has boxes", {"has_boxes": True}, "id"),
    ("has mask, by name", {"has_mask": True}, "name"),
    ("unlabelled, by name", {"label": NONE}, "name"),
    ("train split, by label", {"split": "train"}, "label"),
]


def add_opinions(root: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    with open_project(root) as project:
        db = project.db
        db.execute("BEGIN")
        for who in PEOPLE:
            draw = rng.random((n, 5))
            labels = rng.integers(0, 10, n)
            sizes = rng.normal(size=n)
            items = np.arange(1, n + 1)
            rows = [
                (int(i), who, "label", "", f'"{labels[i - 1]}"') for i in items[draw[:, 0] < 0.6]
            ]
            rows += [(int(i), who, "review", "", '"accepted"') for i in items[draw[:, 1] < 0.2]]
            rows += [
                (int(i), who, "target", "size", json.dumps(float(sizes[i - 1])))
                for i in items[draw[:, 2] < 0.5]
            ]
            rows += [
                (int(i), who, "boxes", "", '[["o", 1, 1, 2, 2]]') for i in items[draw[:, 3] < 0.1]
            ]
            rows += [
                (int(i), who, "mask", "", json.dumps(f"annotators/{who}/{i}.tif"))
                for i in items[draw[:, 4] < 0.05]
            ]
            db.executemany(
                "INSERT INTO opinions(item_id, annotator, kind, name, value, at) "
                "VALUES (?, ?, ?, ?, ?, '2026-12-05')",
                rows,
            )
        db.execute("COMMIT")
        db.execute("ANALYZE")


def busy(k: int) -> list[subprocess.Popen]:
    code = "while True: pass"
    return [
        subprocess.Popen([sys.executable, "-c", code], start_new_session=True) for _ in range(k)
    ]


def measure(db, repeat: int, whole: bool) -> dict[str, dict[str, list[float]]]:
    """{case: {what: [seconds, ...]}}; every round runs every case once, in a new order."""
    what = {
        "first 200": lambda f, s: own_pages.page_ids(db, "Ada", f, s, 0, FIRST),
        "item cols": lambda f, s: item_page_ids(db, f, s, 0, FIRST),
    }
    if whole:
        what["whole list"] = lambda f, s: own_order.id_array(db, "Ada", f, s)
    times: dict[str, dict[str, list[float]]] = {c[0]: {w: [] for w in what} for c in CASES}
    rounds = [(case, w) for case in CASES for w in what]
    for _ in range(repeat):
        random.shuffle(rounds)
        for (name, filters, sort), w in rounds:
            own_pages._last_whole = None  # a new filter or sort: not the list kept for scrolling
            start = time.perf_counter()
            what[w](filters, sort)
            times[name][w].append(time.perf_counter() - start)
    return times


def spread(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):7.1f} [{min(ms):6.1f}-{max(ms):6.1f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--busy", type=int, default=0, help="busy processes started meanwhile")
    parser.add_argument("--no-whole", action="store_true", help="skip the whole-list column")
    args = parser.parse_args()
    medians: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            t0 = time.perf_counter()
            root, plain = build_scaled(Path(tmp), n)
            plain.unlink()  # the plain-table peer is bench_catalog's
            add_opinions(root, n)
            built = time.perf_counter() - t0
            print(f"\n{n:,} items, {len(PEOPLE)} annotators (built in {built:.0f} s)")
            workers = busy(args.busy)
            try:
                time.sleep(1.0 if workers else 0)
                before = os.getloadavg()[0]
                with open_project(root) as project:
                    times = measure(project.db, args.repeat, not args.no_whole)
                after = os.getloadavg()[0]
            finally:
                for w in workers:
                    w.kill()
                    w.wait()
            print(
                f"load {before:.1f} -> {after:.1f} ({args.busy} busy processes started), "
                f"ms: median [min-max] of {args.repeat}"
            )
            header = f"{'case':24} {'first 200':>22}   {'item cols':>22}"
            print(header + (f"   {'whole list':>22}" if not args.no_whole else ""))
            for name, _f, _s in CASES:
                row = times[name]
                line = f"{name:24} {spread(row['first 200'])}   {spread(row['item cols'])}"
                if "whole list" in row:
                    line += f"   {spread(row['whole list'])}"
                print(line)
            medians[n] = {name: statistics.median(times[name]["first 200"]) for name, *_ in CASES}
            shutil.rmtree(root, ignore_errors=True)  # a million items: ~1 GB of disk
    if len(medians) > 1:
        (n1, m1), (n2, m2) = list(medians.items())[0], list(medians.items())[-1]
        print(f"\ngrowth exponent of the first window, {n1:,} -> {n2:,} items")
        for name, *_ in CASES:
            exponent = math.log(max(m2[name], 1e-6) / max(m1[name], 1e-6)) / math.log(n2 / n1)
            print(
                f"{name:24} {m1[name] * 1000:7.1f} -> {m2[name] * 1000:7.1f} ms   {exponent:5.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
