"""The Browser after opening another project: "Label next" (the unlabelled items only) is not
carried over, so a project imported fully labelled shows its items, and a table with no rows
says why instead of "No project open"."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from qbi_desktop.gui.docks.browser import NO_PROJECT


def _npz(path, n: int, labelled: bool):
    d = load_digits()
    arrays = {"x_train": (d.images[:n] * 16).clip(0, 255).astype(np.uint8)}
    if labelled:
        arrays["y_train"] = d.target[:n]
    np.savez(path, **arrays)
    return path


def test_a_labelled_import_into_the_next_project_is_shown(qtbot, main_window, tmp_path):
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "to_label", create=True)
    assert panel.detail.text() != NO_PROJECT  # open, with nothing in it yet
    assert "Import" in panel.detail.text()
    panel.run_import("npz", [_npz(tmp_path / "a.npz", 120, labelled=False)])
    qtbot.waitUntil(lambda: panel.model.rowCount() == 120, timeout=30000)
    panel.suggestions.queue_box.click()  # Label next, while labelling this project
    assert panel.suggestions.queue_on

    assert panel.open_project(tmp_path / "labelled", create=True)
    assert not panel.suggestions.queue_box.isChecked()
    panel.run_import("npz", [_npz(tmp_path / "b.npz", 200, labelled=True)])
    qtbot.waitUntil(lambda: len(panel.project) == 200, timeout=30000)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 200, timeout=30000)
    qtbot.wait(300)  # the suggestions' first answer reorders nothing now
    assert panel.model.rowCount() == 200
    assert "b-x_train-000" in panel.detail.text()

    # Label next on a fully labelled project: nothing to label, and the line says so
    panel.suggestions.queue_box.click()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=30000)
    qtbot.wait(100)
    assert panel.detail.text() != NO_PROJECT
    assert "Label next" in panel.detail.text()


def test_a_new_empty_project_opens_without_a_qt_warning(qtbot, qtlog, main_window, tmp_path):
    """A project without items is falsy (its length is 0): its class-list settings key came out
    empty and every New Project printed 'QSettings::value: Empty key passed' on stderr."""
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "new", create=True)
    assert len(panel.project) == 0
    messages = [record.message for record in qtlog.records]
    assert not [m for m in messages if "QSettings" in m], messages
