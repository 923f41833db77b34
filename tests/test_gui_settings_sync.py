"""The Baselines form's choices are written to the settings file by a thread of their own
(gui/settings_sync.py): a Run click never waits for that file, not even while a write of it is
stuck, and the choices are on disk when the app closes right after the click."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QLockFile, Qt

from qbi_desktop.gui.settings import settings_path

try:
    from tests.gui_baselines_helpers import choose, open_baselines
except ImportError:  # pragma: no cover
    from gui_baselines_helpers import choose, open_baselines

ROOT = Path(__file__).resolve().parents[1]


def _section_on_disk(path: Path, group: str) -> dict[str, str]:
    """One group of the INI file as it is on disk (not the values QSettings holds in memory)."""
    values, inside = {}, False
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        if line.startswith("["):
            inside = line.strip() == f"[{group}]"
        elif inside and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


@pytest.fixture
def panel(main_window, qtbot):
    return open_baselines(main_window, qtbot)


def test_run_clicks_go_on_while_a_write_of_the_settings_file_waits(panel, qtbot):
    """Another program holds the settings file's lock (QSettings' own ``.lock`` file): the write
    the first click started waits for it, holding the file's values meanwhile. The second click
    must not wait behind it - the GUI thread hands the choices over and goes on."""
    window = panel.window
    choose(panel.form.source, "digits")
    choose(panel.form.model, "dummy")
    path = Path(window.settings.fileName())
    lock = QLockFile(str(path) + ".lock")
    assert lock.tryLock(0)
    released = threading.Event()

    def release() -> None:  # at the latest: a GUI thread that waits for the file gets it back
        if not released.is_set():
            released.set()
            lock.unlock()

    watchdog = threading.Timer(8.0, release)
    watchdog.start()
    try:
        panel.form.k.setValue(3)
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        qtbot.wait(300)  # the writer is in its write now, waiting for the lock
        panel.form.seed.setValue(11)
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        went_on = not released.is_set()
        second = panel.model.records[-1]
        assert _section_on_disk(path, "baselines").get("seed") != "11"  # still waiting
    finally:
        watchdog.cancel()
        release()
    assert went_on, "the Run click waited until the settings file was free"
    qtbot.waitUntil(lambda: second.finished, timeout=30000)
    assert second.state == "done", second.error
    panel.form.flush_settings()
    on_disk = _section_on_disk(path, "baselines")
    assert (on_disk.get("k"), on_disk.get("seed"), on_disk.get("model")) == ("3", "11", "dummy")


_CLICK_AND_CLOSE = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from qbi_desktop.gui.main_window import MainWindow

    app = QApplication([])
    window = MainWindow()
    window.show()
    panel = window.panels["baselines"]
    panel.show_panel()
    form = panel.form
    form.source.setCurrentIndex(form.source.findData("digits"))
    form.model.setCurrentIndex(form.model.findData("knn"))
    form.k.setValue(6)
    form.seed.setValue(42)
    panel.run_button.click()
    QTimer.singleShot(0, window.close)  # closed at once: the write may not have begun
    sys.exit(app.exec())
    """
)


def test_the_choices_of_a_run_click_are_on_disk_when_the_app_closes_at_once(tmp_path, monkeypatch):
    env = dict(os.environ, QBI_DESKTOP_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", _CLICK_AND_CLOSE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    monkeypatch.setenv("QBI_DESKTOP_HOME", str(tmp_path))
    path = settings_path()  # where the app keeps its settings under that home
    on_disk = _section_on_disk(Path(path), "baselines")
    assert (on_disk.get("k"), on_disk.get("seed"), on_disk.get("model")) == ("6", "42", "knn")
