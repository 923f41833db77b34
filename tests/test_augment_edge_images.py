"""Augment on edge images (issue 17.6): float images with NaN and inf, 1 x N and N x 1 strips,
constant images — the preview and a batch run give samples of the right shape, and NaN stays
where the image had it (no new NaN spreading across the sample)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.augment import Pipeline
from qbi_desktop.core.augment.batch import augment_dataset, open_source
from qbi_desktop.core.augment.pipeline import preview
from qbi_desktop.core.jobs import run_job

RNG = np.random.default_rng(11)
NAN = np.where(RNG.random((40, 50)) > 0.9, np.nan, RNG.random((40, 50))).astype(np.float32)
IMAGES = {
    "nan": NAN,
    "all-nan": np.full((30, 30), np.nan, np.float32),
    "inf": np.array([[np.inf, -np.inf, 1.0, 2.0]] * 10, np.float64),
    "1xN": np.arange(300, dtype=np.uint16)[None, :],
    "Nx1": np.arange(300, dtype=np.uint16)[:, None],
    "constant": np.full((20, 20), 7, np.uint16),
}
PIPELINES = {
    "geometry": dict(
        rotation_range=20, horizontal_flip=True, width_shift_range=0.1, zoom_range=0.2
    ),
    "intensity": dict(
        brightness_range=[0.8, 1.2],
        gamma_range=[0.8, 1.2],
        contrast_range=[0.8, 1.2],
        gaussian_noise={"std_range": [0.0, 0.01]},
        gaussian_blur={"sigma_range": [0.5, 1.0]},
    ),
}


@pytest.mark.parametrize("pipeline", list(PIPELINES))
@pytest.mark.parametrize("name", list(IMAGES))
def test_preview_of_edge_images(name, pipeline):
    image = IMAGES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf - inf inside interpolation
        samples = preview(image, None, Pipeline.from_options(**PIPELINES[pipeline]), n=4)
    assert len(samples) == 4
    for sample, _mask, _params in samples:
        assert sample.shape == image.shape and sample.dtype == image.dtype
    if name == "nan" and pipeline == "intensity":
        # intensity steps keep NaN pixels NaN and every other pixel finite
        for sample, _mask, _params in samples:
            assert np.isfinite(sample[np.isfinite(image)]).mean() > 0.9


@pytest.mark.parametrize("name", list(IMAGES))
def test_batch_of_edge_images_writes_every_copy(tmp_path, name):
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / f"{name}.tif", IMAGES[name])
    pipeline = Pipeline.from_options(**PIPELINES["geometry"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = run_job(augment_dataset(open_source(folder), pipeline, tmp_path / "out", 2))
    written = sorted((tmp_path / "out").rglob("*.tif"))
    assert len(written) == 2, result
    for path in written:
        assert tifffile.imread(path).shape == IMAGES[name].shape
