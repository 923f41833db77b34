"""Hot pixels: bright in every frame of a camera; one frame cannot tell them from gamma spots."""

from __future__ import annotations

import numpy as np

from qbi_desktop.core.spots.median import _work_dtype, separable_median
from qbi_desktop.core.spots.noise import noise_vs_level, sigma_from_level
from qbi_desktop.core.spots.params import SpotParamError


def hot_pixel_map(images: np.ndarray | list[np.ndarray], k: float = 5.0) -> np.ndarray:
    """Pixels that are bright outliers in every one of ``images``: the camera's hot pixels.

    ``images``: one dark-current image, or a stack (N, H, W) of frames of the same camera
    (e.g. other projections of a series; with 3 or more, gamma spots, which fall at random,
    are outvoted by the per-pixel median). A pixel is hot when the per-pixel median exceeds its
    separable 13 px median background by more than ``k`` robust sigma at its level.

    Why: a hot pixel looks exactly like a one-pixel gamma spot in a single frame; on the real
    radiographs they outnumber the gamma spots ~8 to 1. Pass the map as ``exclude=`` to
    :func:`detect_spots`.
    """
    stack = np.asarray(images)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3 or stack.shape[0] == 0 or stack[0].size == 0:
        raise SpotParamError(
            f"hot pixels: need one image or a stack of images, got shape {stack.shape}"
        )
    ref = stack[0] if stack.shape[0] == 1 else np.median(stack, axis=0)
    work = _work_dtype(np.asarray(ref))
    bg = separable_median(work, 13)
    resid = work.astype(np.float32) - bg
    sig = sigma_from_level(bg, *noise_vs_level(work, bg, residual=resid))
    return resid > float(k) * sig
