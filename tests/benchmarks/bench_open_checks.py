"""What the hostile-input checks cost on the paths users take every day.

* project open of a 100 000-item catalog (MNIST-like container items, each with a label) with
  its checks (``PRAGMA quick_check`` bounded to OPEN_CHECK_SECONDS, the ownership test, the
  leftover sweep), and the full ``quick_check`` an import runs on its worker before writing;
* ``open_image`` of a real radiograph (header checks before mapping) and of a 16384^2 tiled
  zlib TIFF (the declared size against the limits and the file);
* ``read_idx`` of MNIST train images (streamed with a cap) against ``gzip`` reading it whole.

Run: .venv/bin/python tests/benchmarks/bench_open_checks.py   (prints medians of 7 runs)
"""

from __future__ import annotations

import gzip
import sqlite3
import statistics
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


def main() -> None:
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
