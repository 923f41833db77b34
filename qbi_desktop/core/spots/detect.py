"""The detectors (median residual with hysteresis; morphological peak filling) as jobs."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from qbi_desktop.core.jobs import Job, Progress, run_job
from qbi_desktop.core.spots.hot_pixels import HotPixels
from qbi_desktop.core.spots.median import _background, _window_max, _work_dtype, separable_median
from qbi_desktop.core.spots.noise import (
    _sigma_floor,
    local_sigma_map,
    noise_vs_level,
    robust_sigma,
    sigma_from_level,
)
from qbi_desktop.core.spots.params import _EIGHT, SpotParamError, _check_image, _params


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
        return {
            "id": self.id,
            "bbox": list(self.bbox),
            "centroid": [round(self.centroid[0], 3), round(self.centroid[1], 3)],
            "area": self.area,
            "peak": self.peak,
            "score": self.score,
        }


@dataclass
class SpotDetection:
    """Result of a detector run: label image (0 = none, 1..n) and the candidates 1..n."""

    labels: np.ndarray  # int32 (H, W)
    candidates: list[SpotCandidate]
    method: str
    params: dict[str, Any]
    sigma: float  # median robust noise sigma over the image
    threshold: float  # the seed threshold in counts (median over the image for local sigma)
    seconds: float
    nonfinite: int = 0  # NaN/infinite pixels, treated as background (never part of a spot)
    # hot pixels subtracted (those above the seed threshold) or excluded (see .hot_pixels)
    hot_pixels: int = 0

    @property
    def isolated(self) -> int:
        """How many candidates are a lone bright pixel (see :attr:`SpotCandidate.isolated`)."""
        return sum(1 for c in self.candidates if c.isolated)

    def looks_like_hot_pixels(self, share: float = 0.5, at_least: int = 20) -> bool:
        """Most candidates are lone bright pixels: likely the camera's hot pixels, which a
        dark-current frame or other frames of the series would remove (see :func:`hot_pixels`).

        On the real radiographs 73 % of the 7 517 default candidates are lone pixels (91 % of
        those candidates are hot pixels), against 15 % of the true gamma spots.
        """
        n = len(self.candidates)
        return n >= at_least and self.isolated > share * n

    @property
    def mask(self) -> np.ndarray:
        return self.labels > 0

    def ranked(self) -> list[SpotCandidate]:
        """Candidates by decreasing score (the review order)."""
        return sorted(self.candidates, key=lambda c: (-c.score, c.id))

    def above(self, score: float) -> list[SpotCandidate]:
        return [c for c in self.candidates if c.score >= score]


# -- detection ----------------------------------------------------------------------------
def detect_spots_job(
    image: np.ndarray,
    method: str = "median",
    *,
    exclude: np.ndarray | HotPixels | None = None,
    **params: Any,
) -> Job[SpotDetection]:
    """The detector as a job (progress + cancel between stages) for the GUI worker.

    ``exclude``: the camera's hot pixels, either a :class:`HotPixels` from a dark frame or
    other frames (:func:`hot_pixels`: each one's excess over its background is subtracted
    first, so a gamma spot landing on a hot pixel is still found) or a boolean mask of the
    image's shape (:func:`hot_pixel_map`: those pixels cannot start a spot; a spot started
    elsewhere may still grow over them).

    Float images may hold NaN or infinite pixels (masked-out areas): they are treated as
    background and counted in :attr:`SpotDetection.nonfinite`.
    """
    image = _check_image(image)
    p = _params(method, params)
    hot_count = 0
    if exclude is not None:
        if not isinstance(exclude, HotPixels):
            exclude = np.asarray(exclude, dtype=bool)
        if exclude.shape != image.shape:
            raise SpotParamError(
                f"hot pixels: the map has shape {exclude.shape}, the image {image.shape}"
            )
        hot_count = exclude.count if isinstance(exclude, HotPixels) else int(exclude.sum())
    image, nonfinite = _finite(image)
    floor = _sigma_quantum(image)
    if isinstance(exclude, HotPixels):
        image = _subtract(image, exclude.excess)
    t0 = time.perf_counter()
    if method == "median":
        result = yield from _median_job(image, p, floor)
    else:
        result = yield from _morph_job(image, p, floor)
    labels, score_map, resid, sigma, threshold = result
    if isinstance(exclude, HotPixels):
        # the hot pixels that matter here: those that would pass the seed threshold
        hot_count = int(np.count_nonzero(exclude.excess > float(p["k"]) * sigma))
    if isinstance(exclude, np.ndarray) and exclude.any():
        labels = _drop_excluded(labels, score_map, float(p["k"]), exclude)
    yield Progress(3, 4, "measuring candidates")
    labels, cands = _measure(labels, resid, score_map, p["min_area"], p["max_area"])
    if p["lone"] == "drop" and any(c.isolated for c in cands):
        keep = np.zeros(len(cands) + 1, dtype=bool)
        keep[[c.id for c in cands if not c.isolated]] = True
        labels, cands = _measure(np.where(keep[labels], labels, 0), resid, score_map, 1, 1 << 62)
    yield Progress(4, 4, f"{len(cands)} spot candidates")
    seconds = time.perf_counter() - t0
    return SpotDetection(labels, cands, method, p, sigma, threshold, seconds, nonfinite, hot_count)


def _finite(image: np.ndarray) -> tuple[np.ndarray, int]:
    """``image`` with NaN/infinite pixels set to the median of the others, and their count.

    One NaN would otherwise spread through the median and the noise estimate and silence the
    whole detection; filled with the median level they can never be a spot.
    """
    if not np.issubdtype(image.dtype, np.floating):
        return image, 0
    finite = np.isfinite(image)
    bad = int(finite.size - np.count_nonzero(finite))
    if bad == finite.size:
        raise SpotParamError("image: has no finite pixel values (all NaN or infinite)")
    values = image[finite] if bad else image
    top = max(abs(float(values.min())), abs(float(values.max())))
    if top > 1e30:
        raise SpotParamError(
            f"image: pixel values reach {top:.3g}, beyond the range spot detection works in "
            "(about 1e30: float32 arithmetic); rescale the image first"
        )
    if not bad:
        return image, 0
    out = image.astype(np.float32 if image.dtype.itemsize <= 4 else np.float64, copy=True)
    out[~finite] = np.median(values)
    return out, bad


def _subtract(image: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """``image - excess``; 8/16-bit images stay in their type (whole counts, floored at 0), so
    the detector keeps its fast integer paths."""
    if image.dtype in (np.uint8, np.uint16):
        out = image.astype(np.int32) - np.rint(excess).astype(np.int32)
        np.clip(out, 0, np.iinfo(image.dtype).max, out=out)
        return out.astype(image.dtype)
    return image.astype(np.float32) - excess


def _sigma_quantum(image: np.ndarray) -> float:
    """The smallest noise sigma the data can express: integers are quantised to 1 count
    (sigma 1/sqrt(12)); floats carry ~1e-6 relative rounding. Noise-free (synthetic) data would
    otherwise turn rounding residuals into million-sigma spots."""
    if np.issubdtype(image.dtype, np.integer):
        return 1.0 / math.sqrt(12.0)
    scale = float(np.median(np.abs(image[:: max(1, image.shape[0] // 256)])))
    return max(1e-6 * scale, 1e-12)


def detect_spots(
    image: np.ndarray,
    method: str = "median",
    *,
    exclude: np.ndarray | None = None,
    **params: Any,
) -> SpotDetection:
    """Detect bright spots; see the module doc for the methods and :data:`DEFAULTS`.

    ``exclude``: pixels that may not start a spot (hot pixels), see :func:`detect_spots_job`.
    """
    return run_job(detect_spots_job(image, method, exclude=exclude, **params))


def _drop_excluded(
    labels: np.ndarray, score: np.ndarray, k: float, exclude: np.ndarray
) -> np.ndarray:
    """Keep the components that have a pixel above ``k`` sigma outside ``exclude``."""
    n = int(labels.max(initial=0))
    if n == 0:
        return labels
    ok = np.zeros(n + 1, dtype=bool)
    free = (labels > 0) & ~exclude & (score > k)
    ok[labels[free]] = True
    ok[0] = False
    return np.where(ok[labels], labels, 0)


def _median_job(image: np.ndarray, p: dict[str, Any], floor: float = 0.0):
    yield Progress(0, 4, "median background")
    work = _work_dtype(image)
    bg = _background(work, int(p["size"]), p["median"])
    resid = work.astype(np.float32)
    resid -= bg
    yield Progress(1, 4, "noise level")
    if p["sigma"] == "level":
        levels, sigmas = noise_vs_level(work, bg, residual=resid)
        sig = sigma_from_level(bg, levels, sigmas)
        # The median window mixes the levels it spans: beside an edge a pixel's residual can
        # carry the noise of the bright side. Each pixel takes the largest sigma in its window
        # (on the real radiographs this removes most false proposals along the plate edges).
        sig = _window_max(sig, int(p["size"]))
        sigma = float(np.median(sig))
    elif p["sigma"] == "local":
        sig = local_sigma_map(work, int(p["block"]))
        sigma = float(np.median(sig))
    else:
        sigma = robust_sigma(resid[:: max(1, resid.shape[0] // 1024)])
        if sigma <= 0:
            sigma = _sigma_floor(resid)
        sig = np.float32(sigma)
    sig = np.maximum(sig, np.float32(floor))
    sigma = max(sigma, floor)
    yield Progress(2, 4, "thresholding")
    score = resid / sig
    seeds = score > p["k"]
    low = score > p["k_low"]
    lab, n = ndi.label(low, structure=_EIGHT)
    if n:
        has_seed = np.zeros(n + 1, dtype=bool)
        has_seed[lab[seeds]] = True
        has_seed[0] = False
        lab = np.where(has_seed[lab], lab, 0)
    return lab, score, resid, sigma, float(p["k"]) * sigma


def fill_peaks(image: np.ndarray) -> np.ndarray:
    """Cut every regional maximum down to its saddle (reconstruction by dilation from below)."""
    from skimage.morphology import reconstruction

    img = np.asarray(image, dtype=np.float32)
    if min(img.shape) < 2:
        return img.copy()
    # Mirror one pixel around the image (without repeating the edge) so that peaks on the
    # image's own border are inside and get filled too; only the mirror ring seeds.
    pad = np.pad(img, 1, mode="reflect")
    seed = pad.copy()
    seed[1:-1, 1:-1] = pad.min()
    return reconstruction(seed, pad, method="dilation")[1:-1, 1:-1].astype(np.float32)


def _shelf_pack(sizes: list[tuple[int, int]], width: int) -> tuple[list[tuple[int, int]], int]:
    """Place rectangles (h, w) in rows ("shelves") of at most ``width``: offsets and height."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i][0])
    pos: list[tuple[int, int]] = [(0, 0)] * len(sizes)
    x = y = shelf = 0
    for i in order:
        h, w = sizes[i]
        if x and x + w > width:
            x, y, shelf = 0, y + shelf, 0
        pos[i] = (y, x)
        x += w
        shelf = max(shelf, h)
    return pos, y + shelf


def _fill_windows(
    padded: np.ndarray, windows: list[tuple[int, int, int, int]], width: int
) -> np.ndarray:
    """``padded - fill_peaks`` computed in each window (border = seed), as one reconstruction.

    The windows are packed side by side into a mosaic whose gaps hold the image minimum.
    Each window's seed is the image on its border ring and the minimum inside; reconstruction
    can only enter a window through its ring, which is fixed at the image values, so every
    window is filled exactly as if on its own, and one sort of the mosaic replaces thousands
    of small calls. Returns the peak heights in window coordinates, concatenated in a list.
    """
    from skimage.morphology import reconstruction

    lo = float(padded.min())
    sizes = [(y1 - y0, x1 - x0) for y0, y1, x0, x1 in windows]
    pos, total_h = _shelf_pack(sizes, max(width, max(w for _, w in sizes)))
    total_w = max(x + w for (_, x), (_, w) in zip(pos, sizes, strict=True))
    mask = np.full((total_h, total_w), lo, dtype=np.float32)
    seed = np.full((total_h, total_w), lo, dtype=np.float32)
    for (y0, y1, x0, x1), (py, px) in zip(windows, pos, strict=True):
        h, w = y1 - y0, x1 - x0
        win = padded[y0:y1, x0:x1]
        mask[py : py + h, px : px + w] = win
        seed[py : py + h, px : px + w] = win
        if h > 2 and w > 2:
            seed[py + 1 : py + h - 1, px + 1 : px + w - 1] = lo
    filled = reconstruction(seed, mask, method="dilation")
    heights = mask - filled
    return [
        heights[py : py + y1 - y0, px : px + x1 - x0]
        for (y0, y1, x0, x1), (py, px) in zip(windows, pos, strict=True)
    ]


def _morph_job(image: np.ndarray, p: dict[str, Any], floor: float = 0.0):
    """Peak heights above their saddles, computed only around candidate peaks.

    A pixel can only pass ``k`` sigma of peak height if it stands out from the median
    background too; pixels above ``k - 1`` sigma of median residual are the candidates, and
    the reconstruction runs in a window of ``margin`` px around each candidate group (peaks
    narrower than the margin are filled exactly as in the whole image). Elsewhere the height
    is taken as 0. On 2048^2 this reconstructs ~5 % of the pixels instead of all of them.
    """
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape
    k, margin = float(p["k"]), int(p["margin"])
    yield Progress(0, 4, "median background and noise")
    work = _work_dtype(np.asarray(image))
    bg = separable_median(work, 13)
    resid = img - bg
    levels, sigmas = noise_vs_level(work, bg, residual=resid)
    sig = np.maximum(_window_max(sigma_from_level(bg, levels, sigmas), 13), np.float32(floor))
    sigma = max(float(np.median(sigmas)), floor)
    lab, n = ndi.label(resid > (k - 1.0) * sig, structure=_EIGHT)
    diff = np.zeros_like(img)
    if n:
        # one pixel of mirror around the image (as fill_peaks), so border peaks are filled
        padded = np.pad(img, 1, mode="reflect") if min(h, w) > 1 else np.pad(img, 1, "edge")
        # windows (padded coordinates) that overlap are merged into their bounding box: a
        # larger window only brings the heights closer to the whole image's
        cover = np.zeros((h + 2, w + 2), dtype=bool)
        for sl in ndi.find_objects(lab):
            cover[
                max(0, sl[0].start + 1 - margin) : min(h + 2, sl[0].stop + 1 + margin),
                max(0, sl[1].start + 1 - margin) : min(w + 2, sl[1].stop + 1 + margin),
            ] = True
        regions, _ = ndi.label(cover, structure=_EIGHT)
        windows = [
            (sl[0].start, sl[0].stop, sl[1].start, sl[1].stop) for sl in ndi.find_objects(regions)
        ]
        # chunks of ~1 M pixels between progress reports (and chances to cancel)
        chunk, area, chunks = [], 0, []
        for win in windows:
            chunk.append(win)
            area += (win[1] - win[0]) * (win[3] - win[2])
            if area > 1_000_000:
                chunks.append(chunk)
                chunk, area = [], 0
        if chunk:
            chunks.append(chunk)
        dpad = np.zeros((h + 2, w + 2), dtype=np.float32)
        for i, group in enumerate(chunks):
            yield Progress(1, 4, f"filling peaks, part {i + 1} of {len(chunks)}")
            for (y0, y1, x0, x1), height in zip(
                group, _fill_windows(padded, group, int(p["tile"])), strict=True
            ):
                # a window can only under-estimate a height (its border is nearer than the
                # image's), so where windows overlap the larger value is the better one
                np.maximum(dpad[y0:y1, x0:x1], height, out=dpad[y0:y1, x0:x1])
        diff = dpad[1:-1, 1:-1]
    yield Progress(2, 4, "thresholding")
    q = float(np.quantile(diff[:: max(1, h // 1024)], p["quantile"]))
    score = diff / sig
    spot = (diff > q) & (score > k)
    lab, _ = ndi.label(spot, structure=_EIGHT)
    return lab, score, diff, sigma, max(q, k * sigma)


def _measure(
    lab: np.ndarray, resid: np.ndarray, score: np.ndarray, min_area: int, max_area: int
) -> tuple[np.ndarray, list[SpotCandidate]]:
    """Area filter, sequential relabelling 1..n (raster order) and per-candidate numbers."""
    ys, xs = np.nonzero(lab)
    out = np.zeros(lab.shape, dtype=np.int32)
    if ys.size == 0:
        return out, []
    ids = lab[ys, xs]
    n_old = int(ids.max())
    area = np.bincount(ids, minlength=n_old + 1)
    keep = (area >= min_area) & (area <= max_area)
    keep[0] = False
    sel = keep[ids]
    ys, xs, ids = ys[sel], xs[sel], ids[sel]
    if ys.size == 0:
        return out, []
    # renumber in raster order of each component's first pixel
    _, first = np.unique(ids, return_index=True)
    old_ids = ids[np.sort(first)]
    remap = np.zeros(n_old + 1, dtype=np.int32)
    remap[old_ids] = np.arange(1, old_ids.size + 1, dtype=np.int32)
    new = remap[ids]
    out[ys, xs] = new
    n = old_ids.size
    order = np.argsort(new, kind="stable")
    ys, xs, new = ys[order], xs[order], new[order]
    starts = np.searchsorted(new, np.arange(1, n + 2))
    r = resid[ys, xs].astype(np.float64)
    s = score[ys, xs].astype(np.float64)
    peak = np.maximum.reduceat(r, starts[:-1])
    best = np.maximum.reduceat(s, starts[:-1])
    y0 = np.minimum.reduceat(ys, starts[:-1])
    y1 = np.maximum.reduceat(ys, starts[:-1]) + 1
    x0 = np.minimum.reduceat(xs, starts[:-1])
    x1 = np.maximum.reduceat(xs, starts[:-1]) + 1
    cnt = np.diff(starts)
    cy = np.add.reduceat(ys.astype(np.float64), starts[:-1]) / cnt
    cx = np.add.reduceat(xs.astype(np.float64), starts[:-1]) / cnt
    isolated = _isolated_peaks(resid, ys, xs, r, peak, starts)
    cands = []
    for i in range(n):
        a, b = starts[i], starts[i + 1]
        cands.append(
            SpotCandidate(
                id=i + 1,
                bbox=(int(y0[i]), int(y1[i]), int(x0[i]), int(x1[i])),
                centroid=(float(cy[i]), float(cx[i])),
                area=int(cnt[i]),
                peak=float(peak[i]),
                score=float(best[i]),
                ys=ys[a:b].astype(np.int32),
                xs=xs[a:b].astype(np.int32),
                isolated=bool(isolated[i]),
            )
        )
    return out, cands


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
