"""Giving memory back once the window has settled.

Whole-image work on a memory-mapped plane (the mask journal's hash, previews, statistics) leaves
every page it touched resident, up to the file's size. When no task has run for a moment the
window tells the kernel it no longer needs those pages (they stay in the page cache): the
resident set then holds what is shown, not the whole file.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer

SETTLE_MS = 1500  # quiet time after the last task or shown document before pages are dropped


class SettleMixin:
    """Drops the open documents' mapped pages after ``SETTLE_MS`` without running tasks."""

    def _build_settle_timer(self) -> None:
        self._settle_timer = QTimer(self)
        self._settle_timer.setSingleShot(True)
        self._settle_timer.setInterval(SETTLE_MS)
        self._settle_timer.timeout.connect(self.release_mapped_pages)
        self.tasks.active_changed.connect(self._settle_timer.start)
        self.document_shown.connect(lambda _document: self._settle_timer.start())

    def release_mapped_pages(self) -> int:
        """Drop the memory-mapped pages of every open document (a task still running keeps
        them: it is asked again when the tasks end). How many planes were memory maps."""
        if self.tasks.active():
            return 0
        return sum(document.source.release_pages() for document in self.documents)
