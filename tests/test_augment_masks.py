"""Label masks keep the exact resampler's labels on every fast path: flips copy whole pixels, and
wide integer masks (int32, int64, uint32) are warped as uint8/uint16 when their labels fit.

The reference is always the exact resampler itself (``geometry.warp(..., resampler="exact")``),
on real neutron radiographs' spot masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.augment import Pipeline, cvwarp, geometry
from qbi_desktop.core.augment.pipeline import _geometry, sample_seed

RADIOGRAPHS = Path("/work/shared/data/radiographs")
MODES = ("nearest", "constant", "reflect", "wrap")
GEOMETRY = dict(
    rotation_range=30,
    width_shift_range=0.2,
    height_shift_range=0.2,
    shear_range=10,
    zoom_range=0.3,
    horizontal_flip=True,
)


def spot_labels(name: str = "edge20mm_0000.tif") -> np.ndarray:
    """Several labels on a real radiograph's bright spots, some of them on the outer ring
    (where the fill mode decides what lies beyond the edge)."""
    path = RADIOGRAPHS / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    image = tifffile.imread(path)
    spots = image > np.quantile(image, 0.99)
    labels = np.zeros(image.shape, np.uint16)
    labels[spots] = 1 + (np.flatnonzero(spots) % 5)
    labels[0, 10:20] = 2  # on the edge
    labels[-5:, -1] = 4
    return labels


def exact_warp(mask: np.ndarray, m: np.ndarray, mode: str) -> np.ndarray:
    return geometry.warp(mask, m, order=0, mode=mode, cval=0, resampler="exact")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("resampler", ["fast", "exact"])
def test_flipped_masks_are_the_exact_resamplers_and_new_arrays(mode, resampler):
    labels = spot_labels()
    image = labels.astype(np.float32)
    h, w = labels.shape
    pipe = Pipeline.from_options(fill_mode=mode, resampler=resampler)
    masks = {
        "uint8": labels.astype(np.uint8),
        "bool": labels > 0,
        "two channels": np.stack([labels, labels[::-1]], axis=-1),
    }
    for fh, fv in ((True, False), (False, True), (True, True), (False, False)):
        m = geometry.flip_matrix(h, w, fh, fv)
        expected_axes = tuple(a for a, f in ((0, fv), (1, fh)) if f)
        assert geometry.flip_axes(m, labels.shape) == expected_axes
        params = {"flip_horizontal": fh, "flip_vertical": fv}
        for name, mask in masks.items():
            out = pipe.apply(image, params, mask).mask
            src = mask.view(np.uint8) if mask.dtype == np.bool_ else mask
            reference = exact_warp(src, m, mode)
            assert out.dtype == mask.dtype and out.shape == mask.shape, name
            np.testing.assert_array_equal(out.view(reference.dtype), reference, err_msg=name)
            assert not np.shares_memory(out, mask)  # the caller may edit it freely
    # what only looks like a flip is warped: a flip shifted by a row, a flip with a tiny zoom
    shifted = geometry.flip_matrix(h, w, True, True)
    shifted[0, 2] += 1.0
    zoomed = geometry.flip_matrix(h, w, True, False)
    zoomed[1, 1] = -1.0000001
    for m in (shifted, zoomed):
        assert geometry.flip_axes(m, labels.shape) is None
        mask = masks["uint8"]
        warped = geometry.warp(mask, m, order=0, mode=mode, resampler=resampler, labels=True)
        np.testing.assert_array_equal(warped, exact_warp(mask, m, mode))


@pytest.mark.parametrize("name", ["edge20mm_0000.tif", "dc.tif"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32])
def test_wide_integer_masks_take_opencvs_path_with_the_exact_labels(name, dtype):
    """int32/int64/uint32 label masks (what labelling tools write) whose labels fit in 16 bits
    go through OpenCV's nearest path as uint8/uint16 and come back in their own dtype, with
    the exact resampler's labels, under the pipeline's random affines."""
    labels = spot_labels(name)
    h, w = labels.shape
    pipe = Pipeline.from_options(**GEOMETRY)
    matrices = [
        _geometry(pipe.options, pipe.sample_params((h, w), sample_seed(3, 0, k)), (h, w), 1.0)[0]
        for k in range(4)
    ]
    small = labels.astype(dtype)  # labels 1..5: warped as uint8
    large = small * 9000  # up to 45 000: warped as uint16
    for mask in (small, large):
        for m in matrices:
            out = cvwarp.warp_labels(mask, m, (h, w), "nearest")
            assert out is not None  # OpenCV's path, not the fallback
            assert out.dtype == mask.dtype
            np.testing.assert_array_equal(out, exact_warp(mask, m, "nearest"))
    # through the pipeline: the default resampler's masks are the exact pipeline's
    exact = pipe.with_options(resampler="exact")
    image = tifffile.imread(RADIOGRAPHS / name)
    for mode in ("nearest", "constant"):
        fast_mode, exact_mode = (p.with_options(fill_mode=mode) for p in (pipe, exact))
        for k in range(3):
            a = exact_mode.augment(image, large, copy_index=k).mask
            b = fast_mode.augment(image, large, copy_index=k).mask
            assert b.dtype == large.dtype
            np.testing.assert_array_equal(a, b, err_msg=f"{mode}, copy {k}")


def test_labels_that_do_not_fit_16_bits_stay_with_the_exact_resampler():
    labels = spot_labels()
    h, w = labels.shape
    m = np.array([[0.9, 0.2, 3.3], [-0.2, 0.9, 5.1], [0, 0, 1]])
    negative = labels.astype(np.int32)
    negative[negative == 3] = -1  # e.g. 'ignore' regions
    huge = labels.astype(np.int64) * 70_000
    for mask in (negative, huge):
        assert cvwarp.warp_labels(mask, m, (h, w), "nearest") is None
        via = geometry.warp(mask, m, order=0, mode="nearest", resampler="fast", labels=True)
        np.testing.assert_array_equal(via, exact_warp(mask, m, "nearest"))
        assert set(np.unique(via)) <= set(np.unique(mask))
    # a fill label beyond 16 bits, or not a whole number, is not narrowed either
    wide = labels.astype(np.int32)
    assert cvwarp.warp_labels(wide, m, (h, w), "constant", cval=70_000) is None
    assert cvwarp.warp_labels(wide, m, (h, w), "constant", cval=0.5) is None
