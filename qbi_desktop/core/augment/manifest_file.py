"""Reading an augmentation run's ``manifest.jsonl`` as typed records, whatever is in its place.

The manifest sits in a folder the user chose and is read before anything is written there (a
resume), so it may be anything: a FIFO (reading it would wait forever), a link to
``/dev/zero`` (it never ends), a folder, another program's file, a hand-edited line. It is
read only as a regular file up to the document size limit (:mod:`qbi_desktop.core.safefile`),
decoded as UTF-8, and every line parsed into a record; a line that is not one of ours is
refused naming the file and the line. Only a torn last line (a crash while appending) is
ignored, as the format promises.

Also here: :func:`refuse_foreign_output`, the refusal of a folder that holds files an
augmentation run would replace when there is no manifest of such a run to resume.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qbi_desktop.core import outfolder
from qbi_desktop.core.errors import UserFacingError

MANIFEST = "manifest.jsonl"
MANIFEST_FORMAT = "qbi-augment-manifest"
#: the end of a refusal of a manifest.jsonl that is not an augmentation run's
NOT_OURS = (
    "not an augmentation manifest written by this app, so it is not replaced. Nothing was "
    "written: choose another output folder"
)
#: the subfolders a run writes its copies into
SUBFOLDERS = ("images", "masks")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _output_file(value: Any, sub: str) -> bool:
    """``images/<name>`` (or ``masks/<name>``): a file of the run's own subfolder."""
    if not isinstance(value, str):
        return False
    parts = value.split("/")
    return len(parts) == 2 and parts[0] == sub and parts[1] not in ("", ".", "..")


def _check_record(rec: Any) -> str | None:
    """What is wrong with manifest line ``rec``, or None."""
    if not isinstance(rec, dict):
        kind = {list: "an array", str: "a string", type(None): "null"}.get(type(rec), "a number")
        return f"holds {'true/false' if isinstance(rec, bool) else kind}, not a JSON object"
    kind = rec.get("type")
    if kind == "run":
        return None if rec.get("format") == MANIFEST_FORMAT else "a header of another format"
    if kind != "output":
        return None  # a kind of line a later version may add: not ours to judge
    for key in ("item", "copy"):
        if not _whole(rec.get(key)):
            shown = _shown(rec.get(key))
            return f'an output record without a whole number "{key}" (got {shown})'
    if not _output_file(rec.get("image"), "images"):
        shown = _shown(rec.get("image"))
        return f'an output record whose "image" is not a file in images/ ({shown})'
    if "mask" in rec and not _output_file(rec["mask"], "masks"):
        return f'an output record whose "mask" is not a file in masks/ ({_shown(rec["mask"])})'
    return None


def read_manifest_file(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The header and the output records of the manifest at ``path`` (in file order); (None,
    []) when there is none; a :class:`UserFacingError` naming the file (and line) when it
    cannot be read or is not an augmentation manifest."""
    from qbi_desktop.core.safefile import read_text

    if not outfolder.lexists(path):
        return None, []
    try:
        text = read_text(path, "the augmentation manifest")
    except UserFacingError as exc:  # a FIFO, a device, a folder, too large, not UTF-8
        raise UserFacingError(f"{exc}; {NOT_OURS}") from None
    lines = text.splitlines()
    header, records = None, []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            if number == len(lines) and header is not None:
                continue  # a torn last line: a crash while appending
            raise UserFacingError(f"{path}, line {number}: not JSON; {NOT_OURS}") from None
        problem = _check_record(rec)
        if problem is not None:
            raise UserFacingError(f"{path}, line {number}: {problem}; {NOT_OURS}")
        if rec.get("type") == "run" and header is None:
            header = rec
        elif rec.get("type") == "output":
            records.append(rec)
    if records and header is None:
        raise UserFacingError(f"{path}: has output records but no header line; {NOT_OURS}")
    return header, records


def refuse_foreign_output(out: Path) -> None:
    """With no manifest of an earlier run in ``out`` to resume: refuse, naming a few, the
    files a run would replace or mix with there (a manifest.jsonl of another program, images
    in images/ or masks/)."""
    outfolder.refuse_replacing(
        out, [MANIFEST], [f"{sub}/*" for sub in SUBFOLDERS], command="augment"
    )
