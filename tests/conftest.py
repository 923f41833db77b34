"""Shared test set-up: offscreen Qt, no pyqtgraph mouse rate limit, the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Must happen before any Qt import: GUI tests run without a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
RADIOGRAPHS = SHARED_DATA / "radiographs"
MNIST = SHARED_DATA / "mnist"


def need(path: Path) -> Path:
    """Skip (with the reason) when the shared real data is not beside the checkout."""
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture(autouse=True, scope="session")
def _fast_synthetic_mouse():
    try:
        import pyqtgraph as pg
    except ImportError:  # core-only environment
        yield
        return
    # pyqtgraph drops mouse moves faster than 100 Hz; tests send them in a tight loop.
    pg.setConfigOption("mouseRateLimit", -1)
    yield


@pytest.fixture
def settings_dir(tmp_path, monkeypatch):
    """Each GUI test gets its own QSettings and user folders: tests never see each other's state."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("QBI_DESKTOP_HOME", str(home))
    return home


@pytest.fixture
def main_window(qtbot, settings_dir):
    """The real main window, shown offscreen, with its own settings; closed after the test."""
    from qbi_desktop.gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    release_modifiers(qtbot, window)
    yield window
    window.tasks.cancel_all()
    window.tasks.wait(5000)
    window.close()


def release_modifiers(qtbot, widget) -> None:
    """No key held, as at the start of a real session. A shortcut QTest sends with Ctrl (Ctrl+Z)
    leaves Qt's keyboard state at Ctrl until the next key press, across tests: a later
    ``setCurrentIndex`` then toggles rows into the selection as if Ctrl were held."""
    from PySide6.QtCore import Qt

    qtbot.keyPress(widget, Qt.Key.Key_Shift)
    qtbot.keyRelease(widget, Qt.Key.Key_Shift)


def open_and_wait(qtbot, window, path, timeout=10000):
    """Open ``path`` in ``window`` through the real open path and wait until it is shown."""
    before = len(window.documents)
    task = window.open_file(path)
    qtbot.waitUntil(lambda: task.finished, timeout=timeout)
    assert task.state == "done", f"opening {path} failed: {task.error}"
    qtbot.waitUntil(lambda: len(window.documents) > before, timeout=timeout)
    # The panels hear of a new image just after its first frame is drawn.
    qtbot.waitUntil(lambda: getattr(window, "announced", None) is window.current, timeout=timeout)
    return window.current
