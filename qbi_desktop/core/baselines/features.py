"""Inputs of a run: images read from the dataset and turned into feature rows, blockwise."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.baselines.config import (
    AUTO_RESIZE,
    GIL_BLOCK_BYTES,
    RESIZE_HINT,
    BaselineConfig,
    _item_names,
    _name,
)
from qbi_desktop.core.errors import ImageSizesDiffer, UserFacingError, listed

if TYPE_CHECKING:
    from qbi_desktop.core.baselines.plan import _Plan


def _block_rows(row_bytes: int) -> int:
    return max(1, GIL_BLOCK_BYTES // max(1, row_bytes))


def take_rows(array: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``array[positions]`` along the first axis without holding the GIL for long: a view for
    consecutive positions, otherwise a copy gathered block by block."""
    positions = np.asarray(positions, dtype=np.int64)
    n = positions.size
    if n and positions[-1] - positions[0] == n - 1 and np.all(np.diff(positions) == 1):
        return array[positions[0] : positions[0] + n]
    out = np.empty((n, *array.shape[1:]), dtype=array.dtype)
    step = _block_rows(int(np.prod(array.shape[1:], dtype=np.int64)) * array.itemsize)
    for s in range(0, n, step):
        np.take(array, positions[s : s + step], axis=0, out=out[s : s + step])
    return out


def _masks(dataset: Any) -> list[np.ndarray | None]:
    getter = getattr(dataset, "masks", None)
    masks = getter() if callable(getter) else None
    if masks is None:
        masks = [dataset.item(i).mask for i in range(len(dataset))]
    return list(masks)


def _load_inputs(config: BaselineConfig, dataset: Any, plan: _Plan) -> None:
    rows = np.unique(np.concatenate([np.concatenate([f.train, f.test]) for f in plan.folds]))
    if plan.task == "segmentation":
        plan.rows = rows
        plan.images = {int(i): np.asarray(dataset.item(int(i)).image) for i in rows}
        for i in rows:
            img, mask = plan.images[int(i)], np.asarray(plan.masks[int(i)])
            if img.shape[:2] != mask.shape[:2]:
                raise UserFacingError(
                    f"{_name(dataset)}: {_item_names(dataset, [i])} has a {mask.shape[:2]} "
                    f"mask for a {img.shape[:2]} image"
                )
        return
    images = _images(config, dataset, rows, plan)
    plan.rows = rows
    plan.X, note = image_features(images, config.downsample)
    if images.dtype.kind in "fc":
        bad = ~np.isfinite(plan.X).all(axis=1)
        if bad.any():
            first = _item_names(dataset, rows[bad][:5])
            raise UserFacingError(
                f"{_name(dataset)}: {int(bad.sum())} images contain NaN or infinite pixel values "
                f"({first}{', ...' if bad.sum() > 5 else ''}); fix or exclude them"
            )
    if note:
        plan.warnings.append(note)


def _images(config: BaselineConfig, dataset: Any, rows: np.ndarray, plan: _Plan) -> np.ndarray:
    """The images of dataset ``rows``, all of one size: as they are, or resized (``resize_to``:
    a size, or ``"auto"`` = as they are when they share a size, else :func:`auto_size`).
    With ``"auto"`` the size used replaces it in ``plan.config``, so the result reproduces."""
    size = config.resize_to
    if size is None or size == AUTO_RESIZE:
        try:
            images = np.asarray(dataset.images())
        except ImageSizesDiffer as exc:  # only this one is helped by resizing
            if size is None:
                raise UserFacingError(f"{exc} {RESIZE_HINT}") from exc
            images = None  # auto: read and resize item by item below
        except ValueError:  # a list of arrays of different shapes
            images = None
        if images is not None and images.dtype != object and images.ndim >= 3:
            if size == AUTO_RESIZE:
                plan.config = dataclasses.replace(plan.config, resize_to=None)
            return take_rows(images, rows)
        arrays = (
            [np.asarray(images[int(i)]) for i in rows]
            if images is not None and images.dtype == object and len(images) == len(dataset)
            else [np.asarray(dataset.item(int(i)).image) for i in rows]
        )
        shapes = Counter(a.shape[:2] for a in arrays)
        if size is None:
            sizes = listed(f"{h}x{w}" for h, w in sorted(shapes))
            raise UserFacingError(
                f"{_name(dataset)}: images have different sizes ({sizes}); choose a common "
                f"size to resize to {RESIZE_HINT}"
            )
        size = auto_size([a.shape for a in arrays])
        plan.config = dataclasses.replace(plan.config, resize_to=size)
        plan.warnings.append(_auto_note(shapes, size))
        return _resized(arrays, size, dataset)
    return _resized((dataset.item(int(i)).image for i in rows), size, dataset)


def auto_size(shapes: list[tuple[int, ...]]) -> tuple[int, int]:
    """The size ``resize_to="auto"`` resizes images of different sizes to: the one the
    Browser's suggestions use (:func:`qbi_desktop.core.quality.features.common_size`), the most
    common height x width scaled down so its longer side is at most 32 pixels (``MAX_SIDE``)."""
    from qbi_desktop.core.quality.features import common_size

    return common_size(list(shapes))


def _auto_note(shapes: Counter, size: tuple[int, int]) -> str:
    from qbi_desktop.core.quality.features import MAX_SIDE

    listed = ", ".join(f"{n} at {h}x{w}" for (h, w), n in shapes.most_common(4))
    more = f" and {len(shapes) - 4} more sizes" if len(shapes) > 4 else ""
    resized = sum(n for s, n in shapes.items() if s != size)
    return (
        f"images of {len(shapes)} sizes ({listed}{more}): {resized} resized to "
        f"{size[0]}x{size[1]} for the features (resize to: auto, the most common size scaled "
        f"to at most {MAX_SIDE} pixels a side)"
    )


def _resized(images: Any, size: tuple[int, int], dataset: Any) -> np.ndarray:
    """float32 images at ``size`` (height, width), resized bilinearly with anti-aliasing."""
    from skimage.transform import resize

    h, w = size
    out = []
    for img in images:
        img = np.asarray(img, dtype=np.float32)
        if img.shape[:2] != (h, w):
            img = resize(
                img, (h, w, *img.shape[2:]), order=1, preserve_range=True, anti_aliasing=True
            ).astype(np.float32)
        out.append(img)
    shapes = {im.shape for im in out}
    if len(shapes) > 1:
        raise UserFacingError(
            f"{_name(dataset)}: images differ in channels after resizing ({sorted(shapes)})"
        )
    return np.stack(out)


def image_features(images: np.ndarray, downsample: int = 1) -> tuple[np.ndarray, str]:
    """Raw pixels as float32 feature rows, block-mean downsampled by an integer factor.

    Returns the features and a note when downsampling had to crop a remainder. Pixel values are
    kept as they are (no /255): integer pixels then give exact distances, so kNN ties resolve
    the same way in any chunking.
    """
    images = np.asarray(images)
    note = ""
    n = len(images)
    if images.ndim < 2:
        raise UserFacingError(f"features: expected images (N, H, W), got shape {images.shape}")
    h, w = images.shape[1], images.shape[2] if images.ndim >= 3 else 1
    if downsample > 1:
        hh, ww = h // downsample, w // downsample
        if hh == 0 or ww == 0:
            raise UserFacingError(
                f"downsample: factor {downsample} is larger than the {h}x{w} images"
            )
        if (hh * downsample, ww * downsample) != (h, w):
            note = (
                f"downsampling {h}x{w} images by {downsample} drops the last "
                f"{h - hh * downsample} rows and {w - ww * downsample} columns"
            )
    else:
        hh, ww = h, w
    channels = int(np.prod(images.shape[3:], dtype=np.int64))
    out = np.empty((n, hh * ww * channels), dtype=np.float32)
    # Block by block (see GIL_BLOCK_BYTES): the cast to float32 of a whole dataset at once
    # would hold the GIL for tens of milliseconds.
    step = _block_rows(h * w * channels * 4)
    for s in range(0, n, step):
        block = images[s : s + step]
        if downsample > 1:
            cropped = block[:, : hh * downsample, : ww * downsample].astype(np.float32)
            shape = (len(block), hh, downsample, ww, downsample, *images.shape[3:])
            block = cropped.reshape(shape).mean(axis=(2, 4))
        out[s : s + step] = block.reshape(len(block), -1)
    return out, note
