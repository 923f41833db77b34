"""The candidates of a detection: area filter, numbering and per-candidate figures.

The detectors hand over their spot pixels sparsely (flat indices in raster order, component
ids, residual and score at each); :func:`measure` filters and renumbers them and builds the
label image. The candidates themselves (:class:`SpotCandidate`) are made only when someone
looks at them (:class:`Candidates`): cleaning a frame of a scan needs only their number and
pixels, and making ~9 000 objects per 2048^2 frame was a fifth of its time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np


@dataclass(frozen=True)
class SpotCandidate:
    """One proposed spot: where it is, how big and how sure, and its pixels."""

    id: int  # its value in SpotDetection.labels
    bbox: tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open
    centroid: tuple[float, float]  # (y, x)
    area: int  # pixels
    peak: float  # largest residual (counts above the background estimate)
    score: float  # peak / local robust sigma
    ys: np.ndarray = field(repr=False)  # row of every pixel
    xs: np.ndarray = field(repr=False)  # column of every pixel
    # the peak stands alone: its 8 neighbours are at the background (what a hot pixel looks
    # like; a gamma spot is blurred by the scintillator and the optics into its neighbours)
    isolated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return spot_fields(self)


class Candidates(Sequence[SpotCandidate]):
    """Candidates 1..n of a detection, as a read-only list made on first use."""

    def __init__(self, flat, ys, xs, starts, y0, y1, x0, x1, cy, cx, peak, best, isolated):
        self._a = (ys, xs, starts, y0, y1, x0, x1, cy, cx, peak, best, isolated)
        self.flat = flat  # flat indices of all their pixels, candidate by candidate
        self.isolated = isolated  # bool per candidate
        self._items: list[SpotCandidate] | None = None

    @classmethod
    def empty(cls) -> Candidates:
        z = np.zeros(0, dtype=np.int32)
        f = np.zeros(0)
        return cls(z, z, z, np.zeros(1, np.intp), z, z, z, z, f, f, f, f, np.zeros(0, bool))

    def _list(self) -> list[SpotCandidate]:
        if self._items is None:
            ys, xs, starts, y0, y1, x0, x1, cy, cx, peak, best, iso = self._a
            self._items = [
                SpotCandidate(
                    id=i + 1,
                    bbox=(int(y0[i]), int(y1[i]), int(x0[i]), int(x1[i])),
                    centroid=(float(cy[i]), float(cx[i])),
                    area=int(starts[i + 1] - starts[i]),
                    peak=float(peak[i]),
                    score=float(best[i]),
                    ys=ys[starts[i] : starts[i + 1]],
                    xs=xs[starts[i] : starts[i + 1]],
                    isolated=bool(iso[i]),
                )
                for i in range(len(self))
            ]
        return self._items

    def __len__(self) -> int:
        return int(self.isolated.size)

    @overload
    def __getitem__(self, i: int) -> SpotCandidate: ...
    @overload
    def __getitem__(self, i: slice) -> list[SpotCandidate]: ...
    def __getitem__(self, i):
        return self._list()[i]

    def __iter__(self) -> Iterator[SpotCandidate]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Candidates):
            other = other._list()
        return isinstance(other, list) and self._list() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Candidates({len(self)})"


def measure(
    shape: tuple[int, int],
    flat: np.ndarray,
    ids: np.ndarray,
    resid: np.ndarray,
    score: np.ndarray,
    min_area: int,
    max_area: int,
    resid_map: np.ndarray,
) -> tuple[np.ndarray, Candidates]:
    """Area filter, sequential relabelling 1..n (raster order) and per-candidate numbers.

    ``flat``: the spot pixels' flat indices in raster order; ``ids`` their component,
    ``resid``/``score`` their residual and score; ``resid_map`` the whole residual image (for
    the neighbours of each peak). Returns the int32 label image and the candidates.
    """
    out = np.zeros(shape, dtype=np.int32)
    if flat.size == 0:
        return out, Candidates.empty()
    n_old = int(ids.max())
    area = np.bincount(ids, minlength=n_old + 1)
    keep = (area >= min_area) & (area <= max_area)
    keep[0] = False
    sel = keep[ids]
    if not sel.all():
        flat, ids, resid, score = flat[sel], ids[sel], resid[sel], score[sel]
    if flat.size == 0:
        return out, Candidates.empty()
    # renumber in raster order of each component's first pixel
    _, first = np.unique(ids, return_index=True)
    old_ids = ids[np.sort(first)]
    remap = np.zeros(n_old + 1, dtype=np.int32)
    remap[old_ids] = np.arange(1, old_ids.size + 1, dtype=np.int32)
    new = remap[ids]
    out.reshape(-1)[flat] = new
    n = old_ids.size
    order = np.argsort(new, kind="stable")
    flat, new = flat[order], new[order]
    ys, xs = np.divmod(flat, shape[1])
    ys, xs = ys.astype(np.int32), xs.astype(np.int32)
    starts = np.searchsorted(new, np.arange(1, n + 2))
    r = resid[order].astype(np.float64)
    s = score[order].astype(np.float64)
    head = starts[:-1]
    peak = np.maximum.reduceat(r, head)
    best = np.maximum.reduceat(s, head)
    y0 = np.minimum.reduceat(ys, head)
    y1 = np.maximum.reduceat(ys, head) + 1
    x0 = np.minimum.reduceat(xs, head)
    x1 = np.maximum.reduceat(xs, head) + 1
    cnt = np.diff(starts)
    cy = np.add.reduceat(ys.astype(np.float64), head) / cnt
    cx = np.add.reduceat(xs.astype(np.float64), head) / cnt
    isolated = _isolated_peaks(resid_map, ys, xs, r, peak, starts)
    return out, Candidates(flat, ys, xs, starts, y0, y1, x0, x1, cy, cx, peak, best, isolated)


def _isolated_peaks(
    resid: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    r: np.ndarray,
    peak: np.ndarray,
    starts: np.ndarray,
    share: float = 0.05,
) -> np.ndarray:
    """Per candidate: do the 8 neighbours of its peak pixel average < ``share`` of the peak?

    A hot pixel is one sharp pixel (the 8 neighbours of 90 % of the real frames' hot-pixel
    candidates average < 5 % of the peak), a gamma spot's light spreads into its neighbours
    (75 % of the real gamma spots are above 7 %).
    """
    n = starts.size - 1
    group = np.repeat(np.arange(n), np.diff(starts))
    at_peak = np.flatnonzero(r >= peak[group])
    first = at_peak[np.unique(group[at_peak], return_index=True)[1]]
    py, px = ys[first].astype(np.intp), xs[first].astype(np.intp)
    h, w = resid.shape
    total = np.zeros(n)
    count = np.zeros(n)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            qy, qx = py + dy, px + dx
            inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
            total[inside] += resid[qy[inside], qx[inside]]
            count += inside
    mean8 = total / np.maximum(count, 1)
    return mean8 < share * np.maximum(peak, 1e-30)


def spot_fields(spot: Any) -> dict[str, Any]:
    """What a spot record writes of itself (candidates and reviewed spots alike)."""
    return {
        "id": spot.id,
        "bbox": list(spot.bbox),
        "centroid": [round(spot.centroid[0], 3), round(spot.centroid[1], 3)],
        "area": spot.area,
        "peak": spot.peak,
        "score": spot.score,
    }
