"""A low-dimensional filter for the exact L2 search: most training rows are ruled out cheaply.

Why: the full search multiplies every query against every training row in all ``d`` features
(MNIST: 10 000 x 60 000 x 784 multiply-adds); that work alone set how long a run took, and on a
busy machine it was shared with everyone else. Projected onto its top ``p`` principal axes
(``W``, orthonormal columns), the distance between two rows can only shrink:
``|W^T (x - y)| <= |x - y|``. So with an upper bound ``U`` of a query's k-th nearest distance, a
training row whose projected distance exceeds ``sqrt(U)`` cannot be among its k nearest. The
projected distances cost ``p + 1`` multiply-adds per pair (one float32 GEMM, 12x less than
MNIST's 784); ``U`` is the k-th smallest exact distance among the best row of each of
``GROUPS`` column groups; only the rows that survive the filter (on MNIST with p = 64: tens per
query) get their exact float64 distance. The result is the exact search's result, ties to the
smallest training index included: every row as near as the k-th neighbour passes the filter.

Rigour: the float32 arithmetic is bounded, not trusted. With ``u = 2^-24`` and
``g(n) = n u / (1 - n u)``: ``W`` rounded to float32 has ``|W^T z| <= (1 + u sqrt(p)) |z|``;
each projected coordinate errs by at most ``g(d) (1 + u) |x|`` (so the projected vector by
``eta |x|``, ``eta = sqrt(p) g(d) (1 + u)``); the GEMM ``[px, 1] . [-2 py, |py|^2]`` errs by at
most ``g(p + 1) (2 |px| |py| + |py|^2 (1 + u))`` and ``|py|^2`` rounded to float32 by ``u |py|^2``.
The threshold adds all of these (with the largest training norms) and a relative margin, and is
rounded up to float32. When the data do not suit the projection (too many survivors) a chunk
falls back to the full search.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from qbi_desktop.core.baselines.knn import L2Neighbors

PCA_DIMS = 64
MIN_ROWS = 8192  # smaller training sets: the full search is quick, the projection not worth it
MIN_FEATURES = 4 * PCA_DIMS
GROUPS = 32  # column groups whose best rows give the upper bound U
SAMPLE_ROWS = 4096  # training rows the principal axes are computed from
# Survivors per query above which a chunk takes the full search (data the projection does not
# summarise, e.g. noise): the exact check gathers one feature row per survivor.
MAX_SURVIVORS = 1024
EXACT_PAIRS = 8192  # survivors whose exact distances are computed at once (bounded memory)
# Share of the sample's variance the axes must hold for the filter to rule rows out (MNIST's
# 64 axes: ~0.86; noise in 784 features: ~0.1, where nearly every row would survive).
MIN_CAPTURED = 0.6

_U = float(np.finfo(np.float32).eps) / 2


def _gamma(n: int) -> float:
    return n * _U / (1 - n * _U)


class Projection:
    """The principal axes of the training rows and the training side of the filter's GEMM."""

    def __init__(self, W: np.ndarray, B: np.ndarray, pmax: float, ymax: float):
        self.W, self.B, self.pmax, self.ymax = W, B, pmax, ymax
        self.p = W.shape[1]

    @staticmethod
    def build(Y: np.ndarray, norms: np.ndarray, p: int = PCA_DIMS) -> Generator[None, None, Any]:
        """From float32 training rows ``Y`` and their float64 squared norms; yields between its
        steps (a cancel point) and returns the :class:`Projection`, or None when the axes hold
        too little of the data's variance to rule rows out."""
        from qbi_desktop.core.baselines.knn import _one_blas_thread

        n, d = Y.shape
        # One BLAS thread: on a busy machine a multi-threaded eigh spun 2.9 s of CPU (0.1 s alone)
        with _one_blas_thread():
            S = Y[:: max(1, n // SAMPLE_ROWS)].astype(np.float64)  # a deterministic sample
            S -= S.mean(axis=0)
            cov = S.T @ S
            del S
        yield
        with _one_blas_thread():
            values, vectors = np.linalg.eigh(cov)
        yield
        total = float(np.clip(values, 0, None).sum())
        if total <= 0 or float(np.clip(values[::-1][:p], 0, None).sum()) < MIN_CAPTURED * total:
            return None
        W = np.ascontiguousarray(vectors[:, ::-1][:, :p], dtype=np.float32)
        B = np.empty((n, p + 1), dtype=np.float32)
        pn = np.empty(n)
        step = max(1, (8 << 20) // (4 * d))
        for s in range(0, n, step):
            with _one_blas_thread():
                py = Y[s : s + step] @ W
            pn[s : s + step] = np.einsum("ij,ij->i", py, py, dtype=np.float64)
            B[s : s + step, :p] = py
            yield
        B[:, :p] *= -2.0  # exact (a power of two)
        B[:, p] = pn
        pmax = math.sqrt(float(pn.max())) * (1 + 4 * _U)
        ymax = math.sqrt(float(norms.max())) * (1 + 4 * _U)
        return Projection(W, B, pmax, ymax)


def usable(n: int, d: int, k: int) -> bool:
    """Whether the filter pays off (and its groups hold at least k rows)."""
    return n >= MIN_ROWS and d >= MIN_FEATURES and 2 * k <= GROUPS and n >= GROUPS * 4


def filtered_search(
    nn: L2Neighbors,
    proj: Projection,
    X: np.ndarray,
    k: int,
    return_distance: bool,
    block_macs: int,
) -> Generator[None, None, Any]:
    """The k nearest training rows of each row of float32 ``X``, as :meth:`L2Neighbors.search`
    returns them; None when the filter leaves too many rows (the caller searches in full)."""
    from qbi_desktop.core.baselines.knn import (
        THREADED_MIN_BLOCKS,
        _each_block,
        _one_blas_thread,
        nearest_k,
    )

    m, d = X.shape
    n, p = len(nn.Y), proj.p
    with _one_blas_thread():
        px = X @ proj.W
    A = np.empty((m, p + 1), dtype=np.float32)
    A[:, :p] = px
    A[:, p] = 1.0
    pxn = np.einsum("ij,ij->i", px, px, dtype=np.float64)
    xnorm = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    G = GROUPS
    w = -(-n // G)  # columns per group (the last one padded with +inf)
    approx = np.empty((m, G * w), dtype=np.float32)
    approx[:, n:] = np.inf
    # groups per block: about block_macs of GEMM, and at least THREADED_MIN_BLOCKS blocks so that
    # the threads share them and a cancel takes effect within one
    per_block = max(1, min(G // THREADED_MIN_BLOCKS, block_macs // max(1, m * (p + 1) * w)))
    firsts = list(range(0, G, per_block))

    def one_block(g0: int, approx: np.ndarray = approx) -> np.ndarray:
        g1 = min(G, g0 + per_block)
        s, e = g0 * w, min(n, g1 * w)
        np.matmul(A, proj.B[s:e].T, out=approx[:, s:e])
        groups = approx[:, g0 * w : g1 * w].reshape(m, g1 - g0, w)
        return groups.argmin(axis=2) + (np.arange(g0, g1) * w)[None, :]

    best: list[Any] = [None] * len(firsts)
    yield from _each_block(one_block, firsts, best)
    winners = np.concatenate(best, axis=1)  # m x G training rows, one per group
    upper = (yield from _exact_groups(nn, X, winners)) + xnorm[:, None]
    U = np.maximum(np.partition(upper, k - 1, axis=1)[:, k - 1], 0.0)
    yield

    eta = math.sqrt(p) * _gamma(d) * (1 + _U)
    R = np.sqrt(U) * (1 + _U * math.sqrt(p)) + eta * (np.sqrt(xnorm) + proj.ymax)
    E = _gamma(p + 1) * (2 * np.sqrt(pxn) * proj.pmax + proj.pmax**2 * (1 + _U))
    E += _U * proj.pmax**2
    thr = R**2 + E - pxn
    thr += 1e-6 * (R**2 + E + pxn)  # margin for the float64 arithmetic of this bound
    thr32 = np.nextafter(thr.astype(np.float32), np.float32(np.inf))[:, None]

    found = []
    total = 0
    step = max(1, block_macs // max(1, m * (p + 1)))
    for s in range(0, n, step):
        mask = approx[:, s : s + step] <= thr32
        at = np.flatnonzero(mask)  # 1-D: ~5x quicker than a 2-D nonzero
        total += len(at)
        if total > MAX_SURVIVORS * m:
            return None
        r, c = np.divmod(at, mask.shape[1])
        found.append((r, c + s))
        yield
    del approx
    rows = np.concatenate([r for r, _ in found])
    cols = np.concatenate([c for _, c in found])
    exact = yield from _exact(nn, X, rows, cols)
    # None (fewer than k survivors) cannot happen with finite features; the full search decides
    return nearest_k(rows, cols, exact, xnorm, k, return_distance)


def _exact_groups(
    nn: L2Neighbors, X: np.ndarray, cols: np.ndarray
) -> Generator[None, None, np.ndarray]:
    """:func:`_exact` of each query (row of X) with its row of ``cols`` (m x g training rows),
    yielding between batches."""
    m, g = cols.shape
    out = np.empty((m, g))
    step = max(1, EXACT_PAIRS // g)
    for s in range(0, m, step):
        c = cols[s : s + step]
        out[s : s + step] = nn.norms[c] - 2 * np.einsum(
            "qgj,qj->qg", nn.Y[c], X[s : s + step], dtype=np.float64
        )
        yield
    return out


def _exact(
    nn: L2Neighbors, X: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> Generator[None, None, np.ndarray]:
    """``|y|^2 - 2 x.y`` of the pairs (float64, the full search's own formula: the same ranking,
    the same ties), in batches with a yield between them."""
    out = np.empty(len(rows))
    for s in range(0, len(rows), EXACT_PAIRS):
        r, c = rows[s : s + EXACT_PAIRS], cols[s : s + EXACT_PAIRS]
        out[s : s + EXACT_PAIRS] = nn.norms[c] - 2 * np.einsum(
            "ij,ij->i", X[r], nn.Y[c], dtype=np.float64
        )
        yield
    return out
