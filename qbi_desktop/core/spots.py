"""Gamma-spot detection (proposals for review) and object-level scoring against ground truth.

Two detectors, both returning a :class:`SpotDetection` (label image + scored candidates):

``method="median"`` (default, fast)
    background = a median filter of the image; residual = image - background; the noise is a
    robust sigma per background level (``sigma="level"``, :func:`noise_vs_level`): the larger
    of the second-difference estimate and 1.4826 x MAD of the residual itself, so it follows
    the Poisson noise that grows with brightness *and* the correlated noise and fixed pattern
    of real detectors; each pixel then takes the largest sigma within the median window
    (beside an edge the window mixes levels). Seeds are pixels with
    residual > ``k`` sigma; each spot grows from its seeds over the 8-connected pixels with
    residual > ``k_low`` sigma (hysteresis), so it gets its faint rim too. Components with
    ``min_area`` <= area <= ``max_area`` are kept, scored by peak residual / sigma.

    The median: ``scipy.ndimage.median_filter`` at 5x5 takes ~1.3 s on a 2048^2 image here, and
    a window that removes spots up to 20 px (~5x5 blobs) must be larger still. We use a
    *separable, strided* median instead (``median="fast"``): a 5-tap median along the rows, then
    along the columns, the taps ``stride`` = (size - 1) / 4 pixels apart, so the window spans
    ``size`` pixels (default 13). The 5-tap median is a branch-free min/max network on whole
    arrays (~9 numpy ops per pass, on the uint16 data when the image is uint16). A blob up to
    ``size // 2`` pixels wide or tall, or any track one to two pixels thin, hits at most 2 of 5
    taps and is removed from the background, while straight edges of objects are kept (a 1-D
    median preserves a step). Measured ~0.07 s for the median, ~0.2 s for the whole detection
    on 2048^2 uint16 (see tests/benchmarks/bench_spots.py). ``median="exact"`` uses the true
    2-D ``scipy.ndimage.median_filter`` of ``size`` (slow; for comparison).

``method="morph"``
    fill the peaks by morphological reconstruction: reconstruction by dilation under the image
    from a seed that equals the image on the border and its minimum inside (the dual of
    reconstruction by erosion from a seed above, applied to the negated image). Every regional
    maximum is cut down to the level of its saddle, so ``image - filled`` is the height of each
    peak above its surroundings. Pixels above ``max(quantile(image - filled, quantile), k x
    sigma)`` are spot pixels (the ``k x sigma`` floor keeps noise peaks out when an image holds
    fewer spot pixels than the quantile assumes). Reconstruction sorts the pixels it covers
    (~1.5 s for a whole 2048^2 image), so it runs only in windows of ``margin`` px around the
    candidate peaks (median residual > (k - 1) sigma), packed into one mosaic of rows at most
    ``tile`` px wide and reconstructed in one call: ~0.35 s on 2048^2, the same detections as
    the former 512 px tiles (pixel IoU 0.99), and none of the broad bright plateaus (the beam's
    dome) that a whole-image reconstruction calls a peak.

Hot pixels: a camera's hot pixels look exactly like one-pixel gamma spots in one frame; on the
real radiographs (edge20mm_*) they outnumber the gamma spots ~8 to 1 and are most of the
proposals. :func:`hot_pixel_map` finds them from a dark frame or other frames of the series,
and ``detect_spots(..., exclude=map)`` keeps them from starting a spot.

Scoring against truth: :func:`evaluate_spots` (matching rule in its docstring). On real frames
of one static scene, :func:`temporal_spot_truth` builds a pseudo truth from the other frames and
:func:`evaluate_temporal` scores against it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress, run_job

METHODS = ("median", "morph")
_EIGHT = np.ones((3, 3), dtype=bool)


class SpotParamError(UserFacingError):
    """A detector parameter is out of range; the message names it."""


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

    @property
    def mask(self) -> np.ndarray:
        return self.labels > 0

    def ranked(self) -> list[SpotCandidate]:
        """Candidates by decreasing score (the review order)."""
        return sorted(self.candidates, key=lambda c: (-c.score, c.id))

    def above(self, score: float) -> list[SpotCandidate]:
        return [c for c in self.candidates if c.score >= score]


# -- building blocks --------------------------------------------------------------------------
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


def _window_max(a: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a centred ``size`` x ``size`` window (edges clamped).

    Separable, and along each axis by doubling: the max over 2, 4, 8... pixels from shifted
    copies, then two overlapping spans cover ``size``; ~8 whole-array ``np.maximum`` passes,
    ~5x faster than ``scipy.ndimage.maximum_filter1d`` on 2048^2 float32.
    """
    if size <= 1:
        return a
    r = size // 2
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


def _background(image: np.ndarray, size: int, median: str) -> np.ndarray:
    if median == "exact":
        return ndi.median_filter(image, size=size, mode="reflect")
    return separable_median(image, size)


def _work_dtype(image: np.ndarray) -> np.ndarray:
    if image.dtype in (np.uint8, np.uint16, np.int16, np.float32):
        return image
    return image.astype(np.float32)


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 x median absolute deviation: the std of Gaussian noise, ignoring outliers."""
    v = np.asarray(values, dtype=np.float32).reshape(-1)
    if v.size == 0:
        return 0.0
    med = np.median(v)
    return float(1.4826 * np.median(np.abs(v - med)))


def _sigma_floor(resid: np.ndarray) -> float:
    # A MAD of 0 happens on flat synthetic images or quantised data; fall back to the spread,
    # and never divide by zero.
    s = float(np.std(resid)) if resid.size else 0.0
    return max(s, 1e-6)


def local_sigma_map(image: np.ndarray, block: int = 64) -> np.ndarray:
    """Robust noise sigma of ``image`` per ``block`` x ``block`` tile, expanded to its shape.

    Estimated from second differences along the rows, ``f[x-1] - 2 f[x] + f[x+1]``, which
    cancel any smooth gradient (a straight ramp gives 0) and have variance 6 sigma^2 for white
    noise: sigma = 1.4826 x MAD / sqrt(6). Estimating it from the median residual instead fails
    on steep gradients, where a median returns the pixel itself and the residual (hence the MAD)
    collapses to zero. Edges and spots are outliers the MAD ignores.
    """
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape
    block = max(8, int(block))
    if w < 3:
        return np.full((h, w), noise_sigma(img), dtype=np.float32)
    d2 = np.zeros((h, w), dtype=np.float32)
    d2[:, 1:-1] = img[:, :-2] + img[:, 2:] - 2 * img[:, 1:-1]
    d2[:, 0], d2[:, -1] = d2[:, 1], d2[:, -2]
    nby, nbx = max(1, h // block), max(1, w // block)
    bh, bw = h // nby, w // nbx
    sub = d2[: nby * bh, : nbx * bw].reshape(nby, bh, nbx, bw).transpose(0, 2, 1, 3)
    sub = sub.reshape(nby, nbx, -1)
    med = np.median(sub, axis=2, keepdims=True)
    sig = (1.4826 / math.sqrt(6.0)) * np.median(np.abs(sub - med), axis=2)
    bad = ~(sig > 0)
    if bad.any():
        sig[bad] = _sigma_floor(d2) / math.sqrt(6.0) if bad.all() else float(np.median(sig[~bad]))
    iy = np.minimum(np.arange(h) // bh, nby - 1)
    ix = np.minimum(np.arange(w) // bw, nbx - 1)
    return sig[iy][:, ix].astype(np.float32)


def _second_difference(img: np.ndarray) -> np.ndarray:
    d2 = np.zeros(img.shape, dtype=np.float32)
    if img.shape[1] >= 3:
        d2[:, 1:-1] = img[:, :-2] + img[:, 2:] - 2 * img[:, 1:-1]
        d2[:, 0], d2[:, -1] = d2[:, 1], d2[:, -2]
    return d2


def noise_vs_level(
    image: np.ndarray,
    background: np.ndarray,
    bins: int = 24,
    step: int | None = None,
    residual: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The noise sigma as a function of the background level: (levels, sigmas), increasing.

    Counting (Poisson) noise grows with the signal, so in a radiograph the noise under a thick
    object is several times lower than in the open beam. Pixels (every ``step``-th row and
    column; by default a step leaving >= ~65k pixels) are put in up to ``bins`` bins of equal
    count (>= 2000 pixels each, so each MAD is good to ~2 %) by their background level, which
    must be smooth (a median background, not the image); in each bin the noise is
    1.4826 x MAD of the second differences / sqrt(6) (see :func:`local_sigma_map`).
    Using the level rather than the position keeps the estimate right up to object edges.

    With ``residual`` (``image - background``), each bin's sigma is the larger of that and
    1.4826 x MAD of the residual itself. Why: the second differences see only the noise that
    changes from pixel to pixel. Real detectors blur their noise (neighbouring pixels correlate,
    ~0.5 on the real radiographs), which shrinks second differences, and they have a fixed
    pattern (stripes, texture) that the median does not follow; both stand in the residual
    that is thresholded, so its own spread is the yardstick (1.5x the second-difference
    estimate in the open beam of the real radiographs). On white noise the two agree (the
    residual's MAD is ~0.95x). Where a steep edge fills a level bin the median follows the
    pixel and the residual collapses, and the second differences (inflated by the edge) win,
    which is the safe side.
    """
    img = np.asarray(image)
    if step is None:
        step = max(1, int(math.sqrt(img.size / 65536)))
    if img.shape[1] < 3:
        s = noise_sigma(img)
        return np.array([float(np.mean(background))]), np.array([s])
    sub = img[::step].astype(np.float32)
    d2 = (sub[:, :-2] + sub[:, 2:] - 2 * sub[:, 1:-1])[:, ::step].reshape(-1)
    # keep the level's own dtype: a stable sort of 16-bit integers is a fast radix sort
    lev = np.ascontiguousarray(np.asarray(background)[::step, 1:-1:step]).reshape(-1)
    if lev.size < 64:
        s = noise_sigma(img)
        return np.array([float(lev.mean()) if lev.size else 0.0]), np.array([s])
    order = np.argsort(lev, kind="stable")
    lev, d2 = lev[order], d2[order]
    res = None
    if residual is not None:
        res = np.asarray(residual, dtype=np.float32)[::step, 1:-1:step].reshape(-1)[order]
    parts = np.array_split(np.arange(lev.size), max(1, min(bins, lev.size // 2000)))
    levels, sigmas = [], []
    for idx in parts:
        seg = d2[idx]
        sig = 1.4826 * float(np.median(np.abs(seg - np.median(seg)))) / math.sqrt(6.0)
        if res is not None:
            seg = res[idx]
            sig = max(sig, 1.4826 * float(np.median(np.abs(seg - np.median(seg)))))
        levels.append(float(np.median(lev[idx])))
        sigmas.append(sig)
    levels_a, sigmas_a = np.asarray(levels), np.asarray(sigmas)
    good = sigmas_a > 0
    if not good.any():
        return levels_a[:1], np.array([_sigma_floor(d2) / math.sqrt(6.0)])
    return levels_a[good], sigmas_a[good]


def sigma_from_level(background: np.ndarray, levels: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Noise sigma per pixel by interpolating :func:`noise_vs_level` at its background.

    For 8/16-bit backgrounds this is a table lookup (65536 entries), ~5x faster than
    interpolating 4 million pixels.
    """
    bg = np.asarray(background)
    if bg.dtype in (np.uint8, np.uint16):
        lut = np.interp(np.arange(np.iinfo(bg.dtype).max + 1), levels, sigmas)
        return lut.astype(np.float32)[bg]
    return np.interp(bg, levels, sigmas).astype(np.float32)


def noise_sigma(image: np.ndarray) -> float:
    """Robust noise sigma of an image from horizontal neighbour differences (cheap, global)."""
    img = np.asarray(image, dtype=np.float32)
    if img.shape[1] < 2:
        return _sigma_floor(img)
    d = img[:, 1:] - img[:, :-1]
    s = robust_sigma(d[:: max(1, img.shape[0] // 512)]) / math.sqrt(2.0)
    return s if s > 0 else _sigma_floor(d)


# -- parameters ----------------------------------------------------------------------------
DEFAULTS: dict[str, dict[str, Any]] = {
    "median": {
        "k": 5.0,
        "k_low": 2.5,
        "size": 13,
        "min_area": 1,
        "max_area": 400,
        "median": "fast",
        "sigma": "level",
        "block": 64,
    },
    "morph": {
        "quantile": 0.99,
        "k": 5.0,
        "min_area": 1,
        "max_area": 400,
        "tile": 1024,
        "margin": 6,
    },
}


def _params(method: str, given: dict[str, Any]) -> dict[str, Any]:
    if method not in METHODS:
        raise SpotParamError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    p = dict(DEFAULTS[method])
    unknown = set(given) - set(p)
    if unknown:
        raise SpotParamError(
            f"{method} detector: unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(p))}"
        )
    p.update({k: v for k, v in given.items() if v is not None})

    def positive(name: str, integer: bool = False) -> None:
        v = p[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise SpotParamError(f"{name}: must be a number > 0, got {v!r}")
        if integer and int(v) != v:
            raise SpotParamError(f"{name}: must be a whole number, got {v!r}")

    positive("k")
    positive("min_area", True)
    positive("max_area", True)
    if p["max_area"] < p["min_area"]:
        raise SpotParamError(f"max_area ({p['max_area']}) is below min_area ({p['min_area']})")
    if method == "median":
        positive("k_low")
        positive("block", True)
        size = p["size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 3 or size % 2 == 0:
            raise SpotParamError(f"size: must be an odd integer >= 3, got {size!r}")
        if p["median"] not in ("fast", "exact"):
            raise SpotParamError(f"median: expected 'fast' or 'exact', got {p['median']!r}")
        if p["sigma"] not in ("level", "local", "global"):
            raise SpotParamError(
                f"sigma: expected 'level', 'local' or 'global', got {p['sigma']!r}"
            )
        p["k_low"] = min(float(p["k_low"]), float(p["k"]))
    else:
        q = p["quantile"]
        if not isinstance(q, int | float) or not 0 < q < 1:
            raise SpotParamError(f"quantile: must be between 0 and 1, got {q!r}")
        positive("tile", True)
        positive("margin", True)
    return p


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise SpotParamError(f"image: spot detection needs one 2-D image, got shape {image.shape}")
    if image.size == 0:
        raise SpotParamError("image: is empty")
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise SpotParamError(f"image: pixel type {image.dtype} is not numeric")
    return image


# -- detection ----------------------------------------------------------------------------
def detect_spots_job(
    image: np.ndarray,
    method: str = "median",
    *,
    exclude: np.ndarray | None = None,
    **params: Any,
) -> Job[SpotDetection]:
    """The detector as a job (progress + cancel between stages) for the GUI worker.

    ``exclude``: optional boolean mask of the image's shape, pixels known not to be gamma
    spots (hot pixels: see :func:`hot_pixel_map`). They cannot start a spot; a spot started
    elsewhere may still grow over them.
    """
    image = _check_image(image)
    p = _params(method, params)
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if exclude.shape != image.shape:
            raise SpotParamError(
                f"exclude: the mask has shape {exclude.shape}, the image {image.shape}"
            )
    t0 = time.perf_counter()
    if method == "median":
        result = yield from _median_job(image, p)
    else:
        result = yield from _morph_job(image, p)
    labels, score_map, resid, sigma, threshold = result
    if exclude is not None and exclude.any():
        labels = _drop_excluded(labels, score_map, float(p["k"]), exclude)
    yield Progress(3, 4, "measuring candidates")
    labels, cands = _measure(labels, resid, score_map, p["min_area"], p["max_area"])
    yield Progress(4, 4, f"{len(cands)} spot candidates")
    return SpotDetection(labels, cands, method, p, sigma, threshold, time.perf_counter() - t0)


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


def hot_pixel_map(images: np.ndarray | list[np.ndarray], k: float = 5.0) -> np.ndarray:
    """Pixels that are bright outliers in every one of ``images``: the camera's hot pixels.

    ``images``: one dark-current image, or a stack (N, H, W) of frames of the same camera
    (e.g. other projections of a series; with 3 or more, gamma spots, which fall at random,
    are outvoted by the per-pixel median). A pixel is hot when the per-pixel median exceeds its
    separable 13 px median background by more than ``k`` robust sigma at its level.

    Why: a hot pixel looks exactly like a one-pixel gamma spot in a single frame; on the real
    radiographs they outnumber the gamma spots ~8 to 1. Pass the map as ``exclude=`` to
    :func:`detect_spots`.
    """
    stack = np.asarray(images)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3 or stack.shape[0] == 0 or stack[0].size == 0:
        raise SpotParamError(
            f"hot pixels: need one image or a stack of images, got shape {stack.shape}"
        )
    ref = stack[0] if stack.shape[0] == 1 else np.median(stack, axis=0)
    work = _work_dtype(np.asarray(ref))
    bg = separable_median(work, 13)
    resid = work.astype(np.float32) - bg
    sig = sigma_from_level(bg, *noise_vs_level(work, bg, residual=resid))
    return resid > float(k) * sig


def _median_job(image: np.ndarray, p: dict[str, Any]):
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


def _morph_job(image: np.ndarray, p: dict[str, Any]):
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
    sig = _window_max(sigma_from_level(bg, levels, sigmas), 13)
    sigma = float(np.median(sigmas))
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
            )
        )
    return out, cands


# -- evaluation ---------------------------------------------------------------------------
@dataclass
class SpotEvaluation:
    """Object-level scores. ``matches`` lists (pred id, true id, overlap px, IoU)."""

    tp: int
    fp: int
    fn: int
    ignored_true: int  # true spots outside the evaluated set (not counted as misses)
    ignored_pred: int  # predictions matched to ignored true spots (not counted as errors)
    matches: list[tuple[int, int, int, float]]
    # predictions not judged (see evaluate_temporal: on hot pixels or unreliable areas)
    excluded_pred: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def summary(self) -> str:
        return (
            f"precision {self.precision:.3f}, recall {self.recall:.3f}, F1 {self.f1:.3f} "
            f"(TP {self.tp}, FP {self.fp}, FN {self.fn}; ignored: {self.ignored_true} true, "
            f"{self.ignored_pred} predicted"
            + (f", {self.excluded_pred} not judged" if self.excluded_pred else "")
            + ")"
        )


def evaluate_spots(
    pred_labels: np.ndarray,
    true_labels: np.ndarray,
    *,
    evaluate_true: Iterable[int] | None = None,
    min_overlap: int = 1,
    min_iou: float = 0.0,
) -> SpotEvaluation:
    """Object-level precision, recall and F1 of predicted spots against true spots.

    Matching rule: a predicted object and a true object *can* match when they share at least
    ``min_overlap`` pixels and their IoU is at least ``min_iou`` (defaults: one shared pixel,
    any IoU — a spot proposal is right when it lands on the spot; its outline is then edited
    in review). Pairs are matched one-to-one, greedily by decreasing overlap (ties: higher
    IoU, then lower ids). Then:

    * TP = predictions matched to an evaluated true spot; FN = evaluated true spots unmatched;
      FP = predictions matched to nothing (including a second prediction on an already
      matched spot: a split spot counts once right, once wrong).
    * ``evaluate_true`` restricts the truth to some spot ids (e.g. those of >= 2 px and
      >= 5 sigma). The other true spots are *ignored*: missing them is not a miss, and a
      prediction matched to one is neither right nor wrong (``ignored_pred``).
    """
    if pred_labels.shape != true_labels.shape:
        raise SpotParamError(
            f"evaluation: predicted labels {pred_labels.shape} and truth {true_labels.shape} "
            "differ in shape"
        )
    pred = np.asarray(pred_labels).astype(np.int64, copy=False)
    true = np.asarray(true_labels).astype(np.int64, copy=False)
    n_pred = int(pred.max(initial=0))
    n_true = int(true.max(initial=0))
    pred_ids = np.flatnonzero(np.bincount(pred.reshape(-1), minlength=n_pred + 1))
    true_ids = np.flatnonzero(np.bincount(true.reshape(-1), minlength=n_true + 1))
    pred_ids, true_ids = pred_ids[pred_ids > 0], true_ids[true_ids > 0]
    area_p = np.bincount(pred.reshape(-1), minlength=n_pred + 1)
    area_t = np.bincount(true.reshape(-1), minlength=n_true + 1)
    both = (pred > 0) & (true > 0)
    pairs = pred[both] * (n_true + 1) + true[both]
    keys, counts = np.unique(pairs, return_counts=True)
    pp, tt = np.divmod(keys, n_true + 1)
    iou = counts / (area_p[pp] + area_t[tt] - counts)
    ok = (counts >= min_overlap) & (iou >= min_iou)
    pp, tt, counts, iou = pp[ok], tt[ok], counts[ok], iou[ok]
    order = np.lexsort((tt, pp, -iou, -counts))
    used_p: set[int] = set()
    used_t: set[int] = set()
    matches: list[tuple[int, int, int, float]] = []
    for i in order:
        p, t = int(pp[i]), int(tt[i])
        if p in used_p or t in used_t:
            continue
        used_p.add(p)
        used_t.add(t)
        matches.append((p, t, int(counts[i]), float(iou[i])))
    evaluated = (
        set(int(t) for t in true_ids)
        if evaluate_true is None
        else set(int(t) for t in evaluate_true) & set(int(t) for t in true_ids)
    )
    tp = sum(1 for _, t, _, _ in matches if t in evaluated)
    ignored_pred = sum(1 for _, t, _, _ in matches if t not in evaluated)
    fp = len(pred_ids) - len(matches)
    fn = len(evaluated - used_t)
    return SpotEvaluation(tp, fp, fn, len(true_ids) - len(evaluated), ignored_pred, matches)


def true_spot_snr(
    image: np.ndarray,
    true_labels: np.ndarray,
    peak_above_background: dict[int, float] | None = None,
    size: int = 13,
) -> dict[int, float]:
    """Peak height / local noise sigma of every true spot (to pick the spots to evaluate).

    The noise is the robust sigma at the spot's background level (:func:`noise_vs_level`, as
    the detector measures it, but independent of its thresholds). The peak is taken from
    ``peak_above_background`` (e.g. the simulator's records) when given, else it is the largest
    median residual inside the spot.
    """
    work = _work_dtype(np.asarray(image))
    bg = separable_median(work, size)
    resid = work.astype(np.float32) - bg
    sig = sigma_from_level(bg, *noise_vs_level(work, bg))
    ys, xs = np.nonzero(true_labels)
    ids = true_labels[ys, xs]
    out: dict[int, float] = {}
    if ids.size == 0:
        return out
    order = np.argsort(ids, kind="stable")
    ys, xs, ids = ys[order], xs[order], ids[order]
    uniq, starts = np.unique(ids, return_index=True)
    bounds = list(starts) + [ids.size]
    for j, sid in enumerate(uniq):
        a, b = bounds[j], bounds[j + 1]
        sy, sx = ys[a:b], xs[a:b]
        noise = float(np.median(sig[sy, sx]))
        if peak_above_background is not None and int(sid) in peak_above_background:
            peak = float(peak_above_background[int(sid)])
        else:
            peak = float(resid[sy, sx].max())
        out[int(sid)] = peak / max(noise, 1e-6)
    return out


def pixel_agreement(detected: np.ndarray, reference_changed: np.ndarray) -> tuple[float, float]:
    """(recall, precision) of a detected pixel mask against pixels a reference changed."""
    det = np.asarray(detected, dtype=bool)
    ref = np.asarray(reference_changed, dtype=bool)
    both = int((det & ref).sum())
    recall = both / int(ref.sum()) if ref.any() else 1.0
    precision = both / int(det.sum()) if det.any() else 1.0
    return recall, precision


# -- temporal pseudo truth (real frames of one static scene) -----------------------------------
@dataclass
class TemporalTruth:
    """Gamma spots of one frame, found by comparing it with other frames of the same scene.

    Gamma rays hit the camera at random, so a spot is in one frame only, while the sample, the
    beam, the detector's fixed pattern and its hot pixels are in every frame. See
    :func:`temporal_spot_truth` for how each field is found.
    """

    labels: np.ndarray  # int32 (H, W): 0 = none, 1..n = gamma spots of this frame
    peak_snr: np.ndarray  # float64 (n + 1,): peak above background / single-frame sigma
    area: np.ndarray  # int64 (n + 1,): pixels per spot (index 0 unused)
    fixed: np.ndarray  # bool (H, W): bright outliers in the other frames too (hot pixels...)
    unreliable: np.ndarray  # bool (H, W): the frames disagree over areas (a moved edge)
    sigma: np.ndarray  # float32 (H, W): single-frame noise sigma at each pixel's level

    def evaluated_ids(self, min_snr: float = 5.0, min_area: int = 1) -> list[int]:
        """Spots of peak >= ``min_snr`` sigma, >= ``min_area`` px, clear of unreliable areas."""
        n = self.area.size - 1
        if n <= 0:
            return []
        touches = np.zeros(n + 1, dtype=bool)
        touches[self.labels[self.unreliable]] = True
        ids = np.arange(n + 1)
        ok = (self.peak_snr >= min_snr) & (self.area >= min_area) & ~touches & (ids > 0)
        return [int(i) for i in ids[ok]]


def _binned_mad_sigma(
    level: np.ndarray, values: np.ndarray, mask: np.ndarray, bins: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """1.4826 x MAD of ``values`` in ``bins`` equal-count bins of ``level`` (where ``mask``)."""
    lev = np.asarray(level, dtype=np.float32)[mask]
    val = np.asarray(values, dtype=np.float32)[mask]
    if lev.size == 0:
        return np.array([0.0]), np.array([_sigma_floor(np.asarray(values))])
    order = np.argsort(lev, kind="stable")
    lev, val = lev[order], val[order]
    levels, sigmas = [], []
    for idx in np.array_split(np.arange(lev.size), max(1, min(bins, lev.size // 500))):
        seg = val[idx]
        levels.append(float(np.median(lev[idx])))
        sigmas.append(1.4826 * float(np.median(np.abs(seg - np.median(seg)))))
    sig = np.maximum(np.asarray(sigmas), 1e-6)
    return np.asarray(levels), sig


def _smooth_block_median(values: np.ndarray, valid: np.ndarray, block: int = 16) -> np.ndarray:
    """A smooth map of ``values``: the median per block (over ``valid`` pixels), interpolated."""
    h, w = values.shape
    nby, nbx = -(-h // block), -(-w // block)
    pad = np.full((nby * block, nbx * block), np.nan, dtype=np.float32)
    pad[:h, :w] = np.where(valid, values, np.nan)
    blocks = pad.reshape(nby, block, nbx, block).transpose(0, 2, 1, 3).reshape(nby, nbx, -1)
    enough = np.sum(~np.isnan(blocks), axis=2) >= block * block // 4
    med = np.zeros((nby, nbx), dtype=np.float64)
    if enough.any():
        med[enough] = np.nanmedian(blocks[enough], axis=1)
        # blocks with too few valid pixels take their nearest good block's value
        idx = ndi.distance_transform_edt(~enough, return_distances=False, return_indices=True)
        med = med[tuple(idx)]
    med = ndi.median_filter(med, 3, mode="nearest")
    yy = np.clip((np.arange(h) + 0.5) / block - 0.5, 0, nby - 1)
    xx = np.clip((np.arange(w) + 0.5) / block - 0.5, 0, nbx - 1)
    # separable bilinear interpolation
    y0 = np.floor(yy).astype(int)
    x0 = np.floor(xx).astype(int)
    y1, x1 = np.minimum(y0 + 1, nby - 1), np.minimum(x0 + 1, nbx - 1)
    fy, fx = (yy - y0)[:, None], (xx - x0)[None, :]
    top = med[y0][:, x0] * (1 - fx) + med[y0][:, x1] * fx
    bot = med[y1][:, x0] * (1 - fx) + med[y1][:, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def temporal_spot_truth(
    frames: list[np.ndarray] | np.ndarray,
    index: int,
    *,
    k: float = 4.0,
    k_low: float = 2.0,
    block: int = 16,
) -> TemporalTruth:
    """Pseudo ground truth of the gamma spots in ``frames[index]`` from the other frames.

    For radiographs of one static scene (at least 3 frames, same shape): gamma spots fall at
    random in each frame; everything else repeats. So, in counts:

    1. ``d = frame - median(other frames)`` (per pixel: a spot in one other frame is outvoted),
       minus a smooth map of ``d`` (block medians, ``block`` px) that absorbs slow changes of
       beam intensity and scatter between frames.
    2. The noise of ``d`` per level: 1.4826 x MAD of ``d`` in bins of the others' level, so the
       threshold follows the counting noise wherever it is; measured from the frames
       themselves, with no model. The single-frame sigma (for the peak's SNR) is measured the
       same way on differences of two other frames (``/ sqrt(2)``).
    3. Spot pixels: ``d > k`` sigma seeds grown over 8-connected ``d > k_low`` sigma pixels;
       connected components.
    4. ``unreliable``: where the frames disagree over areas, not pixels — a sample edge that
       moved between frames: steep gradient in any frame, or, within 12 px of one, a 9 px
       median of ``d`` far from zero; grown by 2 px. Spots there are not judged.
    5. ``fixed``: pixels that are bright outliers (> 3 single-frame sigma above a 13 px
       median background) in the per-pixel median of the other frames too: hot pixels and
       fixed-pattern texture of the camera. A detector that sees one frame cannot tell them
       from gamma spots; :func:`evaluate_temporal` can leave them out of the score.
    """
    stack = np.asarray(frames)
    if stack.ndim != 3 or stack.shape[0] < 3:
        raise SpotParamError(
            f"frames: need at least 3 frames of one shape (a 3-D stack), got shape {stack.shape}"
        )
    n = stack.shape[0]
    if not -n <= index < n:
        raise SpotParamError(f"index: {index} is out of range for {n} frames")
    index %= n
    stack = stack.astype(np.float32, copy=False)
    frame = stack[index]
    others = np.delete(stack, index, axis=0)
    ref = np.median(others, axis=0)
    level = separable_median(ref, 5)
    d = frame - ref
    # noise of one frame, from the difference of two other frames (robust against their own
    # spots), and the steep pixels (edges) in any frame; the two depend on each other (edges
    # that moved between frames inflate the spread at the levels in between), so twice
    grads = []
    for f in stack:
        sm = separable_median(f, 13)  # spots gone, straight edges kept
        grads.append(np.hypot(ndi.sobel(sm, 0), ndi.sobel(sm, 1)) / 8.0)
    grad = np.max(grads, axis=0)
    pair = others[0] - others[1]
    steep = np.zeros(frame.shape, dtype=bool)
    for _ in range(2):
        calm = ~ndi.binary_dilation(steep, _EIGHT, iterations=3)
        pair_c = pair - _smooth_block_median(pair, calm, block)
        lv_f, sg_f = _binned_mad_sigma(level, pair_c, calm)
        sigma_f = np.interp(level, lv_f, sg_f / math.sqrt(2.0)).astype(np.float32)
        steep = grad > 2.0 * sigma_f
    d1 = d - _smooth_block_median(d, ~steep, block)
    area_d = separable_median(d1, 9)
    lv_d, sg_d = _binned_mad_sigma(level, d1 - area_d, ~steep)
    sigma_d = np.interp(level, lv_d, sg_d).astype(np.float32)
    # a moved edge leaves a band of disagreement beside the steep pixels; far from any edge an
    # area-wide disagreement is a large spot, which must stay
    near_edge = ndi.binary_dilation(steep, _EIGHT, iterations=12)
    mismatch = (np.abs(area_d) > 4.0 * sigma_d) & near_edge
    unreliable = ndi.binary_dilation(steep | mismatch, _EIGHT, iterations=2)
    d = d - _smooth_block_median(d, ~unreliable, block)
    lv_d, sg_d = _binned_mad_sigma(level, d, ~unreliable)
    sigma_d = np.interp(level, lv_d, sg_d).astype(np.float32)
    z = d / sigma_d
    lab, count = ndi.label(z > k_low, structure=_EIGHT)
    if count:
        has_seed = np.zeros(count + 1, dtype=bool)
        has_seed[lab[z > k]] = True
        has_seed[0] = False
        # a component reaching into an unreliable area is likely the tail of a moved edge:
        # it becomes unreliable too
        touches = np.zeros(count + 1, dtype=bool)
        touches[lab[unreliable]] = True
        touches[0] = False
        unreliable = unreliable | (touches & has_seed)[lab]
        lab, count = ndi.label((has_seed & ~touches)[lab], structure=_EIGHT)
    lab = lab.astype(np.int32)
    ids = np.arange(1, count + 1)
    peak = np.zeros(count + 1)
    if count:
        peak[1:] = ndi.maximum(d / sigma_f, lab, ids)
    area = np.bincount(lab.reshape(-1), minlength=count + 1).astype(np.int64)
    area[0] = 0
    ref_resid = ref - separable_median(ref, 13)
    fixed = ref_resid > 3.0 * sigma_f
    if count:
        # a "spot" lying wholly on fixed-pattern outliers is most likely a hot pixel that
        # flickers (brighter in this frame than in the others): not judged either
        on_fixed = np.bincount(lab.reshape(-1), weights=fixed.reshape(-1), minlength=count + 1)
        flicker = on_fixed >= area
        flicker[0] = False
        if flicker.any():
            unreliable = unreliable | flicker[lab]
            keep = ~flicker
            lab = np.where(keep[lab], lab, 0)
            lab, count = ndi.label(lab > 0, structure=_EIGHT)
            lab = lab.astype(np.int32)
            ids = np.arange(1, count + 1)
            peak = np.zeros(count + 1)
            if count:
                peak[1:] = ndi.maximum(d / sigma_f, lab, ids)
            area = np.bincount(lab.reshape(-1), minlength=count + 1).astype(np.int64)
            area[0] = 0
    return TemporalTruth(lab, peak, area, fixed, unreliable, sigma_f)


def evaluate_temporal(
    pred_labels: np.ndarray,
    truth: TemporalTruth,
    *,
    min_snr: float = 5.0,
    min_area: int = 1,
    ignore_fixed: bool = True,
) -> SpotEvaluation:
    """Score a detection on a real frame against :func:`temporal_spot_truth`.

    The evaluated truth is the spots of peak >= ``min_snr`` single-frame sigma and >=
    ``min_area`` px outside unreliable areas (:meth:`TemporalTruth.evaluated_ids`); the rule is
    :func:`evaluate_spots`'s. Predictions that overlap no truth spot but an unreliable area, or
    (``ignore_fixed``) a fixed-pattern outlier, are not judged: they are counted in
    ``excluded_pred`` instead of FP. With ``ignore_fixed=False`` a hot pixel proposed as a spot
    is a false positive.
    """
    pred = np.asarray(pred_labels)
    if pred.shape != truth.labels.shape:
        raise SpotParamError(
            f"evaluation: predicted labels {pred.shape} and truth {truth.labels.shape} "
            "differ in shape"
        )
    n_pred = int(pred.max(initial=0))
    flat = pred.reshape(-1).astype(np.int64)
    on_truth = np.bincount(flat, weights=(truth.labels.reshape(-1) > 0), minlength=n_pred + 1)
    skip_px = truth.unreliable | truth.fixed if ignore_fixed else truth.unreliable
    on_skip = np.bincount(flat, weights=skip_px.reshape(-1), minlength=n_pred + 1)
    present = np.bincount(flat, minlength=n_pred + 1) > 0
    drop = (on_truth == 0) & (on_skip > 0) & present
    drop[0] = False
    kept = np.where(drop[pred], 0, pred)
    ev = evaluate_spots(kept, truth.labels, evaluate_true=truth.evaluated_ids(min_snr, min_area))
    ev.excluded_pred = int(drop.sum())
    return ev
