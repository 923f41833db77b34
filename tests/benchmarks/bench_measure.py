"""Measure tools on a 16384^2 uint16 plane: medians of the live region statistics (every k-th row
above ~0.5 M pixels), the exact statistics (the worker's job), and a full-diagonal line profile.

    python tests/benchmarks/bench_measure.py [--size 16384] [--repeat 7]

The live figure must stay under a frame (16 ms) for any region size; the exact one is what the
worker spends after the drag ends.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.measure import LIVE_MAX_PIXELS, line_profile, roi_stats, roi_stats_job

BEST: list[float] = []  # the fastest run of each figure (a shared machine's load shows apart)


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    BEST.append(min(times))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    n = args.size
    rng = np.random.default_rng(0)
    image = np.empty((n, n), np.uint16)
    for y in range(0, n, 1024):  # filled in slabs: no float64 temporary of the whole plane
        image[y : y + 1024] = rng.integers(0, 60000, (min(1024, n - y), n), dtype=np.uint16)
    print(f"plane {n}x{n} uint16 ({image.nbytes / 2**20:.0f} MB), live budget {LIVE_MAX_PIXELS} px")
    for frac in (0.05, 0.25, 1.0):
        side = int(n * frac)
        rect = ((n - side) / 2, (n - side) / 2, side, side)
        for kind in ("rectangle", "ellipse"):

            def live_stats(kind=kind, rect=rect):
                return roi_stats(image, kind, rect, LIVE_MAX_PIXELS)

            live = median_ms(live_stats, args.repeat)
            step = live_stats().step
            print(
                f"live  {kind:9s} {side:>6}^2 px: median {live:7.2f} ms "
                f"(1 row in {step}; best {BEST[-1]:.2f})"
            )
    rect = (0, 0, n, n)
    exact = median_ms(lambda: run_job(roi_stats_job(image, "ellipse", rect)), 3)
    print(f"exact ellipse   {n:>6}^2 px: median {exact:7.1f} ms (worker, after release)")
    prof = median_ms(lambda: line_profile(image, (0.5, 0.5), (n - 0.5, n - 0.5)), args.repeat)
    print(
        f"profile bilinear, full diagonal ({int(n * 2**0.5)} samples): median {prof:.2f} ms "
        f"(best {BEST[-1]:.2f})"
    )


if __name__ == "__main__":
    main()
