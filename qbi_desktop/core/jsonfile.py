"""Reading a JSON file the user gave us (pipelines, profiles, simulation parameters, data
package descriptors): parsed with ``json.loads`` only, nothing in it is ever executed, and every
failure is a :class:`UserFacingError` naming the file and what is wrong with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qbi_desktop.core.errors import UserFacingError


def read_json(path: str | Path, what: str = "the file") -> Any:
    """The parsed content of ``path``; ``what`` names it in the cannot-read message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserFacingError(f"{path}: not a UTF-8 text file, so not JSON") from None
    except OSError as exc:
        raise UserFacingError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserFacingError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
