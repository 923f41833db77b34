"""Drawing one sample's random parameters from its seed stream (the corrected mode's ranges and
the extra options'); :mod:`.pipeline` applies them. Kept apart so each draw's order, which fixes
what a seed gives, reads in one place."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qbi_desktop.core.augment import keras_compat


def _shift(rng: np.random.Generator, value: Any, size: int) -> float:
    """Keras' shift forms, drawn with a Generator: float uniform, int/list choice with a sign."""
    if not value:
        return 0.0
    if isinstance(value, list):
        t = float(value[int(rng.integers(len(value)))]) * (1.0 if rng.random() < 0.5 else -1.0)
    elif isinstance(value, int) and not isinstance(value, bool):
        # one of 0..n-1, drawn as a list of them would be (the same draw) without building it:
        # list(range(3e8)) took 11.8 GB
        t = float(rng.integers(value)) * (1.0 if rng.random() < 0.5 else -1.0)
    else:
        t = float(rng.uniform(-value, value))
    if max(value if isinstance(value, list) else [value]) < 1:
        t *= size
    return t


def _corrected_params(
    o: dict[str, Any], h: int, w: int, rng: np.random.Generator
) -> dict[str, Any]:
    rot = o["rotation_range"]
    zlo, zhi = keras_compat.keras_zoom_range(o["zoom_range"])
    zoom = (1.0, 1.0) if zlo == 1 and zhi == 1 else tuple(rng.uniform(zlo, zhi, 2))
    cs = o["channel_shift_range"]
    br = o["brightness_range"]
    return {
        "theta": float(rng.uniform(-rot, rot)) if rot else 0.0,
        # Corrected: the width range moves along columns (x), scaled by the width; height: rows.
        "tx": _shift(rng, o["width_shift_range"], w),
        "ty": _shift(rng, o["height_shift_range"], h),
        "shear": float(rng.uniform(-o["shear_range"], o["shear_range"]))
        if o["shear_range"]
        else 0.0,
        "zx": float(zoom[0]),
        "zy": float(zoom[1]),
        "flip_horizontal": bool(o["horizontal_flip"] and rng.random() < 0.5),
        "flip_vertical": bool(o["vertical_flip"] and rng.random() < 0.5),
        "channel_shift_intensity": float(rng.uniform(-cs, cs)) if cs else None,
        "brightness": float(rng.uniform(br[0], br[1])) if br is not None else None,
    }


class _LazyRng:
    """A Generator on ``make_seed()``, set up on first use (~25 us that a pipeline without extra
    options would spend for nothing on every sample)."""

    def __init__(self, make_seed):
        self._make_seed = make_seed
        self._rng: np.random.Generator | None = None

    def __getattr__(self, name: str) -> Any:
        if self._rng is None:
            self._rng = np.random.default_rng(self._make_seed())
        return getattr(self._rng, name)


def _extra_params(o: dict[str, Any], h: int, w: int, rng: np.random.Generator) -> dict[str, Any]:
    p: dict[str, Any] = {}
    if o["random_crop"]:
        lo, hi = o["random_crop"]["scale_range"]
        rlo, rhi = o["random_crop"]["ratio_range"]
        area = rng.uniform(lo, hi)
        ratio = math.exp(rng.uniform(math.log(rlo), math.log(rhi)))
        ch = min(1.0, math.sqrt(area / ratio))
        cw = min(1.0, math.sqrt(area * ratio))
        p["crop"] = [float(rng.uniform(0, 1 - ch)), float(rng.uniform(0, 1 - cw)), ch, cw]
    if o["elastic"]:
        p["elastic"] = {
            "alpha": float(o["elastic"]["alpha"]),
            "sigma": float(o["elastic"]["sigma"]),
            "seed": int(rng.integers(2**63)),
        }
    if o["contrast_range"] is not None:
        p["contrast"] = float(rng.uniform(*o["contrast_range"]))
    if o["gamma_range"] is not None:
        p["gamma"] = float(rng.uniform(*o["gamma_range"]))
    if o["gaussian_blur"]:
        p["blur_sigma"] = float(rng.uniform(*o["gaussian_blur"]["sigma_range"]))
    if o["poisson_noise"]:
        p["dose"] = float(rng.uniform(*o["poisson_noise"]["dose_range"]))
        p["counts_per_unit"] = float(o["poisson_noise"]["counts_per_unit"])
        p["poisson_seed"] = int(rng.integers(2**63))
    if o["gaussian_noise"]:
        p["noise_std"] = float(rng.uniform(*o["gaussian_noise"]["std_range"]))
        p["noise_seed"] = int(rng.integers(2**63))
    return p


def _plain(v: Any) -> Any:
    """numpy scalars -> Python numbers: parameters are JSON and compare equal after a round trip."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v
