"""Boxes in the real window: repaint per mouse move while drawing / resizing on 8192^2, and a
scripted user drawing 200 boxes over 20 project items with copy-forward accepted on half.

1. Repaint: an 8192x8192 uint16 image open in the real MainWindow (fitted, and at 1:1 around the
   box), the Box tool on; per mouse move, the time to deliver the move to the viewport and let
   Qt repaint what changed (``processEvents``: the box item's old and new rectangles). Median,
   95th percentile and max over 200 moves, for drawing a new box and for dragging a handle.
2. Scripted user: 20 items (256x256) in a project opened in the Browser; on the first and
   every other item the user draws 10 boxes (10 drags; the very first box asks for its class,
   typed once, and the class stays the last one used); on
   the others Ctrl+Shift+V copies the previous item's boxes as proposals and Shift+Enter
   accepts them all; D moves on (each box edit is already a committed catalog transaction).
   Prints key presses, drags, wall time per box and per item; checks 200 boxes are stored.

    .venv/bin/python tests/benchmarks/bench_boxes.py
    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tests/benchmarks/bench_boxes.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
SCRATCH = Path(tempfile.mkdtemp(prefix="bench-boxes-"))
os.environ["QBI_DESKTOP_HOME"] = str(SCRATCH / "home")

import pyqtgraph as pg  # noqa: E402
import tifffile  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

pg.setConfigOption("mouseRateLimit", -1)
app = QApplication.instance() or QApplication(sys.argv)

from qbi_desktop.core.catalog import open_project  # noqa: E402
from qbi_desktop.core.formats import import_job  # noqa: E402
from qbi_desktop.core.jobs import run_job  # noqa: E402
from qbi_desktop.gui.main_window import MainWindow  # noqa: E402

NO = Qt.KeyboardModifier.NoModifier
LEFT = Qt.MouseButton.LeftButton


def wait(condition, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        app.processEvents()
        if time.monotonic() > end:
            raise SystemExit("timed out")
        time.sleep(0.002)


def at(canvas, x: float, y: float):
    return canvas.viewportTransform().map(canvas.view.mapViewToScene(QPointF(x, y))).toPoint()


def window() -> MainWindow:
    w = MainWindow()
    w.resize(1600, 1000)
    w.show()
    app.processEvents()
    return w


def ms(values: list[float]) -> str:
    v = sorted(values)
    return (
        f"median {statistics.median(v) * 1e3:6.2f} ms  p95 {v[int(0.95 * (len(v) - 1))] * 1e3:6.2f}"
        f"  max {v[-1] * 1e3:6.2f}"
    )


def repaint_bench() -> None:
    path = SCRATCH / "big.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(path, rng.integers(0, 60000, (8192, 8192), dtype=np.uint16))
    w = window()
    w.open_file(str(path))
    annotate = w.panels["annotate"]
    wait(lambda: annotate.boxes.session is not None)
    canvas, vp = w.canvas, w.canvas.viewport()
    annotate.set_tool("box")
    annotate.boxes.set_class("defect")  # chosen before drawing: boxes are stored as drawn
    for view in ("fitted", "1:1"):
        if view == "fitted":
            canvas.fit()
        else:
            canvas.zoom_to(1.0, QPointF(4096, 4096))
        app.processEvents()
        canvas.update_detail()
        app.processEvents()
        r = canvas.view.viewRect()
        x0, y0 = r.left() + r.width() * 0.2, r.top() + r.height() * 0.2
        x1, y1 = r.left() + r.width() * 0.6, r.top() + r.height() * 0.6

        def moves(start, end, n=200):
            times = []
            QTest.mousePress(vp, LEFT, NO, at(canvas, *start))
            app.processEvents()
            for i in range(1, n + 1):
                t = i / n
                p = at(
                    canvas, start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t
                )
                t0 = time.perf_counter()
                QTest.mouseMove(vp, p)
                app.processEvents()
                times.append(time.perf_counter() - t0)
            QTest.mouseRelease(vp, LEFT, NO, at(canvas, *end))
            app.processEvents()
            return times

        draw = moves((x0, y0), (x1, y1))
        box = annotate.boxes.session.boxes[-1]
        corner = (box.x + box.w, box.y + box.h)
        resize = moves(corner, (corner[0] + r.width() * 0.15, corner[1] + r.height() * 0.1))
        print(f"8192^2 {view:6s} draw   per mouse move: {ms(draw)}")
        print(f"8192^2 {view:6s} resize per mouse move: {ms(resize)}")
    w.panels["annotate"].unsaved_answer = "discard"
    w.close()


def scripted_user(n_items: int = 20, per_item: int = 10) -> None:
    folder = SCRATCH / "images" / "a"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n_items):
        Image.fromarray(rng.integers(0, 255, (256, 256), dtype=np.uint8)).save(
            folder / f"i{i:02d}.png"
        )
    root = SCRATCH / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [SCRATCH / "images"]))
    w = window()
    browser, annotate = w.panels["browser"], w.panels["annotate"]
    browser.open_project(root)
    boxes = annotate.boxes
    canvas, vp = w.canvas, w.canvas.viewport()
    keys = drags = 0
    ids = [int(browser.model.item(r)["id"]) for r in range(browser.model.rowCount())]

    def shown(item_id):
        return lambda: getattr(getattr(boxes.session, "store", None), "item_id", 0) == item_id

    t_start = time.perf_counter()
    browser.open_item(0)  # the user double-clicks the first item (one mouse action)
    wait(shown(ids[0]))
    canvas.setFocus()
    QTest.keyClick(canvas, Qt.Key.Key_W)
    keys += 1
    per_item_times = []
    for n in range(len(ids)):
        t0 = time.perf_counter()
        if n % 2 == 0:
            for k in range(per_item):
                x, y = 10 + (k % 5) * 48, 20 + (k // 5) * 110
                QTest.mousePress(vp, LEFT, NO, at(canvas, x, y))
                for t in (0.3, 0.6, 1.0):
                    QTest.mouseMove(vp, at(canvas, x + 36 * t, y + 80 * t))
                QTest.mouseRelease(vp, LEFT, NO, at(canvas, x + 36, y + 80))
                drags += 1
                if boxes.pending is not None:  # the first box asks for its class: typed once
                    QTest.keyClicks(boxes.class_combo, "defect")
                    QTest.keyClick(boxes.class_combo, Qt.Key.Key_Return)
                    keys += len("defect") + 1
                    canvas.setFocus()
        else:
            QTest.keyClick(
                canvas,
                Qt.Key.Key_V,
                Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
            )
            QTest.keyClick(canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
            keys += 2
        assert len(boxes.session.boxes) == per_item, len(boxes.session.boxes)
        if n + 1 < len(ids):
            QTest.keyClick(canvas, Qt.Key.Key_D)
            keys += 1
            wait(shown(ids[n + 1]))
            canvas.setFocus()
        per_item_times.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_start
    with open_project(root) as project:
        stored = sum(len(project.boxes(i)) for i in ids)
    n_boxes = n_items * per_item
    assert stored == n_boxes, stored
    print(
        f"scripted user: {n_boxes} boxes over {n_items} items, copy-forward on {n_items // 2}: "
        f"{keys} key presses ({keys / n_boxes:.2f} per box), {drags} drags, "
        f"wall {total:.2f} s = {total / n_boxes * 1e3:.1f} ms per box "
        f"(median per item {statistics.median(per_item_times) * 1e3:.0f} ms, incl. opening "
        f"the next item); {stored} boxes in the catalog"
    )
    annotate.unsaved_answer = "discard"
    w.close()


if __name__ == "__main__":
    import shutil

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    try:
        repaint_bench()
        scripted_user()
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)  # the 8192^2 image is 128 MB
