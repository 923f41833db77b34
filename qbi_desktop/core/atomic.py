"""Atomic file writing: a temporary file in the same folder, fsync, then rename over the target.

A reader (or a crash) sees either the old file or the complete new one, never half of each.
A full disk or a read-only folder raises :class:`DiskFullError` / :class:`FolderNotWritableError`
(still ``OSError`` subclasses) whose message names the file, what was needed and what is free.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from qbi_desktop.core.errors import UserFacingError, human_size

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def disk_free(folder: str | Path) -> int | None:
    """Bytes a normal user can still write on the disk holding ``folder`` (None if unknown)."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        stat = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return stat.f_bavail * stat.f_frsize


class DiskFullError(UserFacingError, OSError):
    """Writing ``path`` stopped because its disk is full (or the user's quota is used up)."""

    def __init__(self, path: str | Path, need: int | None = None, what: str | None = None):
        self.path = Path(path)
        self.need = need
        self.free = free = disk_free(self.path.parent)
        parts = []
        if need is not None:
            parts.append(f"need {human_size(need)}")
        if free is not None:
            parts.append(f"{human_size(free)} free")
        self.detail = ", ".join(parts)
        detail = f": {self.detail}" if parts else ""
        self.message = (
            f"disk full while writing {what or self.path}{detail}; nothing was written - free "
            "some space or choose another disk"
        )
        OSError.__init__(self, errno.ENOSPC, self.message, str(self.path))

    def __str__(self) -> str:
        return self.message


class FolderNotWritableError(UserFacingError, PermissionError):
    """``path`` cannot be written: its folder is read-only or not ours to write."""

    def __init__(self, path: str | Path, reason: str = "permission denied"):
        self.path = Path(path)
        self.message = (
            f"cannot write {self.path}: the folder {self.path.parent} is read-only or not "
            f"writable ({reason}); nothing was written"
        )
        PermissionError.__init__(self, errno.EACCES, self.message, str(self.path))

    def __str__(self) -> str:
        return self.message


def write_error(path: str | Path, exc: OSError, need: int | None = None) -> OSError:
    """The clear error for an OSError met while writing ``path`` (the same one otherwise)."""
    if isinstance(exc, DiskFullError | FolderNotWritableError):
        return exc
    if exc.errno in _FULL:
        return DiskFullError(path, need)
    if exc.errno in _NOT_WRITABLE:
        return FolderNotWritableError(path, exc.strerror or str(exc))
    return exc


# The temporary file of an atomic write: ".<name>.<mkstemp's 8 random characters>.tmp"
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def leftover_temps(folder: str | Path) -> list[Path]:
    """The temporary files :func:`atomic_open` made in ``folder`` that no rename consumed: a
    process killed mid-write leaves one (an interrupted write removes its own). Only for a
    folder no other process is writing into at the time."""
    try:
        with os.scandir(folder) as entries:
            return [Path(e.path) for e in entries if _TEMP_NAME.match(e.name) and e.is_file()]
    except OSError:
        return []


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """Open a binary stream whose content replaces ``path`` only if the block completes."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from exc
    os.close(fd)
    # mkstemp makes 0600 files; give the result the mode a plain open() would (or the old file's).
    try:
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~UMASK)
    except OSError:
        pass
    try:
        # Opened by name (not fdopen) so writers that look at ``stream.name`` (tifffile) work.
        with open(tmp, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from exc
        raise
    _fsync_dir(path.parent)


def write_new_file(path: str | Path, data: bytes) -> None:
    """Create ``path`` (it must not exist) holding ``data``, without a flush: for a batch of
    new files that nothing refers to until a later commit, which calls :func:`flush_batch`
    once first (two fsyncs per file, as :func:`atomic_write_bytes` does, cost ~4 ms each: 20 s
    for the 5 000 masks of one import). Until then no reader looks for the file, so no
    temporary name is needed; a crash leaves at most a file no catalog row names, which the
    next open removes (leftovers.py)."""
    path = Path(path)
    try:
        stream = open(path, "xb")  # noqa: SIM115 (closed below, removed on failure)
    except OSError as exc:
        raise write_error(path, exc, len(data)) from exc
    try:
        with stream:
            stream.write(data)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise write_error(path, exc, len(data)) from exc


def flush_batch(folder: str | Path) -> None:
    """Make a batch of ``sync=False`` writes into ``folder`` durable: one flush of the disks
    (what export folders and archive extraction do), then the folder's entries."""
    if hasattr(os, "sync"):
        os.sync()
    _fsync_dir(Path(folder))


def _read_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which is not thread-safe.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The process umask, read once at import (files we create get 0o666 & ~UMASK).
UMASK = _read_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    try:
        with atomic_open(path) as stream:
            stream.write(data)
    except DiskFullError as exc:
        raise DiskFullError(path, len(data)) from exc.__cause__


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_with(path: str | Path, writer: Callable[[BinaryIO], object]) -> None:
    """Let ``writer`` fill a stream (e.g. ``tifffile.imwrite(stream, ...)``), then commit it."""
    with atomic_open(path) as stream:
        writer(stream)


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable; not every platform lets a folder be opened.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
