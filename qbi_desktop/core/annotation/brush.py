"""Brush footprints: the cached disc of a radius, its placement clipped to the image, and the
intensity-constrained brush (only pixels whose raw value or median residual passes a rule).
No Qt; used by the mask editor (:mod:`.masks`) and the canvas cursor."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

from qbi_desktop.core.annotation.mask_delta import MaskEditError, Rect


def _quantise_radius(radius: float) -> float:
    return max(0.0, round(float(radius) * 4.0) / 4.0)


@lru_cache(maxsize=512)
def _disc_cached(qradius: float) -> np.ndarray:
    half = int(math.floor(qradius))
    dy, dx = np.ogrid[-half : half + 1, -half : half + 1]
    # + a hair so that radius 1 includes the 4 neighbours exactly at distance 1
    disc = (dy * dy + dx * dx) <= qradius * qradius + 1e-9
    disc.setflags(write=False)
    return disc


def disc_footprint(radius: float) -> np.ndarray:
    """Boolean disc of the pixels whose centres lie within ``radius`` of the centre pixel.

    Shape (2R+1, 2R+1) with R = floor(radius); radius < 1 gives the single centre pixel.
    Read-only and cached per radius (quantised to 1/4 px).
    """
    return _disc_cached(_quantise_radius(radius))


def _clip_footprint(
    shape: tuple[int, int], cy: int, cx: int, fp: np.ndarray
) -> tuple[Rect, np.ndarray] | None:
    """Place a footprint centred at (cy, cx), clip it to the image; None if fully outside."""
    h, w = shape
    hy, hx = fp.shape[0] // 2, fp.shape[1] // 2
    y0, y1, x0, x1 = cy - hy, cy + hy + 1, cx - hx, cx + hx + 1
    cy0, cy1, cx0, cx1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if cy0 >= cy1 or cx0 >= cx1:
        return None
    return (cy0, cy1, cx0, cx1), fp[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]


def _round(v: float) -> int:
    return int(math.floor(float(v) + 0.5))


# -- intensity-constrained brush ----------------------------------------------------------------
@dataclass(frozen=True)
class ConstraintRule:
    """Which pixels under the constrained brush may be painted.

    ``kind="raw"``: the raw value passes ``threshold`` (>= when ``above``, else <=).
    ``kind="residual"``: the residual against a ``median_size`` median filter passes
    ``k`` x robust sigma (residual > k*sigma when ``above``, < -k*sigma otherwise). ``sigma``
    fixes the robust sigma; None estimates it (1.4826 x MAD of the residual) in a window of
    half-size ``sigma_window`` around the brush, cached per window cell, so the noise level
    follows the local brightness of the radiograph.
    """

    kind: str = "residual"
    threshold: float = 0.0
    k: float = 5.0
    median_size: int = 5
    above: bool = True
    sigma: float | None = None
    sigma_window: int = 32

    def __post_init__(self) -> None:
        if self.kind not in ("raw", "residual"):
            raise MaskEditError(f"constraint kind: expected 'raw' or 'residual', got {self.kind!r}")
        if self.median_size < 3 or self.median_size % 2 == 0:
            raise MaskEditError("constraint median size: must be an odd integer >= 3")


class _SigmaCache:
    """Robust sigma per window cell of one image, so consecutive dabs do not recompute it."""

    def __init__(self) -> None:
        self._image: np.ndarray | None = None
        self._values: dict[tuple[int, int, int, int], float] = {}

    def get(self, image: np.ndarray, cy: int, cx: int, rule: ConstraintRule) -> float:
        if image is not self._image:
            self._image, self._values = image, {}
        cell = max(8, rule.sigma_window)
        key = (cy // cell, cx // cell, rule.median_size, cell)
        if key not in self._values:
            if len(self._values) > 4096:
                self._values.clear()
            self._values[key] = _local_sigma(image, cy, cx, rule.median_size, cell)
        return self._values[key]


def _local_sigma(image: np.ndarray, cy: int, cx: int, size: int, half: int) -> float:
    """1.4826 x MAD of the median residual in a (2*half+1)^2 window centred on the cell."""
    h, w = image.shape
    c = max(8, half)
    # centre the window on the cell so every dab in the cell shares the estimate
    ccy, ccx = (cy // c) * c + c // 2, (cx // c) * c + c // 2
    y0, y1 = max(0, ccy - half), min(h, ccy + half + 1)
    x0, x1 = max(0, ccx - half), min(w, ccx + half + 1)
    patch = image[y0:y1, x0:x1].astype(np.float32)
    resid = patch - ndi.median_filter(patch, size=size, mode="reflect")
    mad = float(np.median(np.abs(resid - np.median(resid))))
    sigma = 1.4826 * mad
    if sigma <= 0:  # flat synthetic data or a saturated area: fall back to the spread
        sigma = float(resid.std())
    return max(sigma, 1e-6)


def constrained_footprint(
    image: np.ndarray,
    y: float,
    x: float,
    radius: float,
    rule: ConstraintRule,
    sigma_cache: _SigmaCache | None = None,
) -> tuple[Rect, np.ndarray] | None:
    """Pixels inside the disc at (y, x) that pass ``rule``: (rect, bool mask of the rect's shape).

    The residual is computed only on the disc's box padded by half the median size, so a dab
    costs about as much as the disc itself. Returns None when the disc is outside the image.
    """
    cy, cx = _round(y), _round(x)
    placed = _clip_footprint(image.shape[:2], cy, cx, disc_footprint(radius))
    if placed is None:
        return None
    (y0, y1, x0, x1), fp = placed
    if rule.kind == "raw":
        patch = image[y0:y1, x0:x1]
        ok = patch >= rule.threshold if rule.above else patch <= rule.threshold
        return (y0, y1, x0, x1), fp & ok
    h, w = image.shape[:2]
    pad = rule.median_size // 2
    py0, py1, px0, px1 = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
    big = image[py0:py1, px0:px1].astype(np.float32)
    med = ndi.median_filter(big, size=rule.median_size, mode="reflect")
    inner = (slice(y0 - py0, y1 - py0), slice(x0 - px0, x1 - px0))
    resid = big[inner] - med[inner]
    if rule.sigma is not None:
        sigma = float(rule.sigma)
    else:
        cache = sigma_cache if sigma_cache is not None else _SigmaCache()
        sigma = cache.get(image, cy, cx, rule)
    limit = rule.k * sigma
    ok = resid > limit if rule.above else resid < -limit
    return (y0, y1, x0, x1), fp & ok
