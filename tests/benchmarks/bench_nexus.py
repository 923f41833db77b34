"""Benchmark opening a 1000-frame 2048^2 NeXus scan (issue 16): first frame, slice step, memory.

Run: .venv/bin/python tests/benchmarks/bench_nexus.py [--frames 1000] [--rounds 3] [--no-gui]

Two files are written to /tmp (and deleted after): gzip level 1 after HDF5's byte shuffle, a
frame per chunk (~1.9 GB: what beamlines write), and the same uncompressed (~8.4 GB). Frames
are the real radiograph edge20mm_0000.tif tiled to 2048^2, shifted per frame; the compressed
chunks are made from 16 shifted frames and written with ``write_direct_chunk`` (fast to
generate; decoding them costs what any frame costs). The page cache is warm (just written).

Per file, in interleaved rounds:
* open + first frame: ``open_nexus`` and slice 0 (the core path the viewer's opener takes);
* step, random order: one ``plane(i)`` per slice, in random order (nothing read ahead helps);
* step, stepping through: slices 1, 2, 3 ... with 25 ms between steps (the viewer's draw of a
  2048^2 frame), the time ``plane(i)`` takes (the next slice is read ahead meanwhile);
* h5py ``dataset[i]`` in random order: the reading before (HDF5 decodes the chunk itself);
* memory growth: resident memory after the steps minus before the open.
Then, unless --no-gui, the real viewer (offscreen MainWindow): File > Open to the first paint,
and ``go_to_slice(i + 1)`` + repaint stepping through 40 slices.
Goals from the issue: first frame <= 1 s, slice step <= 100 ms, memory growth <= 300 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: nexus_helpers

from nexus_helpers import write_nexus  # noqa: E402

SIZE = 2048
RADIOGRAPH = Path(__file__).resolve().parents[3] / "shared" / "data" / "radiographs"


def base_frame() -> np.ndarray:
    from qbi_desktop.core.io import read_image

    frame = read_image(RADIOGRAPH / "edge20mm_0000.tif")
    reps = -(-SIZE // frame.shape[0])
    return np.ascontiguousarray(np.tile(frame, (reps, reps))[:SIZE, :SIZE]).astype(np.uint16)


def write_scan(path: Path, frames: int, compressed: bool) -> None:
    import zlib

    base = base_frame()

    def build(_f, data) -> None:
        filters = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
        ds = data.create_dataset(
            "data",
            shape=(frames, SIZE, SIZE),
            dtype=np.uint16,
            chunks=(1, SIZE, SIZE),
            **(filters if compressed else {}),
        )
        if compressed:
            chunks = []
            for k in range(16):
                frame = np.roll(base, 37 * k, axis=1)
                shuffled = frame.view(np.uint8).reshape(-1, 2).T.tobytes()  # HDF5's shuffle
                chunks.append(zlib.compress(shuffled, 1))
            for i in range(frames):
                ds.id.write_direct_chunk((i, 0, 0), chunks[i % 16])
        else:
            for i in range(frames):
                ds[i] = np.roll(base, 37 * (i % 16), axis=1)

    write_nexus(path, build)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def core_round(path: Path, frames: int, steps: int, rng) -> dict[str, float]:
    import h5py

    from qbi_desktop.core.radiography.nexus import open_nexus

    before = rss_mb()
    t0 = time.perf_counter()
    source = open_nexus(path)
    source.plane(0).array.sum()
    first = time.perf_counter() - t0
    random_steps = []
    for index in rng.integers(1, frames, steps):
        t0 = time.perf_counter()
        source.plane(int(index)).array.sum()
        random_steps.append(time.perf_counter() - t0)
    source.close()
    source = open_nexus(path)
    start = int(rng.integers(0, frames - steps - 1))
    source.plane(start)
    walk = []
    for index in range(start + 1, start + 1 + steps):
        time.sleep(0.025)  # the viewer draws the slice shown
        t0 = time.perf_counter()
        source.plane(index).array.sum()
        walk.append(time.perf_counter() - t0)
    grown = rss_mb() - before
    source.close()
    old = []
    with h5py.File(path, "r") as f:
        ds = f["entry/data/data"]
        for index in rng.integers(1, frames, steps):
            t0 = time.perf_counter()
            np.asarray(ds[int(index)]).sum()
            old.append(time.perf_counter() - t0)
    return {
        "first": first,
        "random": statistics.median(random_steps),
        "walk": statistics.median(walk),
        "h5py": statistics.median(old),
        "memory": grown,
    }


def gui_round(path: Path, frames: int) -> dict[str, float]:
    from bench_viewer import Harness

    h = Harness()
    before = rss_mb()
    first = h.open_until_drawn(path)
    window = h.window
    steps = []
    for index in range(1, 41):
        t0 = time.perf_counter()
        window.go_to_slice(index)
        window.canvas.viewport().repaint()
        steps.append(time.perf_counter() - t0)
        h.process(0.01)
    grown = rss_mb() - before
    h.close_all()
    return {"first": first, "step": statistics.median(steps), "memory": grown}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=40, help="slice steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-gui", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="bench_nexus_", dir="/tmp"))
    try:
        files = {}
        for compressed in (True, False):
            path = tmp / f"scan_{'gzip' if compressed else 'raw'}.nxs"
            t0 = time.perf_counter()
            write_scan(path, args.frames, compressed)
            files[compressed] = path
            print(
                f"{path.name}: {args.frames} x {SIZE}^2 uint16, "
                f"{'gzip-1 + shuffle' if compressed else 'uncompressed'}, "
                f"{path.stat().st_size / 1e9:.2f} GB, written in {time.perf_counter() - t0:.0f} s"
            )
        rng = np.random.default_rng(0)
        results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        for r in range(args.rounds):
            for compressed in (True, False) if r % 2 == 0 else (False, True):
                result = core_round(files[compressed], args.frames, args.steps, rng)
                results[compressed].append(result)
                print(
                    f"  round {r + 1} {files[compressed].name}: first {result['first']:.3f} s, "
                    f"step random {result['random'] * 1000:.0f} ms, stepping through "
                    f"{result['walk'] * 1000:.0f} ms, h5py dataset[i] {result['h5py'] * 1000:.0f}"
                    f" ms, memory +{result['memory']:.0f} MB, load {os.getloadavg()[0]:.1f}"
                )
        for compressed, rows in results.items():

            def med(key: str, rows=rows) -> float:
                return statistics.median(row[key] for row in rows)

            print(
                f"{files[compressed].name} medians: open + first frame {med('first'):.3f} s "
                f"(goal <= 1 s); slice step {med('random') * 1000:.0f} ms in random order, "
                f"{med('walk') * 1000:.0f} ms stepping through (goal <= 100 ms); h5py "
                f"dataset[i] {med('h5py') * 1000:.0f} ms; memory growth "
                f"{max(row['memory'] for row in rows):.0f} MB at most (goal <= 300 MB)"
            )
        if not args.no_gui:
            for path in files.values():
                gui = [gui_round(path, args.frames) for _ in range(args.rounds)]
                print(
                    f"viewer (offscreen MainWindow) {path.name}: File > Open to first paint "
                    f"{statistics.median(g['first'] for g in gui):.3f} s; go_to_slice + repaint "
                    f"{statistics.median(g['step'] for g in gui) * 1000:.0f} ms (median over "
                    f"{args.rounds} x 40 steps); memory growth "
                    f"{max(g['memory'] for g in gui):.0f} MB at most; load "
                    f"{os.getloadavg()[0]:.1f}"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
