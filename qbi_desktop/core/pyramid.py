"""A lazily built multi-resolution pyramid over a :class:`~qbi_desktop.core.io.Plane`.

Level ``f`` holds the ``f x f`` block means of the plane (``f`` = 4, 8, 16, ...), down to a level
that fits in :data:`OVERVIEW_SIZE` pixels. Factor 2 is skipped on purpose: at 16384^2 it would
cost 128 MB, and reading every second pixel of the full resolution is indistinguishable on
screen. Levels are filled region by region (:meth:`Pyramid.update_region`), so the same code
serves a background build over a memory-mapped plane and a plane whose tiles are still being
decoded. Until a level is built the viewer reads the plane with a stride instead.
"""

from __future__ import annotations

import math

import numpy as np

from qbi_desktop.core.io import Plane
from qbi_desktop.core.jobs import Job, Progress

OVERVIEW_SIZE = 2048
FIRST_FACTOR = 4
ROWS_PER_CHUNK_BYTES = 32 * 1024**2


def pyramid_factors(height: int, width: int, overview_size: int = OVERVIEW_SIZE) -> list[int]:
    """Factors 4, 8, ... until the level fits ``overview_size``; empty for small images. No
    factor exceeds the shorter side: a 1 x 1 000 000 image would get levels of 0 rows."""
    factors = []
    factor = FIRST_FACTOR
    while max(height, width) > overview_size and min(height, width) // factor >= 1:
        factors.append(factor)
        if max(height, width) / factor <= overview_size:
            break
        factor *= 2
    return factors


def overview_step(height: int, width: int, view_width: float, view_height: float) -> int:
    """Stride of the overview a view of this size needs: a power of two, >= 1.

    No more pixels than the screen shows when the whole image fits (finer views come from a
    detail read), and never more than :data:`OVERVIEW_SIZE` along the longest side.
    """
    fit = min(max(1.0, view_width) / width, max(1.0, view_height) / height)
    step = 1 if fit >= 0.5 else 2 ** int(math.floor(math.log2(1.0 / fit)))
    longest = max(height, width)
    if longest > overview_size_limit():
        step = max(step, 1 << math.ceil(math.log2(longest / overview_size_limit())))
    return step


def overview_size_limit() -> int:
    return OVERVIEW_SIZE


def block_mean(block: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor x factor`` blocks of an (h, w[, c]) array; h and w multiples of factor."""
    h, w = block.shape[0] // factor, block.shape[1] // factor
    view = block[: h * factor, : w * factor].reshape(h, factor, w, factor, *block.shape[2:])
    return view.mean(axis=(1, 3), dtype=np.float32)


class Pyramid:
    """Block-mean levels of one plane, in the plane's dtype."""

    def __init__(self, plane: Plane, overview_size: int = OVERVIEW_SIZE):
        self.plane = plane
        self.factors = pyramid_factors(plane.height, plane.width, overview_size)
        self.levels: dict[int, np.ndarray] = {
            f: np.zeros((plane.height // f, plane.width // f, *plane.shape[2:]), plane.dtype)
            for f in self.factors
        }
        self.complete = not self.factors

    @property
    def nbytes(self) -> int:
        return sum(level.nbytes for level in self.levels.values())

    def level_for_step(self, step: int) -> int:
        """The coarsest built factor that is not coarser than ``step`` (1 = the plane itself)."""
        if not self.complete:
            return 1
        usable = [f for f in self.factors if f <= step]
        return max(usable) if usable else 1

    def read(self, y0: int, y1: int, x0: int, x1: int, step: int) -> tuple[np.ndarray, int]:
        """Region at about ``step`` plane pixels per output pixel; returns (array, true step)."""
        factor = self.level_for_step(step)
        if factor == 1:
            return self.plane.read(y0, y1, x0, x1, step), step
        level = self.levels[factor]
        sub = max(1, step // factor)
        region = level[y0 // factor : -(-y1 // factor) : sub, x0 // factor : -(-x1 // factor) : sub]
        return np.ascontiguousarray(region), factor * sub

    def update_region(self, y0: int, y1: int, x0: int, x1: int) -> None:
        """Recompute every level over the plane region (aligned outward to the coarsest block)."""
        if not self.factors:
            return
        top = max(self.factors)
        y0, x0 = (y0 // top) * top, (x0 // top) * top
        y1 = min(-(-y1 // top) * top, (self.plane.height // top) * top)
        x1 = min(-(-x1 // top) * top, (self.plane.width // top) * top)
        if y1 <= y0 or x1 <= x0:
            return
        source = self.plane.read(y0, y1, x0, x1)
        previous, prev_factor = source, 1
        for factor in self.factors:
            reduced = block_mean(previous, factor // prev_factor)
            level = self.levels[factor]
            ly0, lx0 = y0 // factor, x0 // factor
            target = level[ly0 : ly0 + reduced.shape[0], lx0 : lx0 + reduced.shape[1]]
            target[...] = _cast(reduced[: target.shape[0], : target.shape[1]], level.dtype)
            previous, prev_factor = reduced, factor

    def build_job(self) -> Job[Pyramid]:
        """Fill all levels from the plane in row chunks (for memory-mapped planes)."""
        if self.complete:
            return self
        top = max(self.factors)
        row_bytes = (
            self.plane.width
            * self.plane.dtype.itemsize
            * max(1, int(np.prod(self.plane.shape[2:])))
        )
        rows = max(top, (ROWS_PER_CHUNK_BYTES // max(1, row_bytes)) // top * top)
        height = (self.plane.height // top) * top
        for y in range(0, height, rows):
            self.update_region(y, min(height, y + rows), 0, self.plane.width)
            yield Progress(min(height, y + rows), height, "building overview")
        self.complete = True
        return self


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.dtype(dtype).kind in "ui":
        return np.rint(values).astype(dtype)
    return values.astype(dtype, copy=False)
