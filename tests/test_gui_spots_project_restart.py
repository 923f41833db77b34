"""Spot review decisions on a project item survive saving and a restart.

The user's walk-through: Spots > Detect on a project item, accept and reject proposals, Ctrl+S,
quit, start again, open the item: "0 accepted, 0 rejected". Real windows, real project, real
key presses; the second window is a fresh start on the same user folder.
"""

from __future__ import annotations

import numpy as np
import tifffile
from conftest import open_and_wait
from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph
from qbi_desktop.gui.main_window import MainWindow

try:
    from tests.gui_browser_annotate_helpers import (
        _ctrl,
        _id_of,
        _open_row_with_enter,
        _wait_item,
        _wait_saved,
    )
except ImportError:  # pragma: no cover
    from gui_browser_annotate_helpers import (
        _ctrl,
        _id_of,
        _open_row_with_enter,
        _wait_item,
        _wait_saved,
    )


def _project_with_radiograph(tmp_path):
    sim = simulate_radiograph(SimulationParams(height=256, width=256, spot_rate_per_mpx=500), 11)
    folder = tmp_path / "images" / "plate"
    folder.mkdir(parents=True)
    tifffile.imwrite(folder / "sim.tif", sim.image)
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [tmp_path / "images"]))
        item_id = _id_of(project, "sim")
    return root, item_id


def _open_item(qtbot, window, root, item_id):
    window.annotator.set_name("Tester")
    browser = window.panels["browser"]
    annotate = window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    assert browser.open_project(root)
    _open_row_with_enter(qtbot, browser, item_id)
    _wait_item(qtbot, annotate, item_id)
    return annotate, window.panels["spots"]


def _detect(qtbot, spots):
    task = spots.detect()
    qtbot.waitUntil(lambda: task.finished and spots.review is not None, timeout=20000)


def test_review_of_a_project_item_is_kept_after_save_and_restart(
    qtbot, main_window, tmp_path, settings_dir
):
    root, item_id = _project_with_radiograph(tmp_path)
    annotate, spots = _open_item(qtbot, main_window, root, item_id)
    _detect(qtbot, spots)
    spots.queue.setFocus()
    accepted = spots.current
    qtbot.keyClick(spots.queue, Qt.Key.Key_A)
    rejected = spots.current
    qtbot.keyClick(spots.queue, Qt.Key.Key_R)
    assert spots.review.counts()["accepted"] == 1 and spots.review.counts()["rejected"] == 1
    _ctrl(qtbot, main_window, Qt.Key.Key_S)
    _wait_saved(qtbot, annotate)
    qtbot.waitUntil(lambda: not annotate.session.modified, timeout=5000)
    with open_project(root) as project:
        assert project.mask(item_id) is not None
    main_window.close()  # quit

    again = MainWindow()  # start again, same user folder
    qtbot.addWidget(again)
    again.resize(1400, 900)
    again.show()
    qtbot.waitExposed(again)
    try:
        annotate2, spots2 = _open_item(qtbot, again, root, item_id)
        qtbot.waitUntil(lambda: spots2.review is not None, timeout=5000)
        review = spots2.review
        assert review[accepted].state == "accepted"
        assert review[rejected].state == "rejected"
        assert "1 accepted, 1 rejected" in spots2.summary.text()
        # the accepted spot's pixels are in the stored mask the item reopened with
        s = review[accepted]
        assert np.all(annotate2.session.editor.mask[s.ys, s.xs] != 0)
        # detecting again keeps the decisions (only undecided proposals are replaced)
        _detect(qtbot, spots2)
        assert spots2.review[accepted].state == "accepted"
        assert spots2.review[rejected].state == "rejected"
    finally:
        again.tasks.cancel_all()
        again.tasks.wait(5000)
        again.close()


def test_review_of_a_plain_file_is_kept_after_save_and_reopen(qtbot, main_window, tmp_path):
    sim = simulate_radiograph(SimulationParams(height=256, width=256, spot_rate_per_mpx=500), 11)
    path = tmp_path / "sim.tif"
    tifffile.imwrite(path, sim.image)
    open_and_wait(qtbot, main_window, path)
    annotate = main_window.panels["annotate"]
    annotate.unsaved_answer = "discard"
    qtbot.waitUntil(lambda: annotate.session is not None and annotate.session.ready)
    spots = main_window.panels["spots"]
    _detect(qtbot, spots)
    spots.queue.setFocus()
    qtbot.keyClick(spots.queue, Qt.Key.Key_R)
    qtbot.keyClick(spots.queue, Qt.Key.Key_A)
    assert annotate.save_to(tmp_path / "sim.mask.tif")
    main_window.close_current()
    open_and_wait(qtbot, main_window, path)
    qtbot.waitUntil(lambda: annotate.session is not None and annotate.session.ready)
    qtbot.waitUntil(lambda: spots.review is not None, timeout=5000)
    assert "1 accepted, 1 rejected" in spots.summary.text()
