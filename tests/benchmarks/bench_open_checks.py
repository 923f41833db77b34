"""What the hostile-input checks cost on the paths users take every day.

* project open of a 100 000-item catalog (MNIST-like container items, each with a label) with
  its checks (``PRAGMA quick_check`` bounded to OPEN_CHECK_SECONDS, the ownership test, the
  leftover sweep), and the full ``quick_check`` an import runs on its worker before writing;
* ``open_image`` of a real radiograph (header checks before mapping) and of a 16384^2 tiled
  zlib TIFF (the declared size against the limits and the file);
* ``read_idx`` of MNIST train images (streamed with a cap) against ``gzip`` reading it whole;
* the leftover check of a real MNIST project (70 000 items, imported) that has a mask for each
  item: the open with the folders as the last clean sweep left them (a few ``stat`` calls), the
  open whose stamp is stale (the sweep in the open, as every open did before), and the sweep as
  the Browser runs it on a worker after the open (``--masks-only``: just this part).
  Before the stamp (6241bf0, load 10) every open swept in the GUI thread: 3110 ms per open
  (3609 ms with a stale stamp); after (load 10-12): the leftover check 6-10 ms of an open of
  160-170 ms (the rest is the bounded page check), the sweep 575-700 ms on a worker, only
  when the folders or references changed since the last clean sweep.

Run: .venv/bin/python tests/benchmarks/bench_open_checks.py [--masks-only]
(prints medians of 7 runs; load average printed)
"""

from __future__ import annotations

import gzip
import os
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.idx import read_idx, write_idx
from qbi_desktop.core.io import open_image

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def median_ms(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def build(folder: Path, n: int = 100_000) -> Path:
    rng = np.random.default_rng(0)
    write_idx(folder / "big-images-idx3-ubyte", rng.integers(0, 255, (n, 8, 8), dtype=np.uint8))
    labels = rng.integers(0, 10, n)
    with open_project(folder / "p", create=True) as project, project.transaction() as tx:
        cid = tx.add_container(folder / "big-images-idx3-ubyte", "idx", "", n)
        tx.add_items(
            [
                NewItem(
                    name=f"i{i}",
                    hash=f"{i:032x}",
                    container=cid,
                    index=i,
                    width=8,
                    height=8,
                    label=str(labels[i]),
                )
                for i in range(n)
            ]
        )
    return folder / "p"


def mnist_with_masks(folder: Path) -> Path | None:
    """The real MNIST (train + test, 70 000 items) imported into a project, and a mask for each
    item (one written by the catalog, the rest its bytes under names of the writer's form)."""
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.jobs import run_job

    if not (DATA / "mnist" / "train-images-idx3-ubyte.gz").exists():
        return None
    root = folder / "mnist"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "mnist", [DATA / "mnist"]))
        ids = project.ids()
        with project.transaction() as tx:
            tx.set_mask(ids[0], np.eye(28, dtype=np.uint8), None)
    data = next((root / "masks").iterdir()).read_bytes()
    rows = []
    for item in ids[1:]:
        name = f"masks/{item}-{secrets.token_hex(4)}.tif"
        (root / name).write_bytes(data)
        rows.append((item, name, None, "2026-01-01T00:00:00"))
    db = sqlite3.connect(root / "catalog.sqlite")
    db.executemany("INSERT INTO masks(item_id, path, annotator, updated) VALUES (?,?,?,?)", rows)
    db.commit()
    db.close()
    return root


def leftover_check(tmp: Path) -> None:
    from qbi_desktop.core import leftovers

    root = mnist_with_masks(tmp)
    if root is None:
        print("leftover check: no MNIST in", DATA / "mnist")
        return
    n = sum(1 for _ in os.scandir(root / "masks"))
    print(f"MNIST project, 70 000 items with {n} masks (load {os.getloadavg()[0]:.1f}):")
    stamp = root / getattr(leftovers, "STAMP", "catalog.sqlite-swept")

    def stale() -> None:
        stamp.unlink(missing_ok=True)
        open_project(root).close()

    print(f"  open, the sweep in the open (stale stamp): {median_ms(stale):7.1f} ms")
    ms = median_ms(lambda: leftovers.has_candidates(root))
    print(f"  has_candidates, nothing left over:         {ms:7.2f} ms")
    ms = median_ms(lambda: open_project(root).close())
    print(f"  open + close, nothing left over:           {ms:7.1f} ms")
    if hasattr(leftovers, "sweep_project_job"):
        from qbi_desktop.core.jobs import run_job

        def later() -> None:
            stamp.unlink(missing_ok=True)
            project = open_project(root, sweep_later=True)
            opened.append(time.perf_counter() - start[0])
            run_job(leftovers.sweep_project_job(project.root, project.pending_sweep))
            project.close()

        opened: list[float] = []
        start = [0.0]

        def timed_later() -> None:
            start[0] = time.perf_counter()
            later()

        ms = median_ms(timed_later)
        ms_open = statistics.median(opened) * 1000
        print(f"  stale stamp, open with sweep_later:        {ms_open:7.1f} ms")
        print(f"  ... and the sweep job (on a worker):       {ms - ms_open:7.1f} ms")
    shutil.rmtree(root)


def main() -> None:
    if "--masks-only" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            leftover_check(Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        leftover_check(Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        root = build(Path(tmp))
        size = (root / "catalog.sqlite").stat().st_size

        def bare() -> None:
            db = sqlite3.connect(root / "catalog.sqlite")
            db.execute("PRAGMA quick_check(5)").fetchall()
            db.close()

        print(f"catalog: 100000 items, {size / 1e6:.1f} MB")
        ms = median_ms(lambda: open_project(root).close())
        print(f"  open_project + close (all checks): {ms:7.1f} ms")
        print(f"  full quick_check (before imports):  {median_ms(bare):7.1f} ms")

        tiled = Path(tmp) / "tiled.tif"
        import tifffile

        tile = np.arange(256 * 256, dtype=np.uint16).reshape(256, 256)
        tifffile.imwrite(
            tiled,
            (tile for _ in range(64 * 64)),
            shape=(16384, 16384),
            dtype=np.uint16,
            tile=(256, 256),
            compression="zlib",
            compressionargs={"level": 1},
        )
        radiograph = DATA / "radiographs" / "edge20mm_0000.tif"
        if radiograph.exists():
            ms = median_ms(lambda: open_image(radiograph).close())
            print(f"open_image 600x600 radiograph:        {ms:7.2f} ms")
        ms = median_ms(lambda: open_image(tiled).close())
        print(f"open_image 16384^2 tiled zlib TIFF:   {ms:7.2f} ms")

    mnist = DATA / "mnist" / "train-images-idx3-ubyte.gz"
    if mnist.exists():

        def whole() -> None:
            with gzip.open(mnist, "rb") as f:
                f.read()

        print(
            f"read_idx MNIST train (capped stream): {median_ms(lambda: read_idx(mnist), 5):7.1f} ms"
        )
        print(f"gzip read whole, for comparison:      {median_ms(whole, 5):7.1f} ms")


if __name__ == "__main__":
    main()
