"""13.6 for real: the same image opened twice in one window, and in a second process, while
strokes are being painted; then kill -9 and the next start recovers every completed stroke."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import tifffile

try:
    from tests.annotate_process_helpers import script_window
    from tests.conftest import REPO
except ImportError:  # pragma: no cover
    from annotate_process_helpers import script_window
    from conftest import REPO

from qbi_desktop.core.maskio import load_mask

SCRIPT = (
    r"""
import sys, time
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

mode, image_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
app = QApplication([])
import pyqtgraph as pg
pg.setConfigOption("mouseRateLimit", -1)
from qbi_desktop.gui.main_window import MainWindow
"""
    + script_window(1200, 900, 30)
    + r"""
def stroke(points):
    canvas, vp = window.canvas, window.canvas.viewport()
    canvas.view.setRange(xRange=(0, 160), yRange=(0, 120), padding=0)
    app.processEvents()
    at = lambda x, y: canvas.viewportTransform().map(
        canvas.view.mapViewToScene(QPointF(x, y))).toPoint()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*points[0]))
    for p in points[1:]:
        QTest.mouseMove(vp, at(*p))
    QTest.mouseRelease(
        vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*points[-1]))
    app.processEvents()


task = window.open_file(image_path)
wait(lambda: task.finished)
wait(lambda: panel.session is not None and panel.session.identity is not None)

if mode == "paint":
    panel.set_tool("brush")
    stroke([(20, 20), (50, 20)])
    again = window.open_file(image_path)  # the same file again, while painting
    wait(lambda: again.finished)
    for _ in range(20):
        app.processEvents()
    print("documents", len(window.documents), flush=True)
    stroke([(20, 80), (50, 80)])
    print("ready", panel.session.journal.n_strokes, flush=True)
    while True:
        app.processEvents()
        time.sleep(0.01)
elif mode == "second":
    print("read-only" if panel.session.read_only else "writable", flush=True)
    print("ready" if panel.session.ready else "not-ready", flush=True)
    window.close()
elif mode == "recover":
    wait(lambda: panel.session.ready)
    assert panel.session.unsaved_base, "nothing was recovered"
    assert panel.save_to(out_path), window.last_error
    print("saved", flush=True)
    window.close()
"""
)


def _env(home, **extra):
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        QBI_DESKTOP_HOME=str(home),
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        **extra,
    )
    env.setdefault("QBI_ANNOTATE_AUTO_RECOVER", "")
    return env


def test_open_twice_then_second_process_then_kill_9_recovers_every_stroke(tmp_path):
    image = tmp_path / "scan.tif"
    tifffile.imwrite(image, np.random.default_rng(0).integers(0, 4000, (120, 160), dtype=np.uint16))
    home = tmp_path / "home"
    home.mkdir()
    script = tmp_path / "reopen.py"
    script.write_text(SCRIPT)
    out = tmp_path / "recovered.tif"

    painter = subprocess.Popen(
        [sys.executable, str(script), "paint", str(image), str(out)],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert painter.stdout.readline().split() == ["documents", "1"], painter.stderr.read()
        assert painter.stdout.readline().split() == ["ready", "2"], painter.stderr.read()
        journals = sorted((home / "recovery").glob("*.journal"))
        assert len(journals) == 1
        before = journals[0].read_bytes()
        # a second process opening the same image: read-only, and the journal is untouched
        second = subprocess.run(
            [sys.executable, str(script), "second", str(image), str(out)],
            env=_env(home, QBI_ANNOTATE_AUTO_RECOVER="discard"),
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert second.returncode == 0, second.stderr[-3000:]
        assert second.stdout.split() == ["read-only", "not-ready"]
        assert journals[0].read_bytes() == before
        os.kill(painter.pid, signal.SIGKILL)
        assert painter.wait(10) == -signal.SIGKILL
    finally:
        if painter.poll() is None:
            painter.kill()
            painter.wait()

    done = subprocess.run(
        [sys.executable, str(script), "recover", str(image), str(out)],
        env=_env(home, QBI_ANNOTATE_AUTO_RECOVER="recover"),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0 and "saved" in done.stdout, done.stderr[-3000:]
    mask = load_mask(out, (120, 160))
    assert mask[20, 20:51].all() and mask[80, 20:51].all()  # both strokes
    assert list(tmp_path.glob("*.journal")) == []  # nothing beside the image
