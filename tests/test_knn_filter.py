"""The low-dimensional filter of our exact kNN: the same neighbours, distances and ties as the
full search (and scikit-learn), on real MNIST and on data built to have exact ties; data the
projection cannot summarise fall back to the full search with the same answer."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.core.baselines import L2Neighbors
from qbi_desktop.core.baselines.knn import run_steps
from qbi_desktop.core.datasets import mnist_dataset

try:
    from tests.conftest import MNIST, need
except ImportError:  # pragma: no cover
    from conftest import MNIST, need


@pytest.fixture(scope="module")
def mnist_rows():
    ds = mnist_dataset(need(MNIST), "all")
    images, splits = ds.images(), ds.splits()
    train = images[splits == "train"].reshape(-1, 784).astype(np.float32)
    test = images[splits == "test"].reshape(-1, 784).astype(np.float32)
    return train, test


@pytest.mark.parametrize("k", [1, 3])
def test_filtered_search_finds_the_full_searchs_neighbours_on_mnist(mnist_rows, k):
    from sklearn.neighbors import NearestNeighbors

    train, test = mnist_rows
    queries = test[::40]  # 250 test digits
    fast = L2Neighbors(train, low_dims=True)
    dist, ind = fast.kneighbors(queries, k)
    assert fast.low_dims and fast._projection is not None  # the filter answered
    full_dist, full_ind = L2Neighbors(train).kneighbors(queries, k)
    assert np.array_equal(ind, full_ind)
    assert np.array_equal(dist, full_dist)
    sk_dist, sk_ind = NearestNeighbors(n_neighbors=k).fit(train).kneighbors(queries)
    assert np.array_equal(ind, sk_ind)
    assert np.allclose(dist, sk_dist, rtol=1e-6)
    # Training digits searched against their own set: each finds itself at distance 0.
    d0, i0 = fast.kneighbors(train[:64], 1)
    assert np.array_equal(i0[:, 0], np.arange(64)) and not d0.any()


def _low_rank_with_duplicates(seed: int = 3):
    rng = np.random.default_rng(seed)
    n, d, rank = 9000, 300, 12
    Y = (rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d))).astype(np.float32)
    Y = np.round(Y * 8) / 8  # a coarse grid: exactly representable, equal distances happen
    dup = rng.choice(n // 2, 40, replace=False)
    Y[n - 40 :] = Y[dup]  # exact copies at later indices
    return Y, dup


def test_ties_go_to_the_smallest_training_index_as_in_the_full_search():
    Y, dup = _low_rank_with_duplicates()
    fast = L2Neighbors(Y, low_dims=True)
    full = L2Neighbors(Y)
    rng = np.random.default_rng(4)
    queries = np.concatenate([Y[dup], Y[dup] + rng.integers(-1, 2, (40, 300)) / 8])
    queries = queries.astype(np.float32)
    for k in (1, 2, 4):
        dist, ind = fast.kneighbors(queries, k)
        full_dist, full_ind = full.kneighbors(queries, k)
        assert np.array_equal(ind, full_ind) and np.array_equal(dist, full_dist)
    assert fast.low_dims  # answered by the filter, not the fallback
    # A duplicated row's nearest are its two copies at distance 0, the earlier index first.
    dist, ind = fast.kneighbors(Y[dup], 2)
    assert np.array_equal(ind[:, 0], dup) and np.array_equal(ind[:, 1], np.arange(8960, 9000))
    assert not dist.any()


def test_noise_the_projection_cannot_summarise_is_searched_in_full():
    rng = np.random.default_rng(5)
    Y = rng.standard_normal((9000, 300)).astype(np.float32)
    queries = (Y[:30] + 0.5 * rng.standard_normal((30, 300))).astype(np.float32)
    fast = L2Neighbors(Y, low_dims=True)
    ind = fast.kneighbors(queries, 2, return_distance=False)
    assert not fast.low_dims and fast._projection is None  # 64 axes hold too little variance
    assert np.array_equal(ind, L2Neighbors(Y).kneighbors(queries, 2, return_distance=False))


def test_too_many_rows_surviving_the_filter_fall_back_to_the_full_search():
    # 8 distinct rows, each ~1100 times over 300 features: all variance on the axes, but every
    # copy of a query's nearest row ties with it, so the filter rules out too few
    rng = np.random.default_rng(6)
    mix = rng.integers(0, 2, (3, 300))
    Y = (rng.integers(0, 2, (9000, 3)) @ mix).astype(np.float32)
    queries = (rng.integers(0, 2, (50, 3)) @ mix).astype(np.float32)
    fast = L2Neighbors(Y, low_dims=True)
    dist, ind = fast.kneighbors(queries, 3)
    assert fast._projection is not None and not fast.low_dims  # built, tried, gave way
    full_dist, full_ind = L2Neighbors(Y).kneighbors(queries, 3)
    assert np.array_equal(ind, full_ind) and np.array_equal(dist, full_dist)


def test_the_filtered_search_yields_so_a_cancel_stops_it(mnist_rows):
    train, test = mnist_rows
    fast = L2Neighbors(train, low_dims=True)
    steps = fast.search(test[:500], 1)
    yields = 0
    for _ in steps:  # building the projection and each block are cancel points
        yields += 1
        if yields == 3:
            steps.close()
            break
    assert yields == 3
    # Once built, the projection serves the next search, which still yields between blocks.
    ind = run_steps(fast.search(test[:100], 1, return_distance=False))
    assert np.array_equal(ind, L2Neighbors(train).kneighbors(test[:100], 1, False))
