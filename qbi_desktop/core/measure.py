"""Measuring in the image: a line profile, rectangle/ellipse ROI statistics, the pixel size.

Coordinates are the viewer's: pixel (row i, column j) covers [j, j+1) x [i, i+1), so its centre
is at (j + 0.5, i + 0.5). Values are taken from the array as given — the plane the viewer shows,
already in the current unit (counts, transmission, attenuation) — so a measurement always says
what the image shows.

* :func:`line_profile` samples a line at <= 1 px spacing, by **bilinear interpolation** between
  pixel centres (the default, like ImageJ's profile) or by the **nearest pixel**; samples off
  the image are NaN, and a NaN neighbour makes a bilinear sample NaN.
* :func:`roi_stats` takes the pixels whose centres lie inside the rectangle or ellipse; NaN
  pixels (masked by normalisation) are left out and counted apart. Above ``max_pixels`` it
  samples every ``step``-th row (whole rows: cheap strided reads) so a live read-out stays
  within a frame; :func:`roi_stats_job` gives the exact figures on a worker in row chunks.
* :func:`pixel_size` reads a physical pixel size from the TIFF resolution tags / ImageJ
  metadata (or a project's ``pixel_size``/``pixel_unit``); :func:`scale_bar_length` picks a
  round bar length.

No Qt here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress

PROFILE_METHODS = ("bilinear", "nearest")
ROI_KINDS = ("rectangle", "ellipse")
LIVE_MAX_PIXELS = 1 << 19  # ~0.5 M pixels: ~2 ms of numpy on an idle core, inside one frame
MAX_PROFILE_SAMPLES = 1 << 20


class MeasureError(UserFacingError, ValueError):
    """A measurement that cannot be made (bad kind, not finite); the message says why."""


def _check(array: np.ndarray) -> np.ndarray:
    if array.ndim not in (2, 3):
        raise MeasureError(f"expected a 2-D image, got an array of shape {array.shape}")
    return array


def _grey(values: np.ndarray, ndim: int) -> np.ndarray:
    """Colour pixels (a last axis of samples) are measured as the mean of their channels;
    applied to the few pixels taken, never to the whole plane."""
    return values.mean(axis=-1) if values.ndim == ndim + 1 else values


# -- line profile ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    distance: np.ndarray  # px from the start, along the line
    x: np.ndarray  # sample positions in viewer coordinates
    y: np.ndarray
    values: np.ndarray  # float64; NaN off the image or where the image is NaN
    method: str

    @property
    def length(self) -> float:
        return float(self.distance[-1]) if len(self.distance) else 0.0


def profile_points(
    start: tuple[float, float],
    end: tuple[float, float],
    size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distance, x, y) of samples from ``start`` to ``end`` (both included), <= 1 px apart.

    A line longer than :data:`MAX_PROFILE_SAMPLES` px is clipped to the image first (``size``
    = (width, height)): its part over the image is sampled <= 1 px apart, the two ends are
    kept as they are (off the image: no value), and nothing is sampled in between off the
    image. Never fewer samples than pixels crossed, whatever the line's length."""
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0)
    if not math.isfinite(length):
        raise MeasureError("the line's ends are not finite numbers")
    n = max(2, int(math.ceil(length)) + 1)
    if n <= MAX_PROFILE_SAMPLES:
        t = np.linspace(0.0, 1.0, n)
    else:
        span = None if size is None else _clip_to_image(start, end, size)
        if span is None:
            t = np.array([0.0, 1.0])  # the line misses the image: nothing between its ends
        else:
            t0, t1 = span
            inner = max(2, int(math.ceil((t1 - t0) * length)) + 1)
            if inner > MAX_PROFILE_SAMPLES:
                raise MeasureError(
                    f"the line crosses {inner - 1} px of the image: more than the "
                    f"{MAX_PROFILE_SAMPLES} samples one profile takes"
                )
            t = np.unique(np.concatenate(([0.0], np.linspace(t0, t1, inner), [1.0])))
    return t * length, x0 + t * (x1 - x0), y0 + t * (y1 - y0)


def _clip_to_image(
    start: tuple[float, float], end: tuple[float, float], size: tuple[int, int]
) -> tuple[float, float] | None:
    """The part ``[t0, t1]`` (fractions of the line) over the image ``[0, w] x [0, h]``
    (Liang-Barsky), or None when the line misses it."""
    (x0, y0), (x1, y1) = start, end
    w, h = size
    t0, t1 = 0.0, 1.0
    for p, q in ((x0 - x1, x0), (x1 - x0, w - x0), (y0 - y1, y0), (y1 - y0, h - y0)):
        if p == 0:
            if q < 0:
                return None
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
    return (t0, t1) if t0 <= t1 else None


def line_profile(
    array: np.ndarray,
    start: tuple[float, float],
    end: tuple[float, float],
    method: str = "bilinear",
) -> Profile:
    """Values along the line from ``start`` (x, y) to ``end`` in viewer coordinates."""
    image = _check(array)
    return _profile(image.shape[:2], lambda rows, cols: image[rows, cols], start, end, method)


# Samples per piece of a profile read from a file: a piece's box is at most ~1 k px a side
PIECE_SAMPLES = 1024


def line_profile_of(
    source, index: int, start: tuple[float, float], end: tuple[float, float], method: str
) -> Profile:
    """:func:`line_profile` of slice ``index`` of an opened image source, reading only the
    pixels near the line, piece by piece (a diagonal of a 30 000 px tiled TIFF decodes the
    tiles it crosses, never the whole plane)."""
    from qbi_desktop.core.regions import region_of

    def gather(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        out = None
        for k in range(0, len(rows), PIECE_SAMPLES):
            r, c = rows[k : k + PIECE_SAMPLES], cols[k : k + PIECE_SAMPLES]
            r_lo, c_lo = int(r.min()), int(c.min())
            box = region_of(source, index, (r_lo, int(r.max()) + 1), (c_lo, int(c.max()) + 1))
            part = box[r - r_lo, c - c_lo]
            if out is None:
                out = np.empty((len(rows), *part.shape[1:]), dtype=part.dtype)
            out[k : k + len(r)] = part
        return out if out is not None else np.empty(0)

    return _profile(source.slice_shape[:2], gather, start, end, method)


def _profile(shape, gather, start, end, method: str) -> Profile:
    """The profile of an image of ``shape`` whose pixels ``gather(rows, cols)`` returns (rows
    and columns as arrays of the same length, in the line's order)."""
    if method not in PROFILE_METHODS:
        raise MeasureError(f"profile method: expected one of {PROFILE_METHODS}, got {method!r}")
    h, w = shape
    distance, x, y = profile_points(start, end, (w, h))
    values = np.full(len(x), np.nan)
    if method == "nearest":
        col, row = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        if inside.any():
            values[inside] = _grey(gather(row[inside], col[inside]), 1)
    else:
        # Pixel centres sit at index + 0.5; between the outermost centres and the image edge
        # the edge pixel's value holds (clamped), beyond the edge there is no value.
        inside = (x >= 0) & (x <= w) & (y >= 0) & (y <= h)
        if not inside.any():
            return Profile(distance, x, y, values, method)
        fx = np.minimum(np.maximum(x[inside] - 0.5, 0.0), w - 1.0)  # np.clip is slower here
        fy = np.minimum(np.maximum(y[inside] - 0.5, 0.0), h - 1.0)
        c0 = np.minimum(np.floor(fx).astype(np.int64), max(w - 2, 0))
        r0 = np.minimum(np.floor(fy).astype(np.int64), max(h - 2, 0))
        c1, r1 = np.minimum(c0 + 1, w - 1), np.minimum(r0 + 1, h - 1)
        ax, ay = fx - c0, fy - r0
        # the four neighbours of each sample in one gather, sample by sample (so that a piece
        # of consecutive entries stays near one stretch of the line)
        rows = np.stack((r0, r0, r1, r1), axis=1).ravel()
        cols = np.stack((c0, c1, c0, c1), axis=1).ravel()
        four = _grey(gather(rows, cols), 1).astype(np.float64).reshape(-1, 4)
        v00, v01, v10, v11 = four[:, 0], four[:, 1], four[:, 2], four[:, 3]
        # Weights of exactly 0 must not turn a NaN neighbour into the sample. Between an
        # infinite pixel and a finite one the sample is that infinity, between +inf and -inf
        # NaN (no value): numpy's answers, without its RuntimeWarning on stderr.
        with np.errstate(invalid="ignore", over="ignore"):
            top = np.where(ax == 0, v00, np.where(ax == 1, v01, v00 * (1 - ax) + v01 * ax))
            bottom = np.where(ax == 0, v10, np.where(ax == 1, v11, v10 * (1 - ax) + v11 * ax))
            values[inside] = np.where(
                ay == 0, top, np.where(ay == 1, bottom, top * (1 - ay) + bottom * ay)
            )
    return Profile(distance, x, y, values, method)


# -- ROI statistics ----------------------------------------------------------------------------
@dataclass(frozen=True)
class RoiStats:
    mean: float
    std: float  # sample standard deviation (n - 1), as ImageJ reports it
    min: float
    max: float
    count: int  # pixels measured (NaN pixels excluded, infinite ones included)
    nan_count: int  # pixels inside the ROI that are NaN (e.g. masked by normalisation)
    step: int = 1  # 1: every pixel; k: every k-th row (a live estimate)
    col_step: int = 1  # > 1 only for rows longer than the live budget
    #: pixels inside the ROI that are +inf / -inf: counted and part of min, max and mean (the
    #: mean is then +inf, -inf, or NaN when both occur; the std is NaN)
    inf_count: int = 0

    @property
    def snr(self) -> float:
        return self.mean / self.std if self.std > 0 else math.nan

    @property
    def exact(self) -> bool:
        return self.step == 1 and self.col_step == 1


def roi_bounds(
    shape: tuple[int, int], rect: tuple[float, float, float, float]
) -> tuple[int, int, int, int]:
    """Rows y0:y1 and columns x0:x1 of the pixels whose centres may lie in ``rect``
    (x, y, width, height), clipped to the image."""
    x, y, w, h = (float(v) for v in rect)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise MeasureError("the region's position or size is not a finite number")
    if w < 0:
        x, w = x + w, -w
    if h < 0:
        y, h = y + h, -h
    # centre j + 0.5 in [x, x + w)  <=>  j in [ceil(x - 0.5), ceil(x + w - 0.5))
    x0 = max(0, math.ceil(x - 0.5))
    x1 = min(shape[1], math.ceil(x + w - 0.5))
    y0 = max(0, math.ceil(y - 0.5))
    y1 = min(shape[0], math.ceil(y + h - 0.5))
    return y0, max(y0, y1), x0, max(x0, x1)


def roi_mask(
    kind: str,
    rect: tuple[float, float, float, float],
    rows: np.ndarray,
    cols: np.ndarray,
) -> np.ndarray | None:
    """Which of the pixels (rows x cols) are inside; None means all (a rectangle)."""
    if kind == "rectangle":
        return None
    if kind != "ellipse":
        raise MeasureError(f"region kind: expected one of {ROI_KINDS}, got {kind!r}")
    x, y, w, h = (float(v) for v in rect)
    a, b = abs(w) / 2, abs(h) / 2
    if a == 0 or b == 0:
        return np.zeros((len(rows), len(cols)), bool)
    cx, cy = x + w / 2, y + h / 2
    dy = ((rows + 0.5 - cy) / b) ** 2
    dx = ((cols + 0.5 - cx) / a) ** 2
    return dy[:, None] + dx[None, :] < 1.0


class _Accumulator:
    """Sums for mean and variance over chunks. 8/16-bit integers are summed exactly in
    integers (squares fit 32 bits); other types in float64 shifted by the first value, so a
    large offset such as 1e9 does not eat the precision of the variance. NaN pixels are left out
    and counted; infinite ones are counted apart from the sums (they would turn them into NaN
    with a RuntimeWarning) and decide the mean and std in :meth:`result`."""

    def __init__(self) -> None:
        self.n = 0
        self.nan = 0
        self.pos_inf = 0
        self.neg_inf = 0
        self.integer = True  # every chunk so far summed exactly
        self.shift: float | None = None
        self.s1: float | int = 0
        self.s2: float | int = 0
        self.lo = math.inf
        self.hi = -math.inf

    def add(self, block: np.ndarray, mask: np.ndarray | None) -> None:
        values = block if mask is None else block[mask]
        values = values.ravel()
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            if not finite.all():
                nan = np.isnan(values)
                self.nan += int(np.count_nonzero(nan))
                pos = int(np.count_nonzero(values == np.inf))
                neg = int(np.count_nonzero(values == -np.inf))
                self.pos_inf += pos
                self.neg_inf += neg
                if pos:
                    self.hi = math.inf
                if neg:
                    self.lo = -math.inf
                values = values[finite]
        if values.size == 0:
            return
        self.lo = min(self.lo, float(values.min()))
        self.hi = max(self.hi, float(values.max()))
        kind = values.dtype.kind
        if kind in "ui" and values.dtype.itemsize <= 2 and self.integer:
            self.n += int(values.size)
            self.s1 += int(values.sum(dtype=np.int64))
            squares = values.astype(np.uint32 if kind == "u" else np.int32)
            np.multiply(squares, squares, out=squares)
            self.s2 += int(squares.sum(dtype=np.uint64 if kind == "u" else np.int64))
            return
        if self.integer and self.n:  # cannot happen for one array; keep the sums honest
            raise MeasureError("cannot mix integer and float chunks")
        self.integer = False
        v = values.astype(np.float64, copy=False)
        if self.shift is None:
            self.shift = float(v[0])
        # values near the float64 limit (|v| > ~1e154) overflow the squares: an infinite std
        # is the honest answer there, a RuntimeWarning on stderr is not
        with np.errstate(over="ignore", invalid="ignore"):
            d = v - self.shift
            self.n += int(v.size)
            self.s1 += float(d.sum())
            self.s2 += float((d * d).sum())

    def result(self, step: int = 1, col_step: int = 1) -> RoiStats:
        n = self.n
        infinite = self.pos_inf + self.neg_inf
        if n + infinite == 0:
            return RoiStats(math.nan, math.nan, math.nan, math.nan, 0, self.nan, step, col_step)
        if infinite:  # +inf alone: mean +inf; -inf alone: -inf; both: undefined. std undefined
            mean = (
                math.nan
                if self.pos_inf and self.neg_inf
                else (math.inf if self.pos_inf else -math.inf)
            )
            return RoiStats(
                mean, math.nan, self.lo, self.hi, n + infinite, self.nan, step, col_step, infinite
            )
        if self.integer:  # exact integer arithmetic, one rounding at the end
            mean = self.s1 / n
            var = (n * self.s2 - self.s1 * self.s1) / (n * (n - 1)) if n > 1 else 0.0
        else:
            mean_d = self.s1 / n
            var = (self.s2 - n * mean_d * mean_d) / (n - 1) if n > 1 else 0.0
            # rounding may give a tiny negative; overflowed sums (inf - inf) a NaN: too large
            var = math.inf if math.isnan(var) else max(0.0, var)
            mean = self.shift + mean_d
        return RoiStats(mean, math.sqrt(var), self.lo, self.hi, n, self.nan, step, col_step)


def live_steps(height: int, width: int, max_pixels: int = LIVE_MAX_PIXELS) -> tuple[int, int]:
    """(row step, column step) that bring a ``height`` x ``width`` region under ``max_pixels``.

    Whole rows are skipped, columns only when a single row is over the budget: a strided read
    of every k-th row costs only those rows' memory, while a k x k grid touches every cache
    line of every k-th row (~50x slower on a 16384^2 plane)."""
    pixels = height * width
    if pixels <= max_pixels:
        return 1, 1
    col_step = max(1, int(math.ceil(width / max_pixels)))
    row_step = int(math.ceil(height * len(range(0, width, col_step)) / max_pixels))
    return max(1, row_step), col_step


def roi_stats(
    array: np.ndarray,
    kind: str,
    rect: tuple[float, float, float, float],
    max_pixels: int | None = None,
) -> RoiStats:
    """Mean, std, min, max, count (and SNR) of the pixels inside the region.

    With ``max_pixels`` a region larger than that is sampled every ``step`` rows
    (``RoiStats.step`` says so); without it every pixel is measured."""
    if kind not in ROI_KINDS:
        raise MeasureError(f"region kind: expected one of {ROI_KINDS}, got {kind!r}")
    image = _check(array)
    y0, y1, x0, x1 = roi_bounds(image.shape[:2], rect)
    step, col_step = (1, 1) if max_pixels is None else live_steps(y1 - y0, x1 - x0, max_pixels)
    rows, cols = np.arange(y0, y1, step), np.arange(x0, x1, col_step)
    acc = _Accumulator()
    if rows.size and cols.size:
        block = _grey(image[y0:y1:step, x0:x1:col_step], 2)
        acc.add(block, roi_mask(kind, rect, rows, cols))
    return acc.result(step, col_step)


def roi_stats_job(
    array: np.ndarray,
    kind: str,
    rect: tuple[float, float, float, float],
    chunk_pixels: int = 1 << 22,
) -> Job[RoiStats]:
    """:func:`roi_stats` of every pixel, in row chunks (progress, cancellable between chunks)."""
    if kind not in ROI_KINDS:
        raise MeasureError(f"region kind: expected one of {ROI_KINDS}, got {kind!r}")
    image = _check(array)
    y0, y1, x0, x1 = roi_bounds(image.shape[:2], rect)
    cols = np.arange(x0, x1)
    rows_per_chunk = max(1, chunk_pixels // max(1, x1 - x0))
    acc = _Accumulator()
    for top in range(y0, y1, rows_per_chunk):
        bottom = min(y1, top + rows_per_chunk)
        yield Progress(top - y0, y1 - y0, "Region statistics")
        block = _grey(image[top:bottom, x0:x1], 2)
        acc.add(block, roi_mask(kind, rect, np.arange(top, bottom), cols))
    return acc.result(1)


# -- pixel size and scale bar ------------------------------------------------------------------
# Lengths in metres, for converting between the units files use.
_UNIT_METRES = {
    "m": 1.0,
    "cm": 1e-2,
    "mm": 1e-3,
    "um": 1e-6,
    "µm": 1e-6,
    "μm": 1e-6,
    "micron": 1e-6,
    "microns": 1e-6,
    "nm": 1e-9,
    "inch": 0.0254,
    "in": 0.0254,
}
_DISPLAY_UNITS = (("m", 1.0), ("mm", 1e-3), ("µm", 1e-6), ("nm", 1e-9))


@dataclass(frozen=True)
class PixelSize:
    size: float  # length of one pixel along x, in ``unit``
    unit: str
    source: str  # where it came from, for the tooltip

    @property
    def metres(self) -> float:
        return self.size * _UNIT_METRES[normal_unit(self.unit)]


def normal_unit(unit: str) -> str:
    text = str(unit).strip().replace("\\u00B5", "µ").replace("\\u00b5", "µ")
    lower = text.lower()
    if lower in ("micron", "microns", "um", "µm", "μm"):
        return "µm"
    return lower


def pixel_size(metadata: Mapping[str, Any], project: Mapping[str, Any] | None = None):
    """The physical size of a pixel, or None when the file and the project do not say.

    The project's ``pixel_size`` / ``pixel_unit`` win (the user typed them); then an ImageJ
    file's ``unit`` with its resolution (pixels per unit); then the TIFF resolution tags with an
    inch or centimetre ResolutionUnit."""
    if project:
        size, unit = project.get("pixel_size"), project.get("pixel_unit") or "mm"
        if _positive(size) and normal_unit(unit) in _UNIT_METRES:
            return PixelSize(float(size), normal_unit(unit), "project")
    res = metadata.get("x_resolution")
    imagej = metadata.get("imagej") or {}
    if isinstance(imagej, Mapping):
        unit = normal_unit(imagej.get("unit", ""))
        if unit in _UNIT_METRES and _positive(res):
            return PixelSize(1.0 / float(res), unit, "ImageJ metadata")
    tiff_unit = str(metadata.get("resolution_unit", "")).upper()
    if _positive(res) and tiff_unit in ("INCH", "CENTIMETER", "2", "3"):
        per_mm = float(res) / (25.4 if tiff_unit in ("INCH", "2") else 10.0)
        return PixelSize(1.0 / per_mm, "mm", "TIFF resolution tags")
    return None


def _positive(value: Any) -> bool:
    try:
        return math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        return False


def round_length(target: float) -> float:
    """The largest 1, 2 or 5 x 10^k that is at most ``target`` (> 0)."""
    if not (target > 0 and math.isfinite(target)):
        raise MeasureError("scale bar: the target length must be a positive number")
    exponent = math.floor(math.log10(target))
    base = 10.0**exponent
    for factor in (5.0, 2.0, 1.0):
        if factor * base <= target * (1 + 1e-9):
            return factor * base
    return base


def scale_bar_length(size: PixelSize, target_pixels: float) -> tuple[float, str, float]:
    """A round length near (at most) ``target_pixels`` image pixels: (value, unit, pixels).

    The unit is the metric one that keeps the value between 1 and 999 (e.g. 500 µm, 2 mm)."""
    metres = round_length(size.metres * target_pixels)
    unit, scale = next(
        ((u, s) for u, s in _DISPLAY_UNITS if metres >= s * (1 - 1e-9)), _DISPLAY_UNITS[-1]
    )
    return round(metres / scale, 9), unit, metres / size.metres
