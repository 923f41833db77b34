"""The Baselines dock computes in a child process it keeps: runs happen there (the GUI thread
never waits on their interpreter lock), Cancel stops the child's work at once and leaves the
process ready for the next run, and closing the window leaves no process behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from qbi_desktop.core.job_process import CANCEL_GRACE_S

try:
    from tests.conftest import MNIST, need
    from tests.gui_baselines_helpers import choose as _choose
    from tests.gui_baselines_helpers import open_baselines, run_and_wait
except ImportError:  # pragma: no cover
    from conftest import MNIST, need
    from gui_baselines_helpers import choose as _choose
    from gui_baselines_helpers import open_baselines, run_and_wait


@pytest.fixture
def panel(main_window, qtbot):
    return open_baselines(main_window, qtbot)


def _run(qtbot, panel, timeout=60000):
    return run_and_wait(qtbot, panel, timeout)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_runs_compute_in_one_child_process_that_ends_with_the_window(panel, qtbot):
    _choose(panel.form.source, "digits")
    _choose(panel.form.model, "knn")
    panel.form.k.setValue(1)
    first = _run(qtbot, panel)
    assert first.state == "done", first.error
    assert first.pid is not None and first.pid != os.getpid()
    assert first.pid == panel.worker.pid and panel.worker.alive
    # in a session of its own: where Linux shares the CPU by session, its computing does not
    # use up the GUI's share
    assert os.getsid(first.pid) == first.pid != os.getsid(0)
    assert first.result.scores["accuracy"] > 0.95  # the child's result reached the table
    # A second run uses the same process (its imports and data are kept there).
    panel.form.k.setValue(3)
    second = _run(qtbot, panel)
    assert second.state == "done" and second.pid == first.pid
    assert Path(f"/proc/{first.pid}").exists()

    panel.window.close()
    qtbot.waitUntil(lambda: not Path(f"/proc/{first.pid}").exists(), timeout=5000)
    assert not panel.worker.alive


def test_a_failed_run_in_the_child_shows_the_same_clear_message(panel, qtbot, tmp_path):
    _choose(panel.form.source, "mnist")
    panel.form.path.setText(str(tmp_path))  # a folder without MNIST files
    record = _run(qtbot, panel)
    assert record.state == "failed"
    assert "no MNIST file" in record.error and str(tmp_path) in record.error
    assert "Traceback" not in record.error
    assert panel.problem.isVisible() and "no MNIST file" in panel.problem.text()


def test_cancel_stops_the_child_at_once_and_it_takes_the_next_run(panel, qtbot):
    need(MNIST)
    _choose(panel.form.source, "mnist")
    panel.form.path.setText(str(MNIST))
    _choose(panel.form.model, "knn")
    panel.form.k.setValue(1)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    record = panel.model.records[-1]
    task = record.task
    qtbot.waitUntil(lambda: (record.progress or 0) > 0.02, timeout=120000)
    assert not task.finished
    pid = panel.worker.pid
    assert pid != os.getpid()
    clicked = time.perf_counter()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: task.finished, timeout=5000)
    latency = task.ended_at - clicked
    print(f"cancel latency {latency * 1000:.0f} ms")
    assert task.state == "cancelled" and record.state == "cancelled"
    assert latency <= 0.5, f"cancel took {latency:.2f} s"
    # The child ends the block it was in (the cancel does not wait for that, and it is not
    # killed for it within the grace), then stops computing: its CPU time stands still (a
    # process that was terminated instead is gone, and the next run starts a new one).
    if panel.worker.alive:
        qtbot.wait(int(1000 * CANCEL_GRACE_S))
    if panel.worker.alive:
        before = _cpu_ticks(pid)
        qtbot.wait(500)
        assert _cpu_ticks(pid) - before <= 5  # clock ticks (1/100 s): idle, not a kNN block
    # The next run is not held up by the cancelled one.
    _choose(panel.form.source, "digits")
    nxt = _run(qtbot, panel)
    assert nxt.state == "done", nxt.error
    assert nxt.pid == panel.worker.pid != os.getpid()
