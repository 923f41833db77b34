"""Reading a JSON file the user gave us (pipelines, profiles, simulation parameters, data
package descriptors, COCO and labelme files): parsed with ``json.loads`` only, nothing in it is
ever executed, and every failure is a :class:`UserFacingError` naming the file and what is
wrong with it.

Only a regular file is read (a FIFO or a device is refused at once, see
:mod:`qbi_desktop.core.safefile`), up to the text-file size limit. JSON nested deeper than the
parser can follow (``[[[[...]]]]`` a million times) is refused with a message instead of a
RecursionError; so are numbers Python will not convert (an integer of 5 000 digits) and
objects naming one key twice (which value counts is not said by JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qbi_desktop.core.errors import UserFacingError, reason
from qbi_desktop.core.safefile import read_bytes

#: Deepest nesting accepted. Our formats need ~6 levels; the parser itself stops near 1 000,
#: and code walking a parsed value recursively would fail near there too.
MAX_DEPTH = 100


def nesting_depth(data: bytes) -> int:
    """How deeply lists/objects nest in JSON ``data`` (brackets inside strings not counted);
    linear and without recursion (~10 ms per MB). Memory: a few bytes per byte of ``data``
    for a moment, and 8 per quote and bracket (a copy of the text without its strings, made
    by a regular expression, held millions of pieces at once: 12 bytes per byte of a COCO
    file)."""
    import numpy as np

    chars = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(chars == ord('"'))
    # a quote after an odd run of backslashes is escaped (backslashes are rare: runs found
    # among their positions only)
    slashes = np.flatnonzero(chars == ord("\\"))
    if len(slashes) and len(quotes):
        starts = np.flatnonzero(np.diff(slashes, prepend=-2) != 1)
        lengths = np.diff(starts, append=len(slashes))
        after = slashes[starts] + lengths  # the character after each run
        escaped = after[lengths % 2 == 1]
        quotes = quotes[~np.isin(quotes, escaped)]
    del slashes
    brackets = np.flatnonzero((chars | 0x20) == ord("{"))  # "[" and "{" (0x5B, 0x7B)
    closing = np.flatnonzero((chars | 0x20) == ord("}"))  # "]" and "}"
    # outside strings: an even number of (unescaped) quotes before it
    brackets = brackets[np.searchsorted(quotes, brackets) % 2 == 0]
    closing = closing[np.searchsorted(quotes, closing) % 2 == 0]
    del quotes
    steps = np.zeros(len(brackets) + len(closing), dtype=np.int32)
    order = np.argsort(np.concatenate([brackets, closing]), kind="stable")
    steps[order < len(brackets)] = 1
    steps[order >= len(brackets)] = -1
    return int(np.cumsum(steps).max(initial=0))


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' ``object_pairs_hook``: an object naming one key twice is refused (a
    reader would keep one of the two values and lose the other without a word, e.g. a second
    ``"images"`` list of a COCO file replacing the first)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        shown = repr(twice[:60]) + ("…" if len(twice) > 60 else "")
        raise ValueError(f"key {shown} appears twice in one object; its two values are ambiguous")
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (JSON has no NaN or Infinity)")


def parse_json(text: str, where: str, *, constants: bool = False) -> Any:
    """``text`` parsed as JSON; ``where`` (the file) names it in the message.

    ``constants``: accept the non-standard ``NaN`` / ``Infinity`` tokens (as floats) so that a
    typed reader can name the record holding them; otherwise they are refused here.
    """
    try:
        return json.loads(
            text,
            parse_constant=None if constants else _reject_constant,
            object_pairs_hook=unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise UserFacingError(
            f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise UserFacingError(
            f"{where}: JSON nested too deeply to read (lists/objects inside each other more "
            "than the parser can follow)"
        ) from None
    except ValueError as exc:  # NaN tokens, integers of thousands of digits
        raise UserFacingError(f"{where}: not valid JSON ({reason(exc)})") from None


def read_json(path: str | Path, what: str = "the file", *, constants: bool = False) -> Any:
    """The parsed content of ``path``; ``what`` names it in the cannot-read message."""
    path = Path(path)
    data = read_bytes(path, what)
    if nesting_depth(data) > MAX_DEPTH:
        raise UserFacingError(
            f"{path}: JSON nested too deeply ({what} has lists/objects more than {MAX_DEPTH} "
            "levels inside each other)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserFacingError(f"{path}: not a UTF-8 text file, so not JSON") from None
    del data  # not held beside the text and the parsed objects (a file of hundreds of MB)
    return parse_json(text, str(path), constants=constants)
