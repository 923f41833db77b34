"""The catalog's WAL checkpoints, run by a thread of their own instead of by the committing one.

Why: SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1 000 pages,
on the connection that commits. On the GUI's connection that is a label typed in the Browser:
every ~50 labels on a 100 000-item project one key press copied ~4 MB of pages into the
database file and waited for two fsyncs (6-40 ms, more on a busy disk). An interactive
connection therefore turns the automatic checkpoint off (``PRAGMA wal_autocheckpoint = 0``),
and a :class:`Checkpointer` runs a PASSIVE checkpoint from a connection of its own every
:data:`PERIOD_S` seconds: it never takes the writer's lock nor waits for readers, so a commit
never waits for it, and the WAL holds at most what was committed in one period (plus what a
reader that keeps an old snapshot holds back, as with the automatic checkpoint).

Crash safety is SQLite's own: a commit is whole in the WAL before COMMIT returns, and a killed
process's WAL is replayed by the next connection, checkpointed or not.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from qbi_desktop.core.errors import UserFacingError

#: seconds between two checkpoints: with a PASSIVE checkpoint that finds nothing new costing
#: microseconds, this bounds the WAL to one period of commits without a timer per commit
PERIOD_S = 1.0


def connect_for_checkpoints(db_path: Path) -> sqlite3.Connection:
    """A connection that can checkpoint the catalog at ``db_path`` but never creates one: a
    catalog moved away while its project is open is not replaced by an empty file."""
    return sqlite3.connect(
        f"{Path(db_path).absolute().as_uri()}?mode=rw",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
    )


def turn_off_automatic(db: sqlite3.Connection) -> None:
    """No checkpoint ever runs in a COMMIT on ``db``: a :class:`Checkpointer` does them."""
    db.execute("PRAGMA wal_autocheckpoint = 0")


class Checkpointer:
    """A daemon thread that checkpoints the catalog's WAL (PASSIVE) every :data:`PERIOD_S`
    seconds through its own connection from ``connect``, and once more when closed.
    Never raises: a failed checkpoint (a disk error, a catalog gone) is kept in
    :attr:`error` and tried again a period later."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], period: float = PERIOD_S):
        self._connect = connect
        self._period = period
        self._stop = threading.Event()
        #: held while a checkpoint runs: whoever holds it keeps the checkpoints off meanwhile
        self.lock = threading.Lock()
        #: the last checkpoint's (busy, WAL frames, frames checkpointed), as SQLite reports
        self.last: tuple[int, int, int] | None = None
        self.runs = 0
        self.error: str | None = None
        self._db: sqlite3.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="catalog checkpoints", daemon=True)
        self._thread.start()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One PASSIVE checkpoint now (on the calling thread); None when it failed."""
        with self.lock:
            try:
                if self._db is None:
                    self._db = self._connect()
                row = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except (sqlite3.Error, OSError, UserFacingError) as exc:  # connect's errors too
                self.error = str(exc)
                self._close_db()
                return None
            self.last = (int(row[0]), int(row[1]), int(row[2]))
            self.runs += 1
            self.error = None
            return self.last

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self.checkpoint()
        self.checkpoint()  # what the last period committed, before the project closes
        with self.lock:
            self._close_db()

    def _close_db(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread after a last checkpoint (waits up to ``timeout`` seconds for it)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
