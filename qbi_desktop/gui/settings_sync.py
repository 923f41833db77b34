"""Set values of the app's QSettings and have the file written by a Qt thread, not the GUI thread.

Why: after ``setValue`` QSettings posts itself an update event and writes the file from the
event loop of its thread: a lock file and the INI file, each with an ``fdatasync``. On a busy
disk that took 30-80 ms, and a Run click that saved the form stalled the GUI thread that long.
Calling ``sync()`` on a Python thread does not help: the binding keeps the interpreter lock
during the call, so the GUI thread waited for the lock instead (measured: the same stalls).

All QSettings objects of one file in a process share its values (and a mutex), so the values are
set on a second QSettings object of the same file that lives in a :class:`QThread` of its own
(its default ``run``: a C++ event loop). Its update event is handled there, in C++, without the
interpreter lock; the GUI's object sees the new values at once and has nothing to write.

Limits: Qt documents QSettings as reentrant, not thread-safe, and :func:`set_values` calls the
writer thread's object from the GUI thread. The values go in under the file's mutex; the one
unguarded flag (QSettings' "update pending") is why an update is posted after every call. The
writer holds that mutex for its whole write, so a read or write of this file on the GUI thread
in the meantime waits for it (measured: a 0.6 s write held a ``value()`` of another key 0.6 s):
only the write that ``set_values`` started is off the GUI thread, not everything after it.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QSettings, QThread, QTimer

_thread: QThread | None = None
_mirrors: dict[tuple[str, QSettings.Format], QSettings] = {}
_lock = threading.Lock()


def _mirror(settings: QSettings) -> QSettings:
    """The writer thread's QSettings object for ``settings``' file (made on first use)."""
    global _thread
    key = (settings.fileName(), settings.format())
    with _lock:
        if _thread is None:
            _thread = QThread()
            _thread.setObjectName("settings-writer")
            _thread.start()
            atexit.register(_stop)  # a QThread destroyed while running aborts the process
        mirror = _mirrors.get(key)
        if mirror is None:
            mirror = QSettings(*key)
            mirror.moveToThread(_thread)
            _mirrors[key] = mirror
        return mirror


def set_values(settings: QSettings, values: dict[str, Any]) -> None:
    """Set ``values`` (full keys) so that ``settings`` reads them at once, and write the file on
    the writer thread."""
    if not values:
        return
    mirror = _mirror(settings)
    for key, value in values.items():
        mirror.setValue(key, value)
    # An update of our own as well: the one setValue posts is skipped while one is pending.
    QCoreApplication.postEvent(mirror, QEvent(QEvent.Type.UpdateRequest))


def flush(settings: QSettings, timeout: float = 5.0) -> bool:
    """Wait until what :func:`set_values` set for ``settings``' file is written (tests, exit)."""
    mirror = _mirrors.get((settings.fileName(), settings.format()))
    if mirror is None:
        return True
    done = threading.Event()
    QCoreApplication.postEvent(mirror, QEvent(QEvent.Type.UpdateRequest))
    QTimer.singleShot(0, mirror, done.set)  # runs in the writer thread after the update
    return done.wait(timeout)


def _stop() -> None:
    thread = _thread
    if thread is not None and thread.isRunning():
        thread.quit()
        thread.wait(5000)
