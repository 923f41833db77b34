"""Opening a file the user named (an annotation JSON, a sheet, a pipeline, parameters) so that
a FIFO, a device or a folder is refused at once instead of blocking forever or reading without
end: only regular files are read, and only up to a size limit.

The check is made twice: ``os.stat`` before opening (a clear message without touching the
file), and ``fstat`` on the descriptor opened with ``O_NONBLOCK`` (the name may have been
swapped in between; opening a FIFO non-blocking returns at once instead of waiting for a
writer). Only a regular file is then read, in blocking mode again.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from qbi_desktop.core.errors import UserFacingError, human_size


def text_file_limit() -> int:
    """The largest JSON / sheet file read, in bytes (the ``document_bytes`` limit setting)."""
    from qbi_desktop.core import limits

    return limits.current().document_bytes


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def not_regular(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as a file (missing, a FIFO, a device, a folder), or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "file not found"
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        return f"cannot read ({getattr(exc, 'strerror', None) or exc})"
    if not stat.S_ISREG(mode):
        return f"is {kind_of(mode)}, not a regular file"
    return None


def is_regular_file(path: str | Path) -> bool:
    """Whether ``path`` is a regular file (False, never an exception, for anything else)."""
    return not_regular(path) is None


def check_regular(path: str | Path, what: str = "the file") -> None:
    """Raise a :class:`UserFacingError` naming ``path`` unless it is a regular file."""
    reason = not_regular(path)
    if reason is not None:
        raise UserFacingError(f"{path}: cannot read {what}: {reason}")


@contextlib.contextmanager
def open_regular(
    path: str | Path, what: str = "the file", limit: int | None = None
) -> Iterator[BinaryIO]:
    """A binary stream on ``path``, which must be a regular file of at most ``limit`` bytes;
    anything else is a :class:`UserFacingError` naming the file, raised without blocking."""
    check_regular(path, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UserFacingError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # swapped since the first look
            raise UserFacingError(
                f"{path}: cannot read {what}: is {kind_of(info.st_mode)}, not a regular file"
            )
        if limit is not None and info.st_size > limit:
            raise UserFacingError(
                f"{path}: {what} is {human_size(info.st_size)}, more than the "
                f"{human_size(limit)} allowed for such a file"
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with stream:
        yield stream


def read_bytes(path: str | Path, what: str = "the file", limit: int | None = None) -> bytes:
    """All bytes of the regular file ``path`` (at most ``limit``, default: the text-file limit);
    it growing past the limit while being read is refused too."""
    limit = text_file_limit() if limit is None else limit
    with open_regular(path, what, limit) as stream:
        try:
            # read(limit + 1) would allocate the whole limit (GBs for a journal) up front
            chunks, total = [], 0
            while total <= limit and (block := stream.read(min(1 << 24, limit + 1 - total))):
                chunks.append(block)
                total += len(block)
            data = b"".join(chunks)
        except OSError as exc:
            raise UserFacingError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    if len(data) > limit:
        raise UserFacingError(
            f"{path}: {what} is more than the {human_size(limit)} allowed for such a file"
        )
    return data


def read_text(
    path: str | Path, what: str = "the file", limit: int | None = None, encoding: str = "utf-8"
) -> str:
    """The text of the regular file ``path``, decoded; a file that is not such text is refused."""
    data = read_bytes(path, what, limit)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = encoding.upper().removesuffix("-SIG")
        raise UserFacingError(f"{path}: {what} is not {name} text (byte {exc.start})") from None


def resolve_inside(base: Path, name: str, within: Path) -> Path | str:
    """The file an annotation names (``name``, relative to ``base``) if it stays inside the
    folder ``within`` once resolved, else the reason it is refused. Absolute names, ``..`` that
    climb out and symbolic links that lead out are refused: an annotation file (perhaps from
    an archive) must not make the project reference, or an export copy, any file on the host.
    Windows separators are read as separators."""
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":" and text[0].isalpha()):
        return f"{name!r} is an absolute path; only paths relative to {base} are used"
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in text.split("/")):
        return f"{name[:60]!r}... has a file name longer than 255 bytes (no file system holds it)"
    candidate = os.path.join(base, text)
    try:
        resolved = os.path.realpath(candidate)
        root = os.path.realpath(within)
    except (OSError, ValueError) as exc:  # symlink loops, NUL characters
        return f"{name!r} cannot be resolved ({exc})"
    if resolved != root and not resolved.startswith(root.rstrip(os.sep) + os.sep):
        return f"{name!r} leads outside {within} (to {resolved}); only files inside it are used"
    return Path(candidate)


__all__ = [
    "check_regular",
    "is_regular_file",
    "kind_of",
    "not_regular",
    "open_regular",
    "read_bytes",
    "read_text",
    "resolve_inside",
    "text_file_limit",
]
