"""A killed process loses no completed box edit: a child runs the real window, draws boxes with
real mouse events on the canvas (and moves one), says "ready" and is killed with SIGKILL; the
project opened afterwards holds every box as it was after the last edit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from qbi_desktop.core.catalog import open_project

try:
    from tests.conftest import REPO
    from tests.test_gui_boxes import item_ids, make_project
except ImportError:  # pragma: no cover
    from conftest import REPO
    from test_gui_boxes import item_ids, make_project

CHILD = textwrap.dedent(
    """
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import pyqtgraph as pg
    pg.setConfigOption("mouseRateLimit", -1)
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from qbi_desktop.gui.main_window import MainWindow

    root, item = sys.argv[1], int(sys.argv[2])
    app = QApplication([])
    window = MainWindow()
    window.resize(1200, 800)
    window.show()
    browser, annotate = window.panels["browser"], window.panels["annotate"]
    assert browser.open_project(root)

    def wait(condition, seconds=20):
        end = time.monotonic() + seconds
        while not condition():
            app.processEvents()
            if time.monotonic() > end:
                raise SystemExit("timed out")
            time.sleep(0.01)

    browser.open_item(browser.model.row_of(item))
    wait(lambda: getattr(getattr(annotate.boxes.session, "store", None), "item_id", 0) == item)
    canvas = window.canvas
    canvas.view.setRange(xRange=(0, 80), yRange=(0, 60), padding=0)
    app.processEvents()
    annotate.set_tool("box")
    annotate.boxes.set_class("object")  # the user's class for new boxes (none is invented)
    vp = canvas.viewport()

    def at(x, y):
        return canvas.viewportTransform().map(canvas.view.mapViewToScene(QPointF(x, y))).toPoint()

    def drag(a, b):
        QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*a))
        for t in (0.25, 0.5, 0.75, 1.0):
            QTest.mouseMove(vp, at(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t))
        QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*b))

    drag((4, 4), (20, 16))
    drag((30, 30), (50, 52))
    drag((60, 5), (75, 20))
    drag((10, 10), (14, 12))   # moves the first box by (4, 2)
    print("ready", len(annotate.boxes.session.boxes), flush=True)
    while True:
        app.processEvents()
        time.sleep(0.05)
    """
)


def test_boxes_survive_kill_9_after_each_edit(tmp_path):
    root = make_project(tmp_path, n=2)
    item = item_ids(root)[0]
    env = {**os.environ, "PYTHONPATH": str(REPO), "QBI_DESKTOP_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(item)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.split() == ["ready", "3"], proc.stderr.read() if not line else line
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(20) == -signal.SIGKILL
    with open_project(root) as project:
        boxes = [(b.label, b.x, b.y, b.w, b.h) for b in project.boxes(item)]
    assert boxes == [
        ("object", 8, 6, 16, 12),
        ("object", 30, 30, 20, 22),
        ("object", 60, 5, 15, 15),
    ]
