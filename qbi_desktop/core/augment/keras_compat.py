"""Keras ``ImageDataGenerator`` compatibility: :func:`apply_transform` and Keras' own sampler.

The contract: ``apply_transform(x, params, fill_mode, cval, order)`` returns the same pixels as
``ImageDataGenerator(fill_mode=..., cval=..., interpolation_order=...).apply_transform(x, params)``
(channels_last) for the same parameter dict, and :func:`keras_random_params` draws the same dict as
``get_random_transform(shape, seed)`` for the same integer seed. Tests check both against Keras.

Grayscale: Keras wants (H, W, C). A 2-D image (H, W) is given a channel axis, transformed as
(H, W, 1) and returned as (H, W) again.

What Keras does, defects included (``keras_compat=True`` reproduces all of it), and what the
corrected engine (the default) does instead:

=====================  ==========================================  ==============================
topic                  Keras                                        corrected (default)
=====================  ==========================================  ==============================
width/height shift     ``height_shift_range`` (scaled by H) moves   ``width_shift_range`` (x W)
                       the image horizontally, ``width_shift_       moves horizontally,
                       range`` (x W) vertically                     ``height_shift_range`` (x H)
                                                                    vertically
pivot                  column pivot (H-1)/2, row pivot (W-1)/2:     ((H-1)/2, (W-1)/2): the true
                       off-centre on non-square images              centre
``wrap``               scipy's legacy ``wrap`` (not periodic: the   periodic (scipy ``grid-wrap``)
                       edge pixel is shared by both ends)
``constant``           no interpolation across the edge             ``cval`` outside, interpolated
                                                                    across the edge
brightness             through an 8-bit PIL image: 256 levels,      multiply in full precision;
                       relative to the image minimum and saturated  dtype kept
                       at its maximum when values leave [0, 255];
                       float images in [0, 1] are truncated to 0/1
dtype                  float32/float64 out of brightness/channel    the input dtype, rounded and
                       shift                                        clipped once at the end
masks                  need a second generator with order 0         follow the same geometry with
                                                                    order 0 (labels exact)
=====================  ==========================================  ==============================
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from qbi_desktop.core.augment import geometry, intensity
from qbi_desktop.core.errors import UserFacingError, listed

KERAS_KEYS = (
    "theta",
    "tx",
    "ty",
    "shear",
    "zx",
    "zy",
    "flip_horizontal",
    "flip_vertical",
    "channel_shift_intensity",
    "brightness",
)


def apply_transform(
    x: np.ndarray,
    params: dict[str, Any],
    fill_mode: str = "nearest",
    cval: float = 0.0,
    order: int = 1,
    *,
    keras_compat: bool = True,
) -> np.ndarray:
    """Apply one explicit Keras parameter dict to an image (H, W) or (H, W, C).

    With ``keras_compat=True`` (the default of this function, which is the compatibility
    contract) the result equals Keras' ``apply_transform`` pixel for pixel, output dtype included.
    With ``keras_compat=False`` the same dict is applied the corrected way (true-centre pivot,
    periodic wrap, full-precision brightness, input dtype kept); see the module docstring.
    """
    x = intensity.check_image(x)
    if fill_mode not in geometry.FILL_MODES:
        raise UserFacingError(
            f"fill_mode: {fill_mode!r} is not one of {', '.join(geometry.FILL_MODES)}"
        )
    unknown = set(params) - set(KERAS_KEYS)
    if unknown:
        raise UserFacingError(f"params: unknown key(s) {listed(sorted(unknown))}")
    if keras_compat:
        squeeze = x.ndim == 2
        out = _keras_apply(x[..., None] if squeeze else x, params, fill_mode, cval, order)
        return out[..., 0] if squeeze else out
    return _corrected_apply(x, params, fill_mode, cval, order)


def _keras_matrix(theta, tx, ty, shear, zx, zy, h, w) -> np.ndarray | None:
    """Keras' matrix, built in the same order with the same operations (so bit-identical)."""
    m = None
    if theta != 0:
        t = np.deg2rad(theta)
        m = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    if tx != 0 or ty != 0:
        shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
        m = shift if m is None else np.dot(m, shift)
    if shear != 0:
        s = np.deg2rad(shear)
        sh = np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
        m = sh if m is None else np.dot(m, sh)
    if zx != 1 or zy != 1:
        z = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
        m = z if m is None else np.dot(m, z)
    if m is None:
        return None
    # Keras' defect: the x (column) pivot uses the height and the y (row) pivot the width.
    o_x, o_y = float(h) / 2 - 0.5, float(w) / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    m = np.dot(np.dot(offset, m), reset)
    m[:, [0, 1]] = m[:, [1, 0]]
    m[[0, 1]] = m[[1, 0]]
    return m


def _keras_apply(x: np.ndarray, p: dict[str, Any], fill_mode: str, cval: float, order: int):
    h, w = x.shape[0], x.shape[1]
    m = _keras_matrix(
        p.get("theta", 0),
        p.get("tx", 0),
        p.get("ty", 0),
        p.get("shear", 0),
        p.get("zx", 1),
        p.get("zy", 1),
        h,
        w,
    )
    if m is not None:
        chans = [
            ndimage.affine_transform(
                x[..., k], m[:2, :2], m[:2, 2], order=order, mode=fill_mode, cval=cval
            )
            for k in range(x.shape[2])
        ]
        x = np.stack(chans, axis=-1)
    if p.get("channel_shift_intensity") is not None:
        intensity_ = p["channel_shift_intensity"]
        lo, hi = np.min(x), np.max(x)
        x = np.stack([np.clip(x[..., k] + intensity_, lo, hi) for k in range(x.shape[2])], axis=-1)
    if p.get("flip_horizontal", False):
        x = x[:, ::-1]
    if p.get("flip_vertical", False):
        x = x[::-1]
    if p.get("brightness") is not None:
        x = keras_brightness(x, p["brightness"])
    return x


def keras_brightness(x: np.ndarray, factor: float) -> np.ndarray:
    """Keras' brightness (``scale=False``): an 8-bit PIL round trip, kept bit-exact for the
    compatibility contract. This is the quantising defect the corrected engine avoids."""
    from PIL import Image, ImageEnhance

    x_min, x_max = np.min(x), np.max(x)
    local_scale = (x_min < 0) or (x_max > 255)
    a = np.asarray(x, dtype=np.float32)
    if local_scale:
        a = a - np.min(a)
        a_max = np.max(a)
        if a_max != 0:
            a /= a_max
        a *= 255
    channels = a.shape[2]
    if channels not in (1, 3, 4):
        raise UserFacingError(
            f"brightness (Keras mode) works on 1, 3 or 4 channels, the image has {channels}"
        )
    plane = a[:, :, 0] if channels == 1 else a
    img = Image.fromarray(plane.astype("uint8"))
    img = ImageEnhance.Brightness(img).enhance(factor)
    out = np.asarray(img, dtype=np.float32)
    if out.ndim == 2:
        out = out.reshape(out.shape[0], out.shape[1], 1)
    if local_scale:
        out = out / 255 * (x_max - x_min) + x_min
    return out


def _corrected_apply(x: np.ndarray, p: dict[str, Any], fill_mode: str, cval: float, order: int):
    h, w = x.shape[:2]
    m = geometry.about_center(
        geometry.keras_like_matrix(
            p.get("theta", 0) or 0,
            p.get("tx", 0) or 0,
            p.get("ty", 0) or 0,
            p.get("shear", 0) or 0,
            p.get("zx", 1),
            p.get("zy", 1),
        ),
        h,
        w,
    ) @ geometry.flip_matrix(h, w, bool(p.get("flip_horizontal")), bool(p.get("flip_vertical")))
    wd = intensity.work_dtype(x.dtype)
    if geometry.is_identity(m):
        out = x.astype(wd)
    else:
        out = geometry.warp(x, m, order=order, mode=fill_mode, cval=cval, work_dtype=wd)
        out = out.astype(wd, copy=False)
    if p.get("channel_shift_intensity") is not None:
        out = intensity.channel_shift(out, p["channel_shift_intensity"])
    if p.get("brightness") is not None:
        out = intensity.brightness(out, p["brightness"])
    return intensity.finalize(out, x.dtype)


# ---------------------------------------------------------------------------------------------
# Keras' sampler


def keras_zoom_range(zoom_range) -> tuple[float, float]:
    if isinstance(zoom_range, (int, float)):
        return 1 - zoom_range, 1 + zoom_range
    return zoom_range[0], zoom_range[1]


def _keras_shift(rs: np.random.RandomState, rng_value, size: int) -> float:
    if not rng_value:
        return 0
    try:  # int or list: a choice, with a random sign
        t = rs.choice(rng_value)
        t *= rs.choice([-1, 1])
    except ValueError:  # a float: uniform
        t = rs.uniform(-rng_value, rng_value)
    if np.max(rng_value) < 1:
        t *= size
    return t


def keras_random_params(
    opts: dict[str, Any], img_shape: tuple[int, ...], rs: np.random.RandomState
):
    """Draw a parameter dict exactly as Keras' ``get_random_transform`` (channels_last) does,
    with ``rs`` in place of the global numpy RandomState; the height range scales ``tx`` by H."""
    rot = opts.get("rotation_range", 0)
    theta = rs.uniform(-rot, rot) if rot else 0
    tx = _keras_shift(rs, opts.get("height_shift_range", 0.0), img_shape[0])
    ty = _keras_shift(rs, opts.get("width_shift_range", 0.0), img_shape[1])
    sr = opts.get("shear_range", 0.0)
    shear = rs.uniform(-sr, sr) if sr else 0
    lo, hi = keras_zoom_range(opts.get("zoom_range", 0.0))
    if lo == 1 and hi == 1:
        zx, zy = 1, 1
    else:
        zx, zy = rs.uniform(lo, hi, 2)
    flip_h = (rs.random() < 0.5) * opts.get("horizontal_flip", False)
    flip_v = (rs.random() < 0.5) * opts.get("vertical_flip", False)
    cs = None
    if opts.get("channel_shift_range", 0.0) != 0:
        csr = opts["channel_shift_range"]
        cs = rs.uniform(-csr, csr)
    b = None
    if opts.get("brightness_range") is not None:
        br = opts["brightness_range"]
        b = rs.uniform(br[0], br[1])
    return {
        "theta": theta,
        "tx": tx,
        "ty": ty,
        "shear": shear,
        "zx": zx,
        "zy": zy,
        "flip_horizontal": flip_h,
        "flip_vertical": flip_v,
        "channel_shift_intensity": cs,
        "brightness": b,
    }
