"""Crash safety for real: paint in a GUI process, kill -9 it, start again, recover, compare.

The first process opens a real TIFF, paints scripted strokes through the real tool path (tablet
events sent to the canvas viewport), prints "ready" after the last completed stroke (with one
more stroke still in progress, never released), and is killed with SIGKILL. The second process
opens the same image with auto-recovery on and saves the recovered mask. It must equal, pixel
for pixel, the mask the core gives for the completed strokes alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

try:
    from tests.annotate_process_helpers import child_env as _env
    from tests.annotate_process_helpers import script_window
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from annotate_process_helpers import child_env as _env
    from annotate_process_helpers import script_window
    from conftest import RADIOGRAPHS, need

from qbi_desktop.core.annotation.masks import MaskEditor
from qbi_desktop.core.maskio import load_mask

# Strokes through pixel centres, (x, y) pixel indices. Each jump is <= 32 px (one core line) and
# its length is not a multiple of the dab spacing (2 px) nor gives half-pixel dab centres, so
# float noise in the screen <-> image mapping cannot change which pixels the dabs take.
STROKES = [
    {"eraser": False, "points": [[40, 40], [61, 40], [82, 40], [82, 61]]},
    {"eraser": False, "points": [[120, 100], [140, 120], [160, 140]]},
    {"eraser": False, "points": [[300, 300], [300, 321], [300, 342], [321, 342]]},
    {"eraser": True, "points": [[70, 40], [76, 46]]},
    {"eraser": False, "points": [[500, 200], [521, 200]]},
]
IN_PROGRESS = [[400, 400], [420, 400], [440, 400]]  # pressed, moved, never released
DIAMETER = 8.0

SCRIPT = (
    r"""
import json, os, sys, time
import numpy as np
import pyqtgraph as pg
pg.setConfigOption("mouseRateLimit", -1)
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent
from PySide6.QtWidgets import QApplication

mode, image_path, out_path, spec = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
app = QApplication([])
from qbi_desktop.gui.main_window import MainWindow
"""
    + script_window(1200, 900, 30)
    + r"""
task = window.open_file(image_path)
wait(lambda: task.finished)
wait(lambda: panel.session is not None and panel.session.ready)

if mode == "recover":
    assert panel.session.unsaved_base, "nothing was recovered"
    assert panel.save_to(out_path), window.last_error
    print("saved", flush=True)
    window.close()
    sys.exit(0)

canvas, vp = window.canvas, window.canvas.viewport()
canvas.view.setRange(xRange=(0, 600), yRange=(0, 600), padding=0)
app.processEvents()
panel.set_tool("brush")
c = panel.controller
c.min_size = c.max_size = spec["diameter"]
devices = {
    False: QPointingDevice("pen", 1, QInputDevice.DeviceType.Stylus,
        QPointingDevice.PointerType.Pen,
        QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 3),
    True: QPointingDevice("eraser", 2, QInputDevice.DeviceType.Stylus,
        QPointingDevice.PointerType.Eraser,
        QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 3),
}


def send(kind, eraser, x, y, pressure):
    # (x, y) is a pixel index: aim at its centre
    pos = canvas.viewportTransform().map(canvas.view.mapViewToScene(QPointF(x + 0.5, y + 0.5)))
    release = kind == QEvent.Type.TabletRelease
    buttons = Qt.MouseButton.NoButton if release else Qt.MouseButton.LeftButton
    ev = QTabletEvent(kind, devices[eraser], pos, QPointF(vp.mapToGlobal(pos.toPoint())), pressure,
        0.0, 0.0, 0.0, 0.0, 0.0, Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, buttons)
    QApplication.sendEvent(vp, ev)


for i, stroke in enumerate(spec["strokes"]):
    pts = stroke["points"]
    send(QEvent.Type.TabletPress, stroke["eraser"], *pts[0], 0.7)
    for x, y in pts[1:]:
        send(QEvent.Type.TabletMove, stroke["eraser"], x, y, 0.7)
        app.processEvents()
    send(QEvent.Type.TabletRelease, stroke["eraser"], *pts[-1], 0.0)
    print("stroke", i, flush=True)
pts = spec["in_progress"]
send(QEvent.Type.TabletPress, False, *pts[0], 0.7)
for x, y in pts[1:]:
    send(QEvent.Type.TabletMove, False, x, y, 0.7)
time.sleep(0.05)
app.processEvents()  # the frame timer paints the moves into the mask (memory only)
print("ready", int(panel.session.journal.n_strokes), flush=True)
while True:  # keep running until killed
    app.processEvents()
    time.sleep(0.01)
"""
)


def _expected(shape):
    """The core's mask after the completed strokes (same dab centres and radius)."""
    editor = MaskEditor(shape)
    r = DIAMETER / 2
    for stroke in STROKES:
        pts = [(y, x) for x, y in stroke["points"]]
        editor.begin_stroke(0, "erase") if stroke["eraser"] else editor.begin_stroke(1)
        editor.dab(*pts[0], r)
        for (y0, x0), (y1, x1) in zip(pts[:-1], pts[1:], strict=True):
            editor.line(y0, x0, y1, x1, r)
        editor.end_stroke()
    return editor.mask


def test_kill_9_then_recover_gives_the_mask_after_the_last_completed_stroke(tmp_path):
    src = need(RADIOGRAPHS / "edge20mm_0001.tif")
    image = tmp_path / "edge.tif"
    shutil.copy(src, image)
    home = tmp_path / "home"
    home.mkdir()
    script = tmp_path / "paint.py"
    script.write_text(SCRIPT)
    out = tmp_path / "recovered.tif"
    spec = json.dumps({"strokes": STROKES, "in_progress": IN_PROGRESS, "diameter": DIAMETER})

    painter = subprocess.Popen(
        [sys.executable, str(script), "paint", str(image), str(out), spec],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = painter.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if line.startswith("ready"):
                break
        assert lines and lines[-1].startswith("ready"), (lines, painter.stderr.read())
        assert lines[-1] == f"ready {len(STROKES)}"
        os.kill(painter.pid, signal.SIGKILL)
        assert painter.wait(10) == -signal.SIGKILL
    finally:
        if painter.poll() is None:
            painter.kill()
            painter.wait()

    env = _env(home)
    env["QBI_ANNOTATE_AUTO_RECOVER"] = "recover"
    done = subprocess.run(
        [sys.executable, str(script), "recover", str(image), str(out), spec],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "saved" in done.stdout, done.stderr[-3000:]
    recovered = load_mask(out, (600, 600))
    expected = _expected((600, 600))
    assert expected.any() and (expected[40, 70] == 0)  # the eraser stroke took effect
    assert np.array_equal(recovered, expected)
    # the stroke in progress at the kill was not completed, so it is not in the mask
    assert not recovered[400, 400:441].any()


@pytest.mark.parametrize("answer", ["recover", "discard"])
def test_recovery_answer_recover_or_discard(tmp_path, answer):
    """A journal left behind is found; "recover" replays it, "discard" drops its strokes."""
    src = need(RADIOGRAPHS / "edge20mm_0002.tif")
    image = tmp_path / "edge.tif"
    shutil.copy(src, image)
    home = tmp_path / "home"
    home.mkdir()
    # a journal left by a "crashed" session, written with the core
    from qbi_desktop.core.annotation.journal import ImageIdentity, Journal
    from qbi_desktop.core.paths import user_dir

    os.environ["QBI_DESKTOP_HOME"] = str(home)
    try:
        from qbi_desktop.core.io import open_image

        source = open_image(image)  # the plane exactly as the app reads it (byte order too)
        pixels = np.asarray(source.plane(0).array)
        ident = ImageIdentity.of(pixels, image)
        source.close()
        assert user_dir("recovery").is_relative_to(home)
        journal = Journal.open_for(ident)
        editor = MaskEditor(pixels.shape, on_commit=journal)
        editor.dab(10, 10, 3)
        journal.close()
        assert Journal.pending(ident) is not None
    finally:
        os.environ.pop("QBI_DESKTOP_HOME", None)
    script = tmp_path / "paint.py"
    script.write_text(
        SCRIPT.replace('assert panel.session.unsaved_base, "nothing was recovered"', "")
    )
    env = _env(home)
    env["QBI_ANNOTATE_AUTO_RECOVER"] = answer
    out = tmp_path / "m.tif"
    done = subprocess.run(
        [sys.executable, str(script), "recover", str(image), str(out), "{}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    saved = load_mask(out, pixels.shape)
    if answer == "recover":
        assert np.array_equal(saved, editor.mask)
    else:
        assert not saved.any()
