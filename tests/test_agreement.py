"""Agreement figures equal the reference implementations: scikit-learn's Cohen's kappa,
statsmodels' Fleiss' kappa, the published ICC example; box and spot matching at IoU 0.5."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from qbi_desktop.core.quality import agreement as ag


@pytest.mark.parametrize("seed", range(20))
def test_cohen_kappa_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 7))
    classes = [f"c{i}" for i in range(n_classes)]
    a = rng.choice(classes, size=int(rng.integers(5, 400)))
    # b copies a often, so kappa spans chance to near-perfect agreement
    b = np.where(rng.random(a.size) < rng.random(), a, rng.choice(classes, size=a.size))
    ours = ag.cohen_kappa(list(a), list(b))
    assert ours == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    labels = sorted(set(a) | set(b))
    assert (ag.confusion(list(a), list(b)) == confusion_matrix(a, b, labels=labels)).all()


def test_cohen_kappa_undefined_when_everyone_gives_one_class():
    assert math.isnan(ag.cohen_kappa(["x"] * 5, ["x"] * 5))
    assert ag.percent_agreement(["x"] * 5, ["x"] * 5) == 1.0


@pytest.mark.parametrize("seed", range(20))
def test_fleiss_kappa_equals_statsmodels(seed):
    rng = np.random.default_rng(100 + seed)
    raters = int(rng.integers(2, 7))
    n_classes = int(rng.integers(2, 6))
    truth = rng.integers(0, n_classes, size=int(rng.integers(10, 300)))
    ratings = np.where(
        rng.random((truth.size, raters)) < rng.random(),
        truth[:, None],
        rng.integers(0, n_classes, size=(truth.size, raters)),
    )
    reference = sm_fleiss(aggregate_raters(ratings, n_cat=n_classes)[0], method="fleiss")
    labels = [str(c) for c in range(n_classes)]
    table = ag.fleiss_table([[str(v) for v in row] for row in ratings], labels)
    assert ag.fleiss_kappa(table) == pytest.approx(reference, abs=1e-12)


def test_icc_equals_the_published_shrout_fleiss_example():
    # Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; ICC(2,1) = .29, ICC(3,1) = .71
    x = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float
    )
    result = ag.icc(x)
    assert result.icc2 == pytest.approx(0.29, abs=0.005)
    assert result.icc3 == pytest.approx(0.71, abs=0.005)


def test_icc_is_one_for_identical_ratings_and_tells_shift_from_disorder():
    base = np.linspace(0, 10, 12)
    assert ag.icc(np.c_[base, base, base]).icc2 == pytest.approx(1.0)
    shifted = ag.icc(np.c_[base, base + 3])  # same order, constant offset
    assert shifted.icc3 == pytest.approx(1.0) and shifted.icc2 < 0.9


def test_bland_altman_bias_and_limits():
    a = np.array([10.0, 12.0, 14.0, 16.0])
    b = a - np.array([1.0, 2.0, 1.0, 2.0])
    ba = ag.bland_altman(a, b)
    sd = np.std([1, 2, 1, 2], ddof=1)
    assert ba.bias == pytest.approx(1.5)
    assert (ba.lower, ba.upper) == pytest.approx((1.5 - 1.96 * sd, 1.5 + 1.96 * sd))


def test_dice_and_iou_per_class():
    a = np.zeros((10, 10), np.uint8)
    b = np.zeros((10, 10), np.uint8)
    a[0:4, 0:5] = 1  # 20 px
    b[0:4, 1:6] = 1  # 20 px, 16 shared
    a[8:10, 8:10] = 2  # only a has class 2
    out = ag.overlap_per_class(a, b)
    assert out[1] == pytest.approx((2 * 16 / 40, 16 / 24))
    assert out[2] == (0.0, 0.0)
    assert 3 not in out
    with pytest.raises(ValueError, match="shapes differ"):
        ag.overlap_per_class(a, b[:5])


def test_boxes_match_one_to_one_at_iou_half_within_a_class():
    a = [("cell", 0, 0, 10, 10), ("cell", 20, 20, 10, 10), ("dust", 50, 50, 4, 4)]
    b = [
        ("cell", 1, 0, 10, 10),  # IoU 90/110 with a's first
        ("cell", 26, 20, 10, 10),  # IoU 40/160 = 0.25: not the same cell
        ("cell", 50, 50, 4, 4),  # same place as a's dust, other class: no match
    ]
    m = ag.match_boxes(a, b)
    assert (m.n_a, m.n_b, m.matched) == (3, 3, 1)
    assert m.f1 == pytest.approx(2 / 6)
    assert m.mean_iou == pytest.approx(90 / 110)
    assert ag.match_boxes([], []).f1 == 1.0


def test_spots_matched_as_connected_components():
    a = np.zeros((20, 20), bool)
    b = np.zeros((20, 20), bool)
    a[2:4, 2:4] = True
    b[2:4, 2:5] = True  # same spot, IoU 4/6
    a[10:12, 10:12] = True  # missed by b
    b[15, 15] = True  # only b
    m = ag.match_components(a, b)
    assert (m.n_a, m.n_b, m.matched) == (2, 2, 1)
    assert m.mean_iou == pytest.approx(4 / 6)
