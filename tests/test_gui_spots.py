"""Spots dock: finds the simulated spots, review keys A / R / N, accept-all, review saved."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import Qt

try:
    from tests.conftest import open_and_wait
    from tests.gui_spots_helpers import open_simulated_spots
except ImportError:  # pragma: no cover
    from conftest import open_and_wait
    from gui_spots_helpers import open_simulated_spots

from qbi_desktop.core.maskio import load_mask
from qbi_desktop.core.spot_review import SpotReview
from qbi_desktop.core.spots import evaluate_spots, evaluate_temporal, temporal_spot_truth

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need


@pytest.fixture
def spots_window(qtbot, main_window, tmp_path):
    window = main_window
    sim, path, annotate = open_simulated_spots(qtbot, window, tmp_path, 384, 11)
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
    # undo takes back the reject (the last decision), then the accept: the mask is empty
    # again and both spots are back to "proposed"
    annotate.undo()
    assert panel.review[second].state == "proposed"
    assert int((annotate.session.editor.mask > 0).sum()) == s.area
    annotate.undo()
    assert not annotate.session.editor.mask.any()
    assert panel.review[first].state == "proposed"
    assert panel.current == first  # the queue shows the spot whose decision was undone
    # E: the canvas centres on the spot zoomed in, with the brush
    queue.setFocus()
    qtbot.keyClick(queue, Qt.Key.Key_E)
    cy, cx = panel.review[first].centroid
    centre = window.canvas.view.viewRect().center()
    assert abs(centre.x() - (cx + 0.5)) < 2 and abs(centre.y() - (cy + 0.5)) < 2
    assert window.canvas.screen_scale() > 4
    assert annotate.controller.tool == "brush"
    assert panel.review[first].state == "edited"


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
    return [need(RADIOGRAPHS / f"edge20mm_000{i}.tif") for i in range(4)]


def _open_for_spots(qtbot, window, path):
    open_and_wait(qtbot, window, path)
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    qtbot.waitUntil(lambda: annotate.session is not None and annotate.session.ready, timeout=10000)
    return window.panels["spots"]


def _detect(qtbot, panel):
    qtbot.mouseClick(panel.detect_button, Qt.MouseButton.LeftButton)
    task = panel.task
    qtbot.waitUntil(lambda: task.finished, timeout=30000)
    assert task.state == "done", task.error
    return panel.detection


def test_detect_on_a_series_frame_proposes_its_gamma_spots(qtbot, main_window):
    """Detect with defaults on a real frame: the other frames of its series beside it are found
    and their hot pixels removed, so the queue holds ~800 spots, not ~7 500 hot pixels."""
    frames = _radiographs()
    panel = _open_for_spots(qtbot, main_window, frames[0])
    assert panel.auto_hot.isChecked()  # the default
    det = _detect(qtbot, panel)
    truth = temporal_spot_truth(np.stack([tifffile.imread(p) for p in frames]), 0)
    n_true = len(truth.evaluated_ids())
    assert 0.8 * n_true <= len(panel.review) <= 1.3 * n_true, (len(panel.review), n_true)
    strict = evaluate_temporal(det.labels, truth, ignore_fixed=False)
    assert strict.f1 >= 0.88, strict.summary()
    text = panel.hot_label.text()
    assert "3 other frames of the series edge20mm_####.tif" in text, text
    assert f"{det.hot_pixels} hot pixels excluded" in text and det.hot_pixels > 5000
    assert panel.hint.isHidden()
    assert panel.review.params["hot_pixel_frames"] == [str(p) for p in frames[1:]]


def test_the_dock_says_when_proposals_look_like_hot_pixels_and_offers_the_references(
    qtbot, main_window
):
    first = _radiographs()[0]
    dark = str(RADIOGRAPHS / "dc.tif")
    panel = _open_for_spots(qtbot, main_window, first)
    qtbot.mouseClick(panel.auto_hot, Qt.MouseButton.LeftButton)  # off: the detector alone
    assert not panel.auto_hot.isChecked()
    _detect(qtbot, panel)
    before = len(panel.review)
    assert before > 5000
    assert panel.hint.isVisible()
    assert "lone bright pixels" in panel.hint_text.text()
    assert panel.use_dark_button.isVisible() and "dc.tif" in panel.use_dark_button.text()
    assert panel.use_series_button.isVisible()
    assert "3 frames of the series" in panel.use_series_button.text()
    assert "edge20mm_####.tif" in panel.use_series_button.toolTip()
    # the dark frame alone: accepted, and the proposals shrink, but most are still lone pixels
    qtbot.mouseClick(panel.use_dark_button, Qt.MouseButton.LeftButton)
    hot_task = panel.hot_task
    qtbot.waitUntil(lambda: hot_task.finished, timeout=20000)
    assert hot_task.state == "done", hot_task.error
    assert panel.hot_paths == [dark]
    qtbot.waitUntil(lambda: panel.task.finished and len(panel.review) < before, timeout=30000)
    with_dark = len(panel.review)
    assert with_dark < 0.6 * before
    assert "from a dark frame you chose" in panel.hot_label.text()
    assert panel.hint.isVisible() and not panel.use_dark_button.isVisible()
    assert "was not enough" in panel.hint_text.text()
    # the series: down to the gamma spots, and the hint goes away
    qtbot.mouseClick(panel.use_series_button, Qt.MouseButton.LeftButton)
    hot_task = panel.hot_task
    qtbot.waitUntil(lambda: hot_task.finished, timeout=20000)
    qtbot.waitUntil(lambda: panel.task.finished and len(panel.review) < 1000, timeout=30000)
    assert panel.hint.isHidden()
    assert "from 3 frames you chose" in panel.hot_label.text()


def test_skip_lone_pixels_from_the_hint(qtbot, main_window):
    panel = _open_for_spots(qtbot, main_window, _radiographs()[0])
    panel.auto_hot.setChecked(False)
    _detect(qtbot, panel)
    before = len(panel.review)
    assert panel.hint_lone_button.isVisible()
    qtbot.mouseClick(panel.hint_lone_button, Qt.MouseButton.LeftButton)
    assert panel.skip_lone.isChecked()
    qtbot.waitUntil(lambda: panel.task.finished and len(panel.review) < 0.4 * before, timeout=30000)
    assert panel.detection.isolated == 0


def test_hot_pixels_button_accepts_the_dark_frame(qtbot, main_window, monkeypatch):
    """The dark-current frame alone (dc.tif) is a reference, as the README says."""
    import json

    from PySide6.QtWidgets import QFileDialog

    from qbi_desktop.gui.docks.spots import HOT_FRAMES_KEY

    dark = need(RADIOGRAPHS / "dc.tif")
    window = main_window
    panel = _open_for_spots(qtbot, window, _radiographs()[0])
    panel.auto_hot.setChecked(False)
    _detect(qtbot, panel)
    before = len(panel.review)
    chosen = [str(dark)]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: (chosen, ""))
    qtbot.mouseClick(panel.hot_button, Qt.MouseButton.LeftButton)
    hot_task = panel.hot_task
    assert hot_task is not None
    qtbot.waitUntil(lambda: hot_task.finished, timeout=20000)
    assert hot_task.state == "done", hot_task.error
    assert window.last_error is None or "dc.tif" not in window.last_error
    assert json.loads(window.settings.value(HOT_FRAMES_KEY)) == chosen
    # detections were shown, so they are redone with the hot pixels removed
    qtbot.waitUntil(lambda: panel.task.finished and len(panel.review) < before, timeout=20000)
    assert len(panel.review) < 0.6 * before
    assert panel.review.params["hot_pixel_frames"] == chosen  # provenance in the review
    n = panel.detection.hot_pixels
    assert panel.hot_label.text() == f"{n} hot pixels excluded (from a dark frame you chose)"
    # a new window remembers the frame and uses it again
    from qbi_desktop.gui.main_window import MainWindow

    second = MainWindow()
    qtbot.addWidget(second)
    try:
        restored = second.panels["spots"]
        assert restored.hot_task is not None
        qtbot.waitUntil(lambda: restored.hot_task.finished, timeout=20000)
        assert restored.hot_paths == chosen
        assert np.array_equal(restored.hot.excess, panel.hot.excess)
    finally:
        second.tasks.cancel_all()
        second.tasks.wait(5000)
        second.close()
    # Clear: back to everything, and forgotten
    panel.hot_clear.click()
    assert panel.hot_map is None
    assert window.settings.value(HOT_FRAMES_KEY, None) is None
    qtbot.waitUntil(lambda: panel.task.finished and len(panel.review) == before, timeout=20000)
    assert panel.hot_label.text() == "No hot pixels excluded"


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


def _centred_on(window, spot, tol=2.0):
    cy, cx = spot.centroid
    centre = window.canvas.view.viewRect().center()
    return abs(centre.x() - (cx + 0.5)) < tol and abs(centre.y() - (cy + 0.5)) < tol


def test_stepping_through_the_queue_centres_on_each_spot(qtbot, spots_window):
    window, panel, annotate, sim, _ = spots_window
    window.canvas.fit()  # the whole image: the spots are a few screen pixels each
    assert window.canvas.screen_scale() < 4
    queue = panel.queue
    queue.setFocus()
    for key in (Qt.Key.Key_N, Qt.Key.Key_N, Qt.Key.Key_P):
        qtbot.keyClick(queue, key)
        assert _centred_on(window, panel.review[panel.current]), panel.current
        assert window.canvas.screen_scale() >= 7.9
    # a decision moves on to the next spot, and the view follows
    qtbot.keyClick(queue, Qt.Key.Key_R)
    assert _centred_on(window, panel.review[panel.current])
    # a click in the queue too; a closer zoom chosen by the user is kept
    window.canvas.zoom_to(20.0)
    item = queue.item(5)
    qtbot.mouseClick(
        queue.viewport(), Qt.MouseButton.LeftButton, pos=queue.visualItemRect(item).center()
    )
    assert panel.current == panel.order[5]
    assert _centred_on(window, panel.review[panel.current])
    assert abs(window.canvas.screen_scale() - 20.0) < 0.5
    # unticked, the view stays where it is
    panel.follow.setChecked(False)
    before = window.canvas.view.viewRect()
    qtbot.keyClick(queue, Qt.Key.Key_N)
    assert window.canvas.view.viewRect() == before


@pytest.mark.parametrize(
    "name, image",
    [
        ("constant_u64.tif", np.full((64, 64), 2**63 + 5, np.uint64)),
        ("row.tif", np.arange(300, dtype=np.uint16)[None] * 7),
        ("nan.tif", None),
    ],
)
def test_hostile_images_in_the_dock(qtbot, main_window, tmp_path, name, image):
    if image is None:
        image = np.random.default_rng(0).normal(100, 5, (64, 64)).astype(np.float32)
        image[20:22, 20:22] = 500
        image[30, :] = np.nan
    path = tmp_path / name
    tifffile.imwrite(path, image)
    window = main_window
    open_and_wait(qtbot, window, path)
    panel = window.panels["spots"]
    window.last_error = None
    task = panel.detect()
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    if name == "row.tif":  # too small to judge a spot: said so, naming the file
        assert task.state == "failed"
        assert str(path) in window.last_error and "1 x 300 pixels" in window.last_error
        assert "failed" in panel.summary.text()
        # The image's annotation session can arrive after the failure (on a busy machine it
        # did): the dock still says the detection failed, not "Not detected yet".
        annotate = window.annotate_panel
        annotate.session_changed.emit(annotate.session)
        assert "failed" in panel.summary.text()
    else:
        assert task.state == "done", task.error
        qtbot.waitUntil(lambda: panel.review is not None, timeout=5000)
        if name == "nan.tif":  # the spot beside the NaN row is found
            assert len(panel.review) == 1 and panel.detection.nonfinite == 64
        else:
            assert len(panel.review) == 0
    assert window.isVisible()


def test_before_a_detection_the_dock_says_what_to_do_next(qtbot, main_window, tmp_path):
    """Nothing is detected on its own when an image opens, and the dock said only "No detection
    yet" (with "Live" ticked, a user waited for spots): it names the step that brings them."""
    window = main_window
    panel = window.panels["spots"]
    window.docks["spots"].show()
    window.docks["spots"].raise_()
    assert panel.summary.text().startswith("No image open: open one (Ctrl+O), then Detect")
    open_simulated_spots(qtbot, window, tmp_path, 256, 5)
    assert panel.review is None
    assert panel.summary.text().startswith("Not detected yet: Detect proposes this image's spots")
    qtbot.mouseClick(panel.detect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.review is not None, timeout=20000)
    assert panel.summary.text() == (
        f"{len(panel.review)} spots: {len(panel.review)} to review, 0 accepted, 0 rejected, "
        "0 edited"
    )
    assert len(panel.review) > 0
