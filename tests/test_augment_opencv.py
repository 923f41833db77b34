"""The OpenCV resampler (pipeline option ``resampler="opencv"``, and the default ``"fast"`` where
OpenCV is installed) against the exact one.

The bound: OpenCV may round a sample position to 1/32 pixel per axis. A bilinear interpolant
changes along an axis by at most the largest difference between neighbouring pixels on that axis
(including the fill beyond the edge), so moving a position by <= 1/32 px per axis changes a value
by at most (Gr + Gc) / 32; integer outputs add one level of rounding, float32 outputs a little
float rounding. Point-wise steps (noise, brightness, gamma) see the same warped values, so where
positions are exact (integer shifts, flips) the outputs must be identical.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from scipy import ndimage

from qbi_desktop.core.augment import Pipeline, cvwarp
from qbi_desktop.core.augment.batch import augment_dataset, open_source
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job

try:
    from tests.conftest import REPO, open_and_wait
except ImportError:  # tests/ as rootdir
    from conftest import REPO, open_and_wait

MODES = ("nearest", "constant", "reflect", "wrap")
GEOMETRY = dict(
    rotation_range=30,
    width_shift_range=0.3,
    height_shift_range=0.3,
    shear_range=10,
    zoom_range=0.3,
    horizontal_flip=True,
    vertical_flip=True,
)
_NP_PAD = {"nearest": "edge", "constant": "constant", "reflect": "symmetric", "wrap": "wrap"}


def smooth_image(dtype, channels: int = 0, shape=(56, 70)) -> np.ndarray:
    """A smooth image spanning most of the dtype's range (float32: [0, 1])."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    planes = [
        0.5 + 0.45 * np.sin(yy / (6.0 + k) + k) * np.cos(xx / (5.0 + k))
        for k in range(channels or 1)
    ]
    unit = np.stack(planes, axis=-1) if channels else planes[0]
    if np.dtype(dtype).kind == "f":
        return unit.astype(dtype)
    return np.rint(unit * np.iinfo(dtype).max).astype(dtype)


def rounding_bound(image: np.ndarray, mode: str, cval: float) -> float:
    """(Gr + Gc) / 32 + the output's rounding, with the fill included in the differences."""
    x = image.astype(np.float64)
    if x.ndim == 2:
        x = x[..., None]
    pad = ((2, 2), (2, 2), (0, 0))
    kw = {"constant_values": cval} if mode == "constant" else {}
    p = np.pad(x, pad, mode=_NP_PAD[mode], **kw)
    grad = np.abs(np.diff(p, axis=0)).max() + np.abs(np.diff(p, axis=1)).max()
    rounding = 1.0 if image.dtype.kind in "ui" else 1e-5 * max(1.0, np.abs(x).max())
    return grad / 32 + rounding


def both(options: dict) -> tuple[Pipeline, Pipeline]:
    return (
        Pipeline.from_options(resampler="exact", **options),
        Pipeline.from_options(resampler="opencv", **options),
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [0, 3])
def test_opencv_equals_exact_within_the_position_rounding_bound(mode, dtype, channels):
    image = smooth_image(dtype, channels)
    cval = 0.3 * (1.0 if np.dtype(dtype).kind == "f" else np.iinfo(dtype).max)
    cval = cval if np.dtype(dtype).kind == "f" else float(round(cval))
    exact, fast = both(dict(GEOMETRY, fill_mode=mode, cval=cval))
    bound = rounding_bound(image, mode, cval)
    span = float(image.max()) - float(image.min())
    assert bound < 0.05 * span  # the comparison says something
    for k in range(4):
        a = exact.augment(image, copy_index=k).image
        b = fast.augment(image, copy_index=k).image
        assert b.dtype == image.dtype and b.shape == image.shape
        assert not np.array_equal(a, image)  # the geometry did move the image
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64)).max()
        assert diff <= bound, f"copy {k}: {diff} > {bound}"


@pytest.mark.parametrize("mode", ["nearest", "reflect", "wrap"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [0, 3])
def test_fill_modes_hold_near_and_far_beyond_the_edge(mode, dtype, channels):
    """Fill modes other than 'constant' are resampled from a copy padded as far as the sampled
    positions reach (OpenCV's constant border is its fast path), or with OpenCV's own border
    where that copy would be too large: both within the bound everywhere, the fill included
    (a rotation reaching just past the edges, a zoom out to a third, shifts of 2.5 images)."""
    image = smooth_image(dtype, channels)
    cval = 0.3 * (1.0 if np.dtype(dtype).kind == "f" else np.iinfo(dtype).max)
    exact, fast = both(dict(fill_mode=mode, cval=float(round(cval, 3))))
    bound = rounding_bound(image, mode, cval)
    h, w = image.shape[:2]
    cases = [
        {"theta": 7.0, "tx": 0.4, "ty": -0.3},
        {"theta": 25.0, "zx": 3.0, "zy": 2.6, "flip_horizontal": True},
        {"theta": -12.0, "tx": 2.5 * w, "ty": -2.5 * h, "shear": 8.0},
    ]
    for params in cases:
        a = exact.apply(image, params).image
        b = fast.apply(image, params).image
        assert b.dtype == image.dtype and b.shape == image.shape
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64)).max()
        assert diff <= bound, f"{params}: {diff} > {bound}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [0, 3])
@pytest.mark.parametrize("order", [0, 1])
def test_integer_shifts_and_flips_are_identical_point_wise_steps_included(
    mode, dtype, channels, order
):
    image = smooth_image(dtype, channels, shape=(40, 52))
    options = dict(fill_mode=mode, cval=3.0, interpolation_order=order)
    exact, fast = both(options)
    params = {
        "tx": 9.0,  # beyond the edge: the fill mode shows
        "ty": -6.0,
        "flip_horizontal": True,
        "flip_vertical": order == 1,
        "brightness": 1.07,
        "noise_std": 0.02 if dtype == np.float32 else 40.0,
        "noise_seed": 12345,
    }
    if dtype != np.float32:
        params["gamma"] = 0.8
    a = exact.apply(image, params).image
    b = fast.apply(image, params).image
    assert b.dtype == image.dtype
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, image)


@pytest.mark.parametrize("gather", ["opencv LUT", "numpy take"])
@pytest.mark.parametrize("shape", [(61, 77), (301, 333)])  # one band; several, odd width
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_noise_alone_is_identical_and_saturates_like_the_exact_path(
    dtype, shape, gather, monkeypatch
):
    """Noise with no other point-wise step is added to the warped values in the image's dtype
    (one saturating add, the noise drawn band by band): under integer shifts and flips the
    result equals the exact path's float round/clip pixel for pixel, including values pushed
    beyond 0 and the dtype's top. The noise is looked up by OpenCV's 16-bit LUT, or by numpy
    where an OpenCV cannot (4.x): the same values either way."""
    assert cvwarp._lut16()  # the OpenCV the tests install has the 16-bit LUT
    if gather == "numpy take":
        monkeypatch.setattr(cvwarp, "_lut16", lambda: False)
    top = np.iinfo(dtype).max
    image = smooth_image(dtype, shape=shape)
    image[:8] = 0
    image[-8:] = top
    exact, fast = both(dict(fill_mode="nearest"))
    for k, std in enumerate((0.7, 0.1 * top)):
        params = {"tx": 5.0, "ty": -3.0, "flip_horizontal": k == 1, "noise_std": std}
        params["noise_seed"] = 99 + k
        a = exact.apply(image, params).image
        b = fast.apply(image, params).image
        np.testing.assert_array_equal(a, b)
        moved = exact.apply(image, {k: v for k, v in params.items() if "noise" not in k}).image
        noise = b.astype(np.float64) - moved
        assert (b == 0).any() and (b == top).any()
        assert 0.5 * std < noise[8:-8].std() < 1.5 * std


@pytest.mark.parametrize("resampler", ["exact", "opencv"])
def test_order_0_keeps_noise_and_brightness(resampler):
    # (an order-0 resample once dropped the fused point-wise steps: noise and brightness vanished)
    image = smooth_image(np.uint16)
    base = dict(rotation_range=20, interpolation_order=0, resampler=resampler)
    plain = Pipeline.from_options(**base).augment(image).image
    bright = Pipeline.from_options(brightness_range=[0.5, 0.5], **base).augment(image).image
    noisy = Pipeline.from_options(gaussian_noise={"std_range": [500, 500]}, **base)
    diff = noisy.augment(image).image.astype(np.float64) - plain
    np.testing.assert_allclose(bright, np.rint(plain * 0.5), atol=1)
    assert 300 < diff.std() < 700


def test_uint16_keeps_16_bit_levels():
    ramp = np.tile(np.linspace(0, 65535, 300), (64, 1)).astype(np.uint16)
    fast = Pipeline.from_options(resampler="opencv", rotation_range=15, seed=3)
    out = fast.augment(ramp).image
    assert out.dtype == np.uint16
    assert len(np.unique(out)) > 256  # no 8-bit step anywhere
    assert out.max() > 60000


def test_masks_and_boxes_are_the_exact_resamplers():
    image = smooth_image(np.uint16, shape=(80, 96))
    mask = np.zeros(image.shape, np.uint8)
    mask[10:30, 20:50] = 1
    mask[50:70, 60:90] = 7
    mask[40, 40] = 3  # a one-pixel spot
    boxes = np.array([[20, 10, 50, 30, 1], [60, 50, 90, 70, 7]], dtype=np.float64)
    for mode in MODES:
        exact, fast = both(dict(GEOMETRY, fill_mode=mode, interpolation_order=1))
        for k in range(3):
            a = exact.augment(image, mask, boxes, copy_index=k)
            b = fast.augment(image, mask, boxes, copy_index=k)
            np.testing.assert_array_equal(a.mask, b.mask)
            np.testing.assert_array_equal(a.boxes, b.boxes)
            assert set(np.unique(b.mask)) <= {0, 1, 3, 7}
    bool_mask = mask > 0
    exact, fast = both(GEOMETRY)
    a, b = exact.augment(image, bool_mask), fast.augment(image, bool_mask)
    assert b.mask.dtype == np.bool_
    np.testing.assert_array_equal(a.mask, b.mask)


def test_spot_and_empty_masks_are_the_exact_resamplers():
    """Spot masks (one-pixel spots, spots next to the edge, labels touching it) and a mask with
    no labels (returned as zeros without a warp) are pixel for pixel the exact resampler's."""
    rng = np.random.default_rng(21)
    image = smooth_image(np.uint16, shape=(150, 170))
    spots = np.zeros(image.shape, np.uint8)
    for r, c in rng.integers(20, 60, (6, 2)):
        spots[r : r + rng.integers(1, 4), c + 60 : c + 60 + rng.integers(1, 4)] = rng.integers(1, 9)
    spots[55, 130] = 4  # a one-pixel spot
    near_edge = np.zeros_like(spots)
    near_edge[1:4, 160:169] = 2  # one pixel from the edges
    touching = near_edge.copy()
    touching[0, 100] = 5
    masks = {"spots": spots, "near edge": near_edge, "touching": touching}
    masks["empty"] = np.zeros_like(spots)
    exact, fast = both(dict(GEOMETRY, zoom_range=0.6, fill_mode="nearest"))
    for name, mask in masks.items():
        labelled = 0
        for k in range(12):
            a = exact.augment(image, mask, copy_index=k).mask
            b = fast.augment(image, mask, copy_index=k).mask
            np.testing.assert_array_equal(a, b, err_msg=f"{name}, copy {k}")
            assert b.dtype == mask.dtype and b.shape == mask.shape
            labelled += bool(b.any())
        assert labelled >= (0 if name == "empty" else 3)  # (a copy may move them all out)


def test_unsupported_cases_fall_back_to_the_exact_resampler():
    m = np.array([[0.9, 0.2, 3.3], [-0.2, 0.9, 5.1], [0, 0, 1]])
    ok = cvwarp.warp(smooth_image(np.uint16), m, (56, 70), 1, "wrap", 0, np.float32)
    assert ok is not None and ok.dtype == np.float32
    assert cvwarp.warp(smooth_image(np.int8), m, (56, 70), 1, "wrap", 0, np.float32) is None
    five = np.zeros((20, 20, 5), np.uint8)
    assert cvwarp.warp(five, m, (20, 20), 1, "nearest", 0, np.float32) is None
    assert cvwarp.warp(smooth_image(np.uint16), m, (56, 70), 3, "wrap", 0, np.float32) is None
    # through a pipeline the fallback gives the exact result: elastic, order 3, int32 pixels
    image = smooth_image(np.uint16).astype(np.int32)
    for extra in ({"elastic": {"alpha": 4, "sigma": 6}}, {"interpolation_order": 3}, {}):
        exact, fast = both(dict(rotation_range=20, **extra))
        np.testing.assert_array_equal(exact.augment(image).image, fast.augment(image).image)


RADIOGRAPHS = Path("/work/shared/data/radiographs")


@pytest.mark.parametrize("name", ["edge20mm_0000.tif", "dc.tif"])
@pytest.mark.parametrize("mode", ["nearest", "constant", "reflect"])
def test_default_resampler_is_fast_and_within_tolerance_on_real_radiographs(name, mode):
    """The default ('fast') resampler on real 16-bit neutron radiographs (hundreds of saturated
    gamma spots: the hardest case for position rounding) stays within (local Gr + Gc) / 32 + 1
    level of the exact resampler at every pixel; masks and boxes are identical."""
    path = RADIOGRAPHS / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    image = tifffile.imread(path)
    assert image.dtype == np.uint16
    # bright spots above a high quantile: a real, ragged label mask
    mask = (image > np.quantile(image, 0.995)).astype(np.uint8)
    mask[mask > 0] = 1 + (np.flatnonzero(mask) % 3)  # several labels
    boxes = np.array([[100, 80, 300, 260, 1], [350, 400, 590, 590, 2]], dtype=np.float64)
    options = dict(GEOMETRY, fill_mode=mode, cval=1000.0, seed=4)
    default = Pipeline.from_options(**options)
    assert default.options["resampler"] == "fast"
    exact = default.with_options(resampler="exact")
    fast = default.with_options(resampler="opencv")
    noisy = default.with_options(gaussian_noise={"std_range": [100, 400]})
    noisy_exact = noisy.with_options(resampler="exact")
    # the bound, per output pixel: the largest neighbour differences (rows + cols, fill
    # included) within one pixel of the sampled position, carried there by the same geometry
    x = image.astype(np.float64)
    kw = {"constant_values": 1000.0} if mode == "constant" else {}
    p = np.pad(x, 2, mode=_NP_PAD[mode], **kw)
    g = np.abs(np.diff(p, axis=0))[:, :-1] + np.abs(np.diff(p, axis=1))[:-1, :]
    h, w = image.shape
    local = ndimage.maximum_filter(g, size=5)[2 : 2 + h, 2 : 2 + w]
    # (beyond a constant fill the differences vanish: the edge's, repeated, bound them)
    carry = Pipeline.from_options(
        resampler="exact",
        interpolation_order=0,
        **dict(options, fill_mode="reflect" if mode == "reflect" else "nearest"),
    )
    for k in range(3):
        a = exact.augment(image, mask, boxes, copy_index=k)
        d = default.augment(image, mask, boxes, copy_index=k)
        # the default is the fast path (where OpenCV is installed, as in this test's setup)
        np.testing.assert_array_equal(d.image, fast.augment(image, copy_index=k).image)
        assert not np.array_equal(a.image, d.image)
        np.testing.assert_array_equal(a.mask, d.mask)
        np.testing.assert_array_equal(a.boxes, d.boxes)
        bound = carry.augment(local.astype(np.float32), copy_index=k).image / 32 + 1.0
        diff = np.abs(a.image.astype(np.float64) - d.image.astype(np.float64))
        worst = np.unravel_index(np.argmax(diff - bound), diff.shape)
        assert (diff <= bound).all(), f"copy {k} at {worst}: {diff[worst]} > {bound[worst]}"
        # and most pixels differ by at most one 16-bit level
        assert np.quantile(diff, 0.9) <= 1.0
        # with noise the warped values are rounded once more before it: half a level more
        na = noisy_exact.augment(image, mask, copy_index=k)
        nd = noisy.augment(image, mask, copy_index=k)
        np.testing.assert_array_equal(na.mask, nd.mask)
        assert not np.array_equal(nd.image, d.image)  # the noise is there
        ndiff = np.abs(na.image.astype(np.float64) - nd.image.astype(np.float64))
        assert (ndiff <= bound + 0.5).all()


@pytest.mark.parametrize("name", ["edge20mm_0000.tif", "edge20mm_0003.tif", "dc.tif"])
def test_masks_take_opencvs_nearest_path_and_it_picks_the_exact_pixels(name):
    """A label mask goes through OpenCV's nearest path by default (nearest fill mode), and that
    picks the very pixels the exact resampler picks: on real radiographs' spot masks, under the
    pipeline's random affines and on exact ties (zoom by 2 and by 1/2, half-pixel shifts)."""
    from qbi_desktop.core.augment import fastwarp, geometry
    from qbi_desktop.core.augment.pipeline import _geometry, sample_seed

    path = RADIOGRAPHS / name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    image = tifffile.imread(path)
    h, w = image.shape
    spots = image > np.quantile(image, 0.99)
    masks = [spots.astype(np.uint8) * 3, spots.astype(np.uint16) * 700]
    pipe = Pipeline.from_options(
        **dict(GEOMETRY, rotation_range=40, zoom_range=0.5),
        random_crop={"scale_range": [0.3, 1.0], "ratio_range": [0.75, 1.33]},
    )
    matrices = [
        _geometry(pipe.options, pipe.sample_params((h, w), sample_seed(2, 0, k)), (h, w), 1.0)[0]
        for k in range(8)
    ]
    ties = (
        [[2, 0, 0.5], [0, 2, 0.5]],
        [[0.5, 0, 0.25], [0, 0.5, -0.25]],
        [[1, 0, 0.5], [0, -1, w - 0.5]],
    )
    matrices += [np.array([*t, [0, 0, 1]], dtype=np.float64) for t in ties]
    for mask in masks:
        for m in matrices:
            cv = cvwarp.warp_labels(mask, m, (h, w), "nearest")
            assert cv is not None  # OpenCV's path, not the fallback
            exact = fastwarp.warp(mask, m, (h, w), 0, "nearest", mask.dtype.type(0), np.float32)
            np.testing.assert_array_equal(cv, exact)
            via = geometry.warp(mask, m, order=0, mode="nearest", resampler="fast", labels=True)
            np.testing.assert_array_equal(via, exact)
    # where OpenCV's nearest pick differs (reflect/wrap beyond the edge), masks and order-0
    # images stay with the exact resampler
    m = np.array([[2, 0, 0.5], [0, 2, 0.5], [0, 0, 1]], dtype=np.float64)
    for mode in ("reflect", "wrap"):
        assert cvwarp.warp_labels(masks[0], m, (h, w), mode) is None
        assert cvwarp.warp(image, m, (h, w), 0, mode, np.uint16(0), np.float32) is None


def test_masks_in_other_fill_modes_take_opencvs_path_only_where_it_picks_the_exact_pixels():
    """Beyond 'nearest': a 'constant' mask whose outer ring holds no label, and a mask in any
    fill mode whose positions all stay inside, take OpenCV's nearest path (ties on the edge and
    inside included) and it picks the exact resampler's pixels; where the fill would show
    labels differently (a labelled ring beyond the edge in 'constant', reflect or wrap), or a
    'constant' fill is not 0, they stay exact."""
    from qbi_desktop.core.augment import fastwarp, geometry

    rng = np.random.default_rng(5)
    h, w = 150, 170
    inner = np.zeros((h, w), np.uint8)
    inner[1:-1, 1:-1] = (rng.random((h - 2, w - 2)) > 0.97) * rng.integers(1, 9, (h - 2, w - 2))
    inner[1, 40:60] = 6  # labels next to the ring
    ringed = inner.copy()
    ringed[0, 100:104] = 5
    ringed[90:95, -1] = 2
    reach_out = [  # output->input (row, col) matrices whose positions leave the mask
        [[2, 0, 0.5], [0, 2, 0.5]],  # ties on the far edges
        [[1, 0, 0.5], [0, -1, w - 0.5]],  # half-pixel shift and a flip: ties everywhere
        # a rotation by 20 degrees and a shift (irrational: no tie that float rounding decides)
        [[np.cos(0.35), np.sin(0.35), -31.3], [-np.sin(0.35), np.cos(0.35), 40.7]],
    ]
    inside = [[0.5, 0, 10.0], [0, 0.5, 10.0]]  # zoom in by 2: ties on every other row/col

    def exact(mask, m, mode):
        return fastwarp.warp(mask, m, (h, w), 0, mode, mask.dtype.type(0), np.float32)

    for t in reach_out:
        m = np.array([*t, [0, 0, 1]], dtype=np.float64)
        cv = cvwarp.warp_labels(inner, m, (h, w), "constant")
        assert cv is not None  # OpenCV's path
        np.testing.assert_array_equal(cv, exact(inner, m, "constant"))
        via = geometry.warp(inner, m, order=0, mode="constant", resampler="fast", labels=True)
        np.testing.assert_array_equal(via, exact(inner, m, "constant"))
        assert cvwarp.warp_labels(ringed, m, (h, w), "constant") is None
        assert cvwarp.warp_labels(inner, m, (h, w), "constant", cval=3) is None
        for mode in ("reflect", "wrap"):
            assert cvwarp.warp_labels(inner, m, (h, w), mode) is None
            via = geometry.warp(inner, m, order=0, mode=mode, resampler="fast", labels=True)
            np.testing.assert_array_equal(via, exact(inner, m, mode))  # the exact fallback
    m = np.array([*inside, [0, 0, 1]], dtype=np.float64)
    for mode in MODES:
        cv = cvwarp.warp_labels(ringed, m, (h, w), mode)
        assert cv is not None
        np.testing.assert_array_equal(cv, exact(ringed, m, mode))
        assert cv.any()


def test_results_do_not_depend_on_opencv_threads():
    image = smooth_image(np.uint16, shape=(512, 512))
    fast = Pipeline.from_options(
        resampler="opencv", gaussian_noise={"std_range": [0, 300]}, **GEOMETRY
    )
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        one = [fast.augment(image, copy_index=k).image for k in range(2)]
        cv2.setNumThreads(4)
        four = [fast.augment(image, copy_index=k).image for k in range(2)]
    finally:
        cv2.setNumThreads(before)
    for a, b in zip(one, four, strict=True):
        np.testing.assert_array_equal(a, b)


def test_same_output_with_one_and_two_processes(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        tifffile.imwrite(src / f"i{i}.tif", np.roll(smooth_image(np.uint16, shape=(64, 80)), 7 * i))
    pipeline = Pipeline.from_options(
        resampler="opencv", seed=11, gaussian_noise={"std_range": [0, 200]}, **GEOMETRY
    )
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        result = run_job(augment_dataset(open_source(src), pipeline, out, 2, workers=workers))
        assert result.written == 6
        outs[workers] = out
    files = sorted(p.name for p in (outs[1] / "images").iterdir())
    assert len(files) == 6
    for name in files:
        a = tifffile.imread(outs[1] / "images" / name)
        b = tifffile.imread(outs[2] / "images" / name)
        assert a.dtype == np.uint16
        np.testing.assert_array_equal(a, b)
    # and the same as augmenting in this process
    first = tifffile.imread(outs[2] / "images" / files[0])
    expected = pipeline.augment(tifffile.imread(src / "i0.tif"), item_index=0, copy_index=0)
    np.testing.assert_array_equal(first, expected.image)


def test_pipeline_json_round_trip(tmp_path):
    p = Pipeline.from_options(resampler="opencv", rotation_range=12, seed=5, name="fast")
    path = tmp_path / "p.json"
    p.save(path)
    assert json.loads(path.read_text())["options"]["resampler"] == "opencv"
    q = Pipeline.load(path)
    assert q.options["resampler"] == "opencv"
    assert q.to_json() == p.to_json()
    image = smooth_image(np.uint16)
    np.testing.assert_array_equal(p.augment(image).image, q.augment(image).image)
    # a pipeline saved before the option existed still loads, with the exact resampler
    doc = p.to_json()
    del doc["options"]["resampler"]
    assert Pipeline.from_json(doc).options["resampler"] == "exact"


def test_unknown_resampler_and_keras_mode_are_refused_naming_the_field(tmp_path):
    doc = Pipeline().to_json()
    doc["options"]["resampler"] = "cuda"
    with pytest.raises(UserFacingError, match=r"p\.json: options\.resampler: 'cuda' is not one of"):
        Pipeline.from_json(doc, "p.json")
    with pytest.raises(UserFacingError, match=r"options\.resampler"):
        Pipeline.from_options(resampler=1)
    with pytest.raises(UserFacingError, match=r"options\.resampler: 'opencv'.*keras_compat"):
        Pipeline.from_options(keras_compat=True, resampler="opencv")
    doc = Pipeline.from_options(resampler="opencv").to_json()
    doc["keras_compat"] = True
    path = tmp_path / "keras.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(UserFacingError, match=r"keras\.json: options\.resampler.*exact"):
        Pipeline.load(path)
    # the exact resampler is fine in Keras mode
    assert Pipeline.from_options(keras_compat=True, resampler="exact").keras_compat


_NO_CV2 = textwrap.dedent(
    """
    import json, sys
    sys.modules["cv2"] = None  # as if OpenCV were not installed
    import numpy as np
    from qbi_desktop.core.augment import Pipeline, cvwarp
    from qbi_desktop.core.errors import UserFacingError
    out = {"available": cvwarp.available()}
    img = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    default = Pipeline.from_options(rotation_range=10).augment(img).image
    exact = Pipeline.from_options(rotation_range=10, resampler="exact").augment(img).image
    out["exact_ok"] = default.dtype.name
    out["default_is_exact"] = bool(np.array_equal(default, exact))
    for label, make in (
        ("option", lambda: Pipeline.from_options(resampler="opencv")),
        ("load", lambda: Pipeline.load(sys.argv[1])),
    ):
        try:
            make()
            out[label] = None
        except UserFacingError as exc:
            out[label] = str(exc)
    print(json.dumps(out))
    """
)


def test_missing_opencv_is_a_clear_error(tmp_path):
    path = tmp_path / "fast.json"
    Pipeline.from_options(resampler="opencv").save(path)
    run = subprocess.run(
        [sys.executable, "-c", _NO_CV2, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["available"] is False
    assert out["exact_ok"] == "uint16"  # the default pipeline needs no OpenCV
    assert out["default_is_exact"]  # without OpenCV, 'fast' is the exact resampler
    hint = 'pip install "qbi-desktop[opencv]"'
    assert out["option"].startswith("options.resampler: 'opencv' needs OpenCV")
    assert hint in out["option"]
    assert out["load"].startswith(f"{path}: options.resampler") and hint in out["load"]


def test_opencv_is_imported_only_when_used():
    code = (
        "import sys, numpy as np\n"
        "from qbi_desktop.core.augment import Pipeline\n"
        "import qbi_desktop.core.augment.pipeline, qbi_desktop.core.augment.batch\n"
        "print('cv2' in sys.modules)\n"
        "img = np.zeros((32, 32), np.uint8)\n"
        "Pipeline.from_options(rotation_range=9, resampler='exact').augment(img)\n"
        "print('cv2' in sys.modules)\n"
        "Pipeline.from_options(rotation_range=9).augment(img)\n"  # the default: fast
        "print('cv2' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "False", "True"]


def test_dock_choosing_opencv_changes_the_pipeline_and_the_preview(qtbot, main_window, tmp_path):
    from qbi_desktop.gui.docks import augment

    path = tmp_path / "smooth.tif"
    tifffile.imwrite(path, smooth_image(np.uint16, shape=(200, 240)))
    panel = augment.install(main_window)
    main_window.panels["augment"] = panel
    main_window.docks["augment"].show()
    open_and_wait(qtbot, main_window, path)
    qtbot.waitUntil(lambda: panel.result is not None and not panel.runner.busy, timeout=5000)
    panel.form.editors["rotation_range"].spin.setValue(25)
    qtbot.waitUntil(lambda: not panel.runner.busy, timeout=5000)

    editor = panel.form.editors["resampler"]
    assert (
        "1/32 pixel" in editor.widget.toolTip() and "masks always exact" in editor.widget.toolTip()
    )
    with qtbot.waitSignal(panel.preview_shown, timeout=5000):
        editor.combo.setCurrentIndex(editor.choices.index("opencv"))
    qtbot.waitUntil(lambda: not panel.runner.busy, timeout=5000)
    qtbot.wait(60)
    pipeline = panel.pipeline()
    assert pipeline.options["resampler"] == "opencv"
    result = panel.result
    assert len(result.samples) == 8 and panel.grid.tiles[0].image is not None
    for k in (0, 3):  # the preview shows what the OpenCV pipeline makes of the preview copy
        expected = pipeline.apply(result.original, result.params[k], scale=result.scale)
        np.testing.assert_array_equal(result.samples[k], expected.image)
    # Keras-compatible mode with OpenCV: refused, and the message names the field
    panel.keras.setChecked(True)
    qtbot.waitUntil(lambda: "options.resampler" in panel.status.text(), timeout=3000)
