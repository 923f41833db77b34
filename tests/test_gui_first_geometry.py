"""The first window uses the screen; the size the user leaves it at is kept afterwards.

At 1600x1000 the first-run window was 1408x880, centred and not maximised, and the Dataset
Browser stayed ~280 px wide on the bigger screen. The app runs here in a process of its own on an
offscreen screen of that size (Qt's offscreen platform takes its screens from a JSON file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
from PySide6.QtWidgets import QApplication
from qbi_desktop.gui.app import create_application
from qbi_desktop.gui.main_window import MainWindow

app = create_application()
area = app.primaryScreen().availableGeometry()

def start():
    window = MainWindow(defer_panels=True)  # as the app starts: the window first
    window.show()
    for _ in range(20):
        app.processEvents()
    window.install_panels()
    for _ in range(20):
        app.processEvents()
    return window

def seen(window):
    return {"maximised": window.isMaximized(), "size": list(window.size().toTuple()),
            "left": window.docks["files"].width()}

first = start()
out = {"screen": [area.width(), area.height()], "first": seen(first)}
if sys.argv[1] == "unmaximise":  # the user makes it a window of its own size, then quits
    first.showNormal()
    for _ in range(20):
        app.processEvents()
    first.resize(1000, 700)
    for _ in range(20):
        app.processEvents()
first.close()
app.processEvents()
again = start()
out["again"] = seen(again)
again.close()
print(json.dumps(out))
"""


def _run(tmp_path: Path, width: int, height: int, mode: str) -> dict:
    config = tmp_path / "screen.json"
    screen = {"name": "S", "x": 0, "y": 0, "width": width, "height": height}
    screens = [{**screen, "logicalDpi": 96, "dpr": 1}]
    config.write_text(json.dumps({"windowFrameMargins": False, "screens": screens}))
    env = dict(
        os.environ,
        QBI_DESKTOP_HOME=str(tmp_path / f"home_{mode}"),
        QT_QPA_PLATFORM=f"offscreen:configfile={config}",
        PYTHONPATH=str(REPO),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("size", [(1600, 1000), (1366, 768)])
def test_the_first_window_is_maximised_and_kept_so(tmp_path, size):
    seen = _run(tmp_path, *size, "keep")
    assert seen["screen"] == list(size)
    first = seen["first"]
    assert first["maximised"], first
    assert first["size"] == list(size)  # the whole screen (the offscreen one has no frame)
    # the left column (Files / Dataset Browser) gets its share of the whole width
    assert first["left"] >= int(0.2 * size[0]) - 2, first
    assert seen["again"]["maximised"] and seen["again"]["size"] == list(size)


def test_a_size_the_user_chose_is_kept(tmp_path):
    seen = _run(tmp_path, 1600, 1000, "unmaximise")
    assert seen["first"]["maximised"]
    assert not seen["again"]["maximised"] and seen["again"]["size"] == [1000, 700]
