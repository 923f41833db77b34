"""An exception that no slot caught (a file that became unreadable while a panel refreshed) is
told to the user in the running app, once however often it repeats, and the app carries on.

pytest-qt's own capture of such exceptions (which fails every other test) is off here: this
test installs the app's hook as run_gui does."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QTimer
from test_gui_annotate_stack import _open_stack
from test_gui_stack_step import _scan

from qbi_desktop.gui import uncaught


@pytest.mark.qt_no_exception_capture
def test_an_uncaught_exception_is_told_once_and_the_app_carries_on(
    qtbot, main_window, tmp_path, monkeypatch
):
    window = main_window
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # put back after the test
    uncaught.install(window.report_error)
    told: list[str] = []
    window.error_reported.connect(told.append)

    scan = _scan(tmp_path / "scan.nxs", 3, 300)
    radiography = window.panels["radiography"]
    _open_stack(qtbot, window, lambda: radiography.open_nexus(str(scan)), 3)
    document = window.current
    qtbot.waitUntil(lambda: window.announced is document)  # its panels have read it
    qtbot.wait(100)
    document.source.close()
    # a slot reading the closed file every 5 ms
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: document.source.plane(1))
    timer.start()
    qtbot.wait(150)
    timer.stop()
    assert len(told) == 1, told  # not a message box per repeat
    assert "scan.nxs" in told[0] and "the file was closed" in told[0]

    QTimer.singleShot(0, lambda: 1 / 0)  # a bug: said as one, the details in the log
    qtbot.waitUntil(lambda: len(told) == 2, timeout=2000)
    assert told[1].startswith("Internal error: ZeroDivisionError")
    assert window.isVisible()
    qtbot.wait(50)
