"""Atomic file writing: a temporary file in the same folder, fsync, then rename over the target.

A reader (or a crash) sees either the old file or the complete new one, never half of each.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """Open a binary stream whose content replaces ``path`` only if the block completes."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _read_umask() -> int:
    # Read once at import: os.umask can only be read by setting it, which is not thread-safe.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The process umask, read once at import (files we create get 0o666 & ~UMASK).
UMASK = _read_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path) as stream:
        stream.write(data)


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
