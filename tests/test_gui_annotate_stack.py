"""Annotating a numbered series and a NeXus stack opened in the viewer: the mask painted on a
frame is that frame's (saved per frame, its journal survives kill -9), stepping to another frame
shows that frame's own mask. Real radiographs, real tablet events on the canvas."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import tifffile
from PySide6.QtWidgets import QApplication

try:
    from tests.annotate_process_helpers import child_env as _env
    from tests.annotate_process_helpers import script_window
    from tests.conftest import RADIOGRAPHS, REPO, need
    from tests.test_gui_annotate import Pen
    from tests.test_gui_boxes import drag, key, type_class
except ImportError:  # pragma: no cover - rootdir without package
    from annotate_process_helpers import child_env as _env
    from annotate_process_helpers import script_window
    from conftest import RADIOGRAPHS, REPO, need
    from test_gui_annotate import Pen
    from test_gui_boxes import drag, key, type_class

from PySide6.QtCore import Qt

from qbi_desktop.core.annotation import mask_index
from qbi_desktop.core.annotation.boxes import FileBoxStore
from qbi_desktop.core.maskio import load_mask

STROKE = [(200, 250), (240, 250), (240, 280)]


def _real_series(folder, n=6):
    """edge20mm_0000..0003 and two more frames made from them (other pixels: each frame is
    its own image), as scan_0000.tif ... scan_0005.tif."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        if i < 4:
            shutil.copy(need(RADIOGRAPHS / f"edge20mm_000{i}.tif"), folder / f"scan_{i:04d}.tif")
        else:
            frame = tifffile.imread(RADIOGRAPHS / f"edge20mm_000{i - 4}.tif")
            tifffile.imwrite(folder / f"scan_{i:04d}.tif", np.roll(frame, 7 * i, axis=1))
    return folder


def _open_stack(qtbot, window, opener, n):
    task = opener()
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "done", task.error
    qtbot.waitUntil(
        lambda: window.current is not None and window.current.source.n_slices == n, timeout=10000
    )
    panel = window.panels["annotate"]
    panel.unsaved_answer = "discard"  # pytest-qt closes the window: never ask about strokes
    return panel


def _go_to(qtbot, window, panel, index):
    window.go_to_slice(index)
    qtbot.waitUntil(
        lambda: (
            panel.session is not None
            and panel.session is panel.session_for(window.current, index)
            and panel.session.ready
        ),
        timeout=10000,
    )
    window.canvas.view.setRange(xRange=(150, 350), yRange=(150, 350), padding=0)
    QApplication.processEvents()
    return panel.session


def _paint(window, panel):
    panel.set_tool("brush")
    panel.controller.min_size = panel.controller.max_size = 12.0
    Pen(window).stroke(STROKE, 0.6)
    QApplication.processEvents()


def test_mask_painted_on_frame_3_of_a_series_is_frame_3s(qtbot, main_window, tmp_path):
    window = main_window
    folder = _real_series(tmp_path / "scan")
    radiography = window.panels["radiography"]
    panel = _open_stack(qtbot, window, lambda: radiography.open_series(str(folder)), 6)

    s3 = _go_to(qtbot, window, panel, 3)
    assert s3.image_path == folder / "scan_0003.tif"  # the frame's own file
    np.testing.assert_array_equal(s3.image, tifffile.imread(folder / "scan_0003.tif"))
    _paint(window, panel)
    painted = s3.editor.mask.copy()
    assert painted[250, 200:241].all() and painted.sum() > 300
    assert "Mask: (not saved yet) of frame scan_0003.tif" in panel.status.text()
    # the stroke is journaled at once (a kill now loses nothing: see the next test)
    assert s3.journal is not None and s3.journal.n_strokes == 1
    target = s3.suggested_path()
    assert target.name == "scan_0003.mask.tif"
    target.parent.mkdir(parents=True, exist_ok=True)  # as the save dialog would
    assert panel.save_to(target)
    np.testing.assert_array_equal(load_mask(target, painted.shape) > 0, painted > 0)
    assert mask_index.lookup(folder / "scan_0003.tif", 0, s3.identity.content_hash) == target

    # frame 4 has no mask: nothing shown, nothing saved for it
    s4 = _go_to(qtbot, window, panel, 4)
    assert s4 is not s3 and s4.image_path == folder / "scan_0004.tif"
    assert not s4.editor.mask.any() and s4.mask_path is None
    assert panel.overlay.mask is s4.editor.mask and not panel.overlay.drawn().any()
    assert not (target.parent / "scan_0004.mask.tif").exists()
    # back on frame 3: its mask again
    assert _go_to(qtbot, window, panel, 3) is s3
    assert panel.overlay.mask is s3.editor.mask
    assert panel.overlay.drawn()[250, 200:241].all()

    # the series opened again finds frame 3's saved mask, and frame 3's file opened alone too
    window.close_current()
    panel = _open_stack(qtbot, window, lambda: radiography.open_series(str(folder)), 6)
    again = _go_to(qtbot, window, panel, 3)
    np.testing.assert_array_equal(again.editor.mask > 0, painted > 0)
    assert not _go_to(qtbot, window, panel, 2).editor.mask.any()


def test_nexus_stack_keeps_one_mask_per_frame(qtbot, main_window, tmp_path):
    window = main_window
    frames = np.stack(
        [tifffile.imread(need(RADIOGRAPHS / f"edge20mm_000{i}.tif")) for i in range(4)]
    )
    scan = tmp_path / "scan.nxs"
    with h5py.File(scan, "w") as f:
        f.create_dataset("/entry/data/data", data=frames, chunks=(1, 600, 600))
        f["/entry/data"].attrs["NX_class"] = "NXdata"
        f["/entry/data"].attrs["signal"] = "data"
    radiography = window.panels["radiography"]
    panel = _open_stack(qtbot, window, lambda: radiography.open_nexus(str(scan)), 4)
    s2 = _go_to(qtbot, window, panel, 2)
    np.testing.assert_array_equal(s2.image, frames[2])
    _paint(window, panel)
    assert s2.editor.mask[250, 200:241].all()
    target = s2.suggested_path()
    assert target.name == "scan.entry_data_data.s002.mask.tif"  # the dataset's frame 2
    target.parent.mkdir(parents=True, exist_ok=True)
    assert panel.save_to(target)
    s1 = _go_to(qtbot, window, panel, 1)
    assert not s1.editor.mask.any()
    window.close_current()
    panel = _open_stack(qtbot, window, lambda: radiography.open_nexus(str(scan)), 4)
    assert _go_to(qtbot, window, panel, 2).editor.mask[250, 200:241].all()
    assert not _go_to(qtbot, window, panel, 3).editor.mask.any()


def test_boxes_drawn_on_frame_3_of_a_series_are_that_frames(qtbot, main_window, tmp_path):
    window = main_window
    folder = _real_series(tmp_path / "scan")
    radiography = window.panels["radiography"]
    panel = _open_stack(qtbot, window, lambda: radiography.open_series(str(folder)), 6)
    _go_to(qtbot, window, panel, 3)
    key(qtbot, window, Qt.Key.Key_W)
    drag(qtbot, window, (180, 200), (260, 240))
    type_class(qtbot, panel.boxes, "object")  # asked for the new box's class: the user answers
    store = panel.boxes.session.store
    assert isinstance(store, FileBoxStore) and store.image_path == folder / "scan_0003.tif"
    drawn = FileBoxStore(folder / "scan_0003.tif", 0, None, store.path.parent).load()
    assert [(b.x, b.y, b.w, b.h) for b in drawn] == [(180, 200, 80, 40)]
    # frame 4 has none; frame 3's file opened alone shows them
    _go_to(qtbot, window, panel, 4)
    assert panel.boxes.session.boxes == [] and panel.boxes.session.store.image_path.name == (
        "scan_0004.tif"
    )
    assert FileBoxStore(folder / "scan_0004.tif", 0, None, store.path.parent).load() == []
    # nothing is written beside the raw frames
    assert sorted(p.name for p in folder.iterdir()) == [f"scan_{i:04d}.tif" for i in range(6)]


SCRIPT = (
    r"""
import sys, time
import pyqtgraph as pg
pg.setConfigOption("mouseRateLimit", -1)
from PySide6.QtWidgets import QApplication
app = QApplication([])
sys.path.insert(0, sys.argv[3])
from qbi_desktop.gui.main_window import MainWindow
from tests.test_gui_annotate import Pen

mode, folder = sys.argv[1], sys.argv[2]
"""
    + script_window(1366, 768, 60)
    + r"""
task = window.panels["radiography"].open_series(folder)
wait(lambda: task.finished and window.current is not None)
for index in (4, 3):
    window.go_to_slice(index)
    wait(lambda: panel.session is not None and panel.session is panel.session_for(
        window.current, index) and panel.session.ready)
    if mode == "recover":
        print("frame", index, "recovered" if panel.session.unsaved_base else "clean",
              int(panel.session.editor.mask.sum()), flush=True)
if mode == "recover":
    sys.exit(0)
window.canvas.view.setRange(xRange=(150, 350), yRange=(150, 350), padding=0)
app.processEvents()
panel.set_tool("brush")
panel.controller.min_size = panel.controller.max_size = 12.0
Pen(window).stroke([(200, 250), (240, 250), (240, 280)], 0.6)
app.processEvents()
print("ready", int(panel.session.journal.n_strokes), int(panel.session.editor.mask.sum()),
      flush=True)
while True:
    app.processEvents()
    time.sleep(0.01)
"""
)


def test_strokes_on_frame_3_survive_kill_9_and_come_back_on_frame_3_only(tmp_path):
    folder = _real_series(tmp_path / "scan")
    home = tmp_path / "home"
    home.mkdir()
    script = tmp_path / "paint.py"
    script.write_text(SCRIPT)
    painter = subprocess.Popen(
        [sys.executable, str(script), "paint", str(folder), str(REPO)],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        deadline = time.time() + 90
        while time.time() < deadline:
            line = painter.stdout.readline()
            if not line or line.startswith(("ready", "timeout")):
                break
        assert line.startswith("ready 1 "), (line, painter.stderr.read()[-3000:])
        painted = int(line.split()[2])
        assert painted > 300
        os.kill(painter.pid, signal.SIGKILL)
        assert painter.wait(10) == -signal.SIGKILL
    finally:
        if painter.poll() is None:
            painter.kill()
            painter.wait()
    env = _env(home)
    env["QBI_ANNOTATE_AUTO_RECOVER"] = "recover"
    done = subprocess.run(
        [sys.executable, str(script), "recover", str(folder), str(REPO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines == ["frame 4 clean 0", f"frame 3 recovered {painted}"], done.stdout
