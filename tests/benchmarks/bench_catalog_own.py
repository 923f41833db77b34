"""Blind mode's Browser list: every matching id in order by one annotator's own opinions
(core.catalog.own_order) against the same filter or sort on the item columns
(queries.id_array), on a project of N items with three annotators (each labels ~60 %, reviews
~20 %, types a target for ~50 %, draws boxes on ~10 % and a mask on ~5 % of the items).

Run: .venv/bin/python tests/benchmarks/bench_catalog_own.py [--n 100000] [--repeat 5]
Prints the median of each case in ms, and the load average beside it (a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_catalog import build_scaled  # noqa: E402

from qbi_desktop.core.catalog import open_project, own_order  # noqa: E402
from qbi_desktop.core.catalog.queries import NONE, id_array  # noqa: E402

PEOPLE = ("Ada", "Bob", "Cleo")
CASES = [
    ("all, by id", {}, "id"),
    ("unlabelled", {"label": NONE}, "id"),
    ("label = 3", {"label": "3"}, "id"),
    ("sort by label", {}, "label"),
    ("sort by label desc", {}, "-label"),
    ("sort by target", {}, "target:size"),
    ("review = accepted", {"review": "accepted"}, "id"),
    ("has boxes", {"has_boxes": True}, "id"),
    ("unlabelled, by name", {"label": NONE}, "name"),
    ("train split, by label", {"split": "train"}, "label"),
]


def add_opinions(root: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    with open_project(root) as project:
        db = project.db
        db.execute("BEGIN")
        for who in PEOPLE:
            rows = []
            for i in range(1, n + 1):
                if rng.random() < 0.6:
                    rows.append((i, who, "label", "", json.dumps(str(rng.integers(0, 10)))))
                if rng.random() < 0.2:
                    rows.append((i, who, "review", "", json.dumps("accepted")))
                if rng.random() < 0.5:
                    rows.append((i, who, "target", "size", json.dumps(float(rng.normal()))))
                if rng.random() < 0.1:
                    rows.append((i, who, "boxes", "", json.dumps([["o", 1, 1, 2, 2]])))
                if rng.random() < 0.05:
                    rows.append((i, who, "mask", "", json.dumps(f"annotators/{who}/{i}.tif")))
            db.executemany(
                "INSERT INTO opinions(item_id, annotator, kind, name, value, at) "
                "VALUES (?, ?, ?, ?, ?, '2026-12-05')",
                rows,
            )
        db.execute("COMMIT")
        db.execute("ANALYZE")


def median_ms(fn, repeat: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = len(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, _plain = build_scaled(Path(tmp), args.n)
        add_opinions(root, args.n)
        print(f"{args.n:,} items, {len(PEOPLE)} annotators; load {os.getloadavg()[0]:.1f}")
        print(f"{'case':28} {'own (ms)':>9} {'rows':>8}   {'item cols (ms)':>14} {'rows':>8}")
        with open_project(root) as project:
            db = project.db
            for name, filters, sort in CASES:
                own, n_own = median_ms(
                    lambda f=filters, s=sort: own_order.id_array(db, "Ada", f, s), args.repeat
                )
                plain, n_plain = median_ms(
                    lambda f=filters, s=sort: id_array(db, f, s), args.repeat
                )
                print(f"{name:28} {own:9.1f} {n_own:8,}   {plain:14.1f} {n_plain:8,}")
        print(f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
