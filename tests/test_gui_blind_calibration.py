"""Calibrating an annotator on simulated truth in the window: Dataset > Calibrate Annotator makes
a simulated set, turns blind labelling on (the truth hidden) and shows the set; the person's mask,
drawn one pixel too large all round, gives full sensitivity and a positive boundary bias."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.quality.calibration import simulated_truth


def test_calibration_set_is_labelled_blind_and_the_result_names_the_bias(
    qtbot, main_window, tmp_path
):
    window = main_window
    window.annotator.set_name("Bob")
    root = tmp_path / "proj"
    open_project(root, create=True).close()
    browser = window.panels["browser"]
    assert browser.open_project(root)
    flow = window.panels["calibrate"]

    task = flow.make_set(count=2, seed=5)
    qtbot.waitUntil(lambda: task.finished, timeout=60000)
    assert task.state == "done", task.error
    qtbot.waitUntil(lambda: len(flow.made) == 2, timeout=5000)
    assert window.blind.action.isChecked()  # the truth masks are hidden while labelling
    assert sorted(browser.model.ids.tolist()) == sorted(flow.made)
    first = flow.made[0]
    row = browser.model.row_of(first)
    assert browser.model.item(row)["has_mask"] is False  # blind: Bob has drawn nothing yet

    with open_project(root) as project:
        (prov,) = project.db.execute(
            "SELECT provenance FROM items WHERE id = ?", (first,)
        ).fetchone()
        truth = simulated_truth(prov)
        assert truth is not None and truth.any()
        drawn = ndimage.binary_dilation(truth > 0, np.ones((3, 3), bool)).astype(np.uint8)
        project.set_mask(first, drawn, "Bob")  # as Annotate's Ctrl+S writes it

    task = flow.show_result()
    qtbot.waitUntil(lambda: task.finished, timeout=60000)
    assert task.state == "done", task.error
    qtbot.waitUntil(
        lambda: flow.result_box is not None and flow.result_box.isVisible(), timeout=5000
    )
    text = flow.result_box.text()
    assert text.startswith("Bob on 1 simulated item(s)")
    assert "pixel sensitivity 100.0 %" in text
    assert "drawn too large" in text
