"""Detector parameters: the defaults, their checks, and the checks of the input image."""

from __future__ import annotations

from typing import Any

import numpy as np

from qbi_desktop.core import limits
from qbi_desktop.core.errors import UserFacingError, human_size, listed

METHODS = ("median", "morph")
_EIGHT = np.ones((3, 3), dtype=bool)
#: ``lone="drop"`` leaves out candidates whose peak pixel stands alone (its 8 neighbours at the
#: background): what a hot pixel looks like. With no dark frame or series at hand it cuts the
#: real frames' 7 500 proposals to ~2 100 (object F1 0.17 -> 0.39), with a dark frame only
#: 3 250 -> 1 030 (F1 0.35 -> 0.71), but it also drops the ~10 % of gamma spots that are one
#: sharp pixel, so "keep" is the default.
LONE = ("keep", "drop")
#: widest median window: a larger one costs minutes per frame and says nothing a smaller one
#: would not
MAX_MEDIAN_SIZE = 999
WORK_BYTES_PER_PIXEL = 48  # peak working memory of a detection, measured on 2048^2


class SpotParamError(UserFacingError):
    """A detector parameter is out of range; the message names it."""


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
        "lone": "keep",
    },
    "morph": {
        "quantile": 0.99,
        "k": 5.0,
        "min_area": 1,
        "max_area": 400,
        "tile": 1024,
        "margin": 6,
        "lone": "keep",
    },
}


def _params(method: str, given: dict[str, Any]) -> dict[str, Any]:
    if method not in METHODS:
        raise SpotParamError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    p = dict(DEFAULTS[method])
    unknown = set(given) - set(p)
    if unknown:
        raise SpotParamError(
            f"{method} detector: unknown parameter(s) {listed(sorted(unknown))}; "
            f"known: {', '.join(sorted(p))}"
        )
    p.update({k: v for k, v in given.items() if v is not None})

    def positive(name: str, integer: bool = False) -> None:
        v = p[name]
        # inf is refused too: a threshold of infinite sigmas finds nothing, silently
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < float("inf"):
            raise SpotParamError(f"{name}: must be a number > 0, got {v!r}")
        if integer and int(v) != v:
            raise SpotParamError(f"{name}: must be a whole number, got {v!r}")

    positive("k")
    positive("min_area", True)
    positive("max_area", True)
    if p["lone"] not in LONE:
        raise SpotParamError(f"lone: expected 'keep' or 'drop', got {p['lone']!r}")
    if p["max_area"] < p["min_area"]:
        raise SpotParamError(f"max_area ({p['max_area']}) is below min_area ({p['min_area']})")
    if method == "median":
        positive("k_low")
        positive("block", True)
        size = p["size"]
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or not 3 <= size <= MAX_MEDIAN_SIZE
            or size % 2 == 0
        ):
            raise SpotParamError(
                f"size: must be an odd integer from 3 to {MAX_MEDIAN_SIZE}, got {size!r}"
            )
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
    if min(image.shape) < 3:
        raise SpotParamError(
            f"image: is {image.shape[0]} x {image.shape[1]} pixels; spot detection needs at "
            "least 3 x 3 (a spot is judged against the pixels around it)"
        )
    # the detectors hold about a dozen float32 copies of the image: check before allocating
    limit = limits.current().decoded_bytes
    need = image.size * WORK_BYTES_PER_PIXEL
    if need > limit:
        raise SpotParamError(
            f"image: {image.shape[0]} x {image.shape[1]} pixels need about {human_size(need)} "
            f"of working memory to detect spots, more than the limit of {human_size(limit)} "
            f"(decoded_bytes: raise it in Preferences or with {limits.ENV_VAR}); detect on a "
            "crop or a binned copy"
        )
    if not image.dtype.isnative:
        # ImageJ's big-endian TIFFs: the integer fast paths compare with native uint8/uint16,
        # so the same counts stored the other way round would take the float path
        image = image.astype(image.dtype.newbyteorder("="))
    return image
