"""Start-up: the first image is drawn before the job panels are built, and the panels then
work on that image as if it had just been opened; the layout a user saved survives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile
from conftest import RADIOGRAPHS, need, open_and_wait
from PySide6.QtCore import QByteArray, Qt

REPO = Path(__file__).resolve().parents[1]


def test_panels_built_after_the_first_frame_take_up_the_shown_image(qtbot, settings_dir):
    from qbi_desktop.gui.main_window import PANEL_MODULES, MainWindow

    window = MainWindow(defer_panels=True)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    assert not window.panels_ready and "annotate" not in window.docks
    document = open_and_wait(qtbot, window, need(RADIOGRAPHS / "ob.tif"))
    assert window.canvas.base_item.image is not None  # drawn with the viewer alone
    size = window.size()
    with qtbot.waitSignal(window.panels_installed, timeout=10000):
        window.install_panels()
    assert all(name in window.docks for name in PANEL_MODULES)
    annotate = window.panels["annotate"]
    qtbot.waitUntil(lambda: annotate.session is not None, timeout=5000)
    assert annotate.status.text() != "No image"
    assert window.current is document and window.size() == size
    window.tasks.cancel_all()
    window.tasks.wait(5000)
    window.close()


def test_closing_before_the_panels_are_built_keeps_the_saved_layout(qtbot, settings_dir):
    from qbi_desktop.gui.main_window import MainWindow

    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, first.docks["annotate"])
    first.close()
    saved = first.settings.value("window/state")
    assert isinstance(saved, QByteArray) and not saved.isEmpty()

    early = MainWindow(defer_panels=True)
    qtbot.addWidget(early)
    early.show()
    early.close()  # before install_panels
    assert early.settings.value("window/state") == saved

    later = MainWindow()
    qtbot.addWidget(later)
    later.show()
    assert later.dockWidgetArea(later.docks["annotate"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    later.close()


def test_app_start_draws_the_image_then_builds_the_panels(tmp_path):
    image = tmp_path / "start.tif"
    tifffile.imwrite(image, np.arange(256 * 256, dtype=np.uint16).reshape(256, 256))
    env = dict(
        os.environ,
        QBI_DESKTOP_HOME=str(tmp_path / "home"),
        QBI_DESKTOP_REPORT_READY="1",
        QT_QPA_PLATFORM="offscreen",
        PYTHONPATH=str(REPO),
    )
    result = subprocess.run(
        [sys.executable, "-m", "qbi_desktop", str(image)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    stamps = {line.split()[0]: float(line.split()[1]) for line in result.stdout.splitlines()}
    assert stamps["ready"] <= stamps["panels"]
    log = (tmp_path / "home" / "logs" / "qbi-desktop.log").read_text()
    assert f"opened {image}" in log


def test_a_file_that_fails_to_open_does_not_hold_back_the_panels(
    qtbot, settings_dir, tmp_path, monkeypatch
):
    from qbi_desktop.gui import app
    from qbi_desktop.gui.main_window import MainWindow

    monkeypatch.setattr(app, "PANELS_AT_LATEST_MS", 600_000)  # only the error can bring them
    window = MainWindow(defer_panels=True)
    qtbot.addWidget(window)
    window.show()
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage")
    window.open_file(bad)
    app._install_panels_after_first_frame(window, opening=True)
    with qtbot.waitSignal(window.panels_installed, timeout=60000):
        pass
    assert window.panels_ready and "annotate" in window.docks
    assert str(bad) in window.last_error
    window.close()


def test_the_start_up_freeze_waits_for_the_panels_and_takes_their_objects_too(qtbot, settings_dir):
    """Full garbage collections skip what lives as long as the window, the deferred panels
    included: frozen before them, every full collection walked their objects (~33 ms)."""
    import gc

    from qbi_desktop.gui.app import freeze_when_settled
    from qbi_desktop.gui.main_window import MainWindow

    window = MainWindow(defer_panels=True)
    qtbot.addWidget(window)
    window.show()
    gc.unfreeze()
    try:
        freeze_when_settled(window)  # run_gui's timer, here before the first frame came
        assert gc.get_freeze_count() == 0
        window.install_panels()
        qtbot.waitUntil(lambda: gc.get_freeze_count() > 0, timeout=15000)
        walked = {id(o) for o in gc.get_objects()}  # what a full collection looks at
        assert id(window.panels["browser"]) not in walked
        assert id(window.panels["annotate"]) not in walked
    finally:
        gc.unfreeze()  # (the test process's objects are not the app's)
        window.tasks.cancel_all()
        window.tasks.wait(5000)
        window.close()
