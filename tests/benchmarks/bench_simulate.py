"""Benchmark: how long simulate_radiograph takes (the demo simulates at start-up).

Run: .venv/bin/python tests/benchmarks/bench_simulate.py
Prints the median over several seeds at 512 and 2048, one run at 4096, and the time to write
one 2048x2048 image with its ground truth (write_simulated_set). Goal: 2048 well under 1 s.
"""

from __future__ import annotations

import statistics
import tempfile
import time

from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph, write_simulated_set


def timed(size: int, runs: int) -> tuple[float, int]:
    params = SimulationParams(height=size, width=size)
    simulate_radiograph(params, seed=999)  # warm-up: imports, allocator
    times = []
    spots = 0
    for seed in range(runs):
        start = time.perf_counter()
        sim = simulate_radiograph(params, seed=seed)
        times.append(time.perf_counter() - start)
        spots += len(sim.spots)
    return statistics.median(times), spots // runs


def main() -> None:
    for size, runs in ((512, 15), (2048, 9), (4096, 1)):
        median, spots = timed(size, runs)
        label = "median" if runs > 1 else "one run"
        print(
            f"simulate_radiograph {size}x{size}: {label} {median * 1000:.0f} ms "
            f"over {runs} seed(s), ~{spots} spots per image"
        )
    with tempfile.TemporaryDirectory() as out:
        params = SimulationParams()
        start = time.perf_counter()
        run_job(write_simulated_set(out, 1, 0, params))
        print(
            f"write_simulated_set 1 x 2048x2048 (simulate + 3 TIFFs + JSON): "
            f"{(time.perf_counter() - start) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
