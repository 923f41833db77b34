"""Errors the user sees: each names the file (or field) and says what is wrong with it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path


class UserFacingError(Exception):
    """An error whose message is written for the person using the app, not for a developer."""


class ImageReadError(UserFacingError):
    """A file could not be read as an image. ``path`` names it, the message says why."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ImageSizesDiffer(UserFacingError):
    """A dataset's images do not share one size, so they cannot be one array (``images()``);
    resizing them to a common size is the way out, which only this error suggests."""


def human_size(n: float) -> str:
    """A byte count as people read it in a message: "812 bytes", "3.4 MiB", "1.2 TiB"."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


# Control characters (C0 but newline, DEL, C1) and bidirectional overrides: printed raw, a
# label such as "\x1b]0;owned\x07" or "\x1b[2J" would drive the terminal, not be shown.
_UNPRINTABLE = {
    c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
    for c in [
        *range(0x00, 0x20),
        *range(0x7F, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
    if c != 0x0A
}
# A file name's bytes that are not UTF-8 reach Python as lone surrogates (b"\xff" -> U+DCFF,
# "surrogateescape"): printed raw they crash a UTF-8 stream ("surrogates not allowed"); they
# are shown in Python's notation of the byte, "\xff".
_UNPRINTABLE.update({c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)})
_UNPRINTABLE.update({c: f"\\u{c:04x}" for c in range(0xD800, 0xE000) if c not in _UNPRINTABLE})


# tab and carriage return as Python's repr writes them (names in messages are often repr'd):
# one notation for a control character wherever it is shown
_UNPRINTABLE.update({0x09: "\\t", 0x0D: "\\r"})

_UNPRINTABLE_IN_STREAM = {c: v for c, v in _UNPRINTABLE.items() if c not in (0x09, 0x0D)}

# a name (class, annotator, file) is one line: its newline is escaped too
_UNPRINTABLE_IN_NAME = {**_UNPRINTABLE, 0x0A: "\\n"}


def listed(names: Iterable[object], limit: int = 8) -> str:
    """``a, b, c``: at most ``limit`` of ``names``, then how many there are in all. Names read
    from a file (an archive's members, a record's keys) go into messages, and a hostile file
    may hold 20 000 of them: a message stays a line."""
    shown, count = [], 0
    for name in names:
        if count < limit:
            shown.append(str(name))
        count += 1
    more = f", … ({count:,} in all)" if count > limit else ""
    return ", ".join(shown) + more


_OBJECT_REPR = re.compile(r"<(?:_io\.)?\w+ object at 0x[0-9a-fA-F]+>")
_INT_DIGITS = re.compile(
    r"Exceeds the limit \((\d+) digits\) for integer string conversion(?:: value has "
    r"(\d+) digits)?(?:; use sys\.set_int_max_str_digits\(\) to increase the limit)?"
)


def reason(exc: BaseException) -> str:
    """What a decoder or parser's exception says, for a user: Python's own advice and object
    addresses left out (``cannot identify image file <_io.BytesIO object at 0x7f..>`` ->
    ``cannot identify image file (the embedded data)``; the integer-digits limit's "use
    sys.set_int_max_str_digits()" -> a number of 5001 digits, more than 4300)."""
    text = _OBJECT_REPR.sub("(the embedded data)", str(exc))

    def digits(match: re.Match) -> str:
        has = f"a number of {match.group(2)} digits" if match.group(2) else "a number"
        return f"{has}, more than the {match.group(1)} digits a number may have"

    return _INT_DIGITS.sub(digits, text)


def terminal_safe(text: object) -> str:
    """``text`` for a terminal: control characters and escape sequences in it (from labels,
    file names, ...) are shown escaped (``\\x1b``) instead of being acted on; lines are kept."""
    return str(text).translate(_UNPRINTABLE)


def shown_name(name: object) -> str:
    """A name (a class, an annotator, a file name) for a terminal line or a table cell: every
    control character escaped as :func:`terminal_safe` and Python's ``repr`` write it, the
    newline too (``"red\\nx"``, ``"\\x1b[31m"``), so a name cannot split the line it is
    printed in. :func:`terminal_safe` keeps the lines of a message; a name has none."""
    return str(name).translate(_UNPRINTABLE_IN_NAME)


class TerminalSafeStream:
    """A text stream that writes through :func:`terminal_safe` (keeping tabs and the carriage
    returns of progress lines): what a command prints cannot drive the terminal."""

    def __init__(self, stream: object):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(str(text).translate(_UNPRINTABLE_IN_STREAM))  # type: ignore[attr-defined]
        return len(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)
