"""Start-up: the QApplication, the main window, and what to open first."""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from qbi_desktop.core.paths import user_dir


def resource_path(name: str) -> Path:
    """A file of the top-level resources/ folder, shipped as the package qbi_desktop.resources."""
    from importlib.resources import files

    return Path(str(files("qbi_desktop.resources") / name))


def _setup_file_log() -> None:
    logger = logging.getLogger("qbi_desktop")
    if any(isinstance(h, RotatingFileHandler) for h in logger.handlers):
        return
    try:
        handler = RotatingFileHandler(
            user_dir("logs") / "qbi-desktop.log", maxBytes=2_000_000, backupCount=3
        )
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def display_problem() -> str | None:
    """A reason the GUI cannot start on this machine, or None when it can."""
    platform_name = os.environ.get("QT_QPA_PLATFORM", "")
    if platform_name.startswith(("offscreen", "minimal", "vnc")):
        return None
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return (
            "no display found: DISPLAY and WAYLAND_DISPLAY are not set. Start QBI Desktop from a "
            "desktop session, or use QT_QPA_PLATFORM=offscreen for headless use."
        )
    return None


def _report_when_ready(window) -> None:
    """For start-up measurements: print the wall-clock time when the first image is drawn, quit."""
    import time

    from PySide6.QtCore import QTimer

    def drawn(_document) -> None:
        window.canvas.viewport().repaint()
        print(f"ready {time.time():.4f}", flush=True)
        QTimer.singleShot(0, window.close)

    window.document_shown.connect(drawn)


def run_gui(files: list[str], demo: bool = False) -> int:
    problem = display_problem()
    if problem:
        print(f"qbi-desktop: {problem}", file=sys.stderr)
        return 3
    _setup_file_log()
    import pyqtgraph as pg
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from qbi_desktop.gui.main_window import MainWindow

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("QBI Desktop")
    app.setOrganizationName("QBI")
    app.setDesktopFileName("qbi-desktop")
    app.setWindowIcon(QIcon(str(resource_path("qbi-desktop.svg"))))
    window = MainWindow()
    first_start = not window.settings.value("meta/started_before", False, type=bool)
    window.settings.setValue("meta/started_before", True)
    window.show()
    if os.environ.get("QBI_DESKTOP_REPORT_READY"):
        _report_when_ready(window)
    if files:
        window.open_files(files)
    elif demo or first_start:
        window.open_demo()
    return app.exec()
