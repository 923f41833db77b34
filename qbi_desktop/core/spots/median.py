"""Background for spot detection: the separable strided median and a fast window maximum."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from qbi_desktop.core.spots.params import SpotParamError


def _median5(a, b, c, d, e, lo, hi):
    """Median of five equal-shaped arrays: a branch-free min/max network (9 operations)."""
    f = hi(lo(a, b), lo(c, d))
    g = lo(hi(a, b), hi(c, d))
    return hi(lo(e, f), lo(hi(e, f), g))


def _minmax(dtype: np.dtype):
    if np.issubdtype(dtype, np.floating):
        return np.fmin, np.fmax  # much faster than minimum/maximum on floats (no NaN checks)
    return np.minimum, np.maximum


def separable_median(image: np.ndarray, size: int = 13) -> np.ndarray:
    """Approximate ``size`` x ``size`` median: 5-tap median along rows, then along columns.

    Taps are ``stride = max(1, (size - 1) // 4)`` pixels apart; image borders are mirrored
    (scipy's "reflect"). Works in the image's own dtype (fast on uint16).
    """
    if size < 3 or size % 2 == 0:
        raise SpotParamError(f"median size: must be an odd integer >= 3, got {size}")
    out = np.asarray(image)
    if size == 3:
        # 3 taps: median of three, the exact separable 3-median
        lo, hi = _minmax(out.dtype)
        for axis in (1, 0):
            pad = [(0, 0), (0, 0)]
            pad[axis] = (1, 1)
            p = np.pad(out, pad, mode="symmetric")
            n = out.shape[axis]
            t = [p[:, k : k + n] if axis == 1 else p[k : k + n] for k in range(3)]
            out = hi(lo(t[0], t[1]), lo(hi(t[0], t[1]), t[2]))
        return out
    s = max(1, (size - 1) // 4)
    lo, hi = _minmax(out.dtype)
    if min(out.shape) >= 2 * s + 1 and out.ndim == 2:
        return _separable_median_rows(out, s, lo, hi)
    for axis in (1, 0):
        n = out.shape[axis]
        pad = [(0, 0), (0, 0)]
        pad[axis] = (2 * s, 2 * s)
        if n < 2 * s + 1:  # tiny images: mirror padding must not exceed the data
            p = np.pad(out, pad, mode="reflect" if n > 1 else "edge")
        else:
            p = np.pad(out, pad, mode="symmetric")
        taps = [p[:, k * s : k * s + n] if axis == 1 else p[k * s : k * s + n] for k in range(5)]
        out = _median5(*taps, lo, hi)
    return out


#: rows per block of the blocked filters: a block's temporaries stay in the CPU cache, which
#: makes the filters ~3x faster on 2048^2 frames than whole-image passes
_ROWS = 32


def _separable_median_rows(image: np.ndarray, s: int, lo, hi) -> np.ndarray:
    """The 5-tap separable median (taps ``s`` apart, "symmetric" mirror), in row blocks."""
    h, w = image.shape
    r = 2 * s
    p = np.pad(image, [(0, 0), (r, r)], mode="symmetric")
    rows = np.empty((h + 2 * r, w), image.dtype)  # the row medians, mirrored top and bottom
    mid = rows[r : r + h]
    for a in range(0, h, _ROWS):
        blk = p[a : a + _ROWS]
        mid[a : a + _ROWS] = _median5(*[blk[:, k * s : k * s + w] for k in range(5)], lo, hi)
    rows[:r] = mid[:r][::-1]
    rows[r + h :] = mid[h - r :][::-1]
    out = np.empty_like(mid)
    for a in range(0, h, _ROWS):
        b = min(h, a + _ROWS)
        out[a:b] = _median5(*[rows[a + k * s : b + k * s] for k in range(5)], lo, hi)
    return out


def _window_max(a: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a centred ``size`` x ``size`` window (edges clamped).

    Separable, and along each axis by doubling: the max over 2, 4, 8... pixels from shifted
    copies, then two overlapping spans cover ``size``; ~8 whole-array ``np.maximum`` passes,
    ~5x faster than ``scipy.ndimage.maximum_filter1d`` on 2048^2 float32.
    """
    if size <= 1:
        return a
    r = size // 2
    if a.ndim == 2 and min(a.shape) > 1:
        return _window_max_rows(a, size)
    out = a
    for axis in (1, 0):
        n = out.shape[axis]
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="edge")
        span, m = 1, p
        while span * 2 <= size:
            shifted = m[:, span:] if axis == 1 else m[span:]
            m = np.maximum(m[:, :-span] if axis == 1 else m[:-span], shifted)
            span *= 2
        rest = size - span  # second span starts here; overlaps the first (max is idempotent)
        first = m[:, :n] if axis == 1 else m[:n]
        second = m[:, rest : rest + n] if axis == 1 else m[rest : rest + n]
        out = np.maximum(first, second)
    return out


def _span_max(m: np.ndarray, size: int, n: int, axis: int) -> np.ndarray:
    """Max over ``size`` consecutive entries along ``axis`` of the edge-padded ``m`` (by
    doubling: spans of 2, 4, 8..., then two overlapping spans; max is idempotent)."""
    span = 1
    while span * 2 <= size:
        if axis == 1:
            m = np.maximum(m[:, :-span], m[:, span:])
        else:
            m = np.maximum(m[:-span], m[span:])
        span *= 2
    rest = size - span
    if axis == 1:
        return np.maximum(m[:, :n], m[:, rest : rest + n])
    return np.maximum(m[:n], m[rest : rest + n])


def _window_max_rows(a: np.ndarray, size: int) -> np.ndarray:
    """:func:`_window_max` of a 2-D array in row blocks (see :data:`_ROWS`)."""
    h, w = a.shape
    r = size // 2
    p = np.pad(a, [(0, 0), (r, r)], mode="edge")
    rows = np.empty((h + 2 * r, w), a.dtype)  # row maxima, edge rows repeated
    mid = rows[r : r + h]
    for y in range(0, h, _ROWS):
        mid[y : y + _ROWS] = _span_max(p[y : y + _ROWS], size, w, 1)
    rows[:r] = mid[0]
    rows[r + h :] = mid[-1]
    out = np.empty_like(mid)
    for y in range(0, h, _ROWS):
        b = min(h, y + _ROWS)
        out[y:b] = _span_max(rows[y : b + 2 * r], size, b - y, 0)
    return out


def _background(image: np.ndarray, size: int, median: str) -> np.ndarray:
    if median == "exact":
        return ndi.median_filter(image, size=size, mode="reflect")
    return separable_median(image, size)


def _work_dtype(image: np.ndarray) -> np.ndarray:
    if not image.dtype.isnative:  # big-endian TIFF data: same counts, native order
        image = image.astype(image.dtype.newbyteorder("="))
    if image.dtype in (np.uint8, np.uint16, np.int16, np.float32):
        return image
    return image.astype(np.float32)
