"""Blind mode's Browser list by one annotator's own opinions (core.catalog.own_order and its
pages, own_pages / own_walks) on a project of N items with three annotators (each labels ~60 %,
reviews ~20 %, types a target for ~50 %, draws boxes on ~10 % and a mask on ~5 % of the items;
the last thousandth are their rare class "late", with the smallest targets).

Per case (each own filter x each sort: none, unlabelled, label = 3, label = late, review =
accepted, has mask, has boxes, train split x id and every own sort in both directions, plus a
few item sorts), interleaved rounds (the cases in a new random order each round), median [min-max]:

* ``first 200``: ``own_pages.page_ids(..., 0, 200)``, what the Browser asks for when a filter or
  sort changes (the goal: <= 50 ms at a million items, growing at most as N^0.5);
* ``item cols`` (``--item-cols``): the catalog's own first page by the item's columns
  (``queries.page_ids``), the normal Browser's figure beside it;
* ``whole list`` (``--whole``): ``own_order.id_array``, every id (the count's worker).

With several ``--n`` the growth exponent of the first window (log of the time ratio over log
of the size ratio) is printed. ``--busy K`` starts K busy Python processes (each in a session
of its own, stopped at the end) for a reproducible load; the load average is printed before
and after.

Then what the schema-v9 indexes of one's own opinions (indexes_v9.OWN_INDEXES) cost: their
size on disk, and the time of an annotator's edit (one label, one target, each its own
transaction as the Annotate panel writes them) on the catalog with them and on a copy
without them: the same edit on both in pairs, which one first drawn each time (``--edits``
pairs per kind), median per edit and the median of the paired ratios.

Run: .venv/bin/python tests/benchmarks/bench_catalog_own.py [--n 100000 1000000] [--repeat 5]
     [--busy 2] [--item-cols] [--whole]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_catalog import build_scaled, index_name, late_items  # noqa: E402

from qbi_desktop.core.catalog import open_project, own_order, own_pages  # noqa: E402
from qbi_desktop.core.catalog.indexes_v9 import OWN_INDEXES  # noqa: E402
from qbi_desktop.core.catalog.queries import NONE  # noqa: E402
from qbi_desktop.core.catalog.queries import page_ids as item_page_ids  # noqa: E402

PEOPLE = ("Ada", "Bob", "Cleo")
FIRST = 200
FILTERS = [
    ("", {}),
    ("unlabelled", {"label": NONE}),
    ("label = 3", {"label": "3"}),
    ("label = late", {"label": "late"}),
    ("accepted", {"review": "accepted"}),
    ("has mask", {"has_mask": True}),
    ("has boxes", {"has_boxes": True}),
    ("train", {"split": "train"}),
]
OWN_SORTS = ["label", "review", "target:size", "annotator", "has_mask", "n_boxes"]
SORTS = ["id", *(d + s for s in OWN_SORTS for d in ("", "-"))]
CASES = [(f"{fn or 'all'}, {s}", f, s) for fn, f in FILTERS for s in SORTS] + [
    ("has mask, name", {"has_mask": True}, "name"),
    ("unlabelled, name", {"label": NONE}, "name"),
    ("train, -split", {"split": "train"}, "-split"),
]


def add_opinions(root: Path, n: int) -> None:
    """Each person's opinions; the last thousandth of the items are their rare class "late",
    with the smallest targets: the last rows of most of their own orders (a filter on it
    finds nothing in the walk of another sort until its very end)."""
    rng = np.random.default_rng(1)
    late = n - late_items(n)
    with open_project(root) as project:
        db = project.db
        db.execute("BEGIN")
        for who in PEOPLE:
            draw = rng.random((n, 5))
            labels = rng.integers(0, 10, n).astype(str).astype(object)
            sizes = rng.normal(size=n)
            labels[late:], sizes[late:], draw[late:, :3] = "late", sizes[late:] - 10, 0.0
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


def measure(db, repeat: int, item_cols: bool, whole: bool) -> dict[str, dict[str, list[float]]]:
    """{case: {what: [seconds, ...]}}; every round runs every case once, in a new order."""
    what = {"first 200": lambda f, s: own_pages.page_ids(db, "Ada", f, s, 0, FIRST)}
    if item_cols:
        what["item cols"] = lambda f, s: item_page_ids(db, f, s, 0, FIRST)
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


def index_sizes(root: Path) -> dict[str, float]:
    """MB on disk of each of the own-opinion indexes, the opinions table and the catalog."""
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        names = [index_name(statement) for statement in OWN_INDEXES]
        rows = db.execute(
            "SELECT name, SUM(pgsize) FROM dbstat WHERE name IN "
            f"({','.join('?' * (len(names) + 2))}) GROUP BY name",
            [*names, "opinions", "opinions_own"],
        ).fetchall()
        sizes = {name: size / 1e6 for name, size in rows}
        sizes["catalog"] = (root / "catalog.sqlite").stat().st_size / 1e6
        return sizes
    finally:
        db.close()


def edit_costs(root: Path, n: int, edits: int) -> dict[str, dict[str, list[float]]]:
    """Seconds per edit of one's own label and target, with the own indexes and on a copy of
    the catalog without them: the same edit on both, in pairs (which first drawn each time),
    ``edits`` pairs per kind."""
    bare = root.parent / (root.name + "-without")
    shutil.copytree(root, bare)
    db = sqlite3.connect(bare / "catalog.sqlite", isolation_level=None)
    for statement in OWN_INDEXES:
        db.execute(f"DROP INDEX {index_name(statement)}")
    db.close()
    rng = np.random.default_rng(7)
    times: dict[str, dict[str, list[float]]] = {
        kind: {"with": [], "without": []} for kind in ("label", "target")
    }
    try:
        with open_project(root) as with_, open_project(bare) as without:
            for kind, by in times.items():
                for item in rng.integers(1, n + 1, edits):
                    item = int(item)
                    value = str(rng.integers(0, 10)) if kind == "label" else float(rng.normal())
                    pair = [("with", with_), ("without", without)]
                    random.shuffle(pair)
                    for which, project in pair:
                        start = time.perf_counter()
                        if kind == "label":
                            project.set_label([item], value, "Ada")
                        else:
                            project.set_target([item], "size", value, "Ada")
                        by[which].append(time.perf_counter() - start)
    finally:
        shutil.rmtree(bare, ignore_errors=True)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--busy", type=int, default=0, help="busy processes started meanwhile")
    parser.add_argument("--item-cols", action="store_true", help="the item columns' page too")
    parser.add_argument("--whole", action="store_true", help="the whole list too")
    parser.add_argument("--edits", type=int, default=1000, help="edit pairs per kind (0: none)")
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
                    times = measure(project.db, args.repeat, args.item_cols, args.whole)
                after = os.getloadavg()[0]
                print(
                    f"load {before:.1f} -> {after:.1f} ({args.busy} busy processes started), "
                    f"ms: median [min-max] of {args.repeat}"
                )
                columns = ["first 200", *next(iter(times.values())).keys() - {"first 200"}]
                print(f"{'case':24} " + "   ".join(f"{c:>22}" for c in columns))
                for name, _f, _s in CASES:
                    cells = "   ".join(spread(times[name][c]) for c in columns)
                    print(f"{name:24} {cells}")
                medians[n] = {
                    name: statistics.median(times[name]["first 200"]) for name, *_ in CASES
                }
                over = [name for name in medians[n] if medians[n][name] > 0.05]
                print(f"first 200 over 50 ms: {', '.join(over) or 'none'}")
                sizes = index_sizes(root)
                print(
                    "size on disk, MB: "
                    + ", ".join(f"{name} {mb:.1f}" for name, mb in sizes.items())
                )
                if args.edits:
                    before = os.getloadavg()[0]
                    costs = edit_costs(root, n, args.edits)
                    after = os.getloadavg()[0]
                    print(f"one edit of one's own, ms per edit (load {before:.1f} -> {after:.1f})")
                    for kind, by in costs.items():
                        pairs = zip(by["with"], by["without"], strict=True)
                        ratio = statistics.median(w / wo for w, wo in pairs)
                        print(
                            f"  {kind:7} with the own indexes {spread(by['with'])}   without "
                            f"{spread(by['without'])}   paired ratio {100 * (ratio - 1):+5.1f} %"
                        )
            finally:
                for w in workers:
                    w.kill()
                    w.wait()
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
