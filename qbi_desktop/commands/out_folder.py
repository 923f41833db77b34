"""The ``--out`` folder of a report command: checked before the work, made after it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from qbi_desktop.core import outfolder
from qbi_desktop.core.errors import UserFacingError


def check_out_folder(
    text: str,
    names: Iterable[str] = (),
    patterns: Iterable[str] = (),
    own: Callable[[Path], bool] | None = None,
    command: str = "qbi-desktop",
) -> Path:
    """``--out`` as a path; refused at once when it names something that is not a folder (or
    a path the file system cannot hold), or a folder holding files the command would replace,
    ``names`` and files matching ``patterns``, that ``own`` does not recognise as the
    command's own earlier report (:mod:`qbi_desktop.core.outfolder`)."""
    out = outfolder.check_out_folder(text)
    outfolder.refuse_replacing(out, names, patterns, own=own, command=command)
    return out


def make_out_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserFacingError(f"--out {out}: cannot create the folder ({exc.strerror})") from exc
