"""The ``--out`` folder of a report command: checked before the work, made after it."""

from __future__ import annotations

from pathlib import Path

from qbi_desktop.core.errors import UserFacingError


def check_out_folder(text: str) -> Path:
    """``--out`` as a path; refused at once when it names something that is not a folder."""
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise UserFacingError(f"--out {out}: exists and is not a folder")
    return out


def make_out_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserFacingError(f"--out {out}: cannot create the folder ({exc.strerror})") from exc
