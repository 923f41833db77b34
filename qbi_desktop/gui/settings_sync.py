"""Write the app's QSettings to disk on a thread of its own, not in the GUI thread.

Why: after ``setValue`` QSettings posts itself an update event and writes the file from the
event loop, in the GUI thread: a lock file and the INI file, each with an ``fdatasync``. On a
busy disk that took 30-80 ms, and a Run click that saves the form stalled the GUI that long.

All QSettings objects of one file in a process share its values (and a mutex), so a second
QSettings object for the same file, synced on a worker thread, writes what the GUI thread's
object has set. :func:`sync_in_background` drops the GUI object's queued update event, syncs on a
worker thread, then lets the GUI object sync once more: that finds nothing left to write (a
``stat`` of the file), and it clears the object's "changes pending" state, so later ``setValue``
calls elsewhere in the app are written as before.
"""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QSettings, Signal

log = logging.getLogger(__name__)


class BackgroundSettingsSync(QObject):
    """Syncs one QSettings object's file on a worker thread; a burst of saves costs one write."""

    _written = Signal()  # worker thread -> this object's (the GUI) thread

    def __init__(self, settings: QSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self._lock = threading.Lock()
        self._again = False
        self._thread: threading.Thread | None = None
        self._written.connect(self._after_write)

    def request(self) -> None:
        """Write the settings' file soon, off this thread (call after ``setValue``)."""
        QCoreApplication.removePostedEvents(self.settings, QEvent.Type.UpdateRequest)
        with self._lock:
            self._again = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._write_loop, name="settings-sync", daemon=True
                )
                self._thread.start()

    def _write_loop(self) -> None:
        path, fmt = self.settings.fileName(), self.settings.format()
        while True:
            with self._lock:
                if not self._again:
                    self._thread = None
                    break
                self._again = False
            mirror = QSettings(path, fmt)
            mirror.sync()
            if mirror.status() != QSettings.Status.NoError:
                log.error("cannot write the settings file %s (%s)", path, mirror.status().name)
            del mirror
        try:
            self._written.emit()
        except RuntimeError:
            pass  # the window (and this object) went away meanwhile; the file is written

    def _after_write(self) -> None:
        # Nothing left to write: only clears the object's pending state (see the module note).
        self.settings.sync()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until the file is written (closing the app, tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self.settings.sync()
