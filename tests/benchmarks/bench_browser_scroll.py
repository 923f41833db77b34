"""Scrolling the Browser while its thumbnails are being made: they must never block scrolling.

The real main window opens a fresh MNIST project (70 000 items, no thumbnail cached yet) in the
Browser; a 60 Hz timer then scrolls the table a page per tick, as a fling of the wheel does, and
each step's repaint is timed. Meanwhile the thumbnails of the rows shown are rendered by worker
jobs, and a 10 ms heartbeat timer in the GUI thread records its ticks: its longest gap is the
longest the interface was unresponsive. Printed: paint per scroll step (median, p95, max), the
heartbeat's longest gap, how many thumbnail updates arrived during the run, and how long after
the fling stops every row on screen has its thumbnail.

Run: .venv/bin/python tests/benchmarks/bench_browser_scroll.py [--no-freeze]   (offscreen or Xvfb)
(--no-freeze: without the app's start-up gc.freeze, to see the full collections it avoids)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

MNIST = REPO.parent / "shared" / "data" / "mnist"
STEPS = 300


def wait(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> int:
    if not MNIST.is_dir():
        print(f"no MNIST data at {MNIST}")
        return 1
    home = tempfile.mkdtemp()
    os.environ["QBI_DESKTOP_HOME"] = home
    app = QApplication.instance() or QApplication(sys.argv)

    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.gui.app import freeze_startup_objects
    from qbi_desktop.gui.docks.browser_model import COL_THUMB
    from qbi_desktop.gui.main_window import MainWindow

    root = Path(home) / "mnist"
    project = open_project(root, create=True)
    run_job(import_job(project, "mnist", [MNIST]))
    project.close()

    window = MainWindow()
    window.resize(1600, 1000)
    window.show()
    if "--no-freeze" not in sys.argv:
        freeze_startup_objects()  # what the app does once start-up is over
    browser = window.panels["browser"]
    assert browser.open_project(root)
    table, model = browser.table, browser.model
    wait(300)
    bar = table.verticalScrollBar()

    ticks: list[float] = []
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    arrived = 0

    def count(_first, _last, _roles=()):
        nonlocal arrived
        arrived += 1

    model.dataChanged.connect(count)
    paints: list[float] = []
    step = 0
    loop = QEventLoop()

    def scroll() -> None:
        nonlocal step
        bar.setValue(bar.value() + bar.pageStep())
        start = time.perf_counter()
        table.viewport().repaint()
        paints.append(time.perf_counter() - start)
        step += 1
        if step >= STEPS:
            driver.stop()
            loop.quit()

    driver = QTimer()
    driver.setTimerType(Qt.TimerType.PreciseTimer)
    driver.setInterval(16)
    driver.timeout.connect(scroll)
    heartbeat.start()
    started = time.perf_counter()
    driver.start()
    loop.exec()
    fling = time.perf_counter() - started
    stopped = time.perf_counter()

    def on_screen() -> tuple[int, int]:
        first = table.rowAt(0)
        last = table.rowAt(table.viewport().height() - 1)
        last = model.rowCount() - 1 if last < 0 else last
        have = sum(
            1
            for r in range(first, last + 1)
            if model.data(model.index(r, COL_THUMB), Qt.ItemDataRole.DecorationRole) is not None
        )
        return have, last + 1 - first

    while on_screen()[0] < on_screen()[1] and time.perf_counter() - stopped < 5:
        wait(10)
    settle = time.perf_counter() - stopped
    with_thumb, n_shown = on_screen()
    heartbeat.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    ms = sorted(p * 1000 for p in paints)
    print(
        f"fling: {STEPS} page steps at 60 Hz over {model.rowCount()} items ({fling:.1f} s, "
        f"{bar.value()} rows scrolled), thumbnails made on workers meanwhile"
    )
    print(
        f"  paint per scroll step: median {statistics.median(ms):.1f} ms, "
        f"p95 {ms[int(0.95 * len(ms))]:.1f} ms, max {ms[-1]:.1f} ms (a frame is 16.7 ms)"
    )
    print(
        f"  GUI heartbeat (10 ms timer): longest gap {max(gaps) * 1000:.1f} ms, "
        f"median {statistics.median(gaps) * 1000:.1f} ms"
    )
    print(
        f"  thumbnail updates during the run: {arrived}; every row on screen has its thumbnail "
        f"{settle * 1000:.0f} ms after the fling stops ({with_thumb}/{n_shown})"
    )
    window.tasks.cancel_all()
    window.tasks.wait(5000)
    window.close()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
