"""The detector's blocked filters give exactly what whole-image filters give, at every size
(images smaller and larger than a block, odd sizes, both pixel types the detector works in)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from qbi_desktop.core.spots import detect_spots, separable_median
from qbi_desktop.core.spots.median import _window_max
from qbi_desktop.core.spots.noise import noise_vs_level, window_level_sigma

SHAPES = [(5, 5), (9, 40), (33, 65), (100, 3), (3, 100), (257, 129), (64, 64)]


def _median5_reference(image: np.ndarray, size: int) -> np.ndarray:
    """The separable 5-tap median written out with numpy's own median, one axis at a time."""
    s = max(1, (size - 1) // 4)
    out = image
    for axis in (1, 0):
        n = out.shape[axis]
        pad = [(0, 0), (0, 0)]
        pad[axis] = (2 * s, 2 * s)
        p = np.pad(out, pad, mode="symmetric")
        taps = [p[:, k * s : k * s + n] if axis == 1 else p[k * s : k * s + n] for k in range(5)]
        out = np.median(np.stack(taps), axis=0).astype(image.dtype)
    return out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_window_max_equals_scipy_maximum_filter(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    image = (rng.random(shape) * 4000).astype(dtype)
    for size in (2, 3, 5, 13, 25):
        expected = ndi.maximum_filter(image, size=size, mode="nearest")
        assert np.array_equal(_window_max(image, size), expected), size


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_separable_median_equals_the_median_of_its_taps(shape, dtype):
    rng = np.random.default_rng(sum(shape) + 1)
    image = (rng.random(shape) * 4000).astype(dtype)
    for size in (5, 9, 13):
        s = max(1, (size - 1) // 4)
        if min(shape) < 2 * s + 1:
            continue
        assert np.array_equal(separable_median(image, size), _median5_reference(image, size))


def test_indexed_sigma_map_equals_the_dense_one():
    rng = np.random.default_rng(3)
    image = rng.poisson(rng.uniform(50, 3000, (1, 300)), (300, 300)).astype(np.uint16)
    bg = separable_median(image, 13)
    levels, sigmas = noise_vs_level(image, bg)
    indexed = window_level_sigma(bg, levels, sigmas, 13, 0.3)
    dense = window_level_sigma(bg.astype(np.float32), levels, sigmas, 13, 0.3)
    flat = np.arange(image.size)
    assert indexed.index is not None and dense.index is None
    assert np.array_equal(indexed.at(flat), dense.at(flat))
    resid = image.astype(np.float32) - bg
    assert np.array_equal(indexed.above(resid, 2.5), dense.above(resid, 2.5))


def test_a_16_bit_frame_and_its_float_copy_give_the_same_spots():
    rng = np.random.default_rng(4)
    image = rng.poisson(800, (200, 230)).astype(np.uint16)
    for y, x in [(20, 30), (100, 100), (150, 200), (199, 0)]:
        image[y, x] += 900
    a = detect_spots(image)
    b = detect_spots(image.astype(np.float32))
    assert len(a.candidates) >= 4
    assert np.array_equal(a.labels, b.labels)
    assert [c.to_dict() for c in a.candidates] == [c.to_dict() for c in b.candidates]
