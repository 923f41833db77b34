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
