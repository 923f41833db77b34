"""Spots dock: finds the simulated spots, review keys A / R / N, accept-all, review saved."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import Qt

try:
    from tests.conftest import open_and_wait
except ImportError:  # pragma: no cover
    from conftest import open_and_wait

from qbi_desktop.core.maskio import load_mask
from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph
from qbi_desktop.core.spot_review import SpotReview
from qbi_desktop.core.spots import evaluate_spots


@pytest.fixture
def spots_window(qtbot, main_window, tmp_path):
    sim = simulate_radiograph(SimulationParams(height=384, width=384, spot_rate_per_mpx=500), 11)
    path = tmp_path / "sim.tif"
    tifffile.imwrite(path, sim.image)
    window = main_window
    open_and_wait(qtbot, window, path)
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    qtbot.waitUntil(lambda: annotate.session is not None and annotate.session.ready, timeout=10000)
    panel = window.panels["spots"]
    task = panel.detect()
    qtbot.waitUntil(lambda: task.finished and panel.review is not None, timeout=20000)
    return window, panel, annotate, sim, path


def test_dock_finds_the_simulated_spots(spots_window):
    window, panel, annotate, sim, _ = spots_window
    review = panel.review
    pred = np.zeros(sim.image.shape, dtype=np.int32)
    for s in review.spots.values():
        pred[s.ys, s.xs] = s.id
    ev = evaluate_spots(pred, sim.spot_labels)
    assert ev.recall > 0.8 and ev.precision > 0.8, ev.summary()
    # the queue lists them by score with a thumbnail each, and they are outlined on the canvas
    assert panel.queue.count() == len(review)
    scores = [review[sid].score for sid in panel.order]
    assert scores == sorted(scores, reverse=True)
    assert not panel.queue.item(0).icon().isNull()
    assert not panel.paths["proposed"].path().isEmpty()


def test_keys_accept_reject_next(qtbot, spots_window):
    window, panel, annotate, sim, _ = spots_window
    queue = panel.queue
    queue.setFocus()
    first = panel.current
    assert first == panel.order[0]
    qtbot.keyClick(queue, Qt.Key.Key_A)
    s = panel.review[first]
    mask = annotate.session.editor.mask
    assert s.state == "accepted"
    assert (mask[s.ys, s.xs] == annotate.controller.label).all()
    assert int((mask > 0).sum()) == s.area
    assert annotate.session.editor.undo_depth == 1  # one accept = one undo step
    assert panel.current == panel.order[1]  # moved on
    second = panel.current
    qtbot.keyClick(queue, Qt.Key.Key_R)
    assert panel.review[second].state == "rejected"
    assert int((mask > 0).sum()) == s.area  # rejecting paints nothing
    third = panel.current
    qtbot.keyClick(queue, Qt.Key.Key_N)
    assert panel.current == panel.order[panel.order.index(third) + 1]
    qtbot.keyClick(queue, Qt.Key.Key_P)
    assert panel.current == third
    # undo of the accept: the mask is empty again and the spot is back to "proposed"
    annotate.undo()
    assert not annotate.session.editor.mask.any()
    qtbot.waitUntil(lambda: panel.review[first].state == "proposed", timeout=3000)
    # E: the canvas centres on the spot zoomed in, with the brush
    queue.setFocus()
    qtbot.keyClick(queue, Qt.Key.Key_E)
    cy, cx = panel.review[third].centroid
    centre = window.canvas.view.viewRect().center()
    assert abs(centre.x() - (cx + 0.5)) < 2 and abs(centre.y() - (cy + 0.5)) < 2
    assert window.canvas.screen_scale() > 4
    assert annotate.controller.tool == "brush"
    assert panel.review[third].state == "edited"


def test_accept_all_above_score_is_one_step_and_saved_with_mask(tmp_path, spots_window):
    window, panel, annotate, sim, _ = spots_window
    scores = sorted((s.score for s in panel.review.spots.values()), reverse=True)
    threshold = scores[len(scores) // 2]
    panel.accept_score.setValue(threshold)
    expected = [s for s in panel.review.spots.values() if s.score >= threshold]
    panel.accept_all_button.click()
    mask = annotate.session.editor.mask
    want = np.zeros(mask.shape, bool)
    for s in expected:
        want[s.ys, s.xs] = True
        assert s.state == "accepted"
    assert np.array_equal(mask > 0, want)
    assert annotate.session.editor.undo_depth == 1
    out = tmp_path / "saved.tif"
    assert annotate.save_to(out)
    review = SpotReview.load(SpotReview.path_for(out), mask.shape)
    assert review.counts()["accepted"] == len(expected)
    assert np.array_equal(load_mask(out, mask.shape) > 0, want)
    annotate.undo()
    assert not annotate.session.editor.mask.any()
