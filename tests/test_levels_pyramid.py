"""Window/level statistics and the overview pyramid."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.core.io import Plane
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.levels import percentile_levels, sample, to_uint8
from qbi_desktop.core.pyramid import Pyramid, pyramid_factors


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_percentiles_match_numpy(dtype):
    values = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, 200_001).astype(dtype)
    ours = percentile_levels(values, 0.5, 99.5)
    lo, hi = np.percentile(values, [0.5, 99.5], method="lower")
    assert abs(ours[0] - lo) <= 1 and abs(ours[1] - hi) <= 1


def test_float_percentiles_ignore_nan_and_inf():
    values = np.concatenate([np.linspace(0, 1, 1001), [np.nan, np.inf, -np.inf]]).astype(np.float32)
    vmin, vmax = percentile_levels(values, 1, 99)
    assert vmin == pytest.approx(0.01, abs=1e-3) and vmax == pytest.approx(0.99, abs=1e-3)


def test_constant_image_gets_a_usable_window():
    vmin, vmax = percentile_levels(np.full((10, 10), 500, np.uint16))
    assert vmax > vmin


def test_sample_percentiles_close_to_full_image():
    image = np.random.default_rng(1).gamma(2.0, 3000, (4096, 4096)).astype(np.uint16)
    full = np.percentile(image, [0.5, 99.5])
    sampled = percentile_levels(sample(image))
    assert abs(sampled[0] - full[0]) < 0.01 * (full[1] - full[0])
    assert abs(sampled[1] - full[1]) < 0.01 * (full[1] - full[0])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32])
def test_to_uint8_maps_window_linearly(dtype):
    values = np.array([[0, 50, 100, 150, 200]], dtype)
    np.testing.assert_array_equal(to_uint8(values, 50, 150), [[0, 0, 128, 255, 255]])


def test_pyramid_levels_are_block_means():
    image = np.random.default_rng(2).integers(0, 60000, (5000, 4100), dtype=np.uint16)
    pyramid = Pyramid(Plane(image))
    assert pyramid.factors == pyramid_factors(5000, 4100) == [4]
    run_job(pyramid.build_job())
    expected = image[:5000, :4100].reshape(1250, 4, 1025, 4).mean(axis=(1, 3))
    assert np.abs(pyramid.levels[4].astype(float) - expected).max() <= 0.5
    region, step = pyramid.read(400, 800, 0, 4100, 8)
    assert step == 8 and region.shape == (50, 513)


def test_pyramid_factors_reach_overview_size():
    assert pyramid_factors(2048, 2048) == []
    assert pyramid_factors(16384, 16384) == [4, 8]
    assert 16384 // max(pyramid_factors(16384, 16384)) <= 2048


def test_pyramid_fills_region_by_region():
    image = np.zeros((4096, 4096), np.uint16)
    pyramid = Pyramid(Plane(image))
    image[:1024, :1024] = 1000  # "decoded" tiles
    pyramid.update_region(0, 1024, 0, 1024)
    level = pyramid.levels[4]
    assert (level[:256, :256] == 1000).all() and (level[256:, :] == 0).all()
