"""One writer per journal: an advisory lock held for as long as a journal is open.

The lock is a small file beside the journal (``<journal>.lock``) locked with ``flock``, not the
journal itself: a journal is replaced by an atomic rename on every save, and a lock on the old
file would not protect the new one. ``flock`` locks belong to one open file description, so a
second window of the same process is refused just like another process, and the kernel drops
the lock when its holder dies (``kill -9`` included): a lock file left behind is never stale
in effect, only clutter, and the start-up clean-up removes it (:mod:`.leftovers`).

The file holds the holder's pid and host for the message a refused opener shows.
Without ``fcntl`` (Windows) no lock is taken: a single-window platform then relies on the
window focusing an already open document.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from qbi_desktop.core.errors import UserFacingError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = ".lock"


class JournalLockedError(UserFacingError):
    """Another window (this process or another) has this journal open."""

    def __init__(self, journal: Path, holder: str):
        self.journal = journal
        self.holder = holder
        super().__init__(
            f"{journal}: the mask of this image is being edited in another QBI Desktop window "
            f"({holder}); this copy is read-only so that neither loses strokes — paint in the "
            "other window, or close the image there, then close and reopen it here"
        )


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + LOCK_SUFFIX)


def holder_of(journal: Path) -> str:
    """Who holds the lock, in words (from the pid/host the holder wrote)."""
    try:
        text = lock_path(journal).read_text(encoding="utf-8", errors="replace")[:200]
    except OSError:
        return "another window"
    parts = text.split()
    if len(parts) >= 2 and parts[0].isdigit():
        who = f"process {parts[0]} on {parts[1]}"
        return "in this same process" if int(parts[0]) == os.getpid() else who
    return "another window"


class JournalLock:
    """An exclusive, non-blocking lock on ``journal``; :meth:`release` (or death) ends it."""

    def __init__(self, journal: Path):
        self.journal = Path(journal)
        self.path = lock_path(self.journal)
        self._fd: int | None = None

    @classmethod
    def acquire(cls, journal: Path) -> JournalLock:
        """Take the lock or raise :class:`JournalLockedError` at once (never waits)."""
        lock = cls(journal)
        if fcntl is None:  # pragma: no cover
            return lock
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        for _attempt in range(5):
            try:
                fd = os.open(lock.path, flags, 0o600)
            except OSError as e:
                raise UserFacingError(
                    f"{lock.path}: cannot lock the recovery journal ({e.strerror or e})"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise JournalLockedError(lock.journal, holder_of(lock.journal)) from None
            # The file may have been removed (a holder releasing) between our open and flock:
            # then we hold a lock nobody else can see. Only a lock on the file at the path counts.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock.path))
            except OSError:
                same = False
            if same:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
                lock._fd = fd
                return lock
            os.close(fd)
        raise JournalLockedError(lock.journal, "a window that keeps closing and reopening it")

    @staticmethod
    def is_held(journal: Path) -> bool:
        """True if some open file description holds the lock now (any process, this one too)."""
        if fcntl is None:  # pragma: no cover
            return False
        path = lock_path(Path(journal))
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)  # also drops the shared lock just taken
        return False

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self, remove: bool = True) -> None:
        """Drop the lock; ``remove`` deletes the lock file first (while still holding it, so
        nobody can be between opening and locking the file we delete)."""
        if self._fd is None:
            return
        if remove:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release(remove=False)
