"""Reading a JSON file the user gave us (pipelines, profiles, simulation parameters, data
package descriptors, COCO and labelme files): parsed with ``json.loads`` only, nothing in it is
ever executed, and every failure is a :class:`UserFacingError` naming the file and what is
wrong with it.

Only a regular file is read (a FIFO or a device is refused at once, see
:mod:`qbi_desktop.core.safefile`), up to the text-file size limit. JSON nested deeper than the
parser can follow (``[[[[...]]]]`` a million times) is refused with a message instead of a
RecursionError; so are numbers Python will not convert (an integer of 5 000 digits).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.safefile import read_bytes

#: Deepest nesting accepted. Our formats need ~6 levels; the parser itself stops near 1 000,
#: and code walking a parsed value recursively would fail near there too.
MAX_DEPTH = 100

# A JSON string: quote, runs of plain characters and escapes, quote (unrolled: no backtracking).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def nesting_depth(data: bytes) -> int:
    """How deeply lists/objects nest in JSON ``data`` (brackets inside strings not counted);
    linear and without recursion (~10 ms per MB)."""
    import numpy as np

    step = np.zeros(256, dtype=np.int8)
    step[[ord("["), ord("{")]] = 1
    step[[ord("]"), ord("}")]] = -1
    steps = step[np.frombuffer(_STRING.sub(b"", data), dtype=np.uint8)]
    steps = steps[steps != 0]
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (JSON has no NaN or Infinity)")


def parse_json(text: str, where: str, *, constants: bool = False) -> Any:
    """``text`` parsed as JSON; ``where`` (the file) names it in the message.

    ``constants``: accept the non-standard ``NaN`` / ``Infinity`` tokens (as floats) so that a
    typed reader can name the record holding them; otherwise they are refused here.
    """
    try:
        return json.loads(text, parse_constant=None if constants else _reject_constant)
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
        raise UserFacingError(f"{where}: not valid JSON ({exc})") from None


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
    return parse_json(text, str(path), constants=constants)
