"""Intensity steps on float working copies, and the one final cast back to the image's dtype.

Every step works on a float copy (float32, or float64 where float32 could not hold the input
exactly) and only :func:`finalize` rounds and clips, once, to the input dtype's range. So a uint16
radiograph stays uint16 with all its 65536 levels (no 8-bit detour, brightness included), a float
image stays float with its own range, and there is no rounding between steps.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
from scipy import ndimage, special

from qbi_desktop.core.errors import UserFacingError

SUPPORTED_DTYPES = tuple(
    np.dtype(t)
    for t in (
        np.uint8,
        np.int8,
        np.uint16,
        np.int16,
        np.uint32,
        np.int32,
        np.float16,
        np.float32,
        np.float64,
    )
)


def _native(array: np.ndarray) -> np.ndarray:
    """``array`` in this machine's byte order (big-endian ``>u2`` from another system's file is
    the same numbers as ``uint16``)."""
    if array.dtype.byteorder in "=|" or array.dtype.kind not in "uif":
        return array
    return array.astype(array.dtype.newbyteorder("="))


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Accept (H, W) or (H, W, C) arrays of a supported dtype; otherwise a clear error."""
    image = _native(np.asarray(image))
    if image.dtype not in SUPPORTED_DTYPES:
        names = ", ".join(str(d) for d in SUPPORTED_DTYPES)
        raise UserFacingError(f"{what}: pixel type {image.dtype} is not supported ({names})")
    if image.ndim not in (2, 3) or min(image.shape[:2], default=0) < 1:
        raise UserFacingError(
            f"{what}: expected a 2-D image (H, W) or (H, W, channels), got shape {image.shape}"
        )
    if image.ndim == 3 and image.shape[2] < 1:
        raise UserFacingError(f"{what}: has no channels (shape {image.shape})")
    return image


def check_mask(mask: np.ndarray | None, image_shape: tuple[int, ...], what: str = "mask"):
    """A label mask must be integer/bool and have the image's height and width."""
    if mask is None:
        return None
    mask = _native(np.asarray(mask))
    if mask.dtype.kind not in "uib":
        raise UserFacingError(f"{what}: labels must be integers or booleans, got {mask.dtype}")
    if mask.shape[:2] != tuple(image_shape[:2]) or mask.ndim not in (2, 3):
        raise UserFacingError(
            f"{what}: shape {mask.shape} does not match the image ({image_shape[0]} x "
            f"{image_shape[1]})"
        )
    return mask


def work_dtype(dtype: np.dtype) -> type:
    """float32 holds uint8/16, int8/16 and float16/32 exactly; wider types need float64."""
    dtype = np.dtype(dtype)
    if dtype == np.float64 or (dtype.kind in "ui" and dtype.itemsize >= 4):
        return np.float64
    return np.float32


@lru_cache(maxsize=32)
def dtype_range(dtype: np.dtype) -> tuple[float, float] | None:
    """(min, max) of an integer dtype; None for floats (their range is the data's own)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return None


def finalize(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round and clip to the integer dtype's range, or cast to the float dtype.

    This is the only rounding in the engine."""
    dtype = np.dtype(dtype)
    if values.dtype == dtype:
        return values
    if dtype.kind in "ui":
        lo, hi = dtype_range(dtype)
        v = np.clip(values, lo, hi, out=values if values.flags.writeable else None)
        np.rint(v, out=v)
        return v.astype(dtype)
    return values.astype(dtype)


# ---------------------------------------------------------------------------------------------
# Steps (in place on float arrays where possible; each returns the result)


def finite_range(x: np.ndarray) -> tuple[float, float]:
    """Min and max of the finite values (dead NaN/inf pixels of a float image are left out);
    (0, 0) when there is none."""
    if x.dtype.kind != "f":
        return (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    finite = x[np.isfinite(x)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def finite_mean(x: np.ndarray) -> float:
    if x.dtype.kind != "f":
        return float(x.mean()) if x.size else 0.0
    finite = x[np.isfinite(x)]
    return float(finite.mean()) if finite.size else 0.0


def channel_shift(x: np.ndarray, intensity: float) -> np.ndarray:
    """Add ``intensity`` to every channel, clipped to the image's own min/max (Keras semantics);
    NaN pixels stay NaN rather than making the whole range NaN."""
    lo, hi = finite_range(x)
    x += x.dtype.type(intensity)
    return np.clip(x, x.dtype.type(lo), x.dtype.type(hi), out=x)


def brightness(x: np.ndarray, factor: float) -> np.ndarray:
    """Multiply by ``factor`` in full precision (Keras quantises to 8 bits; we do not)."""
    x *= x.dtype.type(factor)
    return x


def contrast(x: np.ndarray, factor: float) -> np.ndarray:
    """Scale deviations from the image mean by ``factor`` (mean kept)."""
    mean = x.dtype.type(finite_mean(x))
    x -= mean
    x *= x.dtype.type(factor)
    x += mean
    return x


def gamma(x: np.ndarray, g: float, value_range: tuple[float, float]) -> np.ndarray:
    """``lo + (hi - lo) * ((x - lo) / (hi - lo)) ** g`` over the value range (dtype range for
    integers, the image's min/max for floats)."""
    lo, hi = value_range
    if hi <= lo:
        return x
    t = x.dtype.type
    x -= t(lo)
    x /= t(hi - lo)
    np.clip(x, 0, 1, out=x)
    np.power(x, t(g), out=x)
    x *= t(hi - lo)
    x += t(lo)
    return x


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``sigma`` pixels over rows and columns only (channels kept apart)."""
    if sigma <= 0:
        return x
    sig = (sigma, sigma) if x.ndim == 2 else (sigma, sigma, 0)
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        # normalised convolution: dead (NaN/inf) pixels do not bleed into their neighbours
        good = np.isfinite(x)
        weight = ndimage.gaussian_filter(good.astype(x.dtype), sig, mode="nearest")
        filled = ndimage.gaussian_filter(np.where(good, x, 0), sig, mode="nearest")
        with np.errstate(invalid="ignore", divide="ignore"):
            out = filled / weight
        return np.where(good, out, x).astype(x.dtype, copy=False)
    return ndimage.gaussian_filter(x, sig, mode="nearest")


@lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    """The 65536 equiprobable quantiles of N(0, 1), float32 (tails reach +/- 4.3 sigma)."""
    k = np.arange(65536, dtype=np.float64)
    return special.ndtri((k + 0.5) / 65536).astype(np.float32)


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Fast float32 N(0, 1) noise: 16 random bits per value looked up in a quantile table.

    Measured here for 512^2 values: 0.12 ms for the random bits plus ~0.2 ms for the table
    gather, against 2.3 ms for ``Generator.standard_normal(dtype=np.float32)`` (ziggurat). The
    distribution is the normal discretised to 65536 equiprobable levels (indistinguishable for
    image noise) and reproducible from the generator's state.
    """
    n = int(np.prod(shape))
    raw = rng.bit_generator.random_raw((n + 3) // 4)
    idx = np.asarray(raw).view(np.uint16)[:n]
    return _normal_table().take(idx).reshape(shape)


def finalize_band(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """:func:`finalize` for a band that the caller stores into an array of ``dtype``: clip and
    round integers (the store does the cast)."""
    if np.dtype(dtype).kind in "ui":
        lo, hi = dtype_range(dtype)
        np.clip(values, lo, hi, out=values)
        np.rint(values, out=values)
    return values


def noise_indices(seed: int, n: int) -> np.ndarray:
    """The 16-bit quantile indices behind :func:`standard_normal`, for band-wise use."""
    # PCG64(seed) is default_rng(seed)'s bit generator: the same stream without the Generator
    raw = np.random.PCG64(seed).random_raw((n + 3) // 4)
    return np.asarray(raw).view(np.uint16)[:n]


def add_noise_band(x: np.ndarray, std: float, indices: np.ndarray) -> np.ndarray:
    """Add ``std`` times the normal quantiles at ``indices`` to ``x`` (same size) in place."""
    # mode="clip" skips the bounds check (16-bit indices always fall inside the 65536 entries)
    x += _scaled_table(float(std)).take(indices.reshape(x.shape), mode="clip")
    return x


def noise_values(std: float, indices: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``std`` times the normal quantiles at ``indices`` into ``out`` (float32, same size): the
    very values :func:`add_noise_band` adds."""
    return _scaled_table(float(std)).take(indices.reshape(out.shape), out=out, mode="clip")


def noise_table(std: float) -> np.ndarray:
    """The 65536 values :func:`noise_values` looks up for ``std`` (float32; valid until this
    thread asks for another ``std``): for a caller with a faster gather of its own."""
    return _scaled_table(float(std))


_scaled = threading.local()


def _scaled_table(std: float) -> np.ndarray:
    """The quantile table times ``std`` (float32, the same products as scaling each sample): one
    multiply per table entry per image instead of one per pixel.

    Valid until this thread's next call with another ``std``: each sample draws a new ``std``,
    so the table is written into one buffer per thread, not allocated anew (a fresh 256 KiB
    array per sample cost up to 0.15 ms in page faults, more than the multiply).
    """
    table = getattr(_scaled, "table", None)
    if table is None:
        table = _scaled.table = np.empty(65536, dtype=np.float32)
        _scaled.std = None
    if _scaled.std != std:
        np.multiply(_normal_table(), np.float32(std), out=table)
        _scaled.std = std
    return table


def gaussian_noise(x: np.ndarray, std: float, seed: int) -> np.ndarray:
    """Add N(0, std^2) noise (``std`` in the image's value units)."""
    if std <= 0:
        return x
    return add_noise_band(x, std, noise_indices(seed, x.size))


def poisson_thinning(x: np.ndarray, dose: float, counts_per_unit: float, seed: int) -> np.ndarray:
    """Simulate a lower dose: keep each detected count with probability ``dose``, rescale by
    1 / dose.

    If the image holds Poisson counts N ~ P(lambda), binomial thinning gives exactly P(dose *
    lambda), so the result is what a ``dose`` times shorter exposure would have measured (same
    mean, noise consistent with counting statistics). ``counts_per_unit`` converts values to counts
    (1 for raw counts; the open-beam counts for normalised transmission). Large counts use the
    normal approximation of the binomial, small ones exact binomial draws.
    """
    if dose >= 1.0:
        return x
    rng = np.random.default_rng(seed)
    counts = np.maximum(x, 0) * x.dtype.type(counts_per_unit)
    np.rint(counts, out=counts)
    var = counts * x.dtype.type(dose * (1.0 - dose))
    out = counts * x.dtype.type(dose)
    z = standard_normal(rng, x.shape).astype(x.dtype, copy=False)
    out += z * np.sqrt(var)
    small = var < 30
    if np.any(small):
        out[small] = rng.binomial(counts[small].astype(np.int64), dose)
    np.maximum(out, 0, out=out)
    out /= x.dtype.type(dose * counts_per_unit)
    return out
