"""Have values of the app's QSettings file written by a Qt thread, never by the GUI thread.

Why: after ``setValue`` QSettings posts itself an update event and writes the file from the
event loop of its thread: a lock file and the INI file, each with an ``fdatasync``. On a busy
disk that took 30-80 ms, and a Run click that saved the form stalled the GUI thread that long.
Calling ``sync()`` on a Python thread does not help: the binding keeps the interpreter lock
during the call, so the GUI thread waited for the lock instead (measured: the same stalls).

So a writer object lives in a :class:`QThread` of its own (its default ``run``: a C++ event loop)
with a QSettings object of the file made there. :func:`set_values` hands it a plain copy of the
values by a queued signal and returns; the writer sets them on its object, whose update event is
handled in that thread, in C++, without the interpreter lock. Values handed over while a write is
under way queue up and go into the next write (QSettings coalesces them into one).

The GUI thread never calls the writer's QSettings object (Qt documents QSettings as reentrant,
not thread-safe), so it never waits for the file's mutex that the writer holds for a whole write.
All QSettings objects of one file in a process share its values: the GUI's own object sees the
values once the writer has taken them, which is why callers keep what they saved themselves
(gui/docks/baselines_form.py) rather than read it back at once.

:func:`start` makes the thread and the writer's object before they are needed (a panel's set-up),
so that the first Run click does not pay for them. :func:`flush` waits for the file (the app's
end, tests); the app's ``aboutToQuit`` flushes every file handed over.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QSettings, QThread, Signal, Slot

_Key = tuple[str, int]  # a settings file: its name and QSettings.Format (as an int)


class _Writer(QObject):
    """Lives in the writer thread: owns the QSettings objects the files are written through."""

    def __init__(self):
        super().__init__()
        self._files: dict[_Key, QSettings] = {}

    def _settings(self, key: _Key) -> QSettings:
        settings = self._files.get(key)
        if settings is None:  # made in this thread: its update events are handled here
            settings = QSettings(key[0], QSettings.Format(key[1]))
            self._files[key] = settings
        return settings

    @Slot(object)
    def open(self, key: _Key) -> None:
        self._settings(key)

    @Slot(object, object)
    def take(self, key: _Key, values: dict) -> None:
        settings = self._settings(key)
        for name, value in values.items():
            settings.setValue(name, value)  # posts one update event; it writes the file here

    @Slot(object, object)
    def write_now(self, key: _Key, done: threading.Event) -> None:
        try:
            if key in self._files:
                self._files[key].sync()
        finally:
            done.set()


class _Sender(QObject):
    """Lives in the GUI thread; its signals reach the writer queued, in the order emitted."""

    open = Signal(object)
    take = Signal(object, object)
    write_now = Signal(object, object)


_lock = threading.Lock()
_thread: QThread | None = None
_writer: _Writer | None = None
_sender: _Sender | None = None
_files: set[_Key] = set()


def _key(settings: QSettings) -> _Key:
    return (settings.fileName(), int(settings.format().value))


def start(settings: QSettings) -> None:
    """Start the writer thread and make its object of ``settings``' file (idempotent)."""
    global _thread, _writer, _sender
    key = _key(settings)
    with _lock:
        if _thread is None:
            _thread = QThread()
            _thread.setObjectName("settings-writer")
            _writer = _Writer()
            _writer.moveToThread(_thread)
            _sender = _Sender()
            _sender.open.connect(_writer.open)
            _sender.take.connect(_writer.take)
            _sender.write_now.connect(_writer.write_now)
            _thread.start()
            atexit.register(_stop)  # a QThread destroyed while running aborts the process
            app = QCoreApplication.instance()
            if app is not None:
                app.aboutToQuit.connect(flush_all)
        if key in _files:
            return
        _files.add(key)
    _sender.open.emit(key)


def set_values(settings: QSettings, values: dict[str, Any]) -> None:
    """Hand ``values`` (full keys) to the writer thread, which sets them and writes the file.
    Returns at once; ``settings`` reads the new values once the writer has taken them."""
    if not values:
        return
    start(settings)
    _sender.take.emit(_key(settings), dict(values))  # a copy: the caller may change its dict


def flush(settings: QSettings, timeout: float = 5.0) -> bool:
    """Wait until what :func:`set_values` handed over for ``settings``' file is written."""
    key = _key(settings)
    if _sender is None or key not in _files:
        return True
    done = threading.Event()
    _sender.write_now.emit(key, done)  # after every value handed over before it
    return done.wait(timeout)


def flush_all(timeout: float = 5.0) -> bool:
    """Wait for every file handed over (the app's end)."""
    if _sender is None:
        return True
    done = []
    for key in sorted(_files):
        event = threading.Event()
        _sender.write_now.emit(key, event)
        done.append(event)
    return all(event.wait(timeout) for event in done)


def _stop() -> None:
    thread = _thread
    if thread is not None and thread.isRunning():
        thread.quit()
        thread.wait(5000)
