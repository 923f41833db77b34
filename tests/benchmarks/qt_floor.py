"""The floor of the heartbeat measure in bench_baselines_gui.py: what gaps the machine itself
leaves the GUI thread of a plain Qt window under the same load.

The window is small work on purpose: a 200-row table, a progress bar in a dock and one in the
status bar, their values, text and one table cell changed 10 times a second (as a run's progress
does in the app), and the same 5 ms heartbeat. Meanwhile a child process in a session of its own
(as the Baselines dock's worker is) computes what a 1-NN prediction computes: float32 distance
products against 60 000 x 784 training rows. Run interleaved with the app's runs, under the same
busy processes, it says which part of a long gap is the machine's (this window has it too) and
which is the app's own work (it has not).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

HEARTBEAT_MS = 5  # the GUI-thread timer whose gaps are measured, here and in the app's runs
SECONDS = 9.0  # about one run of the app's benchmark, click to result


def compute(seconds: float) -> None:
    """The child: 1-NN distance products on random MNIST-sized data for ``seconds``."""
    import numpy as np

    rng = np.random.default_rng(0)
    train = rng.random((60_000, 784), dtype=np.float32)
    queries = rng.random((256, 784), dtype=np.float32)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        (queries @ train.T).argmin(axis=1)


def floor_run(seconds: float = SECONDS) -> dict:
    """The heartbeat's gaps in a plain Qt window while the child computes."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import (
        QApplication,
        QDockWidget,
        QMainWindow,
        QProgressBar,
        QTableWidget,
        QTableWidgetItem,
    )

    app = QApplication.instance() or QApplication([])
    window = QMainWindow()
    window.resize(1400, 900)
    table = QTableWidget(200, 8)
    for r in range(200):
        for c in range(8):
            table.setItem(r, c, QTableWidgetItem(f"{r}:{c}"))
    window.setCentralWidget(table)
    dock = QDockWidget("Run")
    bar, status_bar = QProgressBar(), QProgressBar()
    dock.setWidget(bar)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.statusBar().addPermanentWidget(status_bar)
    window.show()
    child = subprocess.Popen(
        [sys.executable, __file__, str(seconds + 2.0)],
        start_new_session=True,  # as the app's worker process
    )
    try:
        time.sleep(1.0)  # the child has its data and computes
        ticks: list[float] = []
        heartbeat = QTimer()
        heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
        heartbeat.setInterval(HEARTBEAT_MS)
        heartbeat.timeout.connect(lambda: ticks.append(time.perf_counter()))
        step = [0]

        def progress() -> None:
            step[0] += 1
            bar.setValue(step[0] % 100)
            bar.setFormat(f"run 1: chunk {step[0]} %p %")
            status_bar.setValue(step[0] % 100)
            table.item(step[0] % 20, 1).setText(str(step[0]))

        reports = QTimer()
        reports.setInterval(100)
        reports.timeout.connect(progress)
        heartbeat.start()
        reports.start()
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()
        heartbeat.stop()
        reports.stop()
    finally:
        child.kill()
        child.wait()
    window.close()
    app.processEvents()
    gaps = np.diff(ticks) * 1000
    return {
        "seconds": seconds,
        "max_gap_ms": float(gaps.max()),
        "gaps_over_50ms": int((gaps > 50).sum()),
    }


if __name__ == "__main__":
    compute(float(sys.argv[1]))
