"""Polygon filling for annotation imports: the pixels ``skimage.draw.polygon`` gives, in the
same order, at a cost of (rows x edges crossing them) + pixels instead of pixels x edges.

scikit-image tests every pixel of the bounding box against every edge (its
``point_in_polygon``, O'Rourke's left/right crossing counts), so one polygon covering a
2000 x 2000 image costs seconds and one with thousands of vertices minutes: a file of them keeps
an import busy for hours. Here each (row, edge) crossing is located once; columns more than two
pixels from it are on a known side, the four around it are decided with scikit-image's own
floating-point expression, so pixels on an edge or a vertex come out the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

#: scikit-image's tolerance for a pixel lying on a vertex
_EPS = 1e-12
#: Rows decided together (bounds the work arrays to BLOCK x width counters).
BLOCK = 256


def polygon_pixels(
    rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(rr, cc) of the pixels inside or on the polygon with vertices (``rows``, ``cols``),
    clipped to ``shape`` (height, width): exactly ``skimage.draw.polygon(rows, cols, shape)``."""
    out_r, out_c = [], []
    for r0, c0, inside in _blocks(rows, cols, shape):
        rr, cc = np.nonzero(inside)
        out_r.append(rr + r0)
        out_c.append(cc + c0)
    if not out_r:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    return np.concatenate(out_r).astype(np.intp), np.concatenate(out_c).astype(np.intp)


def fill_polygon(mask: np.ndarray, rows: np.ndarray, cols: np.ndarray, value: int) -> None:
    """Set the pixels :func:`polygon_pixels` names to ``value`` in ``mask``, block by block
    (no index arrays the size of the polygon)."""
    for r0, c0, inside in _blocks(rows, cols, mask.shape[:2]):
        height, width = inside.shape
        mask[r0 : r0 + height, c0 : c0 + width][inside] = value


def _blocks(
    rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(first row, first column, pixels inside) for blocks of BLOCK rows of the polygon's
    bounding box, clipped to ``shape``. For each (row, edge) pair the crossing is located
    approximately; columns further than two pixels from it are on a known side, and the four
    around it are decided with scikit-image's own floating-point expression."""
    yp = np.ascontiguousarray(rows, dtype=np.float64).ravel()
    xp = np.ascontiguousarray(cols, dtype=np.float64).ravel()
    if yp.size == 0 or xp.size != yp.size:
        return
    minr = int(max(0.0, float(yp.min())))
    maxr = min(shape[0] - 1, int(math.ceil(float(yp.max()))))
    minc = int(max(0.0, float(xp.min())))
    maxc = min(shape[1] - 1, int(math.ceil(float(xp.max()))))
    if maxr < minr or maxc < minc:
        return
    width = maxc - minc + 1
    # edge e joins vertex e-1 (wrapping) to vertex e, as in skimage's loop
    xprev, yprev = np.roll(xp, 1), np.roll(yp, 1)
    low, high = np.minimum(yp, yprev), np.maximum(yp, yprev)
    for r0 in range(minr, maxr + 1, BLOCK):
        r1 = min(r0 + BLOCK - 1, maxr)
        yield r0, minc, _block(xp, yp, xprev, yprev, low, high, r0, r1, minc, maxc, width)


def _block(
    xp: np.ndarray,
    yp: np.ndarray,
    xprev: np.ndarray,
    yprev: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    r0: int,
    r1: int,
    minc: int,
    maxc: int,
    width: int,
) -> np.ndarray:
    """Which pixels of rows r0..r1 (columns minc..maxc) skimage's test includes."""
    nrows = r1 - r0 + 1
    inside = np.zeros((nrows, width), dtype=bool)
    # (row, edge) pairs: the integer rows each edge spans within the block
    first = np.maximum(np.ceil(low), r0)
    last = np.minimum(np.floor(high), r1)
    spans = np.maximum(last - first + 1, 0).astype(np.int64)
    edges = np.flatnonzero(spans)
    if edges.size:
        counts = spans[edges]
        e = np.repeat(edges, counts)
        offsets = np.arange(e.size) - np.repeat(np.cumsum(counts) - counts, counts)
        row = first[e].astype(np.int64) + offsets
        y = row.astype(np.float64)
        y0, y1 = yp[e] - y, yprev[e] - y
        right = (y0 > 0) != (y1 > 0)
        left = (y0 < 0) != (y1 < 0)
        keep = right | left
        e, row, y0, y1, right, left = (
            e[keep],
            row[keep],
            y0[keep],
            y1[keep],
            right[keep],
            left[keep],
        )
        if e.size:
            local = row - r0
            cross = (xp[e] * y1 - xprev[e] * y0) / (y1 - y0)
            base = np.clip(np.floor(cross), minc - 4, maxc + 4).astype(np.int64)
            # columns c <= base - 2 lie left of a crossing (it counts to their right) ...
            r_diff = np.zeros((nrows, width + 1), dtype=np.int32)
            t = np.minimum(base - 2, maxc)
            sel = right & (t >= minc)
            np.add.at(r_diff, (local[sel], 0), 1)
            np.add.at(r_diff, (local[sel], t[sel] - minc + 1), -1)
            # ... and columns c >= base + 3 right of it (it counts to their left)
            l_diff = np.zeros((nrows, width + 1), dtype=np.int32)
            t = np.maximum(base + 3, minc)
            sel = left & (t <= maxc)
            np.add.at(l_diff, (local[sel], t[sel] - minc), 1)
            r_count = np.cumsum(r_diff, axis=1)[:, :width]
            l_count = np.cumsum(l_diff, axis=1)[:, :width]
            # the four columns around each crossing: skimage's expression, exactly
            near = base[:, None] + np.arange(-1, 3)[None, :]
            x = near.astype(np.float64)
            x0, x1 = xp[e][:, None] - x, xprev[e][:, None] - x
            f = (x0 * y1[:, None] - x1 * y0[:, None]) / (y1 - y0)[:, None]
            valid = (near >= minc) & (near <= maxc)
            rows2 = np.broadcast_to(local[:, None], near.shape)
            for count, side, hit in ((r_count, right, f > 0), (l_count, left, f < 0)):
                sel = valid & hit & side[:, None]
                np.add.at(count, (rows2[sel], near[sel] - minc), 1)
            inside = ((r_count & 1) == 1) | ((r_count & 1) != (l_count & 1))
    # pixels on a vertex, within skimage's tolerance
    vr, vc = np.rint(yp), np.rint(xp)
    on = (
        (np.abs(yp - vr) < _EPS)
        & (np.abs(xp - vc) < _EPS)
        & (vr >= r0)
        & (vr <= r1)
        & (vc >= minc)
        & (vc <= maxc)
    )
    inside[vr[on].astype(np.int64) - r0, vc[on].astype(np.int64) - minc] = True
    return inside
