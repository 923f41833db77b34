"""Chunked prediction, locally or on a dask.distributed cluster."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.baselines.config import SCHEDULER_TIMEOUT_S
from qbi_desktop.core.baselines.plan import _Counter
from qbi_desktop.core.chunk_sizer import ChunkSizer
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress

if TYPE_CHECKING:
    from qbi_desktop.core.baselines.plan import _Plan

# Chunked prediction: no chunk below this many rows (each pays a fixed cost: kNN reads the whole
# training set), none meant to take longer than this (a cancel waits for the running chunk), and
# the memory a chunk's scores may take. A predictor with ``steps`` (our kNN) yields inside its
# chunks too, so a cancel does not wait for the chunk: its chunks may run longer, which keeps the
# fixed cost a small share on a busy machine.
CHUNK_FLOOR_ROWS = 256
CHUNK_MAX_SECONDS = 0.4
STEPPED_CHUNK_MAX_SECONDS = 2.0
CHUNK_MEMORY_BYTES = 512 * 2**20


def _initial_rows(plan: _Plan, n_train: int, n_features: int) -> int:
    c = plan.config
    if c.chunk_rows is not None:
        return c.chunk_rows
    if c.model != "knn":
        return 4096
    # Brute-force L2 runs through BLAS at ~1e10 multiply-adds/s on a laptop core; other metrics
    # are ~10x slower. The first chunk only needs to be about right: later ones adapt.
    rate = 2e10 if c.metric in ("l2", "cosine") else 2e9
    return int(np.clip(c.chunk_seconds * rate / max(1, n_train * n_features), 16, 4096))


def _predict(
    plan: _Plan,
    predictor: Callable[[np.ndarray], np.ndarray],
    chunkable: bool,
    X: np.ndarray,
    counter: _Counter,
    label: str,
    n_train: int,
    client: Any,
) -> Job[np.ndarray]:
    n = len(X)
    if n == 0:
        return np.zeros(0)
    if client is not None and chunkable:
        return (yield from _predict_remote(plan, predictor, X, counter, label, client))
    rows = n if not chunkable else _initial_rows(plan, n_train, X.shape[1])
    steps = getattr(predictor, "steps", None)
    sizer = None
    if chunkable and plan.config.chunk_rows is None:
        # Each chunk's scores against the whole training set are held at once (float32, and
        # about as much again while ranking them): cap a chunk's rows by that memory.
        ceiling = max(8, min(65536, CHUNK_MEMORY_BYTES // max(1, 8 * n_train)))
        sizer = ChunkSizer(
            rows,
            target_seconds=plan.config.chunk_seconds,
            max_seconds=max(
                plan.config.chunk_seconds,
                CHUNK_MAX_SECONDS if steps is None else STEPPED_CHUNK_MAX_SECONDS,
            ),
            floor=min(CHUNK_FLOOR_ROWS, n),
            ceiling=ceiling,
        )
        rows = sizer.rows
    out = []
    start = 0
    while start < n:
        t0 = time.perf_counter()
        if steps is None:
            out.append(predictor(X[start : start + rows]))
        else:
            # a cancel point between the steps of the chunk (repeating the last progress)
            part = steps(X[start : start + rows])
            now = Progress(counter.done, counter.total, f"{label}: {start}/{n}")
            while True:
                try:
                    next(part)
                except StopIteration as stop:
                    out.append(stop.value)
                    break
                yield now
        elapsed = time.perf_counter() - t0
        took = min(rows, n - start)
        start += took
        counter.done += took
        yield Progress(counter.done, counter.total, f"{label}: {start}/{n}")
        if sizer is not None:
            # a + b * rows fitted on the recent chunks: the fixed cost (reading the whole
            # training set) is not mistaken for per-row work, and sizes recover with the load
            rows = sizer.observe(took, elapsed)
    return np.concatenate(out)


def _remote_apply(predictor: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> np.ndarray:
    return predictor(X)


def _predict_remote(
    plan: _Plan,
    predictor: Callable,
    X: np.ndarray,
    counter: _Counter,
    label: str,
    client: Any,
) -> Job[np.ndarray]:
    from distributed import as_completed

    rows = plan.config.chunk_rows or 1000
    starts = list(range(0, len(X), rows))
    model = client.scatter(predictor, broadcast=True, hash=False)
    chunks = client.scatter([X[s : s + rows] for s in starts], hash=False)
    futures = [client.submit(_remote_apply, model, ch, pure=False) for ch in chunks]
    order = {f.key: i for i, f in enumerate(futures)}
    parts: list[np.ndarray | None] = [None] * len(futures)
    try:
        finished = 0
        for fut in as_completed(futures, loop=client.loop):
            i = order[fut.key]
            parts[i] = fut.result()
            finished += len(parts[i])
            counter.done += len(parts[i])
            yield Progress(
                counter.done, counter.total, f"{label} on the cluster: {finished}/{len(X)}"
            )
    finally:
        # Cancelled or failed: free the cluster's work and memory.
        client.cancel([*futures, *chunks, model])
    return np.concatenate(parts)


@contextlib.contextmanager
def _client(scheduler: Any):
    if scheduler is None:
        yield None
        return
    if not isinstance(scheduler, str):
        yield scheduler  # the caller's Client: not ours to close
        return
    try:
        from distributed import Client
    except ImportError as exc:
        raise UserFacingError(
            'scheduler: dask.distributed is not installed (pip install "dask[distributed]")'
        ) from exc
    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UserFacingError(f"scheduler: cannot reach {scheduler} ({exc})") from exc
    try:
        yield client
    finally:
        client.close()
