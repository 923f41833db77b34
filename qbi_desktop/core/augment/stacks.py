"""Stacks (multi-page TIFFs: slices of a volume, frames of a series) in batch augmentation.

A stack is one specimen seen several times; a scientist expects its augmented copy to be the same
stack moved the same way: every slice is augmented with the parameters drawn once for the copy
(one rotation, one shift, one flip, one brightness change for all slices), and the copy is
written as a stack of the same number of slices. Before this, a project item's stack came in as
its first page and its copy was one slice, without a word; a folder's stack came in as one image
with a slice axis taken for colour channels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

TIFF_SUFFIXES = (".tif", ".tiff")


def tiff_planes(path: str | Path) -> tuple[int, tuple[int, ...]]:
    """(number of image planes, shape of one plane) of a TIFF's first series; (1, ()) for a
    file that is not a TIFF or has a single plane. Reads the header only."""
    path = Path(path)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return 1, ()
    from qbi_desktop.core.imageheader import open_tiff

    opened = open_tiff(path)
    with opened.tif:
        series = opened.series
        if series is None or not series.pages:
            return 1, ()
        page_shape = tuple(int(v) for v in series.pages[0].shape)
        n = int(np.prod(series.shape)) // max(1, int(np.prod(page_shape)))
    return max(1, n), page_shape


def read_stack(path: str | Path) -> np.ndarray | None:
    """All planes of a multi-page TIFF as ``(planes, H, W[, C])``; None for a single image. A
    decoder's error is an :class:`ImageReadError` naming the file."""
    from qbi_desktop.core.errors import ImageReadError, UserFacingError
    from qbi_desktop.core.imageheader import read_tiff_checked

    try:
        n, page_shape = tiff_planes(path)
        if n < 2:
            return None
        return np.asarray(read_tiff_checked(Path(path), key=None)).reshape(n, *page_shape)
    except UserFacingError:
        raise
    except Exception as exc:  # any decoder error: name the file
        raise ImageReadError(path, f"cannot be read as an image ({exc})") from exc


def augment_planes(
    pipeline: Any,
    planes: np.ndarray,
    mask: np.ndarray | None,
    boxes: np.ndarray | None,
    item_index: int,
    copy_index: int,
) -> tuple[np.ndarray, Any]:
    """Augment every plane with the parameters drawn for (item, copy) on the first plane; the
    mask and boxes (they belong to the stack's first plane) follow once. Returns the augmented
    stack and the first plane's sample (parameters, mask, boxes)."""
    first = pipeline.augment(planes[0], mask, boxes, item_index=item_index, copy_index=copy_index)
    out = [first.image] + [
        pipeline.apply(plane, plane_params(first.params, k)).image
        for k, plane in enumerate(planes[1:], start=1)
    ]
    return np.stack(out), first


#: the parameters that seed a random intensity change drawn afresh for every pixel
_NOISE_SEEDS = ("noise_seed", "poisson_seed")


def plane_params(params: dict[str, Any], k: int) -> dict[str, Any]:
    """The parameters of plane ``k`` of a stack whose first plane got ``params``: the same
    geometry and intensity change, but noise of its own (each slice or frame is a measurement
    of its own: one noise pattern repeated on every slice is no noise a detector makes). The
    seeds are derived from the recorded ones and ``k``, so the manifest's parameters
    reproduce every plane."""
    if k == 0:
        return params
    out = dict(params)
    for key in _NOISE_SEEDS:
        if out.get(key) is not None:
            state = np.random.SeedSequence([int(out[key]), k]).generate_state(1, np.uint32)
            out[key] = int(state[0])
    return out
