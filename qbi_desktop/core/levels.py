"""Window/level: from raw values with physical meaning to the 8 bits a screen shows.

The raw data is never changed; these functions only decide how it is displayed. Statistics are
computed on a strided sample (at most ~1 M pixels), which is what makes auto-levels instant on a
16384^2 image and changes the percentiles by far less than one grey level.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

DEFAULT_PERCENTILES = (0.5, 99.5)
SAMPLE_PIXELS = 1 << 20


def stride_for(shape: tuple[int, ...], max_pixels: int = SAMPLE_PIXELS) -> int:
    """The smallest integer stride that brings an (H, W) image to at most ``max_pixels``."""
    pixels = shape[0] * shape[1]
    return max(1, int(np.ceil(np.sqrt(pixels / max_pixels))))


def sample(array: np.ndarray, max_pixels: int = SAMPLE_PIXELS) -> np.ndarray:
    """A strided sub-sample of an (H, W[, C]) array, cheap on memory-mapped data."""
    step = stride_for(array.shape, max_pixels)
    return np.ascontiguousarray(array[::step, ::step])


def finite(values: np.ndarray) -> np.ndarray:
    """The values with NaN and +-inf removed (float data only; integers pass through)."""
    if values.dtype.kind != "f":
        return values.ravel()
    flat = values.ravel()
    return flat[np.isfinite(flat)]


def percentile_levels(
    values: np.ndarray, low: float = DEFAULT_PERCENTILES[0], high: float = DEFAULT_PERCENTILES[1]
) -> tuple[float, float]:
    """Display limits at the ``low`` and ``high`` percentiles of ``values`` (NaN ignored).

    For 8/16-bit integers the percentiles come from an exact cumulative histogram (bincount),
    which is several times faster than sorting.
    """
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {low}, {high}")
    flat = finite(values)
    if flat.size == 0:
        return 0.0, 1.0
    if flat.dtype in (np.uint8, np.uint16):
        counts = np.bincount(flat, minlength=1)
        cumulative = np.cumsum(counts)
        n = cumulative[-1]
        # Same convention as numpy's "lower"/"higher" percentiles: the value at that rank.
        vmin = float(np.searchsorted(cumulative, low / 100 * (n - 1), side="right"))
        vmax = float(np.searchsorted(cumulative, high / 100 * (n - 1), side="right"))
    else:
        vmin, vmax = (float(v) for v in np.percentile(flat, [low, high]))
    if vmax <= vmin:
        vmax = vmin + (1.0 if flat.dtype.kind in "ui" else max(abs(vmin) * 1e-6, 1e-12))
    return vmin, vmax


def value_range(values: np.ndarray) -> tuple[float, float]:
    flat = finite(values)
    if flat.size == 0:
        return 0.0, 1.0
    return float(flat.min()), float(flat.max())


def histogram(values: np.ndarray, bins: int = 256, value_range: tuple[float, float] | None = None):
    """Counts and bin edges of the finite values, over ``value_range`` (default: their min..max).

    8/16-bit integers are counted exactly with one bincount, then grouped into ``bins`` bins of
    whole values; integers spanning fewer values than ``bins`` get one bin per value.
    """
    flat = finite(values)
    if flat.size == 0:
        return np.zeros(bins, np.int64), np.linspace(0, 1, bins + 1)
    lo, hi = value_range if value_range is not None else (float(flat.min()), float(flat.max()))
    if flat.dtype in (np.uint8, np.uint16):
        lo, hi = int(np.floor(lo)), int(np.ceil(hi))
        counts = np.bincount(flat, minlength=hi + 1)[lo : hi + 1]
        if hi - lo + 1 <= bins:
            return counts, np.arange(lo, hi + 2, dtype=np.float64)
        edges = np.linspace(lo, hi + 1, bins + 1)
        starts = np.unique(np.ceil(edges[:-1] - lo).astype(np.int64))
        return np.add.reduceat(counts, starts), np.append(starts + lo, hi + 1).astype(np.float64)
    # bins must be wider than float64 resolves at this magnitude (a constant uint64 image
    # near 2**63 gives lo == hi == lo + 1)
    min_span = max(1.0, abs(lo) * 1e-12 * bins)
    if hi - lo < min_span:
        hi = lo + min_span
    counts, edges = np.histogram(flat, bins=bins, range=(lo, hi))
    return counts, edges


@lru_cache(maxsize=8)
def _integer_lut(dtype_str: str, vmin: float, vmax: float) -> np.ndarray:
    dtype = np.dtype(dtype_str)
    info = np.iinfo(dtype)
    values = np.arange(info.min, info.max + 1, dtype=np.float32)
    return _scale(values, vmin, vmax)


def _scale(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    scale = 255.0 / (vmax - vmin) if vmax > vmin else 0.0
    out = (values - np.float32(vmin)) * np.float32(scale)
    np.nan_to_num(out, copy=False, nan=0.0)  # NaN pixels draw as the lowest level, not a warning
    np.clip(out, 0, 255, out=out)
    return (out + 0.5).astype(np.uint8)


def to_uint8(data: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Map ``vmin``..``vmax`` linearly to 0..255 (clipped). NaN shows as 0.

    8- and 16-bit integers go through a lookup table (one gather per pixel); other types are
    scaled in float32.
    """
    if data.dtype in (np.uint8, np.uint16, np.int8, np.int16):
        lut = _integer_lut(data.dtype.str, float(vmin), float(vmax))
        offset = -np.iinfo(data.dtype).min
        index = data if offset == 0 else data.astype(np.int32) + offset
        return np.take(lut, index)
    values = data.astype(np.float32, copy=False)
    out = _scale(values, vmin, vmax)
    if data.dtype.kind == "f":
        out[~np.isfinite(values)] = 0
    return out
