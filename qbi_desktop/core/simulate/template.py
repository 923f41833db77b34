"""Template phantoms: objects cut from a real image, pasted into simulated radiographs.

Why: geometric phantoms look like plates and balls; a lab's real samples do not. Cutting the
objects out of one real radiograph and pasting them (shifted, flipped, rotated by 90 degrees)
into simulated frames gives realistic sample shapes with the simulator's exact truth.

How (simple on purpose):

1. The template's objects are the connected regions darker than an Otsu threshold (in a
   radiograph, the sample absorbs: it is darker than the open beam), or the non-zero labels
   of an object label image when one is given. Tiny regions (< ``min_area`` px) are dropped.
2. Each object's attenuation is ``-log(I / I0)`` inside it, with ``I0`` the median of the
   template's background (open-beam) pixels: the Beer-Lambert line integral the template shows.
3. Every simulated frame pastes ``params.object_count`` objects (chosen at random, with a
   random flip / quarter turn, at a random position that keeps them inside), then runs the
   simulator's own beam, blur, noise, dark and spot stages, so everything but the sample is
   exactly as in :func:`qbi_desktop.core.simulate.simulate_radiograph`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.simulate import params as sim_params
from qbi_desktop.core.simulate import radiograph as sim_radiograph


@dataclass
class TemplateObjects:
    """Attenuation patches (float32, 0 outside the object) cut from a template image."""

    patches: list[np.ndarray]
    source: str = "template"


def cut_objects(
    image: np.ndarray,
    labels: np.ndarray | None = None,
    min_area: int = 16,
    max_objects: int = 32,
    source: str = "template",
) -> TemplateObjects:
    """The objects of a real image as attenuation patches (see the module docstring)."""
    data = np.asarray(image, dtype=np.float64)
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        data = data[..., :3].mean(axis=-1)
    if data.ndim != 2 or min(data.shape) < 4:
        raise UserFacingError(f"{source}: template must be a 2-D image, got shape {data.shape}")
    finite = np.isfinite(data)
    if not finite.any():
        raise UserFacingError(f"{source}: template has no finite pixels")
    if labels is None:
        from skimage.filters import threshold_otsu

        values = data[finite]
        if values.min() == values.max():
            raise UserFacingError(f"{source}: template is flat, it shows no objects to cut")
        threshold = threshold_otsu(values)
        inside = finite & (data < threshold)
        labels, _n = ndimage.label(inside)
    else:
        labels = np.asarray(labels)
        if labels.shape != data.shape:
            raise UserFacingError(
                f"{source}: object labels {labels.shape} do not match the image {data.shape}"
            )
    background = finite & (labels == 0)
    if not background.any():
        raise UserFacingError(f"{source}: no background (open beam) left to normalise with")
    i0 = float(np.median(data[background]))
    if i0 <= 0:
        raise UserFacingError(f"{source}: background level {i0:g} must be positive")
    patches: list[np.ndarray] = []
    slices = ndimage.find_objects(labels.astype(np.int64))
    areas = ndimage.sum_labels(np.ones_like(data), labels, index=np.arange(1, len(slices) + 1))
    order = np.argsort(-np.asarray(areas))
    for k in order[:max_objects]:
        box = slices[k]
        if box is None or areas[k] < min_area:
            continue
        region = labels[box] == k + 1
        transmission = np.clip(np.nan_to_num(data[box] / i0, nan=1.0), 1e-4, 1.0)
        patch = np.where(region, -np.log(transmission), 0.0).astype(np.float32)
        if patch.max() > 0:
            patches.append(patch)
    if not patches:
        raise UserFacingError(
            f"{source}: found no object of at least {min_area} px to cut (objects must be "
            "darker than the open beam)"
        )
    return TemplateObjects(patches, source)


def simulate_template_radiograph(
    template: TemplateObjects, params: sim_params.SimulationParams | None = None, seed: int = 0
) -> sim_radiograph.SimulatedRadiograph:
    """A simulated radiograph whose sample is made of pasted template objects."""
    p = params if params is not None else sim_params.SimulationParams()
    seed = sim_radiograph._check_seed(seed)
    rng = sim_radiograph._stream(seed, sim_params._STREAM_OBJECTS)
    h, w = p.height, p.width
    attenuation = np.zeros((h, w), np.float32)
    best = np.zeros((h, w), np.float32)
    labels = np.zeros((h, w), np.uint16)
    records = []
    for k in range(p.object_count):
        n = int(rng.integers(len(template.patches)))
        patch = np.rot90(template.patches[n], int(rng.integers(4)))
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        ph, pw = min(patch.shape[0], h), min(patch.shape[1], w)
        patch = patch[:ph, :pw]
        y0 = int(rng.integers(0, h - ph + 1))
        x0 = int(rng.integers(0, w - pw + 1))
        attenuation[y0 : y0 + ph, x0 : x0 + pw] += patch
        region = best[y0 : y0 + ph, x0 : x0 + pw]
        wins = patch > np.maximum(region, sim_params._OBJECT_MIN_ATTENUATION)
        region[wins] = patch[wins]
        labels[y0 : y0 + ph, x0 : x0 + pw][wins] = k + 1
        records.append({"id": k + 1, "kind": "template", "template_object": n, "origin": [y0, x0]})
    transmission = np.exp(-attenuation, out=attenuation)
    return sim_radiograph.expose(transmission, labels, records, p, seed)
