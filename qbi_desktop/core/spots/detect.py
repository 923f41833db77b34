"""The detectors (median residual with hysteresis; morphological peak filling) as jobs."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage as ndi

from qbi_desktop.core.jobs import Job, Progress, run_job
from qbi_desktop.core.spots.hot_pixels import HotPixels
from qbi_desktop.core.spots.measure import Candidates, SpotCandidate, measure
from qbi_desktop.core.spots.median import _background, _window_max, _work_dtype, separable_median
from qbi_desktop.core.spots.noise import (
    SigmaMap,
    _sigma_floor,
    local_sigma_map,
    noise_vs_level,
    robust_sigma,
    sigma_from_level,
    window_level_sigma,
)
from qbi_desktop.core.spots.params import _EIGHT, SpotParamError, _check_image, _params


@dataclass
class SpotDetection:
    """Result of a detector run: label image (0 = none, 1..n) and the candidates 1..n."""

    labels: np.ndarray  # int32 (H, W)
    candidates: Candidates  # a read-only list of SpotCandidate, made on first use
    method: str
    params: dict[str, Any]
    sigma: float  # median robust noise sigma over the image
    threshold: float  # the seed threshold in counts (median over the image for local sigma)
    seconds: float
    nonfinite: int = 0  # NaN/infinite pixels, treated as background (never part of a spot)
    # hot pixels subtracted (those above the seed threshold) or excluded (see .hot_pixels)
    hot_pixels: int = 0
    # the detector's background estimate (median filter of the frame, hot pixels subtracted),
    # the input's type for 8/16-bit frames: what spot cleaning puts in place of a spot
    background: np.ndarray | None = field(default=None, repr=False)

    @property
    def isolated(self) -> int:
        """How many candidates are a lone bright pixel (see :attr:`SpotCandidate.isolated`)."""
        return int(np.count_nonzero(self.candidates.isolated))

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
        image = _subtract(image, exclude)
    t0 = time.perf_counter()
    if method == "median":
        result = yield from _median_job(image, p, floor)
    else:
        result = yield from _morph_job(image, p, floor)
    found: _Found = result
    sigma = found.sigma
    if isinstance(exclude, HotPixels):
        # the hot pixels that matter here: those that would pass the seed threshold
        hot_count = int(np.count_nonzero(exclude.sparse_excess()[1] > float(p["k"]) * sigma))
    if isinstance(exclude, np.ndarray) and exclude.any():
        found = _drop_excluded(found, float(p["k"]), exclude)
    yield Progress(3, 4, "measuring candidates")
    f = found
    labels, cands = measure(
        image.shape, f.flat, f.ids, f.resid, f.score, p["min_area"], p["max_area"], f.resid_map
    )
    if p["lone"] == "drop" and cands.isolated.any():
        keep = np.concatenate([[False], ~cands.isolated])[labels.reshape(-1)[f.flat]]
        labels, cands = measure(
            image.shape,
            f.flat[keep],
            labels.reshape(-1)[f.flat[keep]],
            f.resid[keep],
            f.score[keep],
            1,
            1 << 62,
            f.resid_map,
        )
    yield Progress(4, 4, f"{len(cands)} spot candidates")
    seconds = time.perf_counter() - t0
    return SpotDetection(
        labels,
        cands,
        method,
        p,
        sigma,
        f.threshold,
        seconds,
        nonfinite,
        hot_count,
        f.background,
    )


class _Found(NamedTuple):
    """What a detector found, sparsely: its pixels in raster order and their components."""

    flat: np.ndarray  # flat indices of the spot pixels, increasing
    ids: np.ndarray  # component of each (any positive numbering)
    resid: np.ndarray  # residual (counts above the background) at each
    score: np.ndarray  # residual / local sigma at each
    resid_map: np.ndarray  # the whole residual image
    sigma: float  # median noise sigma
    threshold: float  # seed threshold in counts
    background: np.ndarray  # the background estimate


def _sparse(lab: np.ndarray, resid: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, ...]:
    flat = np.flatnonzero(lab)
    return flat, lab.reshape(-1)[flat], resid.reshape(-1)[flat], score.reshape(-1)[flat]


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


def _subtract(image: np.ndarray, hot: HotPixels) -> np.ndarray:
    """``image - hot.excess``; 8/16-bit images stay in their type (whole counts, floored at 0),
    so the detector keeps its fast integer paths. Only the hot pixels are touched."""
    if image.dtype in (np.uint8, np.uint16):
        at, excess = hot.sparse_excess()
        out = np.array(image, order="C")
        flat = out.reshape(-1)
        values = flat[at].astype(np.int32) - np.rint(excess).astype(np.int32)
        flat[at] = np.clip(values, 0, np.iinfo(image.dtype).max)
        return out
    return image.astype(np.float32) - hot.excess


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


def _drop_excluded(found: _Found, k: float, exclude: np.ndarray) -> _Found:
    """Keep the components that have a pixel above ``k`` sigma outside ``exclude``."""
    if found.flat.size == 0:
        return found
    ok = np.zeros(int(found.ids.max()) + 1, dtype=bool)
    free = ~exclude.reshape(-1)[found.flat] & (found.score > k)
    ok[found.ids[free]] = True
    keep = ok[found.ids]
    return found._replace(
        flat=found.flat[keep], ids=found.ids[keep], resid=found.resid[keep], score=found.score[keep]
    )


def _median_job(image: np.ndarray, p: dict[str, Any], floor: float = 0.0):
    yield Progress(0, 4, "median background")
    work = _work_dtype(image)
    bg = _background(work, int(p["size"]), p["median"])
    resid = np.subtract(work, bg, dtype=np.float32)
    yield Progress(1, 4, "noise level")
    if p["sigma"] == "level":
        levels, sigmas = noise_vs_level(work, bg, residual=resid)
        # The median window mixes the levels it spans: beside an edge a pixel's residual can
        # carry the noise of the bright side. Each pixel takes the largest sigma in its window
        # (on the real radiographs this removes most false proposals along the plate edges).
        sig = window_level_sigma(bg, levels, sigmas, int(p["size"]), floor)
        sigma = sig.median()
    elif p["sigma"] == "local":
        sig = SigmaMap(np.maximum(local_sigma_map(work, int(p["block"])), np.float32(floor)))
        sigma = sig.median()
    else:
        sigma = robust_sigma(resid[:: max(1, resid.shape[0] // 1024)])
        if sigma <= 0:
            sigma = _sigma_floor(resid)
        sigma = max(sigma, floor)
        sig = SigmaMap(np.float32(sigma))
    sigma = max(sigma, floor)
    yield Progress(2, 4, "thresholding")
    # components above k_low sigma that hold a pixel above k sigma; the scores are computed
    # only on the (few) pixels above k_low
    low = sig.above(resid, p["k_low"])
    lab, n = ndi.label(low, structure=_EIGHT)
    flat = np.flatnonzero(low)
    ids = lab.reshape(-1)[flat]
    r = resid.reshape(-1)[flat]
    s = r / sig.at(flat)
    if n:
        has_seed = np.zeros(n + 1, dtype=bool)
        # k as float32 like the scores (numpy would cast it, 1e308 overflowing with a
        # RuntimeWarning); a k beyond float32 is the largest float32: no finite score passes
        has_seed[ids[s > np.float32(min(float(p["k"]), float(np.finfo(np.float32).max)))]] = True
        keep = has_seed[ids]
        flat, ids, r, s = flat[keep], ids[keep], r[keep], s[keep]
    return _Found(flat, ids, r, s, resid, sigma, float(p["k"]) * sigma, bg)


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
    flat, ids, r, s = _sparse(lab, diff, score)
    return _Found(flat, ids, r, s, diff, sigma, max(q, k * sigma), bg)
