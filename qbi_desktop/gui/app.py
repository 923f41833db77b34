"""Start-up: the QApplication, the main window, and what to open first."""

from __future__ import annotations

import gc
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
    """A reason the GUI cannot start on this machine, or None when it can.

    Checked before Qt starts: Qt aborts the process (a core dump) when it cannot reach a
    display, so a missing or dead X server is caught here and reported in words instead.
    """
    platform_name = os.environ.get("QT_QPA_PLATFORM", "")
    if platform_name.startswith(("offscreen", "minimal", "vnc")):
        return None
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY", "")
    wayland = os.environ.get("WAYLAND_DISPLAY", "")
    if not (display or wayland):
        return (
            "no display found: DISPLAY and WAYLAND_DISPLAY are not set. Start QBI Desktop from a "
            "desktop session, or use QT_QPA_PLATFORM=offscreen for headless use."
        )
    uses_x = platform_name.startswith("xcb") or (not platform_name and not wayland)
    if uses_x and not _x_server_reachable(display):
        return (
            f"cannot connect to the X display {display!r}: no X server answers there. Start QBI "
            "Desktop from a desktop session (or check DISPLAY, e.g. after ssh use ssh -X)."
        )
    return None


def _x_server_reachable(display: str, timeout: float = 2.0) -> bool:
    """Whether an X server listens for ``display`` (``[host]:N[.S]``): local socket or TCP."""
    import re
    import socket

    match = re.fullmatch(r"(?P<host>.*):(?P<number>\d+)(?:\.\d+)?", display)
    if match is None:
        return False
    host, number = match["host"], int(match["number"])
    if host.startswith("/"):  # a socket path (XQuartz-style launchd displays)
        candidates = [f"{host}:{number}"]
    elif host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        candidates = ["\0" + path, path]  # Linux abstract socket first, then the file
    else:
        try:
            with socket.create_connection((host, 6000 + number), timeout=timeout):
                return True
        except OSError:
            return False
    for address in candidates:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(address)
                return True
            except OSError:
                continue
    return False


def _report_when_ready(window) -> None:
    """For start-up measurements: print the wall-clock time when the first image is drawn
    (``ready``) and when the job panels are built too (``panels``), then quit."""
    import time

    from PySide6.QtCore import QTimer

    printed = []

    def finish() -> None:
        if "ready" in printed and window.panels_ready and "panels" not in printed:
            printed.append("panels")
            print(f"panels {time.time():.4f}", flush=True)
            QTimer.singleShot(0, window.close)

    def drawn(_document) -> None:
        if "ready" not in printed:
            window.canvas.viewport().repaint()
            printed.append("ready")
            print(f"ready {time.time():.4f} {time.process_time():.3f}", flush=True)
        finish()

    window.document_shown.connect(drawn)
    window.panels_installed.connect(finish)


# Qt messages known to be harmless and nothing a user can act on: the offscreen platform (self-
# test, headless use) says this whenever a dock or window is shown.
HARMLESS_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)


def _qt_message_handler(mode, context, message: str) -> None:
    if message in HARMLESS_QT_MESSAGES or sys.stderr is None:  # no console: windowed Windows app
        return
    sys.stderr.write(message + "\n")


def install_qt_message_filter() -> None:
    """Silence the known harmless Qt messages; every other message still goes to stderr."""
    from PySide6.QtCore import qInstallMessageHandler

    qInstallMessageHandler(_qt_message_handler)


def create_application():
    """The QApplication with the app's names, icon and pyqtgraph options (made once)."""
    import pyqtgraph as pg
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    install_qt_message_filter()
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("QBI Desktop")
    app.setOrganizationName("QBI")
    app.setDesktopFileName("qbi-desktop")
    app.setWindowIcon(QIcon(str(resource_path("qbi-desktop.svg"))))
    return app


def _raise_window(window) -> None:
    if window.isMinimized():
        window.showNormal()
    window.show()
    window.raise_()
    window.activateWindow()


def _tell_about_settings_reset(window) -> None:
    """A settings file that could not be read was reset: say so once, where the user looks."""
    from qbi_desktop.gui.settings import RESET_KEY

    backup = window.settings.value(RESET_KEY)
    if backup:
        window.settings.remove(RESET_KEY)
        window.report_error(
            "The settings file could not be read and was reset to defaults (window layout, "
            f"recent files and preferences). The old file is kept as {backup}."
        )


FREEZE_AFTER_MS = 3000


def freeze_startup_objects() -> None:
    """Exempt the objects that live as long as the window (modules, widgets, Qt wrappers) from
    Python's full garbage collections.

    A full (generation 2) collection traverses every tracked object: with PySide6, pyqtgraph,
    numpy and scikit-learn loaded that took ~40 ms in the GUI thread, a visible hitch in the
    middle of a scroll (bench_browser_scroll.py). Frozen objects are skipped by those passes;
    garbage made later is collected as before.
    """
    gc.collect()
    gc.freeze()


def freeze_when_settled(window) -> None:
    """:func:`freeze_startup_objects` once the job panels are built as well: they wait for the
    first frame, which can come after :data:`FREEZE_AFTER_MS` (a large file, a busy machine),
    and frozen before them their ~58 000 objects were walked by every full collection (~33 ms
    of GUI CPU each, in the middle of typing or scrolling)."""
    from PySide6.QtCore import QTimer

    if window.panels_ready:
        freeze_startup_objects()
    else:
        QTimer.singleShot(FREEZE_AFTER_MS, lambda: freeze_when_settled(window))


PANELS_AT_LATEST_MS = 3000


def _install_panels_after_first_frame(window, opening: bool) -> None:
    """Build the job panels once the first image is on screen (or its opening failed); when
    nothing is being opened, right after the window is first painted; at the latest after
    PANELS_AT_LATEST_MS (a large file or the demo being made the very first time)."""
    from PySide6.QtCore import QTimer

    def install() -> None:
        if not window.panels_ready:
            window.install_panels()

    if opening and window.last_error is not None and window.current is None:
        # A small file opens in the GUI thread: its failure may be reported already.
        QTimer.singleShot(0, install)
    elif opening:
        # after document_shown's other slots (the frame is painted by then)
        window.document_shown.connect(lambda _doc: QTimer.singleShot(0, install))
        window.error_reported.connect(lambda _message: QTimer.singleShot(0, install))
        QTimer.singleShot(PANELS_AT_LATEST_MS, install)
    else:
        QTimer.singleShot(0, install)


def _import_before_qt() -> None:
    """numpy, tifffile and the viewer's core, before Qt: PySide6 reads the source of every
    module imported after it (its __feature__ import hook), and these are many and need no Qt."""
    import tifffile  # noqa: F401

    import qbi_desktop.core.io  # noqa: F401
    import qbi_desktop.core.pyramid  # noqa: F401


def run_gui(files: list[str], demo: bool = False, new_instance: bool = False) -> int:
    """Open the main window (or hand ``files`` to the one already running); the exit code."""
    problem = display_problem()
    if problem:
        print(f"qbi-desktop: {problem}", file=sys.stderr)
        return 3
    _setup_file_log()
    _import_before_qt()
    from PySide6.QtCore import QEvent, QObject, QTimer

    from qbi_desktop.gui.main_window import MainWindow

    app = create_application()
    server = None
    # Start-up measurements want their own process; so does an explicit --new-instance.
    if not (new_instance or os.environ.get("QBI_DESKTOP_REPORT_READY")):
        from qbi_desktop.gui.single_instance import claim

        server = claim(files, lambda line: print(line, file=sys.stderr))
        if server is None:
            return 0  # the running instance took the files
    # The job panels are built after the first image is drawn (or at once when nothing opens):
    # importing and building them is about half of the start-up work.
    window = MainWindow(defer_panels=True)
    from qbi_desktop.gui import uncaught

    uncaught.install(window.report_error)  # told to the user, not printed to a terminal
    from qbi_desktop.core.leftovers import sweep_user_cache
    from qbi_desktop.core.paths import user_dir
    from qbi_desktop.gui.settings import apply_size_limits

    swept = sweep_user_cache(user_dir("cache"))  # decode files of a run that was killed (logged)
    if swept:
        window.statusBar().showMessage(str(swept), 15000)

    apply_size_limits(window.settings)
    first_start = not window.settings.value("meta/started_before", False, type=bool)
    window.settings.setValue("meta/started_before", True)
    window.show()
    # once start-up is over (never in the way of the first frame)
    QTimer.singleShot(FREEZE_AFTER_MS, lambda: freeze_when_settled(window))
    _tell_about_settings_reset(window)
    if server is not None:
        server.files_received.connect(
            lambda paths: (window.open_files(paths), _raise_window(window))
        )

    class FileOpenFilter(QObject):
        """macOS sends files opened from Finder as events, not as arguments."""

        def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt naming
            if event.type() == QEvent.Type.FileOpen and event.file():
                window.open_files([event.file()])  # an item of the open project as that item
                return True
            return False

    if sys.platform == "darwin":
        # only there: a filter on the application is a call into Python for every event
        app.installEventFilter(FileOpenFilter(app))
    if os.environ.get("QBI_DESKTOP_REPORT_READY"):
        _report_when_ready(window)
    if files:
        window.open_files(files)
    elif demo or first_start:
        window.open_demo()
    else:  # nothing named: the last session's project again (unless turned off), in the Browser
        window.reopen_last_project()
    _install_panels_after_first_frame(window, opening=bool(files) or demo or first_start)
    try:
        return app.exec()
    finally:
        if server is not None:
            server.close()
