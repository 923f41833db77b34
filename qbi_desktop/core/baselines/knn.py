"""Our exact k-nearest-neighbour search and vote."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, TypeVar

import numpy as np

from qbi_desktop.core.baselines import knn_filter
from qbi_desktop.core.baselines.features import _block_rows
from qbi_desktop.core.errors import UserFacingError

T = TypeVar("T")

# Work of one block of the distance computation (queries x training rows x features multiply-
# adds): between blocks a search yields, which is where a cancel takes effect. 2^30 is ~20 ms of
# float32 GEMM on a quiet core here and stays well under 0.5 s with two busy processes.
BLOCK_MACS = 2**30


# From this many blocks on, blocks run on one thread per core, each with a single-threaded BLAS,
# taken from a queue as threads come free. On a busy machine a multi-threaded GEMM per block
# waits at every block for its slowest thread (a descheduled one): MNIST 1-NN took 1.6-2.2x
# longer that way with two busy processes; a free thread here just takes the next block.
THREADED_MIN_BLOCKS = 4
_blas_controller: Any = None


def _one_blas_thread() -> Any:
    """A context in which BLAS runs single-threaded (threadpoolctl, scikit-learn's own)."""
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


def _each_block(
    fn: Callable[[int], Any], items: list[int], out: list[Any]
) -> Generator[None, None, None]:
    """``out[i] = fn(items[i])`` for every item, yielding after each one done (a cancel point);
    on one thread per core when there are enough items. Closing the generator drops the blocks
    not started (a running one finishes in the background)."""
    workers = max(1, min(os.cpu_count() or 1, 8))
    if workers == 1 or len(items) < THREADED_MIN_BLOCKS:
        for i, item in enumerate(items):
            out[i] = fn(item)
            yield
        return
    with _one_blas_thread():
        pool = ThreadPoolExecutor(workers, thread_name_prefix="knn")
        try:
            queue = iter(enumerate(items))
            pending = {}
            for i, item in queue:
                pending[pool.submit(fn, item)] = i
                if len(pending) == workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    out[pending.pop(future)] = future.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(fn, nxt[1])] = nxt[0]
                    yield
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def nearest_k(
    rows: np.ndarray,
    cols: np.ndarray,
    exact: np.ndarray,
    xnorm: np.ndarray,
    k: int,
    return_distance: bool,
) -> Any:
    """The k nearest of each query among its candidate pairs (query ``rows``, training ``cols``,
    ``exact`` = ``|y|^2 - 2 x.y``), ties to the smallest training index: ``(dist, ind)`` or
    ``ind``; None when a query has fewer than k candidates."""
    m = len(xnorm)
    order = np.lexsort((cols, exact, rows))
    rows, cols, exact = rows[order], cols[order], exact[order]
    first = np.searchsorted(rows, np.arange(m))
    counts = np.diff(np.append(first, len(rows)))
    if np.any(counts < k):
        return None
    pick = (first[:, None] + np.arange(k)).ravel()
    ind = cols[pick].reshape(m, k)
    if not return_distance:
        return ind
    dist = np.sqrt(np.maximum(exact[pick].reshape(m, k) + xnorm[:, None], 0.0))
    return dist, ind


def run_steps(steps: Generator[Any, None, T]) -> T:
    """Drive a generator of steps to its end and return what it returns."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


# -- models -----------------------------------------------------------------------------------


class L2Neighbors:
    """Exact Euclidean k-nearest-neighbour search, fast: float32 GEMM, float64 verification.

    The squared distances ``|y|^2 - 2 x.y`` (``|x|^2`` is the same along a row) are computed for a
    chunk of queries against all training rows with one float32 matrix product (twice the speed
    of float64, what makes us faster than scikit-learn's brute force). Float32 rounds, so every
    training row whose approximate distance lies within a rigorous error bound of the k-th
    smallest is kept as a candidate, and the candidates (a handful per query) are re-ranked with
    exact float64 arithmetic. The result equals an exact search, ties going to the smallest
    training index. Error bound: a float32 dot product of length d errs by at most
    ``d * u * sum|x_i y_i| <= d * u * |x| |y|`` (u = 2^-24); the norms add a few ulps.

    ``low_dims=True``: large, wide training sets (MNIST) are searched through a filter in the
    space of their principal axes (knn_filter.py), ~5-10x less work for the same result; the
    axes are computed at the first search (~0.3 s).
    """

    def __init__(self, Y: np.ndarray, low_dims: bool = False):
        self.low_dims = low_dims
        self._projection: knn_filter.Projection | None = None
        self.Y = np.ascontiguousarray(Y, dtype=np.float32)
        # Exact float64 squared norms, a block at a time (no float64 copy of the whole set).
        self.norms = np.empty(len(self.Y))
        step = _block_rows(4 * self.Y.shape[1] if self.Y.ndim == 2 else 4)
        for s in range(0, len(self.Y), step):
            block = self.Y[s : s + step]
            self.norms[s : s + step] = np.einsum("ij,ij->i", block, block, dtype=np.float64)
        self.norms32 = self.norms.astype(np.float32)
        self.max_norm = float(np.sqrt(self.norms.max())) if len(Y) else 0.0

    def prepare(self, n_neighbors: int) -> Generator[None, None, None]:
        """Compute what the searches will use (the filter's axes) now, yielding between steps."""
        if self._projection is None and self._filtered(self.Y.shape[-1], n_neighbors):
            self._projection = yield from knn_filter.Projection.build(self.Y, self.norms)
            if self._projection is None:
                self.low_dims = False  # the data's variance is spread: search in full

    def _filtered(self, d: int, k: int) -> bool:
        return self.low_dims and self.Y.ndim == 2 and knn_filter.usable(len(self.Y), d, k)

    def kneighbors(self, X: np.ndarray, n_neighbors: int, return_distance: bool = True) -> Any:
        """``(dist, ind)`` (or ``ind``) of the ``n_neighbors`` nearest training rows per query."""
        return run_steps(self.search(X, n_neighbors, return_distance))

    def search(
        self,
        X: np.ndarray,
        n_neighbors: int,
        return_distance: bool = True,
        block_macs: int = BLOCK_MACS,
    ) -> Generator[None, None, Any]:
        """:meth:`kneighbors` as a generator that yields between blocks of training rows (each
        about ``block_macs`` multiply-adds, at least 256 rows) and returns the result: a caller
        that stops iterating stops the search within one block, however many queries it has."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if len(X) and self._filtered(X.shape[1], n_neighbors):
            yield from self.prepare(n_neighbors)
        if self._projection is not None and self._filtered(X.shape[1], n_neighbors):
            result = yield from knn_filter.filtered_search(
                self, self._projection, X, n_neighbors, return_distance, block_macs
            )
            if result is not None:
                return result
            self.low_dims = False  # data the projection does not summarise: search in full
        return (yield from self._full_search(X, n_neighbors, return_distance, block_macs))

    def _full_search(
        self, X: np.ndarray, n_neighbors: int, return_distance: bool, block_macs: int
    ) -> Generator[None, None, Any]:
        k = n_neighbors
        m, d = X.shape
        n = len(self.Y)
        block = int(np.clip(block_macs // max(1, m * d), 256, max(n, 1)))
        approx = np.empty((m, n), dtype=np.float32)
        # float64 accumulation of float32 products (which are exact in float64).
        xnorm = np.einsum("ij,ij->i", X, X, dtype=np.float64)
        u = float(np.finfo(np.float32).eps) / 2
        err = 2 * (d + 2) * u * np.sqrt(xnorm) * self.max_norm + 8 * u * float(self.norms.max())
        every = np.arange(m)
        if k == 1:
            # Usually the minimum is alone within the error bound: check with the second
            # minimum (kept block by block) instead of scanning for candidates, and scan only
            # the rows with a near tie.
            best = np.full(m, np.inf, dtype=np.float32)
            best_at = np.zeros(m, dtype=np.intp)
            second = np.full(m, np.inf, dtype=np.float32)
        else:
            # An upper bound of the k-th smallest without sorting the row: split the columns
            # into g >= k groups; the k smallest group minima are k distinct entries, so the k-th
            # smallest entry is at most the k-th smallest group minimum (exact when g = n).
            starts = np.linspace(0, n, min(n, max(8 * k, 32)) + 1).astype(np.int64)[:-1]

        def one_block(s: int, approx: np.ndarray = approx) -> Any:
            e = min(n, s + block)
            part = approx[:, s:e]
            np.matmul(X, self.Y[s:e].T, out=part)
            part *= -2.0
            part += self.norms32[s:e]
            if k != 1:
                local = starts[(starts > s) & (starts < e)] - s
                return np.minimum.reduceat(part, np.concatenate([[0], local]), axis=1)
            at = part.argmin(axis=1)
            low = part[every, at]
            part[every, at] = np.inf
            runner = part.min(axis=1)
            part[every, at] = low
            return at + s, low, runner

        firsts = list(range(0, n, block))
        results: list[Any] = [None] * len(firsts)
        yield from _each_block(one_block, firsts, results)
        if k == 1:
            # in block order: ties go to the smallest index (an equal minimum in a later block
            # does not win)
            for at, low, runner in results:
                new = low < best
                second = np.where(
                    new, np.minimum(np.minimum(second, best), runner), np.minimum(second, low)
                )
                best = np.where(new, low, best)
                best_at = np.where(new, at, best_at)
        else:
            minima = results
        if k == 1:
            limit = self._limit(best, err)
            tied = np.flatnonzero(second <= limit)
            near = approx[tied]
            near[np.arange(len(tied)), best_at[tied]] = np.inf
            t_rows, t_cols = np.nonzero(near <= limit[tied, None])
            del near
            rows = np.concatenate([every, tied[t_rows]])
            cols = np.concatenate([best_at, t_cols])
        else:
            minima = np.concatenate(minima, axis=1)
            kth = np.partition(minima, k - 1, axis=1)[:, k - 1]
            limit = self._limit(kth, err)
            found = []
            for s in range(0, n, block):
                r, c = np.nonzero(approx[:, s : s + block] <= limit[:, None])
                found.append((r, c + s))
                yield
            rows = np.concatenate([r for r, _ in found])
            cols = np.concatenate([c for _, c in found])
        del approx, one_block  # (the scores: the largest array here)
        exact = self.norms[cols] - 2 * np.einsum(
            "ij,ij->i", X[rows], self.Y[cols], dtype=np.float64
        )
        result = nearest_k(rows, cols, exact, xnorm, k, return_distance)
        if result is None:  # only with non-finite features, refused earlier
            raise UserFacingError("features contain NaN or infinite values")
        return result

    @staticmethod
    def _limit(bound: np.ndarray, err: np.ndarray) -> np.ndarray:
        # Anything whose approximate distance is above this cannot beat the bound; rounded up
        # so the float32 comparison never excludes a true candidate.
        limit = (bound.astype(np.float64) + 2 * err + 1e-30).astype(np.float32)
        return np.nextafter(limit, np.float32(np.inf))


class KnnVoter:
    """kNN prediction from one neighbour search: the vote (or mean) of the k nearest.

    Picklable (it travels to dask workers). Ties in the vote go to the smallest class index,
    as in scikit-learn; distance weights are 1/d, and an exact match (d = 0) takes all the
    weight, as in scikit-learn.
    """

    def __init__(self, nn: Any, y: np.ndarray, k: int, weights: str, n_classes: int | None):
        self.nn, self.y, self.k, self.weights, self.n_classes = nn, y, k, weights, n_classes

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return run_steps(self.steps(X))

    def steps(self, X: np.ndarray) -> Generator[None, None, np.ndarray]:
        """The prediction as a generator that yields between blocks of the neighbour search
        (our L2 search; other metrics' searches run in one step)."""
        search = getattr(self.nn, "search", None)
        if search is None:
            result = self.nn.kneighbors(X, self.k, return_distance=self.weights == "distance")
        else:
            result = yield from search(X, self.k, return_distance=self.weights == "distance")
        return self._vote(X, result)

    def _vote(self, X: np.ndarray, result: Any) -> np.ndarray:
        if self.weights == "distance":
            dist, ind = result
            with np.errstate(divide="ignore"):
                w = 1.0 / dist
            exact = dist == 0
            hit = exact.any(axis=1)
            w[hit] = exact[hit]
        else:
            ind = result
            w = None
        values = self.y[ind]
        if self.n_classes is None:  # regression
            if w is None:
                return values.mean(axis=1)
            return (values * w).sum(axis=1) / w.sum(axis=1)
        if self.k == 1:
            return values[:, 0]
        votes = np.zeros((len(X), self.n_classes))
        rows = np.arange(len(X))
        for j in range(self.k):
            votes[rows, values[:, j]] += 1.0 if w is None else w[:, j]
        return votes.argmax(axis=1)
