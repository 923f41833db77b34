"""The corrected engine: resampling, geometry semantics, dtypes, masks, boxes, intensity steps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from qbi_desktop.core.augment import Pipeline, apply_transform, preview
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
