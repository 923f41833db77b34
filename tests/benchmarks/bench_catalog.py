"""Catalog and format figures: 100 000-item project open + first page, filter, sort; MNIST
import; export of 10 000 items to folder-per-class + datapackage.json.

Run: .venv/bin/python tests/benchmarks/bench_catalog.py   (prints medians)
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


def main() -> int:
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
