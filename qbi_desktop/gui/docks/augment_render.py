"""The Augment preview's computation (numpy only; it runs on the preview worker thread).

For one plane: a preview-sized copy made once (``make_base``), then per request the samples drawn
exactly as a batch run draws them, rendered to RGB (levels, colour map, mask overlay, box
outlines) so the GUI thread only wraps finished bytes in a QImage. The widgets that show the
result live in ``augment_preview``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from qbi_desktop.core.labels import DEFAULT_COLOURS
from qbi_desktop.core.levels import to_uint8


def mask_palette(colours: dict[int, tuple[int, int, int]] | None, top: int) -> np.ndarray:
    """(top + 1, 3) uint8 colours for label values 0..top (0 unused)."""
    table = np.zeros((max(top, 1) + 1, 3), np.uint8)
    for v in range(1, top + 1):
        table[v] = (colours or {}).get(v, DEFAULT_COLOURS[(v - 1) % len(DEFAULT_COLOURS)])
    return table


def render_rgb(
    image: np.ndarray,
    levels: tuple[float, float],
    lut: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    colours: dict[int, tuple[int, int, int]] | None = None,
    alpha: float = 0.45,
) -> np.ndarray:
    """The image as the canvas shows it (levels, colour map) with the mask blended over it:
    a C-contiguous (H, W, 3) uint8 array."""
    vmin, vmax = levels
    if image.ndim == 2:
        grey = to_uint8(image, vmin, vmax)
        rgb = lut[grey] if lut is not None else np.repeat(grey[..., None], 3, axis=2)
    else:
        chans = image[..., :3] if image.shape[2] >= 3 else np.repeat(image[..., :1], 3, axis=2)
        rgb = to_uint8(np.ascontiguousarray(chans), vmin, vmax)
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if mask is not None:
        labelled = mask > 0
        if labelled.any():
            m = mask.astype(np.int64, copy=False)
            palette = mask_palette(colours, int(m.max()))
            over = palette[m[labelled]].astype(np.float32)
            base = rgb[labelled].astype(np.float32)
            rgb[labelled] = (base * (1 - alpha) + over * alpha + 0.5).astype(np.uint8)
    return rgb


def abs_difference(sample: np.ndarray, original: np.ndarray) -> np.ndarray:
    """|sample - original| in the image's units (max over channels for colour), float32."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(sample.astype(np.float32) - original.astype(np.float32))
    # NaN/inf pixels (float radiographs with dead pixels) have no difference to show
    diff = np.nan_to_num(diff, nan=0.0, posinf=0.0, neginf=0.0)
    return diff.max(axis=2) if diff.ndim == 3 else diff


def describe_params(params: dict[str, Any], index: int, seed: int) -> str:
    """The parameters drawn for one sample, as the tooltip text."""
    lines = [f"Sample {index + 1}  (seed {seed}, copy {index})"]
    names = {
        "theta": ("rotation", "°"),
        "tx": ("shift x", " px"),
        "ty": ("shift y", " px"),
        "shear": ("shear", "°"),
        "zx": ("zoom x", ""),
        "zy": ("zoom y", ""),
        "channel_shift_intensity": ("channel shift", ""),
        "brightness": ("brightness", "×"),
        "blur_sigma": ("blur sigma", " px"),
        "gamma": ("gamma", ""),
        "contrast": ("contrast", "×"),
        "noise_std": ("noise std", ""),
        "dose": ("dose", ""),
    }
    for key, value in params.items():
        if value is None or key.endswith("_seed") or key == "counts_per_unit":
            continue
        label, unit = names.get(key, (key.replace("_", " "), ""))
        if key in ("flip_horizontal", "flip_vertical"):
            lines.append(f"{label.replace('_', ' ')}: {'yes' if value else 'no'}")
        elif key == "crop":
            top, left, h, w = value
            lines.append(f"crop: top {top:.3f}, left {left:.3f}, {h:.3f} x {w:.3f} of the image")
        elif key == "elastic":
            lines.append(f"elastic: alpha {value['alpha']:g} px, sigma {value['sigma']:g} px")
        elif isinstance(value, float):
            lines.append(f"{label}: {value:.4g}{unit}")
        else:
            lines.append(f"{label}: {value}{unit}")
    return "\n".join(lines)


@dataclass
class PreviewResult:
    """What one preview computation produced (everything the GUI needs to show it)."""

    original_rgb: np.ndarray
    original: np.ndarray  # preview-sized raw values, for the difference view
    samples: list[np.ndarray]  # raw augmented values
    sample_rgb: list[np.ndarray]
    params: list[dict[str, Any]]
    seed: int
    levels: tuple[float, float]
    lut: np.ndarray | None
    full_shape: tuple[int, ...]
    scale: float
    has_mask: bool
    seconds: float = 0.0


@dataclass
class PreviewBase:
    """The preview-sized copy of one plane, made once per image/slice and reused per request."""

    key: Any
    small: np.ndarray
    scale: float
    full_shape: tuple[int, ...]


def make_base(key: Any, array: np.ndarray, max_side: int) -> PreviewBase:
    from qbi_desktop.core.augment import preview_copy

    array = np.asarray(array)
    if not array.dtype.isnative:  # memory-mapped big-endian TIFFs: the engine wants native order
        array = array.astype(array.dtype.newbyteorder("="))
    small, _mask, scale = preview_copy(array, None, max_side)
    return PreviewBase(key, np.ascontiguousarray(small), scale, tuple(array.shape))


def small_mask(mask: np.ndarray | None, base: PreviewBase) -> np.ndarray | None:
    """The mask at preview size (block max, so one-pixel labels survive)."""
    if mask is None:
        return None
    if base.scale == 1.0:
        return np.asarray(mask)
    from qbi_desktop.core.augment import geometry

    f = int(round(1 / base.scale))
    out = geometry.block_reduce(np.asarray(mask), f, "max")
    return out[: base.small.shape[0], : base.small.shape[1]]


def compute_preview(
    base: PreviewBase,
    mask: np.ndarray | None,
    pipeline: Any,
    n: int,
    levels: tuple[float, float],
    lut: np.ndarray | None,
    colours: dict[int, tuple[int, int, int]] | None = None,
    item_index: int = 0,
    boxes: list | None = None,
) -> PreviewResult:
    """``n`` samples drawn exactly as a batch run draws copies 0..n-1 of ``item_index`` (full-size
    parameters applied to the preview copy), rendered for display. ``boxes`` (the Annotate
    panel's, full-size pixels) go through each sample's transform and are outlined on it."""
    from qbi_desktop.core.annotation.boxes import as_corner_array, draw_outlines
    from qbi_desktop.core.augment import sample_seed

    start = time.perf_counter()
    pipeline.check()
    sm = small_mask(mask, base)
    corners, names = as_corner_array(boxes or [], base.small.shape[1] / base.full_shape[1])
    small_boxes = corners if len(corners) else None
    samples, rgbs, params = [], [], []
    for k in range(n):
        p = pipeline.sample_params(base.full_shape, sample_seed(pipeline.seed, item_index, k))
        s = pipeline.apply(base.small, p, sm, small_boxes, scale=base.scale)
        samples.append(s.image)
        rgb = render_rgb(s.image, levels, lut, s.mask, colours)
        if s.boxes is not None:
            rgb = draw_outlines(np.array(rgb, copy=True), s.boxes, names)
        rgbs.append(rgb)
        params.append(p)
    original_rgb = render_rgb(base.small, levels, lut, sm, colours)
    if small_boxes is not None:
        original_rgb = draw_outlines(np.array(original_rgb, copy=True), small_boxes, names)
    return PreviewResult(
        original_rgb,
        base.small,
        samples,
        rgbs,
        params,
        pipeline.seed,
        levels,
        lut,
        base.full_shape,
        base.scale,
        sm is not None and bool(sm.any()),
        time.perf_counter() - start,
    )
