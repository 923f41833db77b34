"""NeXus stacks and numbered series in a project: time to import a frame (read once and hashed),
to read one frame's pixels back from the catalog (thumbnails, baselines, exports read them like
this), and to make its thumbnail. Prints medians over the frames.

    python tests/benchmarks/bench_series_import.py [--frames 48] [--size 2048] [--rounds 3]

The stack is written in a temporary folder (one frame per chunk, as beamlines write them; gzip
level 1 when --gzip is given), imported into a fresh project each round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from qbi_desktop.core.catalog import open_project  # noqa: E402
from qbi_desktop.core.catalog.thumbnails import render_thumbnail  # noqa: E402
from qbi_desktop.core.formats import import_job  # noqa: E402
from qbi_desktop.core.jobs import run_job  # noqa: E402


def _write(path: Path, frames: int, size: int, gzip: bool) -> None:
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        data = f.create_dataset(
            "/entry/data/data",
            shape=(frames, size, size),
            dtype=np.uint16,
            chunks=(1, size, size),
            compression="gzip" if gzip else None,
            compression_opts=1 if gzip else None,
        )
        base = rng.integers(20000, 30000, (size, size), dtype=np.uint16)
        for i in range(frames):
            data[i] = base + np.uint16(i)
        f["/entry/data"].attrs["NX_class"] = "NXdata"
        f["/entry/data"].attrs["signal"] = "data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_series_import-") as tmp:
        tmp = Path(tmp)
        scan = tmp / "scan.nxs"
        _write(scan, args.frames, args.size, args.gzip)
        print(
            f"{args.frames} frames of {args.size}^2 uint16, "
            f"{'gzip-1' if args.gzip else 'uncompressed'}, "
            f"file {scan.stat().st_size / 2**20:.0f} MB, load average {os.getloadavg()[0]:.2f}"
        )
        per_frame, reads, thumbs = [], [], []
        for r in range(args.rounds):
            project = open_project(tmp / f"p{r}", create=True)
            t0 = time.perf_counter()
            report = run_job(import_job(project, "nexus", [scan]))
            per_frame.append((time.perf_counter() - t0) / report.added)
            for item_id in report.ids[:: max(1, len(report.ids) // 8)]:
                t0 = time.perf_counter()
                pixels = project.image(item_id)
                reads.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                render_thumbnail(pixels)
                thumbs.append(time.perf_counter() - t0)
            project.close()
        print(
            "import, per frame (read + hash + catalog): "
            f"median {statistics.median(per_frame) * 1e3:.1f} ms"
        )
        print(
            f"one frame's pixels from the catalog: median {statistics.median(reads) * 1e3:.1f} ms"
        )
        print(f"its thumbnail: median {statistics.median(thumbs) * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
