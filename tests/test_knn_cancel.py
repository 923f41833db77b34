"""kNN prediction stays cancellable inside its chunks, and the blocked search stays exact."""

from __future__ import annotations

import time

import numpy as np
import pytest

from qbi_desktop.core.baselines import BaselineConfig, L2Neighbors, run_baseline
from qbi_desktop.core.datasets import ArrayDataset


def _exact_neighbours(X: np.ndarray, Y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force in float64, ties to the smallest training index."""
    D = ((X[:, None, :].astype(np.float64) - Y[None].astype(np.float64)) ** 2).sum(-1)
    order = np.lexsort((np.broadcast_to(np.arange(len(Y)), D.shape), D), axis=1)[:, :k]
    return np.sqrt(np.take_along_axis(D, order, 1)), order


@pytest.mark.parametrize("k", [1, 3, 7])
def test_search_in_small_blocks_equals_the_exact_search_with_ties(k):
    # pixel values 0..3 over 12 features: many exactly tied distances across block boundaries
    rng = np.random.default_rng(k)
    Y = rng.integers(0, 4, (3000, 12)).astype(np.float32)
    X = rng.integers(0, 4, (200, 12)).astype(np.float32)
    want_d, want_i = _exact_neighbours(X, Y, k)
    nn = L2Neighbors(Y)
    steps = nn.search(X, k, block_macs=1)  # 256 training rows per block: 12 blocks
    n_steps = 0
    while True:
        try:
            next(steps)
            n_steps += 1
        except StopIteration as stop:
            dist, ind = stop.value
            break
    assert n_steps >= 12
    np.testing.assert_array_equal(ind, want_i)
    np.testing.assert_allclose(dist, want_d, rtol=1e-12, atol=1e-9)
    # the one-call form gives the same
    np.testing.assert_array_equal(nn.kneighbors(X, k, return_distance=False), want_i)


def _dataset(n: int, d_side: int = 28) -> ArrayDataset:
    rng = np.random.default_rng(0)
    return ArrayDataset(
        rng.integers(0, 255, (n, d_side, d_side), dtype=np.uint8),
        rng.integers(0, 10, n),
        class_names=[str(i) for i in range(10)],
    )


def test_a_long_chunk_yields_inside_and_stops_at_once_when_closed():
    # One chunk holds every test row (chunk_rows): before, the job yielded only after the whole
    # chunk, so a cancel waited for all of it. Now the search yields between blocks.
    ds = _dataset(12000)
    job = run_baseline(BaselineConfig(model="knn", chunk_rows=4000, train_score_max=0), ds)
    times, seen = [], []
    for progress in job:
        times.append(time.perf_counter())
        seen.append(progress)
        if (
            "predicting test items" in progress.message
            and len([p for p in seen if "predicting test items" in p.message]) >= 5
        ):
            break
    t0 = time.perf_counter()
    job.close()
    assert time.perf_counter() - t0 < 0.5
    predicting = [p for p in seen if "predicting test items" in p.message]
    # five yields within the first chunk: none of its rows is counted as done yet
    assert len(predicting) == 5 and all(p.done == predicting[0].done for p in predicting)
    with pytest.raises(StopIteration):
        next(job)


def test_yields_inside_a_chunk_are_a_small_part_of_the_chunk():
    # The longest wait for a cancel is the longest gap between two yields: a fraction of the
    # chunk now (whatever the machine's load, since both stretch alike), the whole chunk before.
    ds = _dataset(12000)
    job = run_baseline(BaselineConfig(model="knn", chunk_rows=4000, train_score_max=0), ds)
    stamps = []
    for progress in job:
        if "predicting test items" in progress.message:
            stamps.append(time.perf_counter())
            if progress.done > 0:  # the single chunk has ended
                break
    job.close()
    assert len(stamps) >= 8
    gaps = np.diff(stamps)
    chunk = stamps[-1] - stamps[0]
    assert gaps.max() <= chunk / 4, (gaps.max(), chunk)
