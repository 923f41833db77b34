"""The OpenCV resampler (pipeline option ``resampler: "opencv"``, and the default ``"fast"``
wherever OpenCV is installed).

OpenCV's ``warpAffine`` resamples an image in one fused SIMD pass: 0.55 ms for 512^2 against
~1.6 ms for our exact numpy resampler (:mod:`.fastwarp`). A user who never opens the advanced
settings gets it (``"fast"``), within the tolerance below, which tests/test_augment_opencv.py
bounds on real radiographs; ``"exact"`` picks the reference, and OpenCV is an optional extra
(``[opencv]``, left out of the packaged app for its size budget), so without it ``"fast"`` is the
exact resampler. Masks, Keras-compatible mode, elastic fields and orders >= 2 are never here.

What it changes, measured here with opencv-python-headless 5.0:

- Order 1 (bilinear), uint8 and uint16 single-channel images in a pipeline (with its fused
  point-wise steps): warped in their own dtype (0.45 against 0.60 ms at 512^2 uint8 with the
  float32 conversion, thread CPU time), and with no point-wise step that is the result (no
  float copy, no band pass to round and cast: a whole sample takes ~0.9 ms instead of ~1.4);
  with brightness, gamma or noise the warped values are rounded to the image's levels once
  before those steps run on them (at most half a level, times the brightness factor, on top of
  the bound below: tested on real radiographs). Noise alone (the common case) is then added
  in the image's dtype by :func:`_add_noise` (a gather and a saturating add per band, the
  same pixels as the float path).
- Order 1, every other case: the image is converted to its float work dtype first (float32 for
  8/16-bit and float32 images, float64 for float64) and warped in that dtype, so the warped
  values are not rounded, and the point-wise steps (brightness, gamma, noise, final
  round/clip/cast) then run on them exactly as after the exact resampler.
- Positions: OpenCV 5 computes float32 sample positions in floating point (results match scipy
  to ~5e-6 of the value range); its integer and float64 paths keep OpenCV's classic fixed-point
  positions, rounded to 1/32 pixel (``INTER_BITS = 5``). 1/32 pixel is the bound we promise
  (and test): a value may differ from the exact resampler's by up to the local gradient / 32
  per axis, plus one level of rounding for integer images.
- Order 0 (nearest), uint8, uint16 and float32 images, fill modes ``nearest`` and
  ``constant``: values are copied in the image's own dtype (0.15 ms against 0.85 ms at 512^2).
  With opencv-python-headless 5.1 the pixels picked are those of exact arithmetic, which the
  exact resampler also computes for order 0 (float64 positions, ``floor(p + 0.5)``): identical
  under random affines and on exact ties (zoom by 2, half-pixel shifts) in ``nearest`` mode;
  ``constant`` differs only on ties exactly on the image's outer edge (a position of n - 0.5
  is inside for OpenCV, outside for the exact resampler). Reflect and wrap stay with the exact
  resampler: OpenCV's nearest path folds positions beyond the edge differently (~100 pixels of
  a 512^2 image under random affines). For int16 and float64 OpenCV 5's nearest path rounds
  positions to 1/1024 pixel (~0.1 % of the pixels picked differently), so those stay exact too.
- Masks (:func:`warp_labels`; one without labels comes back as zeros, unwarped): only where
  the pick is identical to the exact resampler's, uint8/uint16 labels (bool masks as uint8;
  wider integer masks as uint8/uint16 when their labels fit, widened back afterwards):
  ``nearest`` fill mode; ``constant`` (0 beyond the edge) when the mask's outer ring holds no
  label (the tie on the edge then picks 0 either way); any mode when every position stays
  inside. tests/test_augment_opencv.py and tests/test_augment_masks.py check them pixel for
  pixel on real radiographs' spot masks.
- Not handled here (the exact resampler is used instead): elastic deformation (a displacement
  field), orders >= 2, dtypes other than uint8, uint16, int16, float32 and float64 (order 0:
  uint8, uint16 and float32), more than 4 channels, images or positions beyond +/- 30000 pixels
  (OpenCV's fixed-point maps are 16-bit).

Fill modes map one to one: ``nearest`` -> ``BORDER_REPLICATE``, ``constant`` ->
``BORDER_CONSTANT`` with ``cval`` (interpolated across the edge, like scipy's grid-constant),
``reflect`` -> ``BORDER_REFLECT`` (half-sample symmetric, scipy's 'reflect'), ``wrap`` ->
``BORDER_WRAP`` (periodic). OpenCV 5 warps fastest with a constant border, so for order 1 the
other three pad the image with their border as far as the positions reach and warp that with a
constant border no position reaches (:func:`_padded`: 0.33 against 0.5-0.62 ms at 512^2 uint8),
and label masks take the constant border wherever it picks the same labels (:func:`warp_labels`).
Results do not depend on OpenCV's thread count (each output pixel is
computed on its own); batch worker processes still call :func:`single_thread` so that N processes
do not start N x cores threads. ``cv2`` is imported on first use only.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from qbi_desktop.core.augment import fastwarp, intensity
from qbi_desktop.core.errors import UserFacingError

INSTALL_HINT = 'pip install "qbi-desktop[opencv]"'
SUPPORTED_DTYPES = tuple(
    np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64)
)
NEAREST_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.float32))
DIRECT_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16))
NEAREST_MODES = ("nearest", "constant")
# label masks: only where OpenCV's pick equals the exact resampler's pixel for pixel
LABEL_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16))
LABEL_MODES = ("nearest",)
MAX_CHANNELS = 4
# OpenCV's fixed-point paths keep integer positions in 16-bit maps: stay well inside them.
MAX_COORD = 30000

_cv2: Any = None


def available() -> bool:
    """Whether OpenCV looks installed, without importing it (for greying out a choice)."""
    if _cv2 is not None:
        return True
    try:
        return importlib.util.find_spec("cv2") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["cv2"] is None
        return False


def load(field: str = "resampler") -> Any:
    """The ``cv2`` module (imported once); a :class:`UserFacingError` naming ``field`` and how
    to install OpenCV if it cannot be imported."""
    global _cv2
    if _cv2 is None:
        try:
            import cv2
        except ImportError as exc:
            raise UserFacingError(
                f"{field}: 'opencv' needs OpenCV, which cannot be imported here ({exc}); "
                f"install it with: {INSTALL_HINT}"
            ) from None
        _cv2 = cv2
    return _cv2


def single_thread() -> None:
    """Keep OpenCV to one thread in this process (batch workers: one process per core)."""
    load().setNumThreads(1)


_last = threading.local()


def _cv_matrix(
    m: np.ndarray, out_shape: tuple[int, int], in_shape: tuple[int, ...]
) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
    """OpenCV's 2x3 (x, y) matrix for the (row, col) output->input matrix ``m``, and the
    (row_min, row_max, col_min, col_max) of the input positions it samples; None where sizes or
    positions leave OpenCV's 16-bit fixed-point range. The last answer is kept per thread: a
    sample's image and mask ask for the same matrix."""
    key = (m.tobytes(), out_shape, in_shape[:2])
    if getattr(_last, "key", None) == key:
        return _last.value
    h, w = out_shape
    value = None
    if 0 < h < MAX_COORD and 0 < w < MAX_COORD and max(in_shape[:2]) < MAX_COORD:
        bounds = fastwarp._input_bounds(m, (h, w), None)
        if all(abs(b) < MAX_COORD for b in bounds):  # (False for NaN and inf)
            # OpenCV wants (x, y) = (col, row): x_in = m11 x + m10 y + m12, y_in = m01 x + ...
            (m00, m01, m02), (m10, m11, m12) = m[:2].tolist()
            value = np.array([[m11, m10, m12], [m01, m00, m02]], dtype=np.float64), bounds
    _last.key, _last.value = key, value
    return value


# Fill modes other than 'constant' are padded first (see :func:`_padded`), with OpenCV's
# border of the same meaning (:data:`_BORDER`).
# The padded copy may hold up to this many times the output's pixels: beyond, copying it costs
# more than the slow border saves (the copy ~0.2 ns, the saving ~0.9 ns per output pixel here).
MAX_PAD_GROWTH = 4
# Pixels of padding beyond the farthest position sampled: a bilinear sample reads floor(p) + 1,
# and OpenCV may round a position by 1/32 pixel.
_PAD_MARGIN = 2


def _padded(
    src: np.ndarray,
    cv_m: np.ndarray,
    bounds: tuple[float, float, float, float],
    out_shape: tuple[int, int],
    border: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """``src`` padded by its fill mode (OpenCV's ``border``) as far as the positions sampled
    reach, and the matrix moved to the padded frame: warped with a constant border that no
    position reaches, the result is the fill mode's, pixel for pixel (the padded pixels are the
    values the border would have produced). None where the pad would be too large (the caller
    then warps with OpenCV's own border).

    Why: OpenCV 5's warpAffine checks each pixel's neighbours against the edge and takes a
    slow path for every position near or beyond it unless the border is constant: 512^2
    uint8, bilinear, under the pipeline's random affines: 0.50-0.62 ms with BORDER_REPLICATE,
    0.26 ms with BORDER_CONSTANT, 0.32 ms padded (copy included); reflect and wrap 0.9 ms.
    """
    r_lo, r_hi, c_lo, c_hi = bounds
    h, w = src.shape[:2]
    top = max(0, math.ceil(-r_lo) + _PAD_MARGIN)
    bottom = max(0, math.ceil(r_hi - (h - 1)) + _PAD_MARGIN)
    left = max(0, math.ceil(-c_lo) + _PAD_MARGIN)
    right = max(0, math.ceil(c_hi - (w - 1)) + _PAD_MARGIN)
    ph, pw = h + top + bottom, w + left + right
    if ph * pw > MAX_PAD_GROWTH * out_shape[0] * out_shape[1] or max(ph, pw) >= MAX_COORD:
        return None
    if ph == h and pw == w:  # every position well inside: no border is ever read
        return src, cv_m
    cv2 = load()
    padded = cv2.copyMakeBorder(src, top, bottom, left, right, border)
    moved = cv_m.copy()
    moved[0, 2] += left
    moved[1, 2] += top
    return padded, moved


def warp(
    image: np.ndarray,
    m: np.ndarray,
    out_shape: tuple[int, int],
    order: int,
    mode: str,
    cval: Any,
    work_dtype: Any,
    post: Callable[[np.ndarray, int, int], np.ndarray] | None = None,
    out_dtype: Any = None,
) -> np.ndarray | None:
    """Resample ``image`` (H, W) or (H, W, C) through the output->input matrix ``m`` (3x3,
    row/col) with OpenCV; the same contract as :func:`.fastwarp.warp` without a displacement
    field: order 0 returns the image's dtype, order 1 ``work_dtype`` floats unless ``post`` (2-D
    only) maps each band ``values, r0, r1`` to what is stored in an ``out_dtype`` array.
    ``cval`` must already be a value of the image's dtype. Returns None for what this resampler
    does not handle (see the module docstring); the caller then uses the exact resampler.
    """
    if order not in (0, 1) or mode not in _BORDER or image.dtype not in SUPPORTED_DTYPES:
        return None
    if order == 0 and (image.dtype not in NEAREST_DTYPES or mode not in NEAREST_MODES):
        return None
    channels = 1 if image.ndim == 2 else image.shape[2]
    if not 1 <= channels <= MAX_CHANNELS:
        return None
    h, w = out_shape
    plan = _cv_matrix(m, out_shape, image.shape)
    if plan is None:
        return None
    cv_m, bounds = plan
    cv2 = load()
    wd = np.dtype(work_dtype)
    # 8/16-bit images with a post step (the pipeline's case) are warped in their own dtype:
    # twice as fast as in float32 (0.7 vs 1.5 ms at 512^2 uint8), and no float copy to make
    direct = (
        order == 1
        and post is not None
        and image.ndim == 2
        and image.dtype in DIRECT_DTYPES
        and np.dtype(out_dtype or image.dtype) == image.dtype
    )
    src = np.ascontiguousarray(image if order == 0 or direct else image.astype(wd, copy=False))
    flags = (cv2.INTER_NEAREST if order == 0 else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    border = getattr(cv2, _BORDER[mode])
    fill = (float(cval),) * 4
    if order == 1 and mode != "constant":
        padded = _padded(src, cv_m, bounds, out_shape, border)
        if padded is not None:
            src, cv_m = padded
            border = cv2.BORDER_CONSTANT
    values = cv2.warpAffine(
        src, cv_m, (w, h), flags=flags, borderMode=border, borderValue=fill,
        hint=cv2.ALGO_HINT_ACCURATE,  # never the FP16 approximation, whatever the global hint
    )  # fmt: skip
    if image.ndim == 3 and values.ndim == 2:  # OpenCV drops a single channel axis
        values = values[:, :, None]
    if order == 0 or post is None or image.ndim != 2:
        return values
    if direct and getattr(post, "only_cast", False):
        return values  # already rounded and saturated into the image's dtype by OpenCV
    noise = getattr(post, "only_noise", None) if direct else None
    if noise is not None:
        return _add_noise(cv2, values, *noise)
    # The point-wise steps and the cast, band by band as the exact resampler runs them.
    out = np.empty((h, w), dtype=image.dtype if out_dtype is None else out_dtype)
    rows = max(1, fastwarp.BAND_PIXELS // w)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        band = values[r0:r1]
        out[r0:r1] = post(band.astype(wd) if direct else band, r0, r1)
    return out


# Pixels per band of the noise step: its float32 noise buffer (128 KiB) and the band's values
# stay in cache between the gather and the add.
NOISE_BAND_PIXELS = 32768


def _add_noise(cv2: Any, values: np.ndarray, std: float, seed: int) -> np.ndarray:
    """``values`` (uint8/uint16, 2-D) plus ``std`` times the noise of ``seed``
    (:func:`.intensity.noise_indices`), rounded and saturated, in place: the pipeline's noise
    and final cast on values in the image's dtype.

    Band by band: the band's 16-bit noise indices drawn from the seed's stream as they are
    needed (the same values as the whole-image array, without writing and reading it back: 0.5
    MiB at 512^2, 5-10 % of a sample whose data is not in cache), one gather of the noise into
    a float32 buffer (OpenCV's ``LUT`` with the 16-bit indices: the values of numpy's ``take`` in
    half its time), and one saturating OpenCV add (the float32 sum, rounded half to even like
    ``np.rint``, clipped). The same results as converting to float32, adding the noise,
    clipping, rounding and casting, in 2 passes instead of 6 (0.45 against 0.7 ms at 512^2).
    """
    h, w = values.shape
    # a multiple of 4 rows: each band starts on a 64-bit word of the stream (4 indices)
    rows = max(4, NOISE_BAND_PIXELS // w // 4 * 4)
    buf = np.empty((min(rows, h), w), dtype=np.float32)
    depth = cv2.CV_8U if values.dtype == np.uint8 else cv2.CV_16U
    bitgen = np.random.PCG64(seed)  # noise_indices' stream
    table = intensity.noise_table(std).reshape(1, -1) if _lut16() else None
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        n = (r1 - r0) * w
        band, noise = values[r0:r1], buf[: r1 - r0]
        indices = bitgen.random_raw((n + 3) // 4).view(np.uint16)[:n]
        if table is not None:  # 17 against 33 us per 32768 values here
            noise = cv2.LUT(indices.reshape(noise.shape), table, dst=noise)
        else:
            intensity.noise_values(std, indices, noise)
        cv2.add(band, noise, dst=band, dtype=depth)
    return values


@functools.cache
def _lut16() -> bool:
    """Whether this OpenCV's ``LUT`` takes 16-bit indices into a 65536-entry float32 table and
    gives numpy's ``take`` values (OpenCV 5 does; 4.x takes 8-bit indices only). Asked once."""
    cv2 = load()
    table = np.arange(65536, dtype=np.float32).reshape(1, -1) * np.float32(0.5)
    probe = np.array([[0, 1, 40000, 65535]], dtype=np.uint16)
    try:
        got = cv2.LUT(probe, table)
    except cv2.error:
        return False
    return got.dtype == np.float32 and np.array_equal(got, table[0][probe])


def _narrowed(mask: np.ndarray, cval: Any) -> np.ndarray | None:
    """An integer mask of a wider type (int32, int64, ...) as uint8 or uint16 when its labels
    and ``cval`` fit; None otherwise. A nearest pick copies labels, so warping the narrow copy
    and widening the result gives the same labels: 0.25 against 1.4 ms (int32) and 5.6 ms
    (int64) by the exact resampler at 512^2."""
    try:
        fill = float(cval)
    except (TypeError, ValueError):
        return None
    if mask.dtype.kind not in "iu" or mask.size == 0 or not fill.is_integer():
        return None
    lo, top = int(mask.min()), max(int(mask.max()), int(fill))
    if lo < 0 or fill < 0 or top > 65535:
        return None
    return mask.astype(np.uint8 if top <= 255 else np.uint16)


def warp_labels(
    mask: np.ndarray, m: np.ndarray, out_shape: tuple[int, int], mode: str, cval: Any = 0
) -> np.ndarray | None:
    """A label mask through ``m`` by OpenCV's nearest path where that picks exactly the pixels
    of the exact resampler (see the module docstring); None elsewhere (the caller then uses the
    exact resampler). ``cval``: the labels beyond the edge in ``constant`` mode. Wider integer
    masks whose labels fit in 16 bits are warped as uint8/uint16 and widened back."""
    if mode not in _BORDER:
        return None
    if mask.dtype not in LABEL_DTYPES:
        narrow = _narrowed(mask, cval)
        if narrow is None:
            return None
        out = _warp_narrow_labels(narrow, m, out_shape, mode, int(float(cval)))
        return None if out is None else out.astype(mask.dtype)
    return _warp_narrow_labels(mask, m, out_shape, mode, cval)


def _warp_narrow_labels(
    mask: np.ndarray, m: np.ndarray, out_shape: tuple[int, int], mode: str, cval: Any
) -> np.ndarray | None:
    """:func:`warp_labels` for uint8 and uint16 masks."""
    if mask.ndim != 2:
        if mode not in LABEL_MODES:
            return None
        return warp(mask, m, out_shape, 0, mode, mask.dtype.type(0), np.float32)
    cv2 = load()
    src = np.ascontiguousarray(mask)
    h, w = src.shape
    # labels on the outer ring? (read in two calls, first and last rows then columns: on a
    # loaded machine each numpy reduction costs ~10 us, ndarray.any() several times that)
    ring = cv2.hasNonZero(src[:: max(h - 1, 1)]) or np.count_nonzero(src[:, :: max(w - 1, 1)])
    if not ring and cval == 0 and not cv2.hasNonZero(src):
        # no labels (an item without spots): nothing to warp, whatever the fill mode.
        # (Warping only the box of the labels was tried for sparse masks: no faster at 512^2
        # once its set-up is paid.)
        out = np.empty(out_shape, dtype=mask.dtype)  # (np.zeros: fresh pages, slower here)
        out.fill(0)
        return out
    plan = _cv_matrix(m, out_shape, mask.shape)
    if plan is None:
        return None
    cv_m, (r_lo, r_hi, c_lo, c_hi) = plan
    # A constant border of 0 is OpenCV's faster path (0.13 against 0.16-0.18 ms at 512^2 for
    # 'nearest'), and it picks the exact resampler's labels in every fill mode when all
    # positions stay inside the mask (no fill is read, no tie on the outer edge), and in
    # 'nearest' and 'constant' (with 0 beyond the edge) modes when the mask's outer ring of
    # pixels holds no label: what lies beyond the edge is 0 then, whichever of a tied pair of
    # pixels is picked (most spot masks). (Padding the mask instead costs more than it saves.)
    if (0 <= r_lo and r_hi <= h - 1 and 0 <= c_lo and c_hi <= w - 1) or (
        not ring and (mode == "nearest" or (mode == "constant" and cval == 0))
    ):
        border = cv2.BORDER_CONSTANT
    elif mode in LABEL_MODES:
        border = cv2.BORDER_REPLICATE
    else:
        return None
    # (what warp() does for order 0 in 'nearest' mode, without its checks: ~10 us less here)
    return cv2.warpAffine(
        src, cv_m, (out_shape[1], out_shape[0]),
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=border, borderValue=0,
        hint=cv2.ALGO_HINT_ACCURATE,
    )  # fmt: skip


_BORDER = {
    "nearest": "BORDER_REPLICATE",
    "constant": "BORDER_CONSTANT",
    "reflect": "BORDER_REFLECT",
    "wrap": "BORDER_WRAP",
}
