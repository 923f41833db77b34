"""The agreement report, the consensus and the calibration of a real project whose annotators
edited it through the catalog (each edit recorded as that person's own annotation)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from qbi_desktop.core.catalog import Box, NewItem, open_project, opinions
from qbi_desktop.core.catalog.simulated import simulate_into_project_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.quality.agreement_report import agreement
from qbi_desktop.core.quality.calibration import calibration_job
from qbi_desktop.core.quality.consensus import build_consensus
from qbi_desktop.core.simulate import SimulationParams

PEOPLE = ("Ana", "Ben", "Cleo")


def _project(tmp_path, n):
    project = open_project(tmp_path / "p", create=True)
    with project.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(
                    name=f"img{i:03d}.tif",
                    hash=f"h{i}",
                    path=project.root / f"img{i:03d}.tif",
                    width=32,
                    height=24,
                )
                for i in range(n)
            ]
        )
    return project, ids


def _label_by(project, item):
    return project.db.execute("SELECT label_by FROM items WHERE id = ?", (item,)).fetchone()[0]


def _labels(project, ids, rng):
    """Ana, Ben and Cleo label 40 items; Cleo often guesses; the last item only Ana."""
    truth = rng.choice(["a", "b", "c"], size=len(ids))
    given = {}
    for person, care in zip(PEOPLE, (0.9, 0.8, 0.4), strict=True):
        labels = np.where(rng.random(len(ids)) < care, truth, rng.choice(["a", "b", "c"], len(ids)))
        given[person] = labels
        for item, label in zip(ids[:-1], labels[:-1], strict=True):
            project.set_label([item], str(label), annotator=person)
    project.set_label([ids[-1]], "a", annotator="Ana")
    return given


def test_class_agreement_equals_the_reference_libraries_and_lists_worst_items_first(tmp_path):
    rng = np.random.default_rng(3)
    project, ids = _project(tmp_path, 41)
    given = _labels(project, ids, rng)
    report = agreement(project)
    section = report.sections["label"]
    shared = slice(0, len(ids) - 1)
    for pair, figures in section["pairs"].items():
        a, b = pair.split(" | ")
        assert figures["items"] == 40  # the single-annotator item is not counted
        reference = cohen_kappa_score(given[a][shared], given[b][shared])
        assert figures["cohen_kappa"] == pytest.approx(reference, abs=1e-12)
    ratings = np.stack([given[p][shared] for p in PEOPLE], axis=1)
    codes = np.searchsorted(["a", "b", "c"], ratings)
    reference = sm_fleiss(aggregate_raters(codes, n_cat=3)[0])
    assert section["fleiss_kappa"] == pytest.approx(reference, abs=1e-12)
    # the one person item is reported as such, never as agreement
    assert report.single["label"] == [ids[-1]]
    assert section["items_with_one"] == 1
    assert all(d.item != ids[-1] for d in report.items)
    # most disagreeing first: three different labels before two against one
    scores = [d.score for d in report.items if d.kind == "label"]
    assert scores == sorted(scores, reverse=True)
    three_way = [i for i in range(40) if len({given[p][i] for p in PEOPLE}) == 3]
    if three_way:
        assert report.items[0].score == 1.0 and report.items[0].item in {ids[i] for i in three_way}
    # the guesser agrees least with the others
    per = section["per_annotator"]
    assert min(per, key=lambda p: per[p]["mean_cohen_kappa_with_others"]) == "Cleo"
    assert json.dumps(report.to_dict())  # plain JSON, nan as null


def test_target_agreement_icc_and_bland_altman(tmp_path):
    project, ids = _project(tmp_path, 20)
    rng = np.random.default_rng(1)
    truth = rng.uniform(0, 100, len(ids))
    for item, value in zip(ids, truth, strict=True):
        project.set_targets(item, {"depth": float(value)}, annotator="Ana")
        project.set_targets(item, {"depth": float(value + 5)}, annotator="Ben")  # reads 5 high
    report = agreement(project)
    pair = report.sections["target:depth"]["pairs"]["Ana | Ben"]
    assert pair["bias"] == pytest.approx(-5.0)
    assert pair["sd_of_differences"] == pytest.approx(0.0, abs=1e-9)
    section = report.sections["target:depth"]
    assert section["icc3_1_consistency"] == pytest.approx(1.0)
    assert section["icc2_1_absolute_agreement"] < 1.0
    mean, diff = report.differences[("depth", "Ana", "Ben")]
    assert np.allclose(diff, -5.0) and mean.size == 20


def test_mask_and_box_agreement_and_masks_of_different_shapes_refused(tmp_path):
    project, ids = _project(tmp_path, 3)
    project.set_metadata(mask_classes={"1": "spot"})
    a = np.zeros((24, 32), np.uint8)
    a[2:6, 2:6] = 1  # 16 px
    b = np.zeros((24, 32), np.uint8)
    b[2:6, 3:7] = 1  # 16 px, 12 shared
    project.set_mask(ids[0], a, annotator="Ana")
    project.set_mask(ids[0], b, annotator="Ben")
    project.set_mask(ids[1], a, annotator="Ana")
    project.set_mask(ids[1], np.zeros((10, 10), np.uint8), annotator="Ben")
    project.set_boxes(ids[2], [Box("cell", 0, 0, 10, 10), Box("cell", 20, 0, 5, 5)], "Ana")
    project.set_boxes(ids[2], [Box("cell", 1, 0, 10, 10)], "Ben")
    report = agreement(project)
    spot = report.sections["mask"]["pairs"]["Ana | Ben"]["per_class"]["spot"]
    assert spot["items"] == 1
    assert spot["dice"] == pytest.approx(24 / 32) and spot["iou"] == pytest.approx(12 / 20)
    assert spot["objects"]["matched"] == 1 and spot["objects"]["f1"] == 1.0
    assert len(report.problems) == 1
    assert f"item {ids[1]}" in report.problems[0] and "img001.tif" in report.problems[0]
    assert "Ana: 24x32" in report.problems[0] and "Ben: 10x10" in report.problems[0]
    boxes = report.sections["boxes"]["pairs"]["Ana | Ben"]
    assert boxes["matched"] == 1 and boxes["f1"] == pytest.approx(2 / 3)
    assert boxes["mean_iou_of_matches"] == pytest.approx(90 / 110)


def test_consensus_majority_mean_and_staple_written_with_provenance(tmp_path):
    project, ids = _project(tmp_path, 3)
    project.set_metadata(mask_classes={"1": "spot"})
    for person, label in zip(PEOPLE, ("a", "a", "b"), strict=True):
        project.set_label([ids[0]], label, annotator=person)
    project.set_label([ids[1]], "a", annotator="Ana")
    project.set_label([ids[1]], "b", annotator="Ben")  # a tie: left alone
    for person, value in zip(PEOPLE, (1.0, 2.0, 6.0), strict=True):
        project.set_targets(ids[0], {"depth": value}, annotator=person)
    truth = np.zeros((24, 32), bool)
    truth[4:14, 4:20] = True
    rng = np.random.default_rng(0)
    sloppy = truth & (rng.random(truth.shape) < 0.5)  # Cleo misses half of it
    project.set_mask(ids[2], truth.astype(np.uint8), annotator="Ana")
    project.set_mask(ids[2], ndimage.binary_erosion(truth).astype(np.uint8), annotator="Ben")
    project.set_mask(ids[2], sloppy.astype(np.uint8), annotator="Cleo")

    result = build_consensus(project)
    assert project.get(ids[0])["label"] == "a"
    assert _label_by(project, ids[0]) == "consensus of Ana, Ben, Cleo by majority vote"
    assert result.ties == [ids[1]] and project.get(ids[1])["label"] == "b"  # unchanged
    assert project.targets(ids[0]) == {"depth": 3.0}
    consensus = project.mask(ids[2])
    assert (consensus.astype(bool) == ndimage.binary_erosion(truth)).mean() > 0.97
    assert project.get(ids[2])["mask"]["annotator"] == "consensus of Ana, Ben, Cleo by STAPLE"
    sens = result.staple[ids[2]]
    assert min(sens, key=lambda p: sens[p][0]) == "Cleo"  # the planted bad annotator
    meta = project.metadata()["consensus"]
    assert meta["mask"]["method"] == "STAPLE" and meta["mask"]["annotators"] == list(PEOPLE)
    assert meta["label"]["method"] == "majority vote"
    # each person's own work is still there after the consensus
    assert opinions.for_item(project.db, ids[0])["Cleo"]["label"] == "b"
    # a median consensus instead of the mean
    build_consensus(project, kinds=("target",), target_method="median")
    assert project.targets(ids[0]) == {"depth": 2.0}


def test_calibration_on_simulated_truth_finds_the_loose_and_the_missing_annotator(tmp_path):
    project = open_project(tmp_path / "sim", create=True)
    params = SimulationParams(height=160, width=160, spot_rate_per_mpx=2000.0, object_count=0)
    ids = run_job(simulate_into_project_job(project, 3, seed=5, params=params))
    for item in ids:
        truth = project.mask(item).astype(bool)  # the simulator's exact spot mask
        labels, n = ndimage.label(truth, structure=np.ones((3, 3), bool))
        project.set_mask(item, truth.astype(np.uint8), annotator="exact")
        loose = ndimage.binary_dilation(truth, iterations=2)  # draws 2 px too wide
        project.set_mask(item, loose.astype(np.uint8), annotator="loose")
        half = np.isin(labels, np.arange(1, n + 1, 2))  # marks every other spot
        project.set_mask(item, half.astype(np.uint8), annotator="misser")
    report = run_job(calibration_job(project))
    per = report.per_annotator
    assert set(per) == {"exact", "loose", "misser"}  # the simulator itself is not scored
    assert per["exact"].sensitivity == 1.0 and per["exact"].precision == 1.0
    assert per["exact"].boundary_bias == 0.0
    assert per["loose"].sensitivity == 1.0 and per["loose"].precision < 0.6
    assert 1.5 < per["loose"].boundary_bias <= 2.0
    assert per["misser"].precision == 1.0
    assert 0.4 < per["misser"].object_sensitivity < 0.65
    assert per["misser"].object_precision == 1.0
