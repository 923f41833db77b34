"""Polygon filling for COCO imports, exactly as pycocotools does it (``frPyObjects`` +
``decode``), for all of an image's polygons in one batch; and whether an object painted into a
class mask lands on or beside another of its class (:func:`touches`), which the importers report;
and a COCO segmentation painted whole (:func:`paint_segmentation`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qbi_desktop.core.formats.coco_records import Rle
from qbi_desktop.core.formats.coco_rle import rle_decode, rle_string_runs

# -- COCO polygons: pycocotools' rasteriser ------------------------------------------------------
#
# COCO tools turn a polygon into pixels with pycocotools (``frPyObjects`` + ``decode``), not with
# a point-in-polygon test: the outline is walked on a 5x finer grid, each crossing of a pixel
# column's centre line toggles the column at the first pixel centre below it, and the toggles
# are run-length decoded column by column. Pixel centres on the outline go in on the top/left
# edges and out on the bottom/right ones, so an integer square 50 wide covers 50 x 50 pixels
# (skimage's test includes both edges: 51 x 51). The walk below is that algorithm in numpy,
# with C's arithmetic kept (truncating int casts, the same double expressions), so the pixels
# match pycocotools bit for bit; tests compare against pycocotools itself.

#: pycocotools' upsampling of the outline
_SCALE = 5
#: Outline points walked per chunk (bounds the work arrays to a few tens of MB).
_CHUNK = 1 << 20
#: The most outline points (on the 5x grid) one image's polygons may have together: this many,
#: or 40 times the image's border (w + h) in px if more, ~0.1-1 s of work; an image's real
#: polygons stay far below. pycocotools would allocate any outline whole; a hostile file could
#: ask for billions of points (minutes).
MAX_OUTLINE = 2_000_000
_BORDERS = 40 * 2 * _SCALE
#: Coordinates beyond this lie so far outside any image that C's int would overflow.
MAX_COORD = 4.0e8


class PolygonError(ValueError):
    """A polygon that cannot be rasterised (reason in the message)."""


#: A polygon's inside: runs ``mask[start:stop, column]`` (three int arrays: column, start, stop)
Runs = tuple[np.ndarray, np.ndarray, np.ndarray]


def coco_polygon_runs(polygons: Sequence[np.ndarray], height: int, width: int) -> list[Runs | str]:
    """For each polygon (flat x0, y0, x1, y1, ...): the pixels pycocotools'
    ``decode(frPyObjects([xy], height, width))`` marks, as runs down columns, or why it cannot
    be rasterised. All polygons are walked together: a small polygon costs a few numpy calls
    on its own, so an image's polygons are done in one batch."""
    out: list[Runs | str] = [_NO_RUNS] * len(polygons)
    flats = [np.asarray(xy, dtype=np.float64).ravel() for xy in polygons]
    sizes = np.array([f.size // 2 for f in flats], dtype=np.intp)
    if not sizes.sum():
        return out
    xy = np.concatenate([f[: 2 * k] for f, k in zip(flats, sizes, strict=True)]).reshape(-1, 2)
    pid = np.repeat(np.arange(len(flats)), sizes)
    ok = np.ones(len(flats), dtype=bool)
    far = np.flatnonzero(np.bincount(pid, np.any(np.abs(xy) > MAX_COORD, axis=1), len(flats)))
    for i in far.tolist():
        out[i] = f"a coordinate lies more than {MAX_COORD:.0e} px outside the image"
        ok[i] = False
    # C: x[j] = (int)(scale * xy + .5), a cast that truncates towards zero
    p = np.trunc(np.where(ok[pid][:, None], xy, 0.0) * _SCALE + 0.5)
    starts = np.cumsum(sizes) - sizes
    nxt = np.arange(1, pid.size + 1)
    nxt[starts + sizes - 1] = starts  # each polygon's last vertex joins its first
    q = p[nxt]
    dx, dy = np.abs(q - p).T
    span = np.maximum(dx, dy)
    steps = (span + 1).astype(np.intp)
    length = np.bincount(pid, steps, len(flats)).astype(np.int64)
    length[~ok] = 0
    budget = max(MAX_OUTLINE, _BORDERS * (height + width))
    if length.sum() > budget:  # taken in order while they fit; one that does not is refused
        total = 0
        for i, size in enumerate(length.tolist()):
            if total + size <= budget:
                total += size
                continue
            out[i] = (
                f"its outline ({size // _SCALE} px) takes the image's polygon outlines past "
                f"{budget // _SCALE} px (40 times the image's border)"
            )
            ok[i] = False
    steps[~ok[pid]] = 0  # a refused polygon walks no points
    major = dx >= dy  # walk along x (else along y)
    flip = np.where(major, p[:, 0] > q[:, 0], p[:, 1] > q[:, 1])
    o = np.where(flip[:, None], q, p)  # the edge's origin in C's loop
    end = np.where(flip[:, None], p, q)
    edges = (
        span,
        flip,
        major,
        np.where(major, o[:, 0], o[:, 1]),  # base of the stepped coordinate
        np.where(major, o[:, 1], o[:, 0]),  # start of the interpolated one
        # C divides by 0 for a repeated vertex (NaN, cast to INT_MIN); that point's neighbours
        # share its column unless the column is negative, where no toggle is kept: any value
        # does.
        np.where(major, end[:, 1] - o[:, 1], end[:, 0] - o[:, 0]) / np.maximum(span, 1),
        pid,
    )
    found = []
    ends = np.cumsum(steps)
    prev = None
    first = 0
    while first < pid.size:  # edges [first, last) hold at most _CHUNK points (at least one)
        last = int(np.searchsorted(ends, ends[first] - steps[first] + _CHUNK, side="right"))
        last = min(max(first + 1, last), pid.size)
        u, v, owner = _walk(first, last, steps, *edges)
        if prev is not None:
            u, v, owner = (
                np.concatenate(([a], b)) for a, b in zip(prev, (u, v, owner), strict=True)
            )
        if u.size:
            prev = (u[-1], v[-1], owner[-1])
            found.append(_crossings(u, v, owner, height, width))
        first = last
    if found:
        cols, rows, owners = (np.concatenate(parts) for parts in zip(*found, strict=True))
        _runs_from_toggles(cols, rows, owners, height, width, out)
    return out


_NO_RUNS: Runs = (np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.intp))


def _walk(
    first: int,
    last: int,
    steps: np.ndarray,
    span: np.ndarray,
    flip: np.ndarray,
    major: np.ndarray,
    base: np.ndarray,
    start: np.ndarray,
    slope: np.ndarray,
    pid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The outline points (u, v) on the 5x grid of edges first..last-1 in C's order, and the
    polygon each belongs to."""
    n = steps[first:last]
    e = np.repeat(np.arange(first, last), n)
    d = np.arange(e.size, dtype=np.float64) - np.repeat((np.cumsum(n) - n).astype(np.float64), n)
    t = np.where(flip[e], span[e] - d, d)
    line = np.trunc(start[e] + slope[e] * t + 0.5)  # C: (int)(ys + s * t + .5)
    step = t + base[e]
    along = major[e]
    return np.where(along, step, line), np.where(along, line, step), pid[e]


def _crossings(
    u: np.ndarray, v: np.ndarray, owner: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(columns, rows, polygons) of the toggles from consecutive outline points (u, v) of the
    same polygon on the 5x grid."""
    j = np.flatnonzero((u[1:] != u[:-1]) & (owner[1:] == owner[:-1]))
    here, before = u[j + 1], u[j]
    xd = (np.where(here < before, here, here - 1) + 0.5) / _SCALE - 0.5
    keep = (np.floor(xd) == xd) & (xd >= 0) & (xd <= width - 1)
    j = j[keep]
    yd = np.minimum(v[j + 1], v[j])
    yd = np.ceil(np.clip((yd + 0.5) / _SCALE - 0.5, 0, height))
    return xd[keep].astype(np.intp), yd.astype(np.intp), owner[j]


def _runs_from_toggles(
    cols: np.ndarray,
    rows: np.ndarray,
    owners: np.ndarray,
    height: int,
    width: int,
    out: list[Runs | str],
) -> None:
    """Fill ``out[polygon]`` with the runs between its toggles (RLE decoding)."""
    order = np.lexsort((rows, cols, owners))
    cols, rows, owners = cols[order], rows[order], owners[order]
    # a run of toggles per (polygon, column); a closed outline toggles each column evenly
    new = np.ones(cols.size, dtype=bool)
    new[1:] = (cols[1:] != cols[:-1]) | (owners[1:] != owners[:-1])
    group = np.cumsum(new) - 1
    odd = np.bincount(group) % 2 == 1
    uneven = np.unique(owners[odd[group]])
    if uneven.size:
        even = ~np.isin(owners, uneven)
        for i in uneven.tolist():
            out[i] = _runs_running_on(cols[owners == i], rows[owners == i], height, width)
        cols, rows, owners = cols[even], rows[even], owners[even]
    col, start, stop, owner = cols[0::2], rows[0::2], rows[1::2], owners[0::2]
    keep = stop > start
    col, start, stop, owner = col[keep], start[keep], stop[keep], owner[keep]
    bounds = np.searchsorted(owner, np.arange(len(out) + 1))
    for i in np.unique(owner).tolist():
        a, b = bounds[i], bounds[i + 1]
        out[i] = (col[a:b], start[a:b], stop[a:b])


def _runs_running_on(cols: np.ndarray, rows: np.ndarray, height: int, width: int) -> Runs:
    """Runs of a polygon with an odd number of toggles in a column: a run goes on down the
    next columns, to the image's end for the last one, as RLE decoding does."""
    flat = np.append(np.sort(cols * height + rows), height * width)
    runs = []
    for a, b in zip(flat[0::2].tolist(), flat[1::2].tolist(), strict=False):
        while a < b:
            col, row = divmod(a, height)
            stop = min(b, (col + 1) * height)
            runs.append((col, row, row + stop - a))
            a = stop
    if not runs:
        return _NO_RUNS
    col, start, stop = (np.array(x, dtype=np.intp) for x in zip(*runs, strict=True))
    return col, start, stop


def paint_runs(mask: np.ndarray, runs: Runs, value: int) -> None:
    """Set the pixels of ``runs`` (from :func:`coco_polygon_runs`) to ``value``."""
    for col, start, stop in zip(*(r.tolist() for r in runs), strict=True):
        mask[start:stop, col] = value


def fill_coco_polygon(mask: np.ndarray, xy: np.ndarray, value: int) -> None:
    """Set the pixels pycocotools' ``decode(frPyObjects([xy], h, w))`` marks to ``value``."""
    (runs,) = coco_polygon_runs([xy], *mask.shape[:2])
    if isinstance(runs, str):
        raise PolygonError(runs)
    paint_runs(mask, runs, value)


# -- objects that become one region ---------------------------------------------------------------
#
# A class mask cannot tell two touching objects of one class apart: painted into it, they are one
# region (the exports cut regions by 8-connectivity). The importers ask, before painting an
# object, whether it lands on or beside a region of its own value, and say so in the report.


def polygon_extents(polygons: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """For each polygon (flat x0, y0, x1, y1, ...) the rows and columns its pixels can take, as
    an int array of (top, left, bottom, right), ends exclusive, with a pixel to spare, clipped
    to the image: all of an image's polygons in a few numpy calls (the cheap test of
    :func:`near_value` needs no runs)."""
    if not polygons:
        return np.zeros((0, 4), dtype=np.int64)
    flats = [np.asarray(xy, dtype=np.float64).ravel() for xy in polygons]
    sizes = np.array([f.size // 2 for f in flats])
    xy = np.concatenate([f[: 2 * k] for f, k in zip(flats, sizes, strict=True)]).reshape(-1, 2)
    xy = np.clip(np.nan_to_num(xy), -1.0, float(max(height, width)) + 1)
    starts = np.cumsum(sizes) - sizes
    low = np.minimum.reduceat(xy, starts, axis=0)
    high = np.maximum.reduceat(xy, starts, axis=0)
    out = np.empty((len(flats), 4), dtype=np.int64)
    out[:, 0] = np.clip(np.floor(low[:, 1]) - 1, 0, height)
    out[:, 1] = np.clip(np.floor(low[:, 0]) - 1, 0, width)
    out[:, 2] = np.clip(np.ceil(high[:, 1]) + 2, 0, height)
    out[:, 3] = np.clip(np.ceil(high[:, 0]) + 2, 0, width)
    return out


def earlier_within_reach(extents: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each object (row of ``extents``: top, left, bottom, right with a pixel to spare, as
    :func:`polygon_extents` gives them; ``values``: what it paints), whether an earlier one of
    the same value overlaps its extent: only those can touch it. Compared in blocks of rows, so
    that an image of many thousands of objects stays within a few MB."""
    n = len(values)
    out = np.zeros(n, dtype=bool)
    step = max(1, (1 << 21) // max(n, 1))
    for a in range(0, n, step):
        b = min(a + step, n)
        mine, theirs = extents[a:b, None, :], extents[None, :b, :]
        hit = (values[a:b, None] == values[None, :b]) & (
            np.arange(a, b)[:, None] > np.arange(b)[None, :]
        )
        hit &= (theirs[..., 0] < mine[..., 2]) & (mine[..., 0] < theirs[..., 2])
        hit &= (theirs[..., 1] < mine[..., 3]) & (mine[..., 1] < theirs[..., 3])
        out[a:b] = hit.any(axis=1)
    return out


def extent_of(extents: np.ndarray) -> tuple[int, int, int, int]:
    """The extent (top, left, bottom, right) holding all of ``extents`` (rows of that)."""
    if len(extents) == 1:
        top, left, bottom, right = extents[0].tolist()
        return top, left, bottom, right
    return (
        int(extents[:, 0].min()),
        int(extents[:, 1].min()),
        int(extents[:, 2].max()),
        int(extents[:, 3].max()),
    )


def near_value(mask: np.ndarray, extent: tuple[int, int, int, int], value: int) -> bool:
    """Whether ``value`` occurs in ``mask`` within one pixel of ``extent`` (top, left, bottom,
    right, ends exclusive): the cheap first test (one small slice) before :func:`touches`."""
    top, left, bottom, right = extent
    return bool((mask[max(top - 1, 0) : bottom + 1, max(left - 1, 0) : right + 1] == value).any())


def _around(
    shape: tuple[int, ...], top: int, left: int, region: np.ndarray
) -> tuple[tuple[slice, slice], np.ndarray]:
    """The window of a mask of ``shape`` one pixel around ``region`` (a bool window at
    (top, left)), and the region grown by its 8 neighbours within that window."""
    h, w = shape
    rh, rw = region.shape
    y0, x0 = max(top - 1, 0), max(left - 1, 0)
    y1, x1 = min(top + rh + 1, h), min(left + rw + 1, w)
    rows = np.zeros((rh + 2, rw), dtype=bool)  # grown down and up, then left and right
    rows[:-2] = region
    rows[1:-1] |= region
    rows[2:] |= region
    grown = np.zeros((rh + 2, rw + 2), dtype=bool)
    grown[:, :-2] = rows
    grown[:, 1:-1] |= rows
    grown[:, 2:] |= rows
    grown = grown[y0 - (top - 1) : y1 - (top - 1), x0 - (left - 1) : x1 - (left - 1)]
    return (slice(y0, y1), slice(x0, x1)), grown


def touches(mask: np.ndarray, top: int, left: int, region: np.ndarray, value: int) -> bool:
    """Whether the pixels of ``region`` (a bool window whose first pixel is at row ``top``,
    column ``left`` of ``mask``) overlap or touch (8-neighbourhood) pixels of ``value``."""
    rh, rw = region.shape
    window = mask[max(top - 1, 0) : top + rh + 1, max(left - 1, 0) : left + rw + 1]
    if not (window == value).any():  # the usual case: one small slice, nothing grown
        return False
    where, grown = _around(mask.shape, top, left, region)
    return bool((grown & (mask[where] == value)).any())


def touched_owners(
    mask: np.ndarray,
    owner: np.ndarray,
    top: int,
    left: int,
    region: np.ndarray,
    value: int,
    me: int,
) -> set[int]:
    """The objects (their numbers in ``owner``, a map of which object painted each pixel)
    other than ``me`` whose pixels of ``value`` the region overlaps or touches."""
    rh, rw = region.shape
    where = (slice(max(top - 1, 0), top + rh + 1), slice(max(left - 1, 0), left + rw + 1))
    others = (mask[where] == value) & (owner[where] != me) & (owner[where] != 0)
    if not others.any():
        return set()
    where, grown = _around(mask.shape, top, left, region)
    others = (mask[where] == value) & (owner[where] != me) & (owner[where] != 0)
    return set(np.unique(owner[where][grown & others]).tolist())


def runs_touch(
    mask: np.ndarray, runs: Sequence[Runs], value: int, extent: tuple[int, int, int, int]
) -> bool:
    """Whether one object's polygons (their ``runs``, all inside ``extent``: top, left, bottom,
    right, ends exclusive, e.g. from :func:`polygon_extents`) land on or beside pixels of
    ``value`` in ``mask``. Callers ask :func:`near_value` first: most objects lie apart, and
    that costs one small slice."""
    top, left, bottom, right = extent
    region = np.zeros((bottom - top, right - left), dtype=bool)
    for polygon in runs:
        for col, start, stop in zip(*(r.tolist() for r in polygon), strict=True):
            region[start - top : stop - top, col - left] = True
    where, grown = _around(mask.shape, top, left, region)
    return bool((grown & (mask[where] == value)).any())


def paint_segmentation(
    mask: np.ndarray,
    segmentation: list[list[float]] | Rle,
    value: int,
    runs: list[Runs | str],
    watch: tuple[int, int, int, int] | bool = False,
) -> tuple[str | None, bool]:
    """Paint one (typed, see coco_records) segmentation into ``mask``, polygons from their
    ``runs`` (raster.coco_polygon_runs): a reason if it cannot be used, and (with ``watch``:
    True, or for polygons the extent they lie in) whether it overlapped or touched pixels of
    ``value`` already there (an object of its class: the two are one region of the class mask
    now)."""
    h, w = mask.shape
    if isinstance(segmentation, list):
        for i, polygon in enumerate(runs):
            if isinstance(polygon, str):
                return f"polygon {i}: {polygon}", False
        touched = isinstance(watch, tuple) and runs_touch(mask, runs, value, watch)  # type: ignore[arg-type]
        for polygon in runs:
            paint_runs(mask, polygon, value)  # type: ignore[arg-type]
        return None, touched
    if (segmentation.height, segmentation.width) != (h, w):
        return (
            f"RLE size [{segmentation.height}, {segmentation.width}] differs from the image "
            f"size [{h}, {w}]"
        ), False
    counts = segmentation.counts
    if isinstance(counts, str):
        try:  # checked against the mask's size as it is decoded (linear, bounded)
            counts = rle_string_runs(counts, h, w)
        except ValueError as exc:
            return str(exc), False  # "compressed RLE ..."
    try:
        region = rle_decode(counts, h, w)
    except ValueError as exc:
        return f"bad RLE ({exc})", False
    touched = False
    if watch:
        rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
        if rows.size:
            top, left = int(rows[0]), int(cols[0])
            window = region[top : int(rows[-1]) + 1, left : int(cols[-1]) + 1]
            touched = touches(mask, top, left, window, value)
    mask[region] = value
    return None, touched
