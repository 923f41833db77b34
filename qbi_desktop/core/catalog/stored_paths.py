"""File paths as the catalog stores them: SQLite text is UTF-8, a Linux file name is bytes.

A path whose bytes are not UTF-8 (``src\\xff/a.tif``: Python holds it with surrogate escapes,
``'src\\udcff'``) cannot be written as SQLite text; it is stored as a ``file://`` URI
(RFC 8089) with every byte that is not plain ASCII percent-encoded, and read back to the same
bytes, so the item opens as any other. Plain paths are stored as before (relative POSIX inside
the project, else absolute): an existing catalog reads unchanged. The forms cannot be confused:
a stored relative path never holds ``//`` and an absolute one starts with ``/``, so
``file:///`` begins only an encoded path.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote_to_bytes

#: How an encoded path starts (``file://`` and the path's own leading ``/``).
URI_PREFIX = "file://"


def is_text(text: str) -> bool:
    """Whether ``text`` can be stored as SQLite text (UTF-8: no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encode(posix: str, absolute: Path) -> str:
    """``posix`` (the path as stored so far) when it is text, else the ``file://`` URI of
    ``absolute`` (the same file), whose bytes it keeps exactly."""
    if is_text(posix):
        return posix
    return URI_PREFIX + quote_from_bytes(os.fsencode(absolute.as_posix()), safe="/")


def decode(stored: str) -> Path | None:
    """The path an encoded ``stored`` value names (bytes restored), or None for a plain one."""
    if not stored.startswith(URI_PREFIX + "/"):
        return None
    return Path(os.fsdecode(unquote_to_bytes(stored[len(URI_PREFIX) :])))


def shown(text: str) -> str:
    """``text`` as a message or a stored name can hold it: bytes that are not UTF-8 as
    ``\\xff`` (Python's own notation), the rest unchanged."""
    if is_text(text):
        return text
    return os.fsencode(text).decode("utf-8", "backslashreplace")
