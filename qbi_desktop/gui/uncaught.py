"""What happens to an exception that no slot caught.

PySide prints such an exception to standard error and carries on: in a desktop session nobody
reads that, so a file that became unreadable while a panel refreshed (a damaged slice, a file
truncated or removed while open) left the panel silently stale. The hook below tells the user
instead: a :class:`UserFacingError` by its own message, which names the file; anything else as
an internal error, its trace in the log. The app carries on either way.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from types import TracebackType

from qbi_desktop.core.errors import UserFacingError

log = logging.getLogger(__name__)

#: The same message again within this many seconds goes to the log only: an exception in a
#: paint or a timer repeats many times a second and must not open a message box each time.
REPEAT_S = 10.0


def install(report: Callable[[str], None]) -> None:
    """Make ``report`` (the main window's report_error) hear of uncaught exceptions."""
    previous = sys.excepthook
    last: dict[str, float] = {}

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, (KeyboardInterrupt, SystemExit)):
            previous(kind, value, tb)
            return
        if isinstance(value, UserFacingError):
            message = str(value)
            log.warning("not caught where it happened: %s", message, exc_info=(kind, value, tb))
        else:
            message = f"Internal error: {kind.__name__}: {value} (the log holds the details)"
            log.error("uncaught exception", exc_info=(kind, value, tb))
        now = time.monotonic()
        if now - last.get(message, -REPEAT_S) < REPEAT_S:
            return
        last[message] = now
        try:
            report(message)
        except Exception:  # noqa: BLE001 - the hook itself must never raise
            log.exception("could not report an uncaught exception")

    sys.excepthook = hook
