"""The ``--out`` folder of a report command: checked before the work, made after it."""

from __future__ import annotations

import os
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
    check_can_write(out)
    return out


def check_can_write(out: Path, flag: str = "--out", staged: bool = False) -> None:
    """Refuse at once, before minutes of work, a folder that cannot be made or written into
    (a read-only file system, a folder we may not write): a probe folder is made and removed
    where the run will write, the folder itself when it exists, else its nearest existing
    parent. ``staged``: the run writes beside the folder first (a report staged in a hidden
    folder next to it, :class:`~qbi_desktop.core.outfolder.StagedFolder`), so its parent is
    probed too."""
    import tempfile

    places = [_nearest_existing(out)]
    if staged:
        places.append(_nearest_existing(out.absolute().parent))
    for place in dict.fromkeys(places):
        if not outfolder.is_dir(place):
            raise UserFacingError(
                f"{flag} {out}: cannot create the folder: {place} is not a folder; nothing was done"
            )
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".qbi-probe-", dir=place))
        except OSError as exc:
            what = (
                "cannot write in the folder"
                if place == out
                else f"cannot create the folder: cannot write in {place}"
            )
            raise UserFacingError(
                f"{flag} {out}: {what} ({exc.strerror or exc}); nothing was done"
            ) from None


def _nearest_existing(path: Path) -> Path:
    """``path``, or its nearest parent that exists (the folder a run would create into)."""
    for place in (path, *path.absolute().parents):
        if outfolder.lexists(place):
            return place
    return Path("/")


def make_out_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserFacingError(f"--out {out}: cannot create the folder ({exc.strerror})") from exc
