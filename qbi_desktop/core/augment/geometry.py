"""Geometry: one affine matrix per sample, one fast resample, and masks/boxes that follow it.

Coordinates. A 3x3 matrix ``M`` maps an *output* pixel ``(row, col, 1)`` to the *input* position
it samples (pull resampling, as :func:`scipy.ndimage.affine_transform`). Pixel centres sit at
integer coordinates; pixel ``i`` covers ``[i - 0.5, i + 0.5]``. Boxes use edge coordinates
(``x0, y0, x1, y1`` with pixel ``i`` covering ``[i, i + 1]``), the convention of detection datasets.

Fill modes (the corrected ones; Keras' are in :mod:`.keras_compat`):

- ``nearest``: the edge pixel repeats (scipy ``nearest``).
- ``reflect``: half-sample mirror ``d c b a | a b c d | d c b a`` (scipy ``reflect``).
- ``wrap``: truly periodic with period ``n`` (scipy ``grid-wrap``), so a wrapped image tiles.
- ``constant``: ``cval`` everywhere outside the image, interpolated across the edge
  (scipy ``grid-constant``).

Orders 0 and 1 are resampled by our own numpy code, exact for these modes: :mod:`.fastwarp` (the
one used; 3-4x faster than ``scipy.ndimage`` here) and the reference sampler below
(:func:`warp_reference`, one gather of the four neighbours packed into one machine word, then a
float32 blend), kept as the yardstick the fast one is tested against and as the fallback for
reflect/wrap transforms whose reach exceeds the image many times over. Order >= 2 goes to scipy
with the matching mode. A pipeline may opt in to OpenCV's ``warpAffine`` for the image with
``resampler="opencv"``, and a pipeline's default ``resampler="fast"`` does so wherever OpenCV is
installed: :mod:`.cvwarp` says what it changes. Masks keep the exact resampler's labels (OpenCV
warps them only where it picks the same pixels); Keras-compatible mode and this module's own
default stay exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy import ndimage

from qbi_desktop.core.augment import cvwarp, fastwarp

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
_SCIPY_MODE = {
    "constant": "grid-constant",
    "nearest": "nearest",
    "reflect": "reflect",
    "wrap": "grid-wrap",
}


# ---------------------------------------------------------------------------------------------
# Matrices (all 3x3, acting on (row, col, 1), output -> input)


def keras_like_matrix(
    theta: float, tx: float, ty: float, shear: float, zx: float, zy: float
) -> np.ndarray:
    """Keras' ``R(theta) T(tx, ty) Sh(shear) Z(zx, zy)`` in its own (x = col, y = row) frame.

    Returned about the origin (no centring) and in (x, y) order; :func:`about_center` centres it
    and converts it to (row, col). ``tx`` moves the sampling point along columns, ``ty`` along rows
    (positive ``tx`` moves the content left), angles are degrees.
    """
    m = np.eye(3)
    if theta != 0:
        t = np.deg2rad(theta)
        m = m @ np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    if tx != 0 or ty != 0:
        m = m @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=float)
    if shear != 0:
        s = np.deg2rad(shear)
        m = m @ np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
    if zx != 1 or zy != 1:
        m = m @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]], dtype=float)
    return m


def about_center(m_xy: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre an (x, y) matrix on the true image centre and return it in (row, col) order."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    to_c = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], dtype=float)
    from_c = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=float)
    m = to_c @ m_xy @ from_c
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=float)
    return swap @ m @ swap


def flip_matrix(height: int, width: int, horizontal: bool, vertical: bool) -> np.ndarray:
    """The output->input map of flipping the output (applied to output coordinates first)."""
    f = np.eye(3)
    if vertical:
        f[0, 0], f[0, 2] = -1.0, height - 1.0
    if horizontal:
        f[1, 1], f[1, 2] = -1.0, width - 1.0
    return f


def crop_matrix(
    out_shape: tuple[int, int], top: float, left: float, crop_h: float, crop_w: float
) -> np.ndarray:
    """Output pixel grid of ``out_shape`` spread over the crop window (in input pixel units)."""
    h, w = out_shape
    sy, sx = crop_h / h, crop_w / w
    # Pixel centres of the output map to centres of equally sized cells of the window.
    return np.array(
        [[sy, 0, top - 0.5 + 0.5 * sy], [0, sx, left - 0.5 + 0.5 * sx], [0, 0, 1]], dtype=float
    )


def sample_matrix(
    theta: float,
    tx: float,
    ty: float,
    shear: float,
    zx: float,
    zy: float,
    height: int,
    width: int,
    flip_horizontal: bool,
    flip_vertical: bool,
) -> np.ndarray:
    """``about_center(keras_like_matrix(...), height, width) @ flip_matrix(...)``, composed in
    plain floats: one sample's matrix in ~4 us instead of ~20 us of small numpy products (the
    same values up to the last bit of float rounding)."""
    a, b, c, d, e, f = 1.0, 0.0, 0.0, 0.0, 1.0, 0.0  # (x, y) rows [a b c], [d e f]
    if theta != 0:
        t = math.radians(theta)
        ct, st = math.cos(t), math.sin(t)
        a, b, d, e = a * ct + b * st, b * ct - a * st, d * ct + e * st, e * ct - d * st
    if tx != 0 or ty != 0:
        c, f = c + a * tx + b * ty, f + d * tx + e * ty
    if shear != 0:
        sh = math.radians(shear)
        ss, cs = -math.sin(sh), math.cos(sh)
        b, e = a * ss + b * cs, d * ss + e * cs
    if zx != 1 or zy != 1:
        a, b, d, e = a * zx, b * zy, d * zx, e * zy
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    c = c + cx - a * cx - b * cy
    f = f + cy - d * cx - e * cy
    # (row, col) order: rows [e d f], [b a c]; then the flips, applied to the output first
    sv, ov = (-1.0, height - 1.0) if flip_vertical else (1.0, 0.0)
    sh_, oh = (-1.0, width - 1.0) if flip_horizontal else (1.0, 0.0)
    return np.array(
        [
            [e * sv, d * sh_, e * ov + d * oh + f],
            [b * sv, a * sh_, b * ov + a * oh + c],
            [0.0, 0.0, 1.0],
        ]
    )


def is_identity(m: np.ndarray) -> bool:
    (a, b, c), (d, e, f), (g, h, i) = m.tolist()
    return (
        max(abs(a - 1), abs(b), abs(c), abs(d), abs(e - 1), abs(f), abs(g), abs(h), abs(i - 1))
        < 1e-9
    )


def flip_axes(m: np.ndarray, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The axes ``m`` flips when it is exactly a flip (or the identity) of an image of
    ``shape`` onto the same grid: () for the identity, (1,) horizontal, (0,) vertical, (0, 1)
    both; None for anything else. Every position it samples is then a pixel centre, so a
    resample by any order and fill mode is that flip of the pixels."""
    h, w = shape[:2]
    (a, b, c), (d, e, f), last = m.tolist()
    if b != 0 or d != 0 or last != [0.0, 0.0, 1.0]:
        return None
    axes = []
    for axis, (scale, shift, n) in enumerate(((a, c, h), (e, f, w))):
        if scale == -1 and shift == n - 1:
            axes.append(axis)
        elif scale != 1 or shift != 0:
            return None
    return tuple(axes)


# ---------------------------------------------------------------------------------------------
# Sampling coordinates


def affine_coords(m: np.ndarray, out_shape: tuple[int, int], dtype=np.float32, row_offset: int = 0):
    """Input (row, col) positions of every output pixel under ``m``, as two (H, W) arrays
    (output rows start at ``row_offset``)."""
    h, w = out_shape
    r = np.arange(row_offset, row_offset + h, dtype=np.float64)
    c = np.arange(w, dtype=np.float64)
    rows = (m[0, 0] * r + m[0, 2]).astype(dtype)[:, None] + (m[0, 1] * c).astype(dtype)[None, :]
    cols = (m[1, 0] * r + m[1, 2]).astype(dtype)[:, None] + (m[1, 1] * c).astype(dtype)[None, :]
    return rows, cols


def elastic_field(
    shape: tuple[int, int], alpha: float, sigma: float, seed: int, dtype=np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random displacements (rows, cols) in pixels, Simard et al. style.

    Uniform noise in [-1, 1] is smoothed by a Gaussian of ``sigma`` pixels, normalised to unit
    maximum and scaled by ``alpha`` pixels, so ``alpha`` is the largest displacement whatever
    ``sigma`` (the classic formulation scales with a sigma-dependent factor that is hard to tune).
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(2):
        noise = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        field = ndimage.gaussian_filter(noise, sigma, mode="reflect")
        peak = float(np.abs(field).max()) or 1.0
        out.append((field * (alpha / peak)).astype(dtype))
    return out[0], out[1]


def apply_matrix_to_coords(m: np.ndarray, rows: np.ndarray, cols: np.ndarray):
    """``m`` applied to explicit coordinate arrays (used when an elastic field is present)."""
    dt = rows.dtype
    r2 = rows * dt.type(m[0, 0]) + cols * dt.type(m[0, 1]) + dt.type(m[0, 2])
    c2 = rows * dt.type(m[1, 0]) + cols * dt.type(m[1, 1]) + dt.type(m[1, 2])
    return r2, c2


# ---------------------------------------------------------------------------------------------
# Resampling


_PAD = {"nearest": (0, 1), "constant": (1, 2), "reflect": (1, 1), "wrap": (0, 2)}


def _fold(coord: np.ndarray, n: int, mode: str) -> None:
    """Fold coordinates in place into the padded frame of :data:`_PAD`.

    Afterwards ``coord`` is >= 0 and its floor and floor + 1 are valid indices of the axis padded
    by ``_PAD[mode]``, whose pad values reproduce the fill mode exactly for orders 0 and 1.
    A coordinate that is not a finite number (a zoom of 1e300 overflows float32 positions) is
    taken as outside the image (the fill), never cast to an index.
    """
    if not np.isfinite(coord).all():
        np.nan_to_num(coord, copy=False, nan=-2.0, posinf=n + 1.0, neginf=-2.0)
    if mode == "nearest":
        np.clip(coord, 0, n - 1, out=coord)
    elif mode == "constant":
        np.clip(coord, -1, n, out=coord)
        coord += 1
    elif mode == "reflect":
        coord += 0.5
        np.mod(coord, 2 * n, out=coord)
        np.subtract(2 * n, coord, out=coord, where=coord > n)
        coord += 0.5  # [0, n] -> [-0.5, n - 0.5] plus the one-pixel pad
    elif mode == "wrap":
        np.mod(coord, n, out=coord)
    else:
        raise ValueError(f"unknown fill mode {mode!r}")


def _pad(channel: np.ndarray, mode: str, cval) -> np.ndarray:
    (before, after) = _PAD[mode]
    pads = ((before, after), (before, after))
    if mode == "constant":
        return np.pad(channel, pads, mode="constant", constant_values=cval)
    if mode == "wrap":
        return np.pad(channel, pads, mode="wrap")
    return np.pad(channel, pads, mode="edge")


_PACK = {1: np.uint32, 2: np.uint64}


class _Source:
    """One channel prepared for repeated sampling: padded for the fill mode, and for order 1 its
    four neighbours packed side by side so one ``take`` fetches all of them."""

    def __init__(self, channel: np.ndarray, mode: str, cval: float, order: int):
        self.shape = channel.shape
        self.mode = mode
        self.order = order
        self.dtype = channel.dtype
        padded = np.ascontiguousarray(_pad(channel, mode, _cval_for(channel.dtype, cval)))
        self.padded = padded
        size = padded.dtype.itemsize
        self.kind = "plain"
        self.stride = padded.shape[1]
        if order == 1 and size in _PACK:
            h, w = padded.shape[0] - 1, padded.shape[1] - 1
            quad = np.empty((h, w, 4), dtype=padded.dtype)
            quad[..., 0] = padded[:-1, :-1]
            quad[..., 1] = padded[:-1, 1:]
            quad[..., 2] = padded[1:, :-1]
            quad[..., 3] = padded[1:, 1:]
            self.table = quad.view(_PACK[size]).reshape(-1)
            self.kind, self.stride = "quad", w
        elif order == 1 and size == 4:
            w = padded.shape[1] - 1
            pair = np.empty((padded.shape[0], w, 2), dtype=padded.dtype)
            pair[..., 0] = padded[:, :-1]
            pair[..., 1] = padded[:, 1:]
            self.table = pair.view(np.uint64).reshape(-1)
            self.kind, self.stride = "pair", w
        else:
            self.table = padded.reshape(-1)

    def sample(self, r: np.ndarray, c: np.ndarray, work_dtype) -> np.ndarray:
        """Values at coordinates (r, c), which this call folds and overwrites."""
        h, w = self.shape
        _fold(r, h, self.mode)
        _fold(c, w, self.mode)
        limit = self.padded.size
        if self.order == 0:
            r += 0.5
            c += 0.5
            return self.table.take(_flat_index(r, c, self.stride, limit))
        fl_r = np.floor(r)
        fl_c = np.floor(c)
        r -= fl_r  # fractional parts
        c -= fl_c
        idx = _flat_index(fl_r, fl_c, self.stride, limit, floored=True)
        fr = r if r.dtype == work_dtype else r.astype(work_dtype)
        fc = c if c.dtype == work_dtype else c.astype(work_dtype)
        if self.kind == "quad":
            v = self.table.take(idx).view(self.dtype).reshape(idx.shape + (4,))
            v00, v01, v10, v11 = (v[..., k].astype(work_dtype) for k in range(4))
        elif self.kind == "pair":
            t = self.table.take(idx).view(self.dtype).reshape(idx.shape + (2,))
            b = self.table.take(idx + self.stride).view(self.dtype).reshape(idx.shape + (2,))
            v00, v01, v10, v11 = (
                x.astype(work_dtype) for x in (t[..., 0], t[..., 1], b[..., 0], b[..., 1])
            )
        else:  # 8-byte pixels: four plain gathers
            s = self.stride
            v00, v01, v10, v11 = (
                self.table.take(i).astype(work_dtype) for i in (idx, idx + 1, idx + s, idx + s + 1)
            )
        # Linear along columns in the top and bottom rows, then along rows (all in place).
        v01 -= v00
        v01 *= fc
        v00 += v01
        v11 -= v10
        v11 *= fc
        v10 += v11
        v10 -= v00
        v10 *= fr
        v00 += v10
        return v00


def resample(
    image: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    order: int = 1,
    mode: str = "nearest",
    cval: float = 0.0,
    work_dtype=np.float32,
) -> np.ndarray:
    """Sample ``image`` (H, W) or (H, W, C) at explicit coordinates (rows, cols).

    Order 0 returns the input dtype (values copied exactly: labels stay labels). Order 1 and above
    return ``work_dtype`` floats, not yet rounded, so later intensity steps add no rounding.
    """
    if image.ndim == 3:
        return np.stack(
            [
                resample(image[..., k], rows, cols, order, mode, cval, work_dtype)
                for k in range(image.shape[2])
            ],
            axis=-1,
        )
    if order >= 2:
        return ndimage.map_coordinates(
            image.astype(work_dtype, copy=False),
            [rows, cols],
            order=order,
            mode=_SCIPY_MODE[mode],
            cval=cval,
        )
    return _Source(image, mode, cval, order).sample(rows.copy(), cols.copy(), work_dtype)


def _flat_index(
    r: np.ndarray, c: np.ndarray, stride: int, limit: int, floored: bool = False
) -> np.ndarray:
    """``floor(r) * stride + floor(c)`` as integer indices (coordinates are >= 0 here; every
    index is below ``limit``)."""
    if r.dtype == np.float32 and limit < 2**24:
        # float32 holds these integers exactly: one integer conversion instead of three
        f = r if floored else np.floor(r)
        f = f * np.float32(stride)
        f += c if floored else np.floor(c)
        return f.astype(np.intp)
    return np.floor(r).astype(np.intp) * stride + np.floor(c).astype(np.intp)


@lru_cache(maxsize=64)
def _cval_for(dtype: np.dtype, cval: float):
    """``cval`` as a value of ``dtype`` (clipped and rounded for integers; cached: ``np.iinfo``
    costs a few us per sample)."""
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return dtype.type(min(max(round(cval), info.min), info.max))
    if dtype.kind == "b":
        return bool(cval)
    return dtype.type(cval)


# Output is produced in bands of about this many pixels: the temporaries stay cache-sized and the
# allocator reuses them, instead of faulting in fresh pages for every sample (2-3x faster here).
_BAND_PIXELS = 16384


def warp(
    image: np.ndarray,
    m: np.ndarray,
    out_shape: tuple[int, int] | None = None,
    order: int = 1,
    mode: str = "nearest",
    cval: float = 0.0,
    work_dtype=np.float32,
    displacement: tuple[np.ndarray, np.ndarray] | None = None,
    post: Callable[[np.ndarray, int, int], np.ndarray] | None = None,
    out_dtype=None,
    resampler: str = "exact",
    labels: bool = False,
) -> np.ndarray:
    """Resample ``image`` through the output->input matrix ``m`` (and an optional elastic field
    given in output pixels, applied before ``m``).

    ``labels`` (a mask, order 0): OpenCV is used only where its pick is identical to the exact
    resampler's (:func:`.cvwarp.warp_labels`).

    ``post(values, r0, r1)`` (2-D images, order 1) is applied to each band of output rows
    ``r0:r1`` while it is still in cache, e.g. noise and the final cast; its result is stored in
    an output of ``out_dtype``. ``resampler="opencv"`` (and ``"fast"``, where OpenCV is
    installed) uses :mod:`.cvwarp` where it applies (for masks, ``labels``: only where its
    labels are the exact resampler's) and the exact one elsewhere.
    """
    out_shape = tuple(out_shape or image.shape[:2])
    use_cv = resampler == "opencv" or (resampler == "fast" and cvwarp.available())
    if use_cv and labels and displacement is None and order == 0:
        out = cvwarp.warp_labels(image, m, out_shape, mode, cval)
        if out is not None:
            return out
    elif use_cv and displacement is None and order <= 1:
        out = cvwarp.warp(
            image,
            m,
            out_shape,
            order,
            mode,
            _cval_for(image.dtype, cval),
            work_dtype,
            post if image.ndim == 2 and order == 1 else None,
            out_dtype,
        )
        if out is not None:
            return out
    if order <= 1:
        out = fastwarp.warp(
            image,
            m,
            out_shape,
            order,
            mode,
            _cval_for(image.dtype, cval),
            work_dtype,
            displacement,
            post if image.ndim == 2 else None,
            out_dtype,
        )
        if out is not None:
            return out
    return warp_reference(
        image, m, out_shape, order, mode, cval, work_dtype, displacement, post, out_dtype
    )


def warp_reference(
    image: np.ndarray,
    m: np.ndarray,
    out_shape: tuple[int, int] | None = None,
    order: int = 1,
    mode: str = "nearest",
    cval: float = 0.0,
    work_dtype=np.float32,
    displacement: tuple[np.ndarray, np.ndarray] | None = None,
    post: Callable[[np.ndarray, int, int], np.ndarray] | None = None,
    out_dtype=None,
) -> np.ndarray:
    """:func:`warp` by the reference sampler (``_Source``): same arguments and results up to float
    rounding, slower. Used for order >= 2 and as the yardstick of :mod:`.fastwarp`."""
    out_shape = tuple(out_shape or image.shape[:2])
    if displacement is None and order >= 2:
        return _scipy_affine(image, m, out_shape, order, mode, cval, work_dtype)
    if image.ndim == 3:
        return np.stack(
            [
                warp_reference(
                    image[..., k], m, out_shape, order, mode, cval, work_dtype, displacement
                )
                for k in range(image.shape[2])
            ],
            axis=-1,
        )
    h, w = out_shape
    cdt = np.float64 if work_dtype == np.float64 else np.float32
    if order >= 2:  # elastic with a high order: scipy on the full coordinate arrays
        grid_r = np.arange(h, dtype=cdt)[:, None] + displacement[0]
        grid_c = np.arange(w, dtype=cdt)[None, :] + displacement[1]
        rows, cols = apply_matrix_to_coords(m, grid_r, grid_c)
        return resample(image, rows, cols, order, mode, cval, work_dtype)
    src = _Source(image, mode, cval, order)
    if out_dtype is None:
        out_dtype = image.dtype if order == 0 else work_dtype
    out = np.empty((h, w), dtype=out_dtype)
    band = max(1, _BAND_PIXELS // max(w, 1))
    for r0 in range(0, h, band):
        r1 = min(h, r0 + band)
        if displacement is None:
            rows, cols = affine_coords(m, (r1 - r0, w), cdt, row_offset=r0)
        else:
            grid_r = np.arange(r0, r1, dtype=cdt)[:, None] + displacement[0][r0:r1]
            grid_c = np.arange(w, dtype=cdt)[None, :] + displacement[1][r0:r1]
            rows, cols = apply_matrix_to_coords(m, grid_r, grid_c)
        values = src.sample(rows, cols, work_dtype)
        out[r0:r1] = values if post is None else post(values, r0, r1)
    return out


def _scipy_affine(image, m, out_shape, order, mode, cval, work_dtype):
    src = image.astype(work_dtype, copy=False)
    if src.ndim == 3:
        return np.stack(
            [
                _scipy_affine(src[..., k], m, out_shape, order, mode, cval, work_dtype)
                for k in range(src.shape[2])
            ],
            axis=-1,
        )
    return ndimage.affine_transform(
        src,
        m[:2, :2],
        m[:2, 2],
        output_shape=tuple(out_shape),
        order=order,
        mode=_SCIPY_MODE[mode],
        cval=cval,
    )


# ---------------------------------------------------------------------------------------------
# Preview-sized copies


def downscale_factor(shape: tuple[int, ...], max_side: int) -> int:
    return max(1, math.ceil(max(shape[0], shape[1]) / max_side))


def block_reduce(a: np.ndarray, f: int, how: str) -> np.ndarray:
    """Integer-factor block mean ("mean", float result) or max ("max", same dtype: label values
    survive and one-pixel spots stay visible) over ``f x f`` blocks (edge remainder cropped)."""
    if f == 1:
        return a
    h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    v = a[:h, :w].reshape(h // f, f, w // f, f, *a.shape[2:])
    if how == "max":
        return v.max(axis=(1, 3))
    return v.mean(axis=(1, 3), dtype=np.float32 if a.dtype != np.float64 else np.float64)
