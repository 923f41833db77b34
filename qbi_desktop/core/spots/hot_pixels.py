"""Hot pixels: bright in every frame of a camera; one frame cannot tell them from gamma spots.

On the real radiographs (edge20mm_*) pixels that are bright in every frame outnumber the gamma
spots ~8 to 1 and are most of a single frame's proposals. Two references find them:

* other frames of the same series (2 or more): the per-pixel median outvotes the gamma spots,
  which fall at random, and keeps everything that repeats (hot pixels, the camera's fixed
  pattern);
* a dark-current frame (one is enough; several are averaged by the median too): what the
  camera adds without any beam. On the real data it holds about half of the series' hot pixels
  (the others are brighter under the beam), so the series is the better reference.

:func:`hot_pixels` measures each reference pixel's *excess* over its local background (a 13 px
separable median), and ``detect_spots(..., exclude=HotPixels)`` subtracts that excess from the
frame before detecting: a hot pixel vanishes, while a gamma spot that lands on one keeps its
own height above it (excluding the pixels outright, :func:`hot_pixel_map`, loses those spots).
Measured on edge20mm_0000..0003 against truth from the other frames: object F1 0.17 with no
reference, 0.74 excluding the k = 5 map, ~0.91 subtracting the excess (see
tests/benchmarks/bench_spots.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.spots.median import _work_dtype, separable_median
from qbi_desktop.core.spots.noise import noise_vs_level, sigma_from_level
from qbi_desktop.core.spots.params import SpotParamError

#: pixels whose excess is above this many robust sigmas of the reference are subtracted
EXCESS_K = 2.0
#: and above this many they are counted (and shown) as hot pixels
HOT_K = 5.0


@dataclass
class HotPixels:
    """The camera's bright pixels, as found in reference frames."""

    mask: np.ndarray  # bool (H, W): clearly hot (> HOT_K sigma): what the user is told about
    excess: np.ndarray  # float32 (H, W): counts above the local background, 0 elsewhere
    frames: int  # how many reference images they come from
    # (flat indices, values) of the non-zero excess, found once: a scan subtracts it from
    # every frame, and the few pixels it holds are much cheaper than the whole image
    sparse: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def sparse_excess(self) -> tuple[np.ndarray, np.ndarray]:
        if self.sparse is None:
            at = np.flatnonzero(self.excess)
            self.sparse = (at, self.excess.reshape(-1)[at])
        return self.sparse

    @property
    def shape(self) -> tuple[int, ...]:
        return self.mask.shape

    @property
    def count(self) -> int:
        return int(self.mask.sum())


def _stack(images: np.ndarray | list[np.ndarray]) -> np.ndarray:
    if isinstance(images, list | tuple):
        shapes = {np.shape(a) for a in images}
        if len(shapes) > 1:
            raise SpotParamError(
                f"hot pixels: the reference images differ in shape ({', '.join(map(str, shapes))})"
            )
    stack = np.asarray(images)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.ndim != 3 or stack.shape[0] == 0 or stack[0].size == 0:
        raise SpotParamError(
            f"hot pixels: need one image or a stack of images, got shape {stack.shape}"
        )
    if not (np.issubdtype(stack.dtype, np.integer) or np.issubdtype(stack.dtype, np.floating)):
        raise SpotParamError(f"hot pixels: pixel type {stack.dtype} is not numeric")
    return stack


def _residual(images) -> tuple[np.ndarray, np.ndarray]:
    """(reference - its 13 px median background, robust sigma per pixel) of the reference."""
    stack = _stack(images)
    ref = stack[0] if stack.shape[0] == 1 else np.median(stack, axis=0)
    work = _work_dtype(np.asarray(ref))
    if np.issubdtype(work.dtype, np.floating) and not np.isfinite(work).all():
        # NaN/inf pixels tell nothing about hot pixels: fill them with the reference's median
        finite = np.isfinite(work)
        fill = np.median(work[finite]) if finite.any() else 0.0
        work = np.where(finite, work, fill).astype(np.float32)
    bg = separable_median(work, 13)
    resid = work.astype(np.float32) - bg
    sig = sigma_from_level(bg, *noise_vs_level(work, bg, residual=resid))
    return resid, sig


def hot_pixels(
    images: np.ndarray | list[np.ndarray], k: float = HOT_K, k_excess: float = EXCESS_K
) -> HotPixels:
    """The hot pixels of ``images`` (one dark frame, or a stack (N, H, W) of frames).

    ``mask``: the per-pixel median stands more than ``k`` robust sigma above its separable
    13 px median background; ``excess``: that height wherever it passes ``k_excess`` sigma
    (weaker fixed-pattern pixels still flood a frame's proposals when a gamma spot's noise adds
    to them). Pass the result as ``exclude=`` to :func:`detect_spots`.
    """
    resid, sig = _residual(images)
    excess = np.where(resid > float(k_excess) * sig, resid, 0).astype(np.float32)
    frames = 1 if np.ndim(images) == 2 else len(images)
    return HotPixels(resid > float(k) * sig, excess, frames)


def hot_pixel_map(images: np.ndarray | list[np.ndarray], k: float = HOT_K) -> np.ndarray:
    """Pixels that are bright outliers in every one of ``images``: the camera's hot pixels.

    ``images``: one dark-current image, or a stack (N, H, W) of frames of the same camera
    (e.g. other projections of a series; with 3 or more, gamma spots, which fall at random,
    are outvoted by the per-pixel median). A pixel is hot when the per-pixel median exceeds its
    separable 13 px median background by more than ``k`` robust sigma at its level.
    Passed as ``exclude=`` to :func:`detect_spots` these pixels cannot start a spot;
    :func:`hot_pixels` (subtracting each pixel's excess) keeps more of the real spots.
    """
    resid, sig = _residual(images)
    return resid > float(k) * sig


def hot_pixels_job(paths: list[str | Path], shape: tuple[int, int] | None = None) -> Job[HotPixels]:
    """Job: read the reference frames ``paths`` and return their :class:`HotPixels`.

    One dark-current frame is enough; frames of the series should be 2 or more (with one, its
    own gamma spots are taken for hot pixels: harmless holes, but counted). All must be 2-D and
    of one shape (and of ``shape``, the image's, when given); a file that is not is named.
    """
    from qbi_desktop.core.io import read_image

    names = [str(p) for p in paths]
    if not names:
        raise UserFacingError("Hot pixels: choose a dark-current frame or other frames")
    frames: list[np.ndarray] = []
    for i, name in enumerate(names):
        yield Progress(i, len(names) + 1, f"reading {Path(name).name}")
        frame = np.asarray(read_image(name))
        if frame.ndim != 2:
            raise ImageReadError(
                Path(name), f"has shape {frame.shape}; hot pixels need 2-D greyscale frames"
            )
        want = frames[0].shape if frames else shape
        if want is not None and frame.shape != tuple(want):
            first = names[0] if frames else "the image"
            raise UserFacingError(
                f"Hot pixels: {name}: has shape {frame.shape}, but {first} has "
                f"{tuple(want)}; the frames must come from the same detector"
            )
        frames.append(frame)
    yield Progress(len(names), len(names) + 1, "hot-pixel map")
    return hot_pixels(np.stack(frames))
