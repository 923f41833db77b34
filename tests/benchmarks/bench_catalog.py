"""Catalog and format figures: 100 000-item project open + first page, filter, sort; MNIST
import; export of 10 000 items to folder-per-class + datapackage.json.

Run: .venv/bin/python tests/benchmarks/bench_catalog.py   (prints medians)
     .venv/bin/python tests/benchmarks/bench_catalog.py --scale [--sizes 10000,100000,1000000]
     (every Browser sort and filter at each size, count + first page, side by side with the
     same query on a plain indexed SQLite table; interleaved rounds, quiet and with two busy
     processes; growth exponents; goal <= 50 ms at 1 M items, exponent <= 0.5)
     .venv/bin/python tests/benchmarks/bench_catalog.py --grid [--sizes 100000,1000000]
     [--data DIR] [--rounds 7] (every filter of the Browser's panel x every sort both ways, the
     sizes interleaved round by round; what the Browser asks before it paints: count when
     quick, first ids, a screenful of rows; the whole table
     in ms at each size, in CPU ms at the largest, and the growth exponent, with the load
     average at start and end and the size of schema v9's and v10's indexes. The data holds a
     rare class "late" at the far end of every order, and origins correlated with masks and
     boxes)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.idx import write_idx
from qbi_desktop.core.jobs import run_job

MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def build_100k(folder: Path, n: int = 100_000) -> Path:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, 8, 8), dtype=np.uint8)
    write_idx(folder / "big-images-idx3-ubyte", images)
    project = open_project(folder / "p", create=True)
    labels = rng.integers(0, 10, n)
    with project.transaction() as tx:
        cid = tx.add_container(folder / "big-images-idx3-ubyte", "idx", "", n)
        tx.add_items(
            [
                NewItem(
                    name=f"img{i:06d}",
                    hash=f"{i:032x}",
                    container=cid,
                    index=i,
                    width=8,
                    height=8,
                    label=str(labels[i]),
                    split=("train", "val", "test")[i % 3],
                    targets={"size": float(rng.normal())},
                )
                for i in range(n)
            ]
        )
    project.close()
    return folder / "p"


# -- scaling: 10k / 100k / 1M items, side by side with plain indexed SQLite ----------------------

#: Every sort and filter the Browser offers (and filter + sort): (filters, sort).
SCALE_CASES = {
    "open: count + first page": (None, "id"),
    "sort name desc": (None, "-name"),
    "sort label desc": (None, "-label"),
    "sort split": (None, "split"),
    "sort review desc": (None, "-review"),
    "sort provenance": (None, "provenance"),
    "sort annotator desc": (None, "-annotator"),
    "sort width desc": (None, "-width"),
    "sort target:size": (None, "target:size"),
    "sort target:size desc": (None, "-target:size"),
    "filter label=3": ({"label": "3"}, "id"),
    "filter label=3 & split=test, sort name desc": ({"label": "3", "split": "test"}, "-name"),
    "filter split=train, sort target:size": ({"split": "train"}, "target:size"),
    "filter review=accepted, sort target desc": ({"review": "accepted"}, "-target:size"),
    "filter review=unreviewed & origin=acquired": (
        {"review": "unreviewed", "provenance": "acquired"},
        "id",
    ),
    "sort has_mask desc": (None, "-has_mask"),
    "sort n_boxes desc": (None, "-n_boxes"),
    "filter split=val, sort has_mask": ({"split": "val"}, "has_mask"),
    # schema v7 (core/catalog/derived.py): the name index, duplicated hashes, source order
    "filter name contains 'img00012'": ({"name": "img00012"}, "id"),
    "filter name contains 'img0001', sort name desc": ({"name": "img0001"}, "-name"),
    "filter name contains 'IMG0' (most items), sort label": ({"name": "IMG0"}, "label"),
    "filter duplicates": ({"duplicates": True}, "id"),
    "filter duplicates, sort n_boxes desc": ({"duplicates": True}, "-n_boxes"),
    "sort source": (None, "source"),
    "sort source desc": (None, "-source"),
}
#: The same question asked of a plain table with one index per column (the peer).
_PLAIN_SORT = {
    "id": "id",
    "name": "name",
    "label": "label",
    "split": "split",
    "review": "review",
    "provenance": "provenance",
    "annotator": "annotator",
    "width": "width",
    "target:size": "value",
    "has_mask": "has_mask",
    "n_boxes": "n_boxes",
    "source": "source",
}
_PLAIN_FILTER = {"label": "label", "split": "split", "review": "review", "provenance": "provenance"}
#: Masks on every 10th item, 1-3 boxes on every 5th (setup of both sides).
MASKED, BOXED = 10, 5


def late_items(n: int) -> int:
    """The number of items of the rare class "late": the last thousandth."""
    return max(1, n // 1000)


def build_scaled(folder: Path, n: int) -> tuple[Path, Path]:
    """A project of ``n`` items (labels, splits, reviews, origins, one target) and the same data
    as a plain SQLite table with an index per column. Rows go in with executemany (setup)."""
    import sqlite3

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n).astype(str).astype(object)
    values = rng.normal(size=n)
    # a rare class that lies at the far end of every order: the last items by id and name,
    # the largest targets (a filter on it walks nearly everything in any other index)
    late = n - late_items(n)
    labels[late:] = "late"
    values[late:] += 10
    review_names = np.array(["unreviewed", "accepted", "rejected", "needs_edit"])
    reviews = review_names[rng.choice(4, n, p=[0.7, 0.2, 0.05, 0.05])]
    rows = [
        (
            i + 1,
            f"img{i:07d}",
            str(labels[i]),
            ("train", "val", "test")[i % 3],
            str(reviews[i]),
            "simulated" if i % 10 == 0 else "acquired",
            "ann" if i % 4 else None,
            28,
            float(values[i]),
            int(i % MASKED == 0),
            (1 + i % 3) if i % BOXED == 0 else 0,
            "big-images-idx3-ubyte",
            f"{i - (i % 1000 == 1):032x}",  # one image in a thousand repeats the one before
        )
        for i in range(n)
    ]
    project = open_project(folder / f"p{n}", create=True)
    db = project.db
    db.execute("BEGIN")
    db.execute(
        "INSERT INTO containers(id, path, kind, key, hash, size, count) "
        "VALUES (1, 'big-images-idx3-ubyte', 'idx', '', 'h', 1, ?)",
        (n,),
    )
    from qbi_desktop.core.catalog.bulk import bulk_items

    with bulk_items(db):
        db.executemany(
            "INSERT INTO items(id, name, container_id, idx, hash, width, height, label, split, "
            "review, provenance_kind, label_by, added) "
            "VALUES (?, ?, 1, ?, ?, ?, 28, ?, ?, ?, ?, ?, '2026-12-05')",
            [(r[0], r[1], r[0] - 1, r[12], r[7], *r[2:7]) for r in rows],
        )
        db.executemany(
            "INSERT INTO masks(item_id, path, updated) VALUES (?, ?, '2026-12-05')",
            [(r[0], f"masks/{r[0]}.tif") for r in rows if r[9]],
        )
        db.executemany(
            "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (?, 'spot', 1, 1, 2, 2)",
            [(r[0],) for r in rows for _ in range(r[10])],
        )
        db.executemany(
            "INSERT INTO targets(item_id, name, value) VALUES (?, 'size', ?)",
            [(r[0], r[8]) for r in rows],
        )
    db.execute("COMMIT")
    project.close()
    plain = folder / f"plain{n}.sqlite"
    pdb = sqlite3.connect(plain, isolation_level=None)
    pdb.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, label TEXT, split TEXT, "
        "review TEXT, provenance TEXT, annotator TEXT, width INTEGER, value REAL, "
        "has_mask INTEGER, n_boxes INTEGER, source TEXT, hash TEXT)"
    )
    pdb.execute("BEGIN")
    pdb.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    pdb.execute("CREATE INDEX items_hash ON items(hash)")
    for column in list(_PLAIN_SORT.values())[1:]:
        pdb.execute(f"CREATE INDEX items_{column} ON items({column})")
    pdb.execute("COMMIT")
    pdb.close()
    return folder / f"p{n}", plain


def plain_page(db, filters, sort) -> tuple[int, list]:
    """count + first page of 100 from the plain table: the indexed SQLite query."""
    where, params = [], []
    for key, value in (filters or {}).items():
        if key == "name":
            where.append("name LIKE ?")
            params.append(f"%{value}%")
        elif key == "duplicates":
            where.append("hash IN (SELECT hash FROM items GROUP BY hash HAVING COUNT(*) > 1)")
        else:
            where.append(f"{_PLAIN_FILTER[key]} = ?")
            params.append(value)
    clause = ("WHERE " + " AND ".join(where) + " ") if where else ""
    total = db.execute("SELECT COUNT(*) FROM items " + clause, params).fetchone()[0]
    key = sort.lstrip("-")
    order = f"ORDER BY {_PLAIN_SORT[key]} {'DESC' if sort.startswith('-') else 'ASC'}, id"
    rows = db.execute(f"SELECT * FROM items {clause}{order} LIMIT 100", params).fetchall()
    return total, rows


def scale(sizes: list[int], rounds: int, n_busy: int) -> None:
    import math
    import sqlite3

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sidebyside import SideBySide, busy, load_text

    from qbi_desktop.core.catalog import count_cache

    print(f"catalog scaling, {rounds} interleaved rounds per size; start: {load_text()}")
    with tempfile.TemporaryDirectory() as tmp:
        built = {n: build_scaled(Path(tmp), n) for n in sizes}
        for busy_n in (0, n_busy):
            medians: dict[tuple[str, str], dict[int, float]] = {}
            with busy(busy_n):
                for n in sizes:
                    project = open_project(built[n][0])
                    plain = sqlite3.connect(built[n][1], isolation_level=None)
                    sbs = SideBySide(f"{n:,} items, {busy_n} busy processes (ms, count + page)")
                    work = {}
                    for name, (filters, sort) in SCALE_CASES.items():
                        # each round a filter chosen anew: no count kept from the round before
                        work[f"QBI {name}"] = lambda f=filters, s=sort, p=project: (
                            count_cache.clear(),
                            p.count(f),
                            p.query(f, s, 0, 100),
                        )
                        work[f"SQL {name}"] = lambda f=filters, s=sort, d=plain: plain_page(d, f, s)
                    sbs.run(work, rounds=rounds)
                    sbs.summary()
                    for name in SCALE_CASES:
                        sbs.ratio(f"QBI {name}", f"SQL {name}", f"{name}: QBI / SQL")
                        for side in ("QBI", "SQL"):
                            medians.setdefault((side, name), {})[n] = sbs.median(f"{side} {name}")
                    project.close()
                    plain.close()
            if len(sizes) > 1:
                lo, hi = min(sizes), max(sizes)
                print(
                    f"\ngrowth exponent {lo:,} -> {hi:,} items ({busy_n} busy; goal <= 0.5, "
                    f"QBI <= 50 ms at 1 M):"
                )
                for name in SCALE_CASES:
                    q, p = medians[("QBI", name)], medians[("SQL", name)]
                    k = math.log(hi / lo)
                    print(
                        f"  {name:46s} QBI {q[hi] * 1e3:7.1f} ms (exp "
                        f"{math.log(q[hi] / q[lo]) / k:+.2f})  SQL {p[hi] * 1e3:7.1f} ms (exp "
                        f"{math.log(p[hi] / p[lo]) / k:+.2f})"
                    )


# -- the Browser's grid: every filter it offers x every sort, as the Browser asks -----------------

#: The filters of the Browser's panel (combos, name text, Duplicates) and some of their mixes.
GRID_FILTERS = {
    "none": {},
    "label=3": {"label": "3"},
    "label=late (0.1 %, the last)": {"label": "late"},
    "label=late & split=test": {"label": "late", "split": "test"},
    "split=test": {"split": "test"},
    "split=train & review=accepted": {"split": "train", "review": "accepted"},
    "review=rejected & origin=simulated": {"review": "rejected", "provenance": "simulated"},
    "origin=simulated": {"provenance": "simulated"},
    "name 'img00012' (100 at any size)": {"name": "img00012"},
    "name 1 % ('img001' at 1 M)": {"name": None},  # sized by share_prefix
    "name '37' (5 %, 2 chars)": {"name": "37"},
    "name 'img0' (all)": {"name": "img0"},
    "name 'x' (none, 1 char)": {"name": "x"},
    "duplicates": {"duplicates": True},
    "duplicates & label=3": {"duplicates": True, "label": "3"},
}
#: The sortable columns of the Browser's table (browser_model.COLUMNS; Targets sorts by the
#: chosen target), each both ways.
GRID_SORTS = [
    "id", "name", "label", "split", "review", "provenance", "has_mask", "n_boxes", "width",
    "annotator", "target:size", "source",
]  # fmt: skip
FIRST, SCREEN = 200, 30  # browser_paging.FIRST ids, then a screenful of rows


def share_prefix(n: int, share: float) -> str:
    """A name prefix that ``share`` of the ``n`` items of build_scaled hold (names
    img0000000...): the same share at every size, so that the growth exponent compares like
    with like (a fixed text such as 'img001' holds 10 000 names at 100 000 items and at a
    million alike)."""
    import math

    fixed = 7 - round(math.log10(n * share))  # digits the prefix fixes
    return "img" + "0" * (fixed - 1) + "1"


def sized(filters: dict, n: int) -> dict:
    """The grid's filters at ``n`` items: a name left None is the 1 % prefix."""
    if "name" in filters and filters["name"] is None:
        return {**filters, "name": share_prefix(n, 0.01)}
    return filters


def browser_first_screen(project, filters, sort) -> tuple[int, bool]:
    """What a filter or sort asks of the catalog before the Browser paints (browser_paging.py):
    the count when it is quick (else a worker counts, off the GUI thread), the first FIRST ids,
    the rows of the first screenful."""
    ids = project.page_ids(filters, sort, 0, FIRST)
    quick = ids.size < FIRST or project.count_is_quick(filters)
    total = project.count(filters) if quick and ids.size == FIRST else int(ids.size)
    project.query({"ids": ids[:SCREEN].tolist()}, limit=None)
    return total, quick


def index_name(statement: str) -> str:
    """The name an index's ``CREATE INDEX [IF NOT EXISTS] <name> ON ...`` gives it."""
    return statement.split(" ON ")[0].split()[-1]


def index_sizes(db) -> str:
    """The size of schema v9's Browser indexes and of v10's name-tail index against the whole
    catalog's (SQLite's dbstat)."""
    from qbi_desktop.core.catalog.indexes_v9 import BROWSER_INDEXES
    from qbi_desktop.core.catalog.short_names import V10_INDEXES

    sizes = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
    v9 = sum(sizes.get(index_name(sql), 0) for sql in BROWSER_INDEXES)
    v10 = sum(sizes.get(index_name(sql), 0) for sql in V10_INDEXES)
    return (
        f"v9 Browser indexes {v9 / 1e6:.1f} MB ({len(BROWSER_INDEXES)} indexes), v10 name "
        f"tail {v10 / 1e6:.1f} MB, of {sum(sizes.values()) / 1e6:.1f} MB"
    )


def grid(sizes: list[int], rounds: int, data: Path | None) -> None:
    import math

    from qbi_desktop.core.catalog import count_cache

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sidebyside import load_text

    print(f"Browser grid: count (when quick) + first {FIRST} ids + {SCREEN} rows; ")
    print(f"median of {rounds} rounds, ms; start: {load_text()}")
    with tempfile.TemporaryDirectory() as tmp:
        roots = {}
        for n in sizes:
            ready = data / f"p{n}" if data else None
            roots[n] = ready if ready and ready.exists() else build_scaled(Path(tmp), n)[0]
        times: dict[tuple[str, str, int], float] = {}
        #: the same in CPU seconds of this process: what a loaded machine's queue leaves out
        cpu: dict[tuple[str, str, int], float] = {}
        worker: dict[tuple[str, int], float] = {}
        projects = {n: open_project(roots[n]) for n in sizes}
        cells = [(f, key) for f in GRID_FILTERS for k in GRID_SORTS for key in (k, "-" + k)]
        samples: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
        slow_counts: set[tuple[str, int]] = set()
        # Rounds outermost, the sizes inside each: every size is measured under the same load
        # (all of one size and then all of the next let a change of load between the two read
        # as growth: sub-millisecond cells showed exponents of 0.6 that 15 interleaved rounds
        # put at 0.2-0.35)
        for r in range(rounds):
            for n, project in projects.items():
                for fname, sort in cells:
                    count_cache.clear()  # a filter chosen anew, nothing kept
                    start, start_cpu = time.perf_counter(), time.process_time()
                    filters = sized(GRID_FILTERS[fname], n)
                    _total, quick = browser_first_screen(project, filters, sort)
                    samples.setdefault((fname, sort, n), []).append(
                        (time.perf_counter() - start, time.process_time() - start_cpu)
                    )
                    if not quick:
                        slow_counts.add((fname, n))
            print(f"  round {r + 1} of {rounds} measured; {load_text()}")
        for key, values in samples.items():
            times[key] = statistics.median(v[0] for v in values)
            cpu[key] = statistics.median(v[1] for v in values)
        for fname, n in sorted(slow_counts):
            count_cache.clear()
            start = time.perf_counter()
            projects[n].count(sized(GRID_FILTERS[fname], n))
            worker[(fname, n)] = time.perf_counter() - start
        for n, project in projects.items():
            print(f"  {n:,} items: {index_sizes(project.db)}")
            project.close()
        lo, hi = min(sizes), max(sizes)
        print(f"\nms at {hi:,} items (growth exponent {lo:,} -> {hi:,}); goal <= 50 ms, <= 0.5")
        worst = (0.0, "")
        for fname in GRID_FILTERS:
            cells = []
            for key in GRID_SORTS:
                for sort in (key, "-" + key):
                    t_hi, t_lo = times[(fname, sort, hi)], times[(fname, sort, lo)]
                    exp = math.log(t_hi / t_lo) / math.log(hi / lo) if lo != hi else 0.0
                    cells.append((t_hi, exp, sort))
                    worst = max(worst, (t_hi * 1e3, f"{fname}, sort {sort}"))
            slow = max(cells)
            print(
                f"  {fname:36s} max {slow[0] * 1e3:6.1f} ms ({slow[2]}, exp {slow[1]:+.2f}); "
                f"median {statistics.median(c[0] for c in cells) * 1e3:5.1f} ms; "
                f"max exp {max(c[1] for c in cells):+.2f}"
                + (
                    f"; count on a worker {worker[(fname, hi)] * 1e3:.0f} ms"
                    if (fname, hi) in worker
                    else ""
                )
            )
        print(f"slowest: {worst[0]:.1f} ms ({worst[1]}); end: {load_text()}")
        sorts = [sort for key in GRID_SORTS for sort in (key, "-" + key)]
        heads = [s.replace("target:size", "tgt").replace("provenance", "prov") for s in sorts]
        heads = [h.replace("annotator", "ann").replace("has_mask", "mask") for h in heads]
        heads = [h.replace("n_boxes", "box").replace("review", "rev").replace("source", "src")
                 for h in heads]  # fmt: skip
        tables = [(f"ms at {n:,} items", lambda f, s, n=n: f"{times[(f, s, n)] * 1e3:.0f}")
                  for n in sorted(sizes)]  # fmt: skip
        tables.append((
            f"CPU ms of this process at {hi:,} items (the load's waiting left out)",
            lambda f, s: f"{cpu[(f, s, hi)] * 1e3:.0f}",
        ))  # fmt: skip

        def exponent(f: str, s: str) -> str:
            return f"{math.log(times[(f, s, hi)] / times[(f, s, lo)]) / math.log(hi / lo):.1f}"

        if lo != hi:
            tables.append((f"growth exponent {lo:,} -> {hi:,}", exponent))
        for title, cell in tables:
            print(f"\n{title} (rows: filter; columns: sort, - descending):")
            print(f"  {'':36s}" + "".join(f"{h:>7s}" for h in heads))
            for fname in GRID_FILTERS:
                print(f"  {fname:36s}" + "".join(f"{cell(fname, s):>7s}" for s in sorts))


def main() -> int:
    if "--grid" in sys.argv:
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--grid", action="store_true")
        parser.add_argument("--sizes", default="100000,1000000")
        parser.add_argument("--rounds", type=int, default=7)
        parser.add_argument("--data", type=Path, default=None, help="reuse p<N> folders here")
        args = parser.parse_args()
        grid([int(s) for s in args.sizes.split(",")], args.rounds, args.data)
        return 0
    if "--scale" in sys.argv:
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--scale", action="store_true")
        parser.add_argument("--sizes", default="10000,100000,1000000")
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--busy", type=int, default=2)
        parser.add_argument("--only", default="", help="cases whose name contains this text")
        args = parser.parse_args()
        if args.only:
            for name in [n for n in SCALE_CASES if args.only not in n]:
                del SCALE_CASES[name]
        scale([int(s) for s in args.sizes.split(",")], args.rounds, args.busy)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        root = build_100k(tmp)
        print(
            f"build 100 000-item catalog (setup, not a target): {time.perf_counter() - start:.2f} s"
        )

        def open_first_page():
            project = open_project(root)
            rows = project.query(sort="id", offset=0, limit=100)
            total = project.count()
            project.close()
            return total, rows

        t, (total, _rows) = median_time(open_first_page, 7)
        print(f"open + count + first page of {total}: median {t * 1000:.1f} ms (target <= 1000)")
        project = open_project(root)
        cases = {
            "filter label=3 (count + page)": ({"label": "3"}, None),
            "filter label=3 & split=test, sort -name": ({"label": "3", "split": "test"}, "-name"),
            "filter review=unreviewed, provenance=acquired": (
                {"review": "unreviewed", "provenance": "acquired"},
                None,
            ),
            "sort by name desc": (None, "-name"),
            "sort by label, name": (None, ["label", "name"]),
            "sort by target:size": (None, "target:size"),
            "sort by target:size desc": (None, "-target:size"),
            "filter split=train, sort by target:size": ({"split": "train"}, "target:size"),
            "sort by split, page 500": (None, "split"),
        }
        for name, (filters, sort) in cases.items():
            offset = 50_000 if "page 500" in name else 0

            def run(filters=filters, sort=sort, offset=offset):
                return project.count(filters), project.query(filters, sort, offset, 100)

            t, _ = median_time(run, 7)
            print(f"{name}: median {t * 1000:.1f} ms (target <= 100)")
        project.close()

        if MNIST.exists():

            def mnist():
                folder = Path(tempfile.mkdtemp(dir=tmp))
                p = open_project(folder / "m", create=True)
                report = run_job(import_job(p, "mnist", [MNIST]))
                p.close()
                return report.added

            t, added = median_time(mnist, 3)
            print(f"MNIST import ({added} items): median {t:.2f} s (target <= 10)")
            mp = open_project(tmp / "mnist-export", create=True)
            run_job(import_job(mp, "mnist", [MNIST]))

            def export():
                out = Path(tempfile.mkdtemp(dir=tmp)) / "out"
                job = export_job(
                    mp, "imagefolder", out, filters={"split": "test"}, datapackage=True
                )
                return run_job(job).files

            t, files = median_time(export, 3)
            print(
                f"export 10 000 items to folder-per-class + datapackage ({files} files): "
                f"median {t:.2f} s (target <= 30)"
            )

            def export_package():
                out = Path(tempfile.mkdtemp(dir=tmp)) / "out"
                return run_job(export_job(mp, "datapackage", out, filters={"split": "test"})).files

            t, files = median_time(export_package, 3)
            print(f"export 10 000 items as full data package ({files} files): median {t:.2f} s")
            mp.close()
        else:
            print(f"MNIST not found at {MNIST}: import/export figures skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
