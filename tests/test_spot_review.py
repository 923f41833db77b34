"""The spot review model: decisions, provenance per pixel, merge on re-detection, JSON file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qbi_desktop.core.annotation.masks import MaskEditor
from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph
from qbi_desktop.core.spot_review import (
    PIXEL_ACCEPTED,
    PIXEL_BY_HAND,
    PIXEL_EDITED,
    PIXEL_UNLABELLED,
    SpotReview,
    SpotReviewError,
)
from qbi_desktop.core.spots import detect_spots


@pytest.fixture(scope="module")
def detection():
    sim = simulate_radiograph(SimulationParams(height=256, width=256, spot_rate_per_mpx=600), 3)
    return sim, detect_spots(sim.image)


def test_queue_order_decisions_and_pixel_provenance(detection):
    sim, det = detection
    review = SpotReview.from_candidates(sim.image.shape, det.candidates, "median", det.params)
    assert len(review) == len(det.candidates) >= 10
    order = review.ranked()
    scores = [review[i].score for i in order]
    assert scores == sorted(scores, reverse=True)
    a, b, c = order[:3]
    editor = MaskEditor(sim.image.shape)
    editor.paint_pixels(review[a].ys, review[a].xs, 1)
    review.set_state(a, "accepted", 1)
    review.set_state(b, "rejected")
    editor.paint_pixels(review[c].ys, review[c].xs, 1)
    review.set_state(c, "edited", 1)
    editor.dab(5, 5, 2)  # painted by hand, away from any proposal
    prov = review.pixel_provenance(editor.mask)
    assert (prov[review[a].ys, review[a].xs] == PIXEL_ACCEPTED).all()
    assert (prov[review[b].ys, review[b].xs] == PIXEL_UNLABELLED).all()
    assert (prov[review[c].ys, review[c].xs] == PIXEL_EDITED).all()
    assert prov[5, 5] == PIXEL_BY_HAND
    assert ((prov != 0) == (editor.mask != 0)).all()
    counts = review.counts()
    assert counts["accepted"] == 1 and counts["rejected"] == 1 and counts["edited"] == 1


def test_reconcile_after_undo_and_merge_keeps_decisions(detection):
    sim, det = detection
    review = SpotReview.from_candidates(sim.image.shape, det.candidates, "median", det.params)
    first = review.ranked()[0]
    editor = MaskEditor(sim.image.shape)
    editor.paint_pixels(review[first].ys, review[first].xs, 1)
    review.set_state(first, "accepted", 1)
    editor.undo()
    assert review.reconcile(editor.mask) == [first]
    assert review[first].state == "proposed"
    # decide two, re-detect with other parameters: decisions stay, proposals are replaced
    x, y = review.ranked()[:2]
    review.set_state(x, "accepted", 1)
    review.set_state(y, "rejected")
    kept = {x: review[x].ys.copy(), y: review[y].ys.copy()}
    det2 = detect_spots(sim.image, k=8.0)
    review.merge(det2.candidates, "median", det2.params)
    assert review[x].state == "accepted" and review[y].state == "rejected"
    assert np.array_equal(review[x].ys, kept[x])
    taken = np.zeros(sim.image.shape, bool)
    for sid in (x, y):
        taken[review[sid].ys, review[sid].xs] = True
    for s in review.spots.values():
        if s.state == "proposed":
            assert not taken[s.ys, s.xs].any()  # no new proposal on a decided spot
    assert review.params["k"] == 8.0


def test_json_round_trip_and_bad_files(tmp_path, detection):
    sim, det = detection
    review = SpotReview.from_candidates(sim.image.shape, det.candidates, "median", det.params)
    sid = review.ranked()[0]
    review.set_state(sid, "accepted", 2)
    path = review.save(SpotReview.path_for(tmp_path / "m.tif"))
    assert path.name == "m.tif.spots.json"
    back = SpotReview.load(path, sim.image.shape)
    assert back.to_dict() == review.to_dict()
    assert back[sid].label == 2
    with pytest.raises(SpotReviewError, match="128x128"):
        SpotReview.load(path, (128, 128))
    data = json.loads(path.read_text())
    data["spots"][0]["state"] = "maybe"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(SpotReviewError, match="unknown state 'maybe'"):
        SpotReview.load(bad)
    bad.write_text("{not json")
    with pytest.raises(SpotReviewError, match=str(bad)):
        SpotReview.load(bad)
    with pytest.raises(SpotReviewError, match="unknown state"):
        review.set_state(sid, "perhaps")


def test_history_undoes_decisions_and_strokes_in_the_order_made(detection):
    """Accept, reject, a hand stroke: undo takes them back last first (the accept with its
    pixels), redo in the order undone; a new stroke after an undo forgets the decision's redo."""
    from qbi_desktop.core.spot_review import ReviewHistory

    sim, det = detection
    review = SpotReview.from_candidates(sim.image.shape, det.candidates, "median", det.params)
    a, b = review.ranked()[:2]
    editor = MaskEditor(sim.image.shape)
    history = ReviewHistory(review, editor)
    history.decide([a], "accepted", 2, paint=True)
    assert (editor.mask[review[a].ys, review[a].xs] == 2).all()
    history.decide([b], "rejected")
    editor.dab(5, 5, 2, 1)  # by hand, after both
    assert history.undo_text() is None  # the stroke is the last edit
    editor.undo()
    assert history.undo_text() == f"reject spot #{b}"
    history.undo()
    assert review[b].state == "proposed" and review[a].state == "accepted"
    history.undo()
    assert review[a].state == "proposed" and not editor.mask.any()
    assert history.undo_text() is None
    history.redo()
    assert review[a].state == "accepted" and review[a].label == 2
    assert (editor.mask[review[a].ys, review[a].xs] == 2).all()
    # another edit of the canvas (a box edit: ``others`` grew) came after the reject's undo
    assert history.redo_text(others=1) is None
    history.redo()
    assert review[b].state == "rejected"
    history.undo()  # the reject again, then a new stroke: the reject cannot be redone
    editor.dab(9, 9, 2, 1)
    editor.undo()  # the mask stands where the reject's undo left it, but with a redo of its own
    assert history.redo_text() is None
    assert review[b].state == "proposed"
