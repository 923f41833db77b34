"""The corrected engine: resampling, geometry semantics, dtypes, masks, boxes, intensity steps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from qbi_desktop.core.augment import Pipeline, apply_transform, intensity, preview
from qbi_desktop.core.augment import geometry as G
from qbi_desktop.core.errors import UserFacingError

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover - rootdir without package
    from conftest import RADIOGRAPHS, need

SCIPY_MODE = {
    "constant": "grid-constant",
    "nearest": "nearest",
    "reflect": "reflect",
    "wrap": "grid-wrap",
}


@pytest.mark.parametrize("mode", list(SCIPY_MODE))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_fast_resampler_equals_scipy_for_orders_0_and_1(mode, dtype):
    rng = np.random.default_rng(1)
    x = (rng.random((37, 53)) * 200).astype(dtype)
    m = G.about_center(G.keras_like_matrix(23, 4, -7, 10, 0.8, 1.3), 37, 53)
    wd = np.float64 if dtype == np.float64 else np.float32
    for order in (0, 1):
        ours = G.warp(x, m, order=order, mode=mode, cval=3.0, work_dtype=wd)
        ref = ndimage.affine_transform(
            x.astype(np.float64), m[:2, :2], m[:2, 2], order=order, mode=SCIPY_MODE[mode], cval=3.0
        )
        tol = 1e-9 if order == 0 else (1e-9 if wd == np.float64 else 2e-3)
        assert np.abs(ours.astype(np.float64) - ref).max() <= tol
        if order == 0:
            assert ours.dtype == x.dtype


def _dot_image(h=40, w=64, r=20, c=30, dtype=np.float32):
    x = np.zeros((h, w), dtype=dtype)
    x[r, c] = 100
    return x


def _peak(x):
    return np.unravel_index(int(np.argmax(x)), x.shape)


def test_width_shift_moves_horizontally_and_height_shift_vertically():
    x = _dot_image()
    for copy in range(6):
        s = Pipeline.from_options(width_shift_range=[10]).augment(x, copy_index=copy).image
        r, c = _peak(s)
        assert r == 20 and abs(c - 30) == 10
        s = Pipeline.from_options(height_shift_range=[7]).augment(x, copy_index=copy).image
        r, c = _peak(s)
        assert c == 30 and abs(r - 20) == 7
    # Keras' defect, reproduced on request: its width range moves the image vertically
    s = Pipeline.from_options(keras_compat=True, width_shift_range=[7]).augment(x).image
    r, c = _peak(s)
    assert c == 30 and abs(r - 20) == 7


def test_fraction_shift_scales_with_the_right_side():
    x = _dot_image(h=40, w=80, r=20, c=40)
    p = Pipeline.from_options(width_shift_range=0.25)
    shifts = []
    for copy in range(40):
        params = p.augment(x, copy_index=copy).params
        assert params["ty"] == 0
        shifts.append(params["tx"])
    assert max(np.abs(shifts)) <= 0.25 * 80 and max(np.abs(shifts)) > 0.25 * 40


def test_rotation_pivots_about_the_true_centre_of_non_square_images():
    rng = np.random.default_rng(2)
    x = rng.random((30, 50)).astype(np.float32)
    half_turn = apply_transform(x, {"theta": 180.0}, keras_compat=False)
    np.testing.assert_allclose(half_turn, x[::-1, ::-1], atol=1e-5)
    # Keras pivots off-centre here (its row/column centres are swapped)
    keras = apply_transform(x, {"theta": 180.0}, keras_compat=True)
    assert np.abs(keras - x[::-1, ::-1]).max() > 0.1


def test_wrap_is_periodic():
    rng = np.random.default_rng(3)
    x = rng.random((24, 36)).astype(np.float32)
    shifted = apply_transform(x, {"tx": 5.0, "ty": -3.0}, fill_mode="wrap", keras_compat=False)
    np.testing.assert_allclose(shifted, np.roll(x, (3, -5), axis=(0, 1)), atol=1e-6)
    legacy = apply_transform(x, {"tx": 5.0, "ty": -3.0}, fill_mode="wrap", keras_compat=True)
    assert np.abs(legacy - np.roll(x, (3, -5), axis=(0, 1))).max() > 0.01


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_dtype_and_range_are_kept_brightness_included(dtype):
    rng = np.random.default_rng(4)
    top = {np.uint8: 250, np.uint16: 60000, np.float32: 3.5}[dtype]
    x = (rng.random((48, 48)) * top).astype(dtype)
    p = Pipeline.from_options(
        rotation_range=15,
        zoom_range=0.1,
        brightness_range=[0.7, 1.3],
        gaussian_noise={"std_range": [0.0, 0.01 * top]},
    )
    out = p.augment(x).image
    assert out.dtype == x.dtype and out.shape == x.shape
    # brightness alone: exact full-precision gain, rounded once
    b = apply_transform(x, {"brightness": 1.1}, keras_compat=False)
    expected = x.astype(np.float32) * np.float32(1.1)
    if np.dtype(dtype).kind == "u":
        expected = np.clip(np.rint(expected), 0, np.iinfo(dtype).max)
    np.testing.assert_array_equal(b, expected.astype(dtype))
    if dtype == np.uint16:
        assert b.max() > 255 and len(np.unique(b)) > 1000  # not squeezed through 256 levels


def test_uint16_brightness_is_not_quantised_to_8_bits():
    x = np.arange(0, 65536, 16, dtype=np.uint16).reshape(64, 64)
    out = apply_transform(x, {"brightness": 0.9}, keras_compat=False)
    assert out.dtype == np.uint16
    assert len(np.unique(out)) == len(np.unique(x))  # 4096 levels in, 4096 levels out


def test_masks_keep_exact_labels_and_follow_the_image():
    h, w = 60, 90
    x = np.zeros((h, w), np.float32)
    mask = np.zeros((h, w), np.uint16)
    mask[10:20, 15:30], x[10:20, 15:30] = 3, 1.0
    mask[35:50, 50:70], x[35:50, 50:70] = 700, 2.0
    p = Pipeline.from_options(
        rotation_range=40,
        width_shift_range=0.1,
        zoom_range=0.2,
        shear_range=10,
        horizontal_flip=True,
        vertical_flip=True,
        interpolation_order=3,
        elastic={"alpha": 3, "sigma": 6},
        random_crop={"scale_range": [0.6, 1.0]},
    )
    for copy in range(5):
        s = p.augment(x, mask, copy_index=copy)
        assert s.mask.dtype == np.uint16
        assert set(np.unique(s.mask)) <= {0, 3, 700}
        for label, value in ((3, 1.0), (700, 2.0)):
            inside = s.mask == label
            if inside.sum() > 20:
                assert np.median(s.image[inside]) == pytest.approx(value, abs=0.05)


def test_mask_of_wrong_shape_or_type_is_refused():
    x = np.zeros((20, 30), np.uint8)
    p = Pipeline.from_options(rotation_range=10)
    with pytest.raises(UserFacingError, match="does not match"):
        p.augment(x, np.zeros((30, 20), np.uint8))
    with pytest.raises(UserFacingError, match="integers"):
        p.augment(x, np.zeros((20, 30), np.float32))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4), np.complex64),
        np.zeros((4, 4), bool),
        np.zeros((2, 3, 4, 5), np.uint8),
        np.zeros(5),
    ],
)
def test_unsupported_images_are_refused_with_a_message(bad):
    with pytest.raises(UserFacingError, match="image"):
        Pipeline.from_options(rotation_range=10).augment(bad)


def test_boxes_follow_a_flip_exactly():
    x = np.zeros((40, 50), np.uint8)
    boxes = np.array([[10, 5, 20, 15, 2], [0, 0, 50, 40, 1]], dtype=float)
    p = Pipeline.from_options(horizontal_flip=True)
    for copy in range(8):
        s = p.augment(x, boxes=boxes, copy_index=copy)
        if s.params["flip_horizontal"]:
            np.testing.assert_allclose(s.boxes, [[30, 5, 40, 15, 2], [0, 0, 50, 40, 1]], atol=1e-9)
        else:
            np.testing.assert_allclose(s.boxes, boxes, atol=1e-9)


def test_boxes_follow_a_rotation_like_the_pixels_do_and_vanishing_boxes_drop():
    x = np.zeros((64, 64), np.uint8)
    box = np.array([[10.0, 20.0, 30.0, 28.0, 4.0]])
    x[20:28, 10:30] = 200
    p = Pipeline.from_options(keras_compat=False)
    s = p.apply(x, {"theta": 90.0}, boxes=box)
    rows, cols = np.nonzero(s.image > 100)
    x0, y0, x1, y1, cls = s.boxes[0]
    assert cls == 4
    assert abs(x0 - cols.min()) <= 1 and abs(x1 - (cols.max() + 1)) <= 1
    assert abs(y0 - rows.min()) <= 1 and abs(y1 - (rows.max() + 1)) <= 1
    gone = p.apply(x, {"tx": 100.0}, boxes=box, mask=None)
    assert len(gone.boxes) == 0


def test_spot_masks_stay_aligned_on_a_real_radiograph():
    tifffile = pytest.importorskip("tifffile")
    img = tifffile.imread(need(RADIOGRAPHS / "edge20mm_0000.tif"))[:256, :384]
    resid = img.astype(np.float32) - ndimage.median_filter(img, 5).astype(np.float32)
    spots = (resid > 5000).astype(np.uint8)
    assert spots.sum() > 20
    p = Pipeline.from_options(
        profile="radiograph",
        rotation_range=30,
        width_shift_range=0.1,
        horizontal_flip=True,
        poisson_noise={"dose_range": [0.5, 1.0]},
    )
    for copy in range(3):
        s = p.augment(img, spots, copy_index=copy)
        assert s.image.dtype == np.uint16
        moved = s.image.astype(np.float32) - ndimage.median_filter(s.image, 5).astype(np.float32)
        on = moved[s.mask == 1]
        # the spots are still under their mask: bright residuals, far above the background
        assert np.median(on) > 20 * np.median(np.abs(moved[s.mask == 0])) and np.median(on) > 1000


def test_gaussian_noise_has_the_drawn_std_and_poisson_thinning_the_counting_variance():
    x = np.full((256, 256), 1000.0, np.float32)
    s = Pipeline.from_options(gaussian_noise={"std_range": [20, 20]}).augment(x)
    assert s.image.std() == pytest.approx(20, rel=0.03)
    assert s.image.mean() == pytest.approx(1000, abs=0.5)
    d = Pipeline.from_options(poisson_noise={"dose_range": [0.25, 0.25]}).augment(x)
    # binomial thinning of 1000 counts at dose d, rescaled: variance N (1 - d) / d
    assert d.image.var() == pytest.approx(1000 * 0.75 / 0.25, rel=0.05)
    assert d.image.mean() == pytest.approx(1000, rel=0.01)


def test_crop_gamma_contrast_and_blur_do_what_they_say():
    rng = np.random.default_rng(5)
    x = (rng.random((64, 64)) * 200 + 20).astype(np.uint8)
    p = Pipeline.from_options()
    crop = p.apply(x, {"crop": [0.25, 0.5, 0.5, 0.5]}).image
    assert crop.shape == x.shape
    assert abs(float(crop[1::2, 1::2].mean()) - float(x[16:48, 32:64].mean())) < 4
    g = p.apply(x, {"gamma": 2.0}).image.astype(float)
    np.testing.assert_allclose(g, np.rint(255 * (x / 255.0) ** 2), atol=1)
    c = p.apply(x, {"contrast": 0.5}).image
    assert c.std() == pytest.approx(x.std() * 0.5, rel=0.02)
    b = p.apply(x, {"blur_sigma": 2.0}).image
    assert b.std() < 0.5 * x.std() and b.dtype == np.uint8


def test_sample_matrix_equals_the_composed_matrices():
    """One sample's matrix, composed in plain floats, is the product of the Keras-like matrix
    centred on the image and the flips (to float rounding), for every combination of steps."""
    rng = np.random.default_rng(8)
    for trial in range(400):
        theta, tx, ty, shear = rng.uniform(-45, 45), *rng.uniform(-80, 80, 2), rng.uniform(-20, 20)
        zx, zy = rng.uniform(0.5, 1.6, 2)
        h, w = (int(v) for v in rng.integers(1, 700, 2))
        flips = bool(trial & 1), bool(trial & 2)
        # each step left out in some trials: the composition must skip it exactly
        theta, shear = theta * (trial % 3 > 0), shear * (trial % 5 > 0)
        tx, ty = (tx, ty) if trial % 7 else (0.0, 0.0)
        zx, zy = (zx, zy) if trial % 4 else (1.0, 1.0)
        ref = G.about_center(G.keras_like_matrix(theta, tx, ty, shear, zx, zy), h, w)
        ref = ref @ G.flip_matrix(h, w, *flips)
        got = G.sample_matrix(theta, tx, ty, shear, zx, zy, h, w, *flips)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("keras_compat", [False, True])
@pytest.mark.parametrize(
    "extra",
    [{}, {"gaussian_noise": {"std_range": [0, 9]}}, {"random_crop": {"scale_range": [0.5, 1]}}],
)
def test_augment_draws_the_parameters_of_its_sample_seed(keras_compat, extra):
    """A sample's parameters are those drawn from sample_seed(seed, item, copy), with or without
    extra options, in both modes (what the preview and a reproduction rely on)."""
    from qbi_desktop.core.augment import sample_seed

    p = Pipeline.from_options(
        seed=12, keras_compat=keras_compat, rotation_range=20, zoom_range=0.2, **extra
    )
    x = np.zeros((30, 40), np.uint8)
    seen = set()
    for item, copy in ((0, 0), (0, 1), (3, 0), (7, 5)):
        got = p.augment(x, item_index=item, copy_index=copy).params
        assert got == p.sample_params(x.shape, sample_seed(12, item, copy))
        seen.add(repr(got))
    assert len(seen) == 4


def test_preview_gives_parameters_the_batch_would_draw_on_a_small_copy():
    rng = np.random.default_rng(6)
    img = (rng.random((600, 600)) * 60000).astype(np.uint16)
    mask = (rng.random((600, 600)) > 0.999).astype(np.uint8)
    p = Pipeline.from_options(
        seed=4, rotation_range=20, width_shift_range=0.1, horizontal_flip=True
    )
    got = preview(img, mask, p, n=8)
    assert len(got) == 8
    for k, (im, m, params) in enumerate(got):
        assert im.dtype == np.uint16 and max(im.shape) <= 512 and m.shape == im.shape
        assert params == p.augment(img, item_index=0, copy_index=k).params
    assert got[0][2] != got[1][2]
    # one-pixel spots survive the downscale of the mask
    assert got[0][1].any()


# ---------------------------------------------------------------------------------------------
# The fast resampler (core/augment/fastwarp.py) against the reference sampler and scipy


def _random_matrix(rng, h, w):
    theta, shear = rng.uniform(-40, 40), rng.uniform(-15, 15)
    tx, ty = rng.uniform(-0.2, 0.2, 2) * (w, h)
    zx, zy = rng.uniform(0.7, 1.4, 2)
    m = G.about_center(G.keras_like_matrix(theta, tx, ty, shear, zx, zy), h, w)
    return m @ G.flip_matrix(h, w, bool(rng.random() < 0.5), bool(rng.random() < 0.5))


@pytest.mark.parametrize("mode", list(SCIPY_MODE))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_fast_bilinear_path_equals_the_reference_sampler(mode, dtype):
    """What a user gets from a pipeline (fast path, then the one rounding) is the reference
    sampler's result within interpolation rounding: <= 1 grey level for integer images, float
    rounding of the coordinates for float images; with and without an elastic field, and with a
    strong zoom-out (most positions outside the image)."""
    rng = np.random.default_rng(11)
    top = {np.uint8: 255, np.uint16: 65535, np.int16: 30000}.get(dtype, 1.0)
    wd = np.float64 if dtype == np.float64 else np.float32
    for trial in range(6):
        h, w = (int(v) for v in rng.integers(20, 90, 2))
        shape = (h, w, 3) if trial == 4 else (h, w)  # channels share the sampling positions
        x = (rng.random(shape) * top).astype(dtype)
        m = _random_matrix(rng, h, w)
        if trial == 5:
            m = m @ G.about_center(G.keras_like_matrix(0, 0, 0, 0, 3.0, 3.0), h, w)
        disp = G.elastic_field((h, w), 4.0, 5.0, trial) if trial == 3 else None
        fast = G.warp(x, m, order=1, mode=mode, cval=top / 3, work_dtype=wd, displacement=disp)
        ref = G.warp_reference(
            x, m, order=1, mode=mode, cval=top / 3, work_dtype=wd, displacement=disp
        )
        assert fast.dtype == ref.dtype == wd and fast.shape == shape
        if np.dtype(dtype).kind in "ui":
            a = intensity.finalize(fast, dtype).astype(np.int64)
            b = intensity.finalize(ref, dtype).astype(np.int64)
            assert np.abs(a - b).max() <= 1
        else:
            tol = 1e-9 if dtype == np.float64 else 1e-4
            assert np.abs(fast - ref).max() <= tol * top


@pytest.mark.parametrize("mode", list(SCIPY_MODE))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.bool_])
def test_fast_nearest_path_keeps_mask_labels_exact(mode, dtype):
    """Masks (order 0) come out of the fast path with exactly the input's label values, equal to
    the reference sampler (a position within float rounding of a pixel boundary may pick the
    other pixel: allowed for at most a few pixels)."""
    rng = np.random.default_rng(12)
    h, w = 64, 96
    if dtype == np.bool_:
        mask = rng.random((h, w)) > 0.7
        labels = {False, True}
    else:
        labels = [0, 1, 7, int(np.iinfo(dtype).max)]
        mask = rng.choice(labels, size=(h, w)).astype(dtype)
        labels = set(labels)
    src = mask.view(np.uint8) if dtype == np.bool_ else mask
    for _ in range(3):
        m = _random_matrix(rng, h, w)
        fast = G.warp(src, m, order=0, mode=mode, cval=0)
        ref = G.warp_reference(src, m, order=0, mode=mode, cval=0)
        assert fast.dtype == src.dtype
        got = fast.view(np.bool_) if dtype == np.bool_ else fast
        assert set(np.unique(got).tolist()) <= labels
        assert np.count_nonzero(fast != ref) <= 3


@pytest.mark.parametrize("mode", list(SCIPY_MODE))
def test_fast_path_matches_scipy_far_outside_the_image(mode):
    """Zooming far out and shifting far: reflect and wrap pad the source by the reach of the
    transform (or fall back beyond 16x the image area), still equal to scipy's fill modes, and
    nearest/constant clip exactly."""
    rng = np.random.default_rng(13)
    x = rng.random((31, 45))
    for zoom in (2.0, 4.5):
        m = G.about_center(G.keras_like_matrix(30, 50, -80, 5, zoom * 1.1, zoom), 31, 45)
        for order in (0, 1):
            ours = G.warp(x, m, order=order, mode=mode, cval=0.25, work_dtype=np.float64)
            ref = ndimage.affine_transform(
                x, m[:2, :2], m[:2, 2], order=order, mode=SCIPY_MODE[mode], cval=0.25
            )
            assert np.abs(ours - ref).max() <= 1e-9


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_pipeline_geometry_equals_scipy_after_the_one_rounding(dtype):
    """The corrected (true-centre) affine + flip of a pipeline equals scipy.ndimage's order-1
    affine_transform of the same matrix, rounded once: within one grey level."""
    rng = np.random.default_rng(14)
    top = np.iinfo(dtype).max
    x = (rng.random((70, 110)) * top).astype(dtype)
    p = Pipeline.from_options(
        rotation_range=25,
        width_shift_range=0.1,
        height_shift_range=0.1,
        zoom_range=0.15,
        shear_range=8,
        horizontal_flip=True,
        fill_mode="nearest",
    )
    for copy in range(4):
        s = p.augment(x, copy_index=copy)
        params = s.params
        m = G.about_center(
            G.keras_like_matrix(
                params["theta"],
                params["tx"],
                params["ty"],
                params["shear"],
                params["zx"],
                params["zy"],
            ),
            70,
            110,
        ) @ G.flip_matrix(70, 110, params["flip_horizontal"], params["flip_vertical"])
        ref = ndimage.affine_transform(
            x.astype(np.float64), m[:2, :2], m[:2, 2], order=1, mode="nearest"
        )
        ref = np.clip(np.rint(ref), 0, top)
        assert s.image.dtype == dtype
        assert np.abs(s.image.astype(np.float64) - ref).max() <= 1
