"""Adaptive chunk sizes for long predictions: each chunk about a target time, so that a job that
yields between chunks stays cancellable, without letting a fixed per-chunk cost dominate.

Why a model and not a plain rate: a kNN chunk multiplies its queries against the *whole* training
set, so a chunk costs ``a + b * rows`` where ``a`` (streaming 188 MB of MNIST from memory) does
not shrink with the chunk. Sizing by rows / seconds alone treats ``a`` as per-row work: on a busy
machine ``a`` alone exceeded the target, chunks shrank to 8 rows and stayed there (every chunk
paying ``a`` again: 24.5 ms per row instead of 0.59 ms). Here ``a`` and ``b`` are fitted by least
squares on the most recent chunks (so the sizes follow the load both ways), chunk sizes alternate
by +/-12 % so that ``a`` and ``b`` stay separable, and the chunk is made long enough for ``a`` to
be at most a fifth of it, within ``max_seconds`` (to which the 256-row floor gives way, down to
32 rows, only on a heavily oversubscribed machine). ``max_seconds`` is the cancel bound of a
predictor that runs a chunk in one call; our kNN yields inside its chunks (between blocks of
training rows), so its chunks may run longer (predict.py) and a cancel still takes effect within
one block.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class ChunkSizer:
    """Rows for the next chunk from the times of the recent ones.

    ``target_seconds``: the aim for one chunk; ``max_seconds``: what a chunk should never exceed
    (a cancel waits for the running chunk); ``floor``/``ceiling``: row bounds (the caller caps
    ``ceiling`` by memory). The floor (256 MNIST rows: ~0.15 s of per-row work on a quiet core)
    yields to ``max_seconds`` only when the fitted model says a floor-sized chunk would break the
    cancel bound (a heavily oversubscribed machine), and never below ``min_rows``.
    """

    WINDOW = 8
    DITHER = 0.12

    def __init__(
        self,
        first: int,
        target_seconds: float = 0.2,
        max_seconds: float = 0.4,
        floor: int = 256,
        ceiling: int = 65536,
        min_rows: int = 32,
    ):
        self.ceiling = max(1, int(ceiling))
        self.floor = max(1, min(int(floor), self.ceiling))
        self.min_rows = max(1, min(int(min_rows), self.floor))
        self.target = float(target_seconds)
        self.max_seconds = max(float(max_seconds), self.target)
        self.rows = int(np.clip(first, self.floor, self.ceiling))
        self.fixed = 0.0  # a: seconds per chunk whatever its size
        self.per_row = None  # b: seconds per row
        self._seen: deque[tuple[int, float]] = deque(maxlen=self.WINDOW)
        self._step = 0

    def observe(self, rows: int, seconds: float) -> int:
        """Record a chunk of ``rows`` that took ``seconds``; returns the rows for the next."""
        if rows <= 0:
            return self.rows
        self._seen.append((int(rows), max(float(seconds), 1e-6)))
        self._fit()
        self._step += 1
        want = self._wanted()
        dither = 1 + self.DITHER * (1 if self._step % 2 else -1)
        # grow at most 2x per chunk (one slow reading must not start a huge chunk); shrink at once
        self.rows = int(np.clip(min(want * dither, 2 * self.rows), self._lowest(), self.ceiling))
        return self.rows

    def _fit(self) -> None:
        r = np.array([s[0] for s in self._seen], dtype=np.float64)
        t = np.array([s[1] for s in self._seen], dtype=np.float64)
        fixed = self.fixed
        if len(r) >= 3 and r.max() >= 1.15 * r.min():
            slope, intercept = np.polyfit(r, t, 1)
            if slope > 0:
                fixed = intercept
        # a >= 0 and below the fastest chunk seen; b from what a leaves of the recent chunks
        fixed = float(np.clip(fixed, 0.0, 0.9 * t.min()))
        self.fixed = fixed
        self.per_row = max(float(np.mean((t - fixed) / r)), 1e-9)

    def _wanted(self) -> float:
        a, b = self.fixed, self.per_row
        budget = float(np.clip(5 * a, self.target, self.max_seconds))
        return max(budget - a, 0.0) / b

    def _lowest(self) -> int:
        a, b = self.fixed, self.per_row
        if b is None or a + b * self.floor <= self.max_seconds:
            return self.floor
        # the cancel bound first: as many rows as fit in max_seconds, at least min_rows
        return int(np.clip((self.max_seconds - a) / b, self.min_rows, self.floor))
