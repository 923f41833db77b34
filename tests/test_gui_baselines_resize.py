"""The Baselines dock on a real radiography project whose images have different sizes: the
form's "Resize to" control (auto / off / height × width) makes the run possible, is kept with
the form's settings and shown in the history; with it off, the error names the sizes and the
control. And a constant regression target says why its "MAE 0" is no perfect model."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

try:
    from tests.gui_baselines_helpers import choose, open_baselines
    from tests.test_baselines_real_projects import two_size_folder
except ImportError:  # pragma: no cover
    from gui_baselines_helpers import choose, open_baselines
    from test_baselines_real_projects import two_size_folder


def _run(qtbot, panel, timeout=60000):
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    record = panel.model.records[-1]
    qtbot.waitUntil(lambda: record.finished, timeout=timeout)
    return record


def _params(panel, record) -> str:
    model = panel.model
    row = model.row_of(record)
    column = next(
        c
        for c in range(model.columnCount())
        if model.headerData(c, Qt.Orientation.Horizontal) == "Parameters"
    )
    return model.data(model.index(row, column))


def _type(qtbot, spin, value: int) -> None:
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, str(value))
    qtbot.keyClick(spin, Qt.Key.Key_Enter)


def test_a_project_of_two_image_sizes_runs_with_the_resize_control(qtbot, main_window, tmp_path):
    browser = main_window.panels["browser"]
    panel = open_baselines(main_window, qtbot)
    form = panel.form
    assert browser.open_project(tmp_path / "radiographs", create=True)
    browser.run_import("imagefolder", [two_size_folder(tmp_path / "files")])
    qtbot.waitUntil(lambda: len(browser.project) == 18, timeout=30000)
    choose(form.source, "project")
    choose(form.task, "classification")
    choose(form.model, "knn")
    assert form.resize_choice.currentData() == "auto"  # a new user's first run just works

    # off: the run stops, naming the sizes and the control to use (not resize_to=(h, w))
    choose(form.resize_choice, "off")
    assert not form.resize_size.isVisible()
    refused = _run(qtbot, panel)
    assert refused.state == "failed"
    assert "different sizes" in refused.error
    assert "(25, 14)" in refused.error and "(60, 60)" in refused.error
    assert "Features ▸ Resize to" in refused.error
    assert "resize_to=" not in refused.error and "--resize" not in refused.error
    assert "Features ▸ Resize to" in panel.problem.text()

    # auto: resized to the suggestions' size, a confusion matrix, the size in the history
    choose(form.resize_choice, "auto")
    done = _run(qtbot, panel)
    assert done.state == "done", done.error
    qtbot.waitUntil(lambda: panel.last_shown is done, timeout=10000)
    result = done.result
    assert result.confusion is not None and result.confusion.sum() == result.n_test > 0
    assert np.trace(result.confusion) == result.n_test  # dark and bright are easy
    assert done.config["resize_to"] == [32, 32]
    assert "resized 32x32" in _params(panel, done)
    assert panel.result_view.note.isVisible()
    assert "resized to 32x32" in panel.result_view.note.text()

    # height × width: typed into the form, used as typed
    choose(form.resize_choice, "size")
    assert form.resize_size.isVisible()
    _type(qtbot, form.resize_h, 20)
    _type(qtbot, form.resize_w, 12)
    sized = _run(qtbot, panel)
    assert sized.state == "done", sized.error
    assert sized.config["resize_to"] == [20, 12]
    assert sized.result.confusion.sum() == sized.result.n_test
    assert "resized 20x12" in _params(panel, sized)

    # kept with the form's settings
    form.flush_settings()
    choose(form.resize_choice, "off")
    form.restore()
    assert form.resize_choice.currentData() == "size"
    assert (form.resize_h.value(), form.resize_w.value()) == (20, 12)
    # and "Use settings" of the auto run shows the size it used
    form.set_config(done.source, done.config_obj)
    assert form.resize_choice.currentData() == "size" and form.resize_h.value() == 32


def test_a_constant_regression_target_says_why_its_score_is_no_result(qtbot, main_window, tmp_path):
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.catalog.simulated import simulate_into_project_job
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.core.simulate import SimulationParams

    root = tmp_path / "simulated"
    made = open_project(root, create=True)
    run_job(simulate_into_project_job(made, 8, 0, SimulationParams(height=64, width=64)))
    made.close()
    browser = main_window.panels["browser"]
    panel = open_baselines(main_window, qtbot)
    form = panel.form
    assert browser.open_project(root)
    qtbot.waitUntil(lambda: browser.project is not None and len(browser.project) == 8)
    choose(form.source, "project")
    choose(form.task, "regression")
    choose(form.model, "knn")
    form.target.setCurrentText("object_count")
    record = _run(qtbot, panel)
    assert record.state == "done", record.error
    qtbot.waitUntil(lambda: panel.last_shown is record, timeout=10000)
    assert record.result.scores["mae"] == 0
    note = panel.result_view.note
    assert note.isVisible()
    assert "every object_count value is 6" in note.text()
    assert "R² is undefined" in note.text() and "nothing to learn" in note.text()
