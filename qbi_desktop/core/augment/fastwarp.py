"""The fast order-0/1 resampler behind :func:`.geometry.warp`.

Same coordinates, fill modes and bilinear formula as the reference sampler in :mod:`.geometry`
(``_Source.sample``); only the work per pixel is cut down, because one resample dominates the cost
of an augmented sample (affine + flip + noise at 512^2: ~80 % of the time).

Where the time went, measured on this machine (512^2, one core, per image) and what replaces it:

- ``float32 -> intp`` conversions of the sample coordinates and strided ``uint16 -> float32``
  unpacking of the packed neighbour table: ~1.6 ms. Here the source is padded straight into the
  work dtype (float32 for 8/16-bit images) once, the flat index is formed in float32 (exact below
  2^24) and converted once, and the four neighbours are gathered with four ``take`` calls on
  shifted *views* of that padded source (no neighbour table to build), each landing in a
  contiguous float buffer.
- ``take`` with ``mode="raise"`` and ``out=`` copies its result once more; ``mode="clip"`` does
  not (the indices are in range by construction: coordinates are clipped or the source is padded).
- ``np.mod`` on float32 (the reflect/wrap fold) costs ~3 ms per axis; here reflect and wrap pad
  the source once by the reach of the transform (``np.pad`` symmetric/wrap, ~0.1 ms), after which
  no per-pixel fold is needed. ``nearest`` and ``constant`` clip the positions (exact for them),
  skipping the clip for bands whose positions all fall inside.
- Fresh temporaries for every band, and a broadcast sum for each band's positions: band buffers
  are allocated once per call, and each band adds its row offset to one precomputed band.

What remains (~1.5 ms at 512^2): the four gathers ~0.55 ms (``take`` costs ~0.45 ns per element
whatever the element size or the access pattern, so packing neighbours into wider words saves
gathers only to spend the same on unpacking), the bilinear blend ~0.3 ms (9 in-place ops),
positions and indices ~0.5 ms. That is about 25 full-image passes, each bound by the L2 cache;
OpenCV's ``warpAffine`` does the same job in one fused fixed-point SIMD pass (~0.55 ms).

Pillow's C affine transform was measured as an alternative and is slower here for bilinear
(``Image.transform`` with ``BILINEAR`` goes through Pillow's generic per-pixel path: 2.1 ms for
512^2 ``L`` or ``I;16``, 2.3 ms for ``F``), so it is not used. Its ``NEAREST`` path is fixed-point
and fast (0.27 ms for ``L``) but slower than one numpy ``take`` of the same pixels, and its
rounding of positions could disagree with the blend weights computed here.

Also measured and not used: ``np.modf`` for the integer and fractional parts in one call (35 %
slower per sample than floor + subtract), writing the flat index straight into the ``intp``
buffer with an unsafe-casting ``np.add`` (slower than add + ``copyto``), and a numba kernel doing
the whole resample per pixel (2.2 ms at 512^2 uint8, slower than this, for a ~210 MB dependency).

Results equal the reference sampler up to float rounding of the coordinates (the fill-mode offset
is folded into the affine constant instead of being added afterwards): order 0 picks the same
pixels except where a coordinate lies within float32 rounding of a pixel boundary.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

# Output is produced in bands of about this many pixels: the band buffers (64 KiB each for
# float32) stay in the L2 cache. Measured here on a whole sample (affine + noise, 512^2): 16 Ki
# pixels 3-5 % faster than 32 Ki, 8 Ki and 64 Ki 20-60 % slower.
BAND_PIXELS = 16384

# Reflect/wrap pad the source by the transform's reach, up to this many times the image area and
# this many padded pixels (the copy is in the work dtype: 2^26 float32 pixels are 256 MiB);
# beyond, the caller's reference path (per-pixel fold) is used instead.
MAX_PAD_AREA = 16
MAX_PAD_PIXELS = 2**26


def _input_bounds(
    m: np.ndarray,
    out_shape: tuple[int, int],
    displacement: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[float, float, float, float]:
    """(row_min, row_max, col_min, col_max) of the input positions sampled by the output grid.

    An affine map takes its extremes over a box at the box's corners; a displacement field widens
    the output box by its own extent first. (Plain floats: this runs once per sample.)
    """
    h, w = out_shape
    r_lo, r_hi, c_lo, c_hi = 0.0, h - 1.0, 0.0, w - 1.0
    if displacement is not None:
        dr, dc = displacement
        r_lo += float(dr.min())
        r_hi += float(dr.max())
        c_lo += float(dc.min())
        c_hi += float(dc.max())
    (a, b, t), (c, d, u) = m[:2].tolist()
    # the four corners written out (comprehensions cost several us per call here)
    rows = (
        a * r_lo + b * c_lo + t,
        a * r_lo + b * c_hi + t,
        a * r_hi + b * c_lo + t,
        a * r_hi + b * c_hi + t,
    )
    cols = (
        c * r_lo + d * c_lo + u,
        c * r_lo + d * c_hi + u,
        c * r_hi + d * c_lo + u,
        c * r_hi + d * c_hi + u,
    )
    return min(rows), max(rows), min(cols), max(cols)


def _pads(
    mode: str, bounds: tuple[float, float, float, float], shape: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Rows and columns of padding (before, after) that make every sample fall inside the padded
    source once ``nearest``/``constant`` positions are clipped; None when reflect/wrap would need
    an excessive pad.

    (Padding ``nearest``/``constant`` by the reach too, to spare the clipping, was measured: no
    faster at 512^2, since the larger padded copy costs what the clipping saved.)
    """
    if mode == "nearest":  # clip to [0, n-1]; floor + 1 may read one past the end
        return (0, 1), (0, 1)
    if mode == "constant":  # clip to [-1, n]: cval on both sides of the edge
        return (1, 2), (1, 2)
    h, w = shape
    r_lo, r_hi, c_lo, c_hi = bounds
    # two pixels of slack cover the bilinear neighbour and float rounding of the coordinates
    pr = (max(0, math.ceil(-r_lo)) + 2, max(0, math.ceil(r_hi - (h - 1))) + 2)
    pc = (max(0, math.ceil(-c_lo)) + 2, max(0, math.ceil(c_hi - (w - 1))) + 2)
    area = (h + sum(pr)) * (w + sum(pc))
    if area > min(MAX_PAD_AREA * h * w + 64, MAX_PAD_PIXELS):
        return None
    return pr, pc


def _padded(channel: np.ndarray, mode: str, cval, pads, dtype) -> np.ndarray:
    """The channel padded for the fill mode, as a C-contiguous array of ``dtype`` (the work dtype
    for order 1: converting here, in the copy that padding makes anyway, is cheaper than
    converting each gathered neighbour). The one/two-pixel pads of ``nearest`` and ``constant``
    are written by hand: ``np.pad`` costs ~50 us of Python per call, a large share for
    preview-sized images."""
    (r0, r1), (c0, c1) = pads
    h, w = channel.shape
    if mode in ("reflect", "wrap"):
        np_mode = "symmetric" if mode == "reflect" else "wrap"
        return np.ascontiguousarray(np.pad(channel, pads, mode=np_mode), dtype=dtype)
    out = np.empty((h + r0 + r1, w + c0 + c1), dtype=dtype)
    out[r0 : r0 + h, c0 : c0 + w] = channel
    if mode == "constant":
        out[:r0] = cval
        out[r0 + h :] = cval
        out[r0 : r0 + h, :c0] = cval
        out[r0 : r0 + h, c0 + w :] = cval
    else:  # nearest: repeat the edge rows, then the edge columns (corners included)
        out[:r0, c0 : c0 + w] = channel[:1]
        out[r0 + h :, c0 : c0 + w] = channel[-1:]
        out[:, :c0] = out[:, c0 : c0 + 1]
        out[:, c0 + w :] = out[:, c0 + w - 1 : c0 + w]
    return out


def warp(
    image: np.ndarray,
    m: np.ndarray,
    out_shape: tuple[int, int],
    order: int,
    mode: str,
    cval,
    work_dtype,
    displacement: tuple[np.ndarray, np.ndarray] | None = None,
    post: Callable[[np.ndarray, int, int], np.ndarray] | None = None,
    out_dtype=None,
) -> np.ndarray | None:
    """Resample ``image`` (H, W) or (H, W, C) through the output->input matrix ``m`` (3x3, row/col)
    with an optional displacement field (output pixels, applied before ``m``), order 0 or 1.

    ``cval`` must already be a value of the image's dtype. Order 0 returns the image's dtype
    (values copied, so labels stay exact); order 1 returns ``work_dtype`` floats unless ``post``
    (2-D only) maps each band ``values, r0, r1`` to what is stored in an ``out_dtype`` array.
    Returns None when this sampler does not handle the case (the caller falls back).
    """
    if order not in (0, 1) or mode not in ("nearest", "constant", "reflect", "wrap"):
        return None
    h_in, w_in = image.shape[:2]
    h, w = out_shape
    if h < 1 or w < 1:
        return None
    bounds = _input_bounds(m, (h, w), displacement)
    if not all(math.isfinite(b) for b in bounds):
        return None
    pads = _pads(mode, bounds, (h_in, w_in))
    if pads is None:
        return None
    (pr0, pr1), (pc0, pc1) = pads
    hp, wp = h_in + pr0 + pr1, w_in + pc0 + pc1
    wd = np.dtype(work_dtype)
    # float32 coordinates hold every flat index exactly below 2^24. Order 0 computes positions
    # in float64: which pixel is nearest then agrees with exact arithmetic (float32 positions
    # picked the other pixel ~9 times per 512^2 image), and with OpenCV's nearest path, which
    # masks take by default (:func:`.cvwarp.warp_labels`).
    cdt = np.dtype(np.float64 if order == 0 or wd == np.float64 or hp * wp >= 2**24 else np.float32)
    channels = [image] if image.ndim == 2 else [image[..., k] for k in range(image.shape[2])]
    src_dtype = image.dtype if order == 0 else wd  # order 0 copies values: dtype kept
    flats = [_padded(ch, mode, cval, pads, src_dtype).reshape(-1) for ch in channels]
    if order == 1:
        sources = [(f, f[1:], f[wp:], f[wp + 1 :]) for f in flats]
    else:
        sources = [(f,) for f in flats]
    if out_dtype is None:
        out_dtype = image.dtype if order == 0 else wd
    out = np.empty((h, w) + image.shape[2:], dtype=out_dtype)

    # The sampled position of output (i, j) is m @ (i, j, 1), shifted into the padded frame (and
    # by +0.5 for order 0, which takes floor(position + 0.5)). Each band adds its row offset to
    # one precomputed band of positions (one contiguous add instead of a broadcast sum, which
    # costs 3x more); row and column terms are rounded to the coordinate dtype and summed, as in
    # the reference.
    half = 0.5 if order == 0 else 0.0
    if mode == "nearest":
        r_clip, c_clip = (half, h_in - 1 + half), (half, w_in - 1 + half)
    elif mode == "constant":
        r_clip, c_clip = (half, h_in + 1 + half), (half, w_in + 1 + half)
    else:  # padded by the reach: every position falls inside
        r_clip = c_clip = None
    (m00, m01, m02), (m10, m11, m12) = m[:2].tolist()
    off_r, off_c = m02 + pr0 + half, m12 + pc0 + half
    rows_per_band = max(1, min(h, BAND_PIXELS // w))
    nb = rows_per_band * w
    if displacement is None:
        band_i = np.arange(rows_per_band, dtype=cdt)[:, None]
        jj = np.arange(w, dtype=cdt)
        base_r = np.add(band_i * cdt.type(m00), jj * cdt.type(m01)).reshape(-1)
        base_c = np.add(band_i * cdt.type(m10), jj * cdt.type(m11)).reshape(-1)
    else:
        disp_r, disp_c = (d.astype(cdt, copy=False) for d in displacement)
    R, C, FR, FC = (np.empty(nb, cdt) for _ in range(4))
    IDX = np.empty(nb, np.intp)
    G = np.empty(nb, image.dtype) if order == 0 and image.ndim == 3 else None
    if order == 1:
        # the four neighbours; FR and FC are free again once the flat index is formed
        V = [FR, FC] if cdt == wd else [np.empty(nb, wd) for _ in range(2)]
        V += [np.empty(nb, wd) for _ in range(2)]
    stride = cdt.type(wp)

    for r0 in range(0, h, rows_per_band):
        r1 = min(h, r0 + rows_per_band)
        k = r1 - r0
        n = k * w
        r, c, fr, fc, idx = R[:n], C[:n], FR[:n], FC[:n], IDX[:n]
        r2, c2 = r.reshape(k, w), c.reshape(k, w)
        if displacement is None:
            np.add(base_r[:n], cdt.type(m00 * r0 + off_r), out=r)
            np.add(base_c[:n], cdt.type(m10 * r0 + off_c), out=c)
        else:
            _displaced(m, r0, r1, w, disp_r, disp_c, (pr0 + half, pc0 + half), r2, c2, fr, fc)
        if r_clip is not None:
            if displacement is not None or _reaches_out(m00, m01, off_r, r0, r1, w, r_clip):
                np.clip(r, *r_clip, out=r)
            if displacement is not None or _reaches_out(m10, m11, off_c, r0, r1, w, c_clip):
                np.clip(c, *c_clip, out=c)
        np.floor(r, out=fr)
        np.floor(c, out=fc)
        if order == 1:
            r -= fr  # fractional parts
            c -= fc
        fr *= stride
        fr += fc
        np.copyto(idx, fr, casting="unsafe")
        for ch, src in enumerate(sources):
            dest = out[r0:r1] if image.ndim == 2 else out[r0:r1, :, ch]
            if order == 0:
                if image.ndim == 2:
                    src[0].take(idx, out=dest.reshape(-1), mode="clip")
                else:
                    src[0].take(idx, out=G[:n], mode="clip")
                    dest[...] = G[:n].reshape(k, w)
                continue
            v00, v01, v10, v11 = (v[:n] for v in V)
            for view, v in zip(src, (v00, v01, v10, v11), strict=True):
                view.take(idx, out=v, mode="clip")
            # linear along columns in the top and bottom rows, then along rows
            v01 -= v00
            v01 *= c
            v00 += v01
            v11 -= v10
            v11 *= c
            v10 += v11
            v10 -= v00
            v10 *= r
            if post is not None and image.ndim == 2:
                v00 += v10
                dest[...] = post(v00.reshape(k, w), r0, r1)
            elif dest.dtype == wd and image.ndim == 2:
                np.add(v00, v10, out=dest.reshape(-1))
            else:
                v00 += v10
                dest[...] = v00.reshape(k, w)
    return out


def _reaches_out(
    a: float, b: float, off: float, r0: int, r1: int, w: int, bounds: tuple[float, float]
) -> bool:
    """Whether ``a * i + b * j + off`` over rows r0:r1 and columns 0:w (linear, so extreme at the
    corners) may leave ``bounds``: bands whose positions all stay inside skip the clip."""
    vals = [a * i + b * j + off for i in (r0, r1 - 1) for j in (0, w - 1)]
    return not (bounds[0] + 1e-3 <= min(vals) and max(vals) <= bounds[1] - 1e-3)


def _displaced(m, r0, r1, w, disp_r, disp_c, shift, r2, c2, t1, t2) -> None:
    """Rows/cols of ``m @ (grid + displacement)`` for output rows r0:r1, into r2 and c2
    (t1, t2: scratch buffers of the band's size)."""
    k = r1 - r0
    dt = r2.dtype.type
    gr = t1[: k * w].reshape(k, w)
    gc = t2[: k * w].reshape(k, w)
    np.add(np.arange(r0, r1, dtype=r2.dtype)[:, None], disp_r[r0:r1], out=gr)
    np.add(np.arange(w, dtype=r2.dtype)[None, :], disp_c[r0:r1], out=gc)
    np.multiply(gr, dt(m[0, 0]), out=r2)
    r2 += gc * dt(m[0, 1])
    r2 += dt(m[0, 2] + shift[0])
    np.multiply(gr, dt(m[1, 0]), out=c2)
    c2 += gc * dt(m[1, 1])
    c2 += dt(m[1, 2] + shift[1])
