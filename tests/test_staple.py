"""STAPLE equals SimpleITK's STAPLEImageFilter and finds the planted bad annotator."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.core.quality.staple import staple

sitk = pytest.importorskip("SimpleITK")


def _truth(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    truth = np.zeros(shape, bool)
    for _ in range(6):
        cy, cx = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        r = rng.integers(8, 40)
        truth |= (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    return truth


def _rater(truth, rng, sensitivity, specificity, grow=0):
    from scipy import ndimage

    base = ndimage.binary_dilation(truth, iterations=grow) if grow else truth
    return np.where(
        base, rng.random(truth.shape) < sensitivity, rng.random(truth.shape) > specificity
    ).astype(np.uint8)


RATER_SETS = [
    [(0.95, 0.99, 0), (0.85, 0.995, 0), (0.7, 0.97, 0)],
    [(0.9, 0.99, 0), (0.9, 0.99, 2), (0.5, 0.9, 0), (0.99, 0.999, 0)],
    [(0.98, 0.998, 0), (0.6, 0.999, 0), (0.97, 0.95, 1), (0.8, 0.99, 0), (0.9, 0.9, 0)],
]


@pytest.mark.parametrize("set_index", range(len(RATER_SETS)))
def test_staple_equals_simpleitk(set_index):
    rng = np.random.default_rng(set_index)
    truth = _truth((300, 260), rng)
    masks = [_rater(truth, rng, *r) for r in RATER_SETS[set_index]]
    reference = sitk.STAPLEImageFilter()
    probability = sitk.GetArrayFromImage(
        reference.Execute([sitk.GetImageFromArray(m) for m in masks])
    )
    ours = staple(masks)
    assert np.abs(ours.sensitivity - reference.GetSensitivity()).max() < 1e-3
    assert np.abs(ours.specificity - reference.GetSpecificity()).max() < 1e-3
    assert ((probability >= 0.5) == ours.mask).mean() >= 0.999
    assert np.abs(probability - ours.probability).max() < 1e-3


def test_staple_names_the_planted_bad_annotator_and_recovers_the_truth():
    rng = np.random.default_rng(7)
    truth = _truth((256, 256), rng)
    good = [_rater(truth, rng, 0.95, 0.995) for _ in range(3)]
    bad = _rater(truth, rng, 0.4, 0.9)  # misses most and paints noise
    result = staple([good[0], bad, good[1], good[2]])
    assert int(np.argmin(result.sensitivity)) == 1
    assert int(np.argmin(result.specificity)) == 1
    assert (result.mask == truth).mean() > 0.99


def test_staple_refuses_masks_of_different_shapes():
    with pytest.raises(ValueError, match="mask 2 has shape"):
        staple([np.zeros((4, 4)), np.zeros((4, 5)), np.zeros((4, 4))])
    with pytest.raises(ValueError, match="two or more"):
        staple([np.zeros((4, 4))])
