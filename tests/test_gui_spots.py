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


# -- hot pixels (real radiographs) ---------------------------------------------------------------
def _radiographs():
    try:
        from tests.conftest import RADIOGRAPHS, need
    except ImportError:  # pragma: no cover
        from conftest import RADIOGRAPHS, need
    return [need(RADIOGRAPHS / f"edge20mm_000{i}.tif") for i in range(4)]


def _open_for_spots(qtbot, window, path):
    open_and_wait(qtbot, window, path)
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    qtbot.waitUntil(lambda: annotate.session is not None and annotate.session.ready, timeout=10000)
    return window.panels["spots"]


def test_hot_pixel_frames_cut_the_real_candidates(qtbot, main_window, monkeypatch):
    import json

    from PySide6.QtWidgets import QFileDialog

    from qbi_desktop.gui.docks.spots import HOT_FRAMES_KEY

    first, *others = _radiographs()
    window = main_window
    panel = _open_for_spots(qtbot, window, first)
    task = panel.detect()
    qtbot.waitUntil(lambda: task.finished and panel.review is not None, timeout=20000)
    before = len(panel.review)
    assert before > 5000, before  # the detector alone: mostly hot pixels
    # the button: a multi-select file dialog (Qt's dialog answered here), then a worker
    chosen = [str(p) for p in others]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: (chosen, ""))
    qtbot.mouseClick(panel.hot_button, Qt.MouseButton.LeftButton)
    hot_task = panel.hot_task
    assert hot_task is not None
    qtbot.waitUntil(lambda: hot_task.finished, timeout=20000)
    assert hot_task.state == "done", hot_task.error
    n = int(panel.hot_map.sum())
    assert n > 1000
    assert panel.hot_label.text() == f"{n} hot pixels excluded (from 3 frames)"
    assert json.loads(window.settings.value(HOT_FRAMES_KEY)) == chosen
    # detections were shown, so they are redone with the hot pixels excluded
    qtbot.waitUntil(lambda: panel.task.finished and len(panel.review) < before, timeout=20000)
    after = len(panel.review)
    assert after < 2000, after
    assert panel.review.params["hot_pixel_frames"] == chosen  # provenance in the review
    # a new window remembers the frames and excludes them again
    from qbi_desktop.gui.main_window import MainWindow

    second = MainWindow()
    qtbot.addWidget(second)
    try:
        restored = second.panels["spots"]
        assert restored.hot_task is not None
        qtbot.waitUntil(lambda: restored.hot_task.finished, timeout=20000)
        assert restored.hot_paths == chosen and int(restored.hot_map.sum()) == n
    finally:
        second.tasks.cancel_all()
        second.tasks.wait(5000)
        second.close()
    # Clear: back to everything, and forgotten
    panel.hot_clear.click()
    assert panel.hot_map is None and panel.hot_label.text() == "No hot pixels excluded"
    assert window.settings.value(HOT_FRAMES_KEY, None) is None
    qtbot.waitUntil(lambda: panel.task.finished and len(panel.review) == before, timeout=20000)


def test_hot_pixel_frames_of_another_shape_are_reported(qtbot, main_window, tmp_path):
    first, second, third, _ = _radiographs()
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, tifffile.imread(first)[:300, :400])
    window = main_window
    panel = _open_for_spots(qtbot, window, small)
    hot_task = panel.set_hot_pixel_frames([second, third])
    qtbot.waitUntil(lambda: hot_task.finished, timeout=20000)
    task = panel.detect()
    # detection still runs (without the exclusion) and the user is told why, with both shapes
    qtbot.waitUntil(lambda: task.finished and panel.review is not None, timeout=20000)
    assert task.state == "done"
    error = window.last_error or ""
    assert str(small) in error and "(300, 400)" in error and "(600, 600)" in error
    # frames that do not match each other: the error names the file and both shapes
    bad = panel.set_hot_pixel_frames([second, small])
    qtbot.waitUntil(lambda: bad.finished, timeout=20000)
    assert bad.state == "failed"
    assert str(small) in window.last_error and "(300, 400)" in window.last_error
    assert panel.hot_map is not None  # the earlier map is kept until a good one replaces it
