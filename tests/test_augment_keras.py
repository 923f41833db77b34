"""The Keras compatibility contract, checked against the real Keras ImageDataGenerator."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from qbi_desktop.core.augment import Pipeline, Standardizer, apply_transform, sample_seed
from qbi_desktop.core.augment.keras_compat import keras_random_params

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")
pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
from keras.src.legacy.preprocessing.image import ImageDataGenerator  # noqa: E402

PARAMS = [
    {"theta": 17.0, "tx": 2.5, "ty": -3.25, "shear": 8.0, "zx": 0.9, "zy": 1.2},
    {"theta": -40.0, "flip_vertical": True, "channel_shift_intensity": 0.3},
    {"tx": 5.0, "ty": 0.0, "flip_horizontal": True},
    {"zx": 1.3, "zy": 0.7, "shear": -12.0, "brightness": 1.4},
    {
        "theta": 95.0,
        "tx": -4.0,
        "ty": 7.0,
        "shear": 3.0,
        "zx": 1.1,
        "zy": 1.1,
        "flip_horizontal": True,
        "flip_vertical": True,
        "channel_shift_intensity": -0.2,
        "brightness": 0.6,
    },
]
SHAPES = [(21, 34, 1), (33, 18, 3), (24, 24)]


def _keras(x, params, fill_mode, cval, order):
    gen = ImageDataGenerator(fill_mode=fill_mode, cval=cval, interpolation_order=order)
    if x.ndim == 2:
        return gen.apply_transform(x[..., None].copy(), params)[..., 0]
    return gen.apply_transform(x.copy(), params)


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "reflect", "wrap"])
@pytest.mark.parametrize("order", [0, 1, 3])
def test_apply_transform_matches_keras_pixels(fill_mode, order):
    rng = np.random.default_rng(order * 10 + len(fill_mode))
    for shape in SHAPES:
        # values beyond [0, 255] and negative: exercises Keras' brightness rescaling path too
        x = (rng.random(shape) * 300 - 20).astype(np.float32)
        for params in PARAMS:
            ours = apply_transform(x, params, fill_mode=fill_mode, cval=0.25, order=order)
            ref = _keras(x, params, fill_mode, 0.25, order)
            assert ours.shape == x.shape
            assert np.abs(ours.astype(np.float64) - ref.astype(np.float64)).max() <= 1e-5, (
                shape,
                params,
            )


def test_apply_transform_matches_keras_on_unit_range_float64():
    rng = np.random.default_rng(7)
    x = rng.random((19, 27, 3))
    for params in PARAMS:
        ref = _keras(x, params, "nearest", 0.0, 1)
        ours = apply_transform(x, params)
        assert ours.dtype == ref.dtype
        assert np.abs(ours - ref).max() <= 1e-5


def test_keras_compat_sampler_draws_keras_parameters():
    opts = dict(
        rotation_range=30,
        width_shift_range=[1, 2, 3],
        height_shift_range=0.2,
        shear_range=10,
        zoom_range=[0.8, 1.1],
        horizontal_flip=True,
        vertical_flip=True,
        channel_shift_range=5.0,
        brightness_range=[0.5, 1.5],
    )
    gen = ImageDataGenerator(**opts)
    for seed in range(6):
        ref = gen.get_random_transform((20, 30, 1), seed=seed)
        ours = keras_random_params(opts, (20, 30, 1), np.random.RandomState(seed))
        assert ours == ref


def test_keras_compat_pipeline_equals_keras_random_transform():
    opts = dict(
        rotation_range=25,
        width_shift_range=0.1,
        height_shift_range=3,
        zoom_range=0.15,
        horizontal_flip=True,
        fill_mode="reflect",
    )
    pipe = Pipeline.from_options(keras_compat=True, seed=11, **opts)
    x = np.random.default_rng(3).random((26, 40)).astype(np.float32)
    gen = ImageDataGenerator(**opts)
    for copy in range(4):
        ss = sample_seed(11, 5, copy)
        # the pipeline's Keras stream is the first child of the sample's SeedSequence
        int_seed = int(ss.spawn(2)[0].generate_state(1, np.uint32)[0])
        ref = gen.random_transform(x[..., None].copy(), seed=int_seed)[..., 0]
        ours = pipe.augment(x, item_index=5, copy_index=copy).image
        assert np.abs(ours - ref).max() <= 1e-5


def test_fit_and_standardize_match_keras():
    rng = np.random.default_rng(0)
    x = (rng.random((40, 8, 8, 1)) * 255).astype(np.float32)
    cases = [
        dict(featurewise_center=True, featurewise_std_normalization=True, rescale=1 / 255),
        dict(zca_whitening=True, zca_epsilon=1e-3),
        dict(samplewise_center=True, samplewise_std_normalization=True),
    ]
    for case in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gen = ImageDataGenerator(**case)
            gen.fit(x)
        ours = Standardizer(**case).fit(x)
        for name in ("mean", "std", "zca_whitening_matrix"):
            ref = getattr(gen, name)
            got = getattr(ours, name)
            assert (ref is None) == (got is None), name
            if ref is not None:
                np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
        probe = x[:3].copy()
        expected = gen.standardize(probe.copy())
        np.testing.assert_allclose(ours.standardize(x[:3]), expected, rtol=1e-4, atol=1e-4)
        # ours never modifies its input
        np.testing.assert_array_equal(x[:3], probe)
