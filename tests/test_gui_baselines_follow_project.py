"""The Baselines form's "Project" source names the project open in the Browser as it changes:
with both docks in view, opening another project left the form saying "The project open in the
Dataset Browser: <the previous one>" (the run itself used the new one)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits


def _project(panel, root, n):
    d = load_digits()
    npz = root.parent / f"{root.name}.npz"
    np.savez(npz, x_train=(d.images[:n] * 16).clip(0, 255).astype(np.uint8), y_train=d.target[:n])
    assert panel.open_project(root, create=True)
    panel.run_import("npz", [npz])


def test_the_project_source_follows_the_browser(qtbot, main_window, tmp_path):
    browser = main_window.panels["browser"]
    form = main_window.panels["baselines"].form
    main_window.docks["baselines"].show()
    main_window.docks["baselines"].raise_()
    form.source.setCurrentIndex(form.source.findData("project"))
    _project(browser, tmp_path / "first", 60)
    qtbot.waitUntil(lambda: len(browser.project) == 60, timeout=30000)
    assert str(tmp_path / "first") in form.project_note.text()

    _project(browser, tmp_path / "second", 80)  # the Baselines dock stays in view meanwhile
    assert str(tmp_path / "second") in form.project_note.text()
    assert form.path.text() == str(tmp_path / "second")
    assert form.source_spec() == f"project:{tmp_path / 'second'}"

    browser.close_project()
    assert "No project open" in form.project_note.text()


def test_a_project_being_labelled_runs_with_its_unlabelled_items_left_out(
    qtbot, main_window, tmp_path
):
    """A run on a project with unlabelled items failed with "label them, or choose to leave
    unlabeled items out" unless the user found the box; leaving them out (and saying how many)
    is the default now, for regression too (items without a value of the target), and the
    refusal is one click away, kept with the form's other settings."""
    from PySide6.QtCore import Qt

    browser = main_window.panels["browser"]
    panel = main_window.panels["baselines"]
    form = panel.form
    main_window.docks["baselines"].show()
    main_window.docks["baselines"].raise_()
    _project(browser, tmp_path / "p", 200)
    qtbot.waitUntil(lambda: len(browser.project) == 200, timeout=30000)
    ids = browser.project.ids()
    browser.project.set_label(ids[:30], None)  # 30 items not labelled yet
    form.source.setCurrentIndex(form.source.findData("project"))
    form.model.setCurrentIndex(form.model.findData("knn"))
    form.split.setCurrentIndex(form.split.findData("random"))  # the import is all "train"

    def run():
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        record = panel.model.records[-1]
        qtbot.waitUntil(lambda: record.finished, timeout=60000)
        return record

    assert form.drop_unlabeled.isChecked()  # the default
    done = run()
    assert done.state == "done", done.error
    assert "30 of 200 items have no class label and were left out" in done.result.warnings
    assert done.result.n_train + done.result.n_test == 170
    qtbot.mouseClick(form.drop_unlabeled, Qt.MouseButton.LeftButton)
    assert not form.drop_unlabeled.isChecked()
    refused = run()
    assert refused.state == "failed" and "30 of 200 items have no class label" in refused.error
    form.flush_settings()
    form.drop_unlabeled.setChecked(True)
    form.restore()  # the choice is kept with the form's settings
    assert not form.drop_unlabeled.isChecked()
    form.task.setCurrentIndex(form.task.findData("regression"))
    assert form.drop_unlabeled.isEnabled()  # items without a target value can be left out


def test_opening_a_project_makes_it_the_source_instead_of_the_digits(qtbot, main_window, tmp_path):
    """The Source stayed on the bundled 8x8 digits while a project was open in the Browser: a
    first Run scored the digits, not the user's data. A source picked after the open stays."""
    from PySide6.QtCore import Qt

    browser = main_window.panels["browser"]
    form = main_window.panels["baselines"].form
    main_window.docks["baselines"].show()
    main_window.docks["baselines"].raise_()
    assert form.source.currentData() == "digits"  # no project: the bundled set to try
    _project(browser, tmp_path / "mine", 60)
    qtbot.waitUntil(lambda: len(browser.project) == 60, timeout=30000)
    assert form.source.currentData() == "project"
    assert form.source_spec() == f"project:{tmp_path / 'mine'}"

    # the user picks the digits back (keys on the combo box): a Run keeps that choice
    form.source.setFocus()
    while form.source.currentData() != "digits":
        qtbot.keyClick(form.source, Qt.Key.Key_Up)
    main_window.panels["baselines"].run_clicked()
    assert form.source_spec() == "digits"
