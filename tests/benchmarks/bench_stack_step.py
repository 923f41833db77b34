"""Benchmark stepping through a 2048^2 NeXus stack in the real window (issue 16, item 2).

Run: .venv/bin/python tests/benchmarks/bench_stack_step.py [--frames 1000] [--steps 60] [--rounds 3]

A gzip NeXus scan of real radiograph frames is written to /tmp (as bench_nexus does; deleted
after) and opened in an offscreen MainWindow with the Annotate dock. Per round, three walks:
forward (slices 1, 2, 3 ...), back, and random; each step is ``go_to_slice`` plus a repaint of
the canvas (the time to the painted frame), then the events that came with it are processed (what
the window does after the paint: deferred updates, the next slice read ahead), timed apart as
"settle". One slice is painted with a stroke first: its unsaved mask must survive the walks.
Printed: median step to painted frame and median settle per walk, resident memory growth after
the walks (goal: step <= 100 ms, memory growth <= 300 MB whatever the number of slices visited).
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

from bench_nexus import rss_mb, write_scan  # noqa: E402


def walk(h, indices) -> tuple[list[float], list[float]]:
    window = h.window
    painted, settled = [], []
    for index in indices:
        t0 = time.perf_counter()
        window.go_to_slice(int(index))
        window.canvas.viewport().repaint()
        t1 = time.perf_counter()
        h.app.processEvents()
        painted.append(t1 - t0)
        settled.append(time.perf_counter() - t1)
        h.process(0.005)  # an arrow key held down repeats every ~30 ms; a little of it here
    return painted, settled


def paused_walk(h, indices) -> list[float]:
    """Steps with a pause after each: the time from the step to everything settled (the slice's
    mask session ready to paint, its histogram in the Levels dock)."""
    window = h.window
    panel = window.panels["annotate"]
    out = []
    for index in indices:
        t0 = time.perf_counter()
        window.go_to_slice(int(index))
        window.canvas.viewport().repaint()
        while not (
            panel.session is not None
            and panel.session.ready
            and window.current.histogram is not None
            and not window._slice_panels_timer.isActive()
        ):
            h.app.processEvents()
            time.sleep(0.001)
            if time.perf_counter() - t0 > 30:
                raise SystemExit(f"slice {index} never settled")
        out.append(time.perf_counter() - t0)
        h.process(0.05)
    return out


def one_round(path: Path, frames: int, steps: int, rng) -> dict[str, float]:
    from bench_viewer import Harness

    h = Harness()
    before = rss_mb()
    h.open_until_drawn(path)
    window = h.window
    panel = window.panels["annotate"]
    panel.unsaved_answer = "discard"
    window.go_to_slice(1)
    t0 = time.perf_counter()
    while not (panel.session is not None and panel.session.ready):
        h.process(0.01)
        if time.perf_counter() - t0 > 30:
            raise SystemExit("slice 1's mask session never became ready")
    painted_session = panel.session
    opened = rss_mb()
    editor = painted_session.editor  # one unsaved stroke, as the brush makes it
    editor.begin_stroke(1)
    editor.dab(300.0, 300.0, 20.0)
    panel.controller.mask_changed.emit(editor.end_stroke() and None)
    out: dict[str, float] = {}
    start = 2
    forward = list(range(start, min(frames, start + steps)))
    back = forward[::-1]
    rand = rng.integers(0, frames, steps)
    for name, indices in (("forward", forward), ("back", back), ("random", rand)):
        p, s = walk(h, indices)
        out[name] = statistics.median(p)
        out[name + " settle"] = statistics.median(s)
    out["paused"] = statistics.median(paused_walk(h, rng.integers(0, frames, 10)))
    h.process(0.5)
    out["memory"] = rss_mb() - before
    out["memory stepping"] = rss_mb() - opened
    out["sessions"] = len(panel.sessions)
    window.go_to_slice(1)
    h.process(0.2)
    out["kept"] = float(panel.session is painted_session)
    h.close_all()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=60, help="slice steps per walk")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="bench_stack_step_", dir="/tmp"))
    try:
        path = tmp / "scan.nxs"
        write_scan(path, args.frames, compressed=True)
        print(
            f"{path.name}: {args.frames} x 2048^2 uint16 gzip, {path.stat().st_size / 1e9:.2f} GB"
        )
        rng = np.random.default_rng(0)
        rows = []
        for r in range(args.rounds):
            row = one_round(path, args.frames, args.steps, rng)
            rows.append(row)
            print(
                f"  round {r + 1}: "
                + ", ".join(
                    f"{k} {v * 1000:.0f} ms"
                    for k, v in row.items()
                    if k
                    in (
                        "forward",
                        "forward settle",
                        "back",
                        "back settle",
                        "random",
                        "random settle",
                    )
                )
                + f"; settled after a pause {row['paused'] * 1000:.0f} ms"
                + f"; memory +{row['memory']:.0f} MB; {row['sessions']:.0f} mask sessions kept;"
                f" load {os.getloadavg()[0]:.1f}"
            )
        for key in ("forward", "back", "random"):
            print(
                f"median step to painted frame, {key}: "
                f"{statistics.median(r[key] for r in rows) * 1000:.0f} ms (goal <= 100 ms); "
                f"then settle {statistics.median(r[key + ' settle'] for r in rows) * 1000:.0f} ms"
            )
        print(
            "median step to everything settled (session ready, histogram shown), with a pause "
            f"after each step: {statistics.median(r['paused'] for r in rows) * 1000:.0f} ms"
        )
        print(
            f"memory growth after {3 * args.steps + 10} steps: "
            f"{max(r['memory'] for r in rows):.0f} MB at most from before the open, "
            f"{max(r['memory stepping'] for r in rows):.0f} MB at most from the first slice "
            "shown (goal <= 300 MB)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
