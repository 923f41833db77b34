"""Side-by-side measurement for the benchmarks: interleaved rounds, the load average recorded,
optional reproducible load, and ratios only from interleaved runs.

- :class:`SideBySide` runs named workloads round by round (two alternate; three or more run in
  a new random order each round, so no workload always runs right after the same other one),
  records every time with its round and the load average before and after, and
  :meth:`SideBySide.ratio` prints the median and range of the per-round ratios. A ratio is
  refused (printed as such, not computed) when the two were not measured in the same rounds:
  times from separate runs are not comparable on a shared machine.
- :func:`busy` starts ``n`` ``python -c "while True: pass"`` processes for the duration of a
  ``with`` block and stops exactly those processes afterwards (a reproducible load).
- :func:`load_text` formats ``os.getloadavg()`` for the report.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


@contextlib.contextmanager
def busy(n: int, own_sessions: bool = False) -> Iterator[list[subprocess.Popen]]:
    """``n`` busy-looping Python processes while the block runs (none when n is 0).
    ``own_sessions``: each in a session of its own, as other programs on a desktop are (Linux
    autogroup shares the CPU between sessions first; in the benchmark's session the loops would
    share one session's part with the process measured)."""
    procs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=own_sessions)
        for _ in range(max(0, n))
    ]
    try:
        if procs:
            time.sleep(1.0)  # let the scheduler see them
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class SideBySide:
    """Times of named workloads measured in interleaved rounds."""

    def __init__(self, title: str):
        self.title = title
        self.times: dict[str, dict[int, float]] = {}
        self.loads: list[tuple[float, float]] = []  # (before, after) 1-min load per round

    def record(self, name: str, round_index: int, seconds: float) -> None:
        """Record a time measured elsewhere (e.g. in a subprocess) in round ``round_index``."""
        self.times.setdefault(name, {})[round_index] = seconds

    def run(
        self,
        workloads: dict[str, Callable[[], object]],
        rounds: int,
        warmup: int = 1,
        timer: Callable[[Callable[[], object]], float] | None = None,
        seed: int = 0,
    ) -> None:
        """``rounds`` interleaved rounds of every workload (after ``warmup`` untimed ones).
        ``timer(f)`` returns the seconds of one call (default: wall time of ``f()``).

        Two workloads alternate. Three or more run in a new random order each round (seeded, so
        a run is repeatable): rotating a fixed order keeps its cycle, so each workload would
        nearly always run right after the same other one and pay for what that one leaves
        behind (its threads, the X server's pending work, the caches). Opening a 600^2 image,
        QBI followed napari in 5 of 7 rounds and measured 1.3-1.5x ImageView's time; in random
        order 0.8-0.9x."""
        names = list(workloads)
        for name in names:  # the summary lists them in this order, whatever order they ran in
            self.times.setdefault(name, {})
        rng = random.Random(seed)
        for _ in range(warmup):
            for f in workloads.values():
                f()
        for r in range(rounds):
            before = os.getloadavg()[0]
            k = r % len(names)
            order = names[k:] + names[:k] if len(names) <= 2 else rng.sample(names, len(names))
            for name in order:
                f = workloads[name]
                if timer is None:
                    t0 = time.perf_counter()
                    f()
                    seconds = time.perf_counter() - t0
                else:
                    seconds = timer(f)
                self.record(name, r, seconds)
            self.loads.append((before, os.getloadavg()[0]))

    def note_load(self, before: float) -> None:
        """Record the load of a round run by the caller (with :meth:`record`)."""
        self.loads.append((before, os.getloadavg()[0]))

    def median(self, name: str) -> float:
        return statistics.median(self.times[name].values())

    def summary(self, unit: str = "ms", scale: float = 1e3, per_second: bool = False) -> None:
        lo = min((b for b, _ in self.loads), default=float("nan"))
        hi = max((a for _, a in self.loads), default=float("nan"))
        print(f"\n{self.title}")
        print(f"  measured under 1-min load {lo:.2f} .. {hi:.2f} ({load_text()} at the end)")
        for name, ts in self.times.items():
            v = sorted(ts.values())
            if not v:  # (a workload of no round: zero rounds run)
                continue
            med = statistics.median(v)
            rate = f"  {1 / med:8.1f} /s" if per_second else ""
            print(
                f"  {name:36s} median {med * scale:8.2f} {unit} "
                f"(min {v[0] * scale:.2f}, max {v[-1] * scale:.2f}, n={len(v)}){rate}"
            )

    def ratio(self, slow: str, fast: str, label: str, goal: str = "") -> float | None:
        """Print ``slow``'s time / ``fast``'s time per round (>1: ``fast`` is faster) as median
        and range over the rounds that measured both; refused when there are none."""
        a, b = self.times.get(slow, {}), self.times.get(fast, {})
        shared = sorted(set(a) & set(b))
        if not shared:
            why = "not measured" if not a or not b else "not measured in the same rounds"
            print(f"  ratio {label}: refused ({why}: times from separate runs do not compare)")
            return None
        rs = sorted(a[r] / b[r] for r in shared)
        med = statistics.median(rs)
        extra = f"  [goal {goal}]" if goal else ""
        print(
            f"  ratio {label}: {med:.2f}x (range {rs[0]:.2f}..{rs[-1]:.2f}, "
            f"{len(rs)} interleaved rounds){extra}"
        )
        return med
