"""A background task's progress reaches the GUI thread as often as a progress bar needs: at most
ten times a second (each report repaints the panel's bar, the Tasks row's and the status bar's),
and the bar ends on the job's last report."""

from __future__ import annotations

import time

from qbi_desktop.core.jobs import Progress
from qbi_desktop.gui.workers import TaskManager


def _paced(n: int, pause: float):
    for i in range(n):
        time.sleep(pause)
        yield Progress(i + 1, n, "paced")
    return n


def test_a_task_reports_to_the_gui_at_most_ten_times_a_second_and_ends_on_its_last(qtbot):
    manager = TaskManager()
    shown: list[Progress] = []
    start = time.monotonic()
    task = manager.submit("paced", lambda: _paced(150, 0.01), on_progress=shown.append)
    qtbot.waitUntil(lambda: task.finished, timeout=30000)
    elapsed = time.monotonic() - start
    assert task.state == "done" and task.result == 150
    # one report per 0.1 s at most, plus the last one the throttle held back
    assert shown and len(shown) <= 10 * elapsed + 2, (len(shown), elapsed)
    assert shown[-1].done == 150
    manager.wait(5000)
