"""Set-up shared by the Baselines dock's GUI tests: the dock shown and its form's choices."""

from __future__ import annotations

from PySide6.QtCore import Qt


def open_baselines(main_window, qtbot):
    """The Baselines dock, shown and ready to run."""
    panel = main_window.panels["baselines"]
    panel.show_panel()
    qtbot.waitUntil(lambda: panel.run_button.isVisible(), timeout=5000)
    return panel


def choose(combo, key) -> None:
    """Select the entry of `combo` whose data is `key` (it must be offered)."""
    index = combo.findData(key)
    assert index >= 0, key
    combo.setCurrentIndex(index)


def run_and_wait(qtbot, panel, timeout: int):
    """Click Run and wait until the run is finished and shown; its history record."""
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    record = panel.model.records[-1]
    qtbot.waitUntil(lambda: record.finished and panel.last_shown is record, timeout=timeout)
    return record
