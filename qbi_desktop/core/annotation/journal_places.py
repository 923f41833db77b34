"""Where the journal of an image plane lives, and which journals found on disk may be used.

The app derives every place itself; a journal never decides where anything is written.

* A plane's journal lives in the user's recovery folder (private to the user), named by the
  image's stem, HDF5 dataset, slice, content hash and the hash of its full path and dataset
  (:func:`journal_path`): two planes never share one, and no journal is written beside the
  user's images or masks (often a read-only raw-data folder).
* A plane is named by its file, its index and, in a NeXus/HDF5 file, the dataset it is of
  (``dataset``: frame 1 of ``/entry/data/data`` is not frame 1 of ``/entry/dark``). TIFFs and
  series have none (``""``): their places are the ones older versions used, so their masks and
  journals are found as before.
* On opening a plane, unsaved work is looked for (:func:`find_pending`) in its own journal,
  then in a journal of the same pixels under another path (the image was moved or renamed),
  then in a journal an older version left beside the default mask (``<stem>.mask.tif.journal``).
  That last kind sits in a folder anyone may have written to, so its header must agree with
  its place: a ``mask_path`` naming any other file (absolute, ``../``) is refused with a
  message, the file left as it is and nothing recovered from it.
* After a recovery, the header's ``mask_path`` is used as the mask's file only if it is a
  place the app derives for this plane (beside the image, or where the app recorded it saved
  this plane's mask: :mod:`.mask_index`); otherwise it is at most proposed in the save dialog
  (:func:`mask_path_after_recovery`).

No Qt here.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from qbi_desktop.core.annotation import mask_index
from qbi_desktop.core.annotation.journal import (
    SUFFIX,
    ImageIdentity,
    Journal,
    JournalError,
    RecoveryInfo,
    read_header,
)
from qbi_desktop.core.annotation.journal_lock import JournalLock, JournalLockedError, holder_of
from qbi_desktop.core.paths import user_dir

MASK_SUFFIXES = (".tif", ".tiff", ".png")


def dataset_tag(dataset: str) -> str:
    """A file-name part for an HDF5 dataset path: ``/entry/data/data`` -> ``entry_data_data``.
    When that spelling loses something (a ``_`` or another character of the name, or length),
    a short hash of the full path follows, so two datasets never get one tag."""
    inner = dataset.strip("/")
    tag = re.sub(r"[^A-Za-z0-9-]+", "_", inner)[:48] or "root"
    if tag.replace("_", "/") != inner:
        full = dataset.encode("utf-8", "surrogateescape")
        tag += "-" + hashlib.blake2b(full, digest_size=3).hexdigest()
    return tag


def plane_stem(image_path: Path, index: int = 0, n_slices: int = 1, dataset: str = "") -> str:
    """The image's stem, then its dataset's tag (HDF5), then ``.s003`` for slice 3 of a stack."""
    stem = Path(image_path).stem
    if dataset:
        stem += f".{dataset_tag(dataset)}"
    if n_slices > 1:
        stem += f".s{index:03d}"
    return stem


def default_mask_path(
    image_path: Path, index: int = 0, n_slices: int = 1, dataset: str = ""
) -> Path:
    """``<image stem>.mask.tif`` beside the image (``<stem>.s003.mask.tif`` for slice 3,
    ``<stem>.entry_data_data.s003.mask.tif`` for slice 3 of an HDF5 dataset)."""
    image_path = Path(image_path)
    return image_path.with_name(plane_stem(image_path, index, n_slices, dataset) + ".mask.tif")


def _digest(identity: ImageIdentity) -> str:
    return identity.content_hash.split(":")[-1][:16]


def _safe_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:60] or "image"


def journal_path(
    identity: ImageIdentity,
    image_path: Path | None,
    index: int = 0,
    n_slices: int = 1,
    dataset: str = "",
) -> Path:
    """The one journal of this plane: in the recovery folder, never beside the data."""
    folder = user_dir("recovery")
    if image_path is None:
        return folder / f"unsaved-{_digest(identity)}{SUFFIX}"
    stem = _safe_stem(Path(image_path).stem)
    if dataset:
        stem += f".{dataset_tag(dataset)}"
    if n_slices > 1:
        stem += f".s{index:03d}"
    place = str(Path(image_path).resolve())
    if dataset:  # NUL is in no path: the file alone (older journals) hashes as before
        place += f"\0{dataset}"
    where = hashlib.blake2b(place.encode("utf-8", "surrogateescape"), digest_size=4).hexdigest()
    return folder / f"{stem}-{_digest(identity)}-{where}{SUFFIX}"


_HEAD_BYTES = 64 * 1024  # a journal header is a few hundred bytes (more with many labels)


def _head(path: Path) -> dict | None:
    """The header of the journal at ``path`` from its first bytes (all of them if the header is
    longer), or None when it is no readable journal of ours."""
    from qbi_desktop.core.annotation.journal import _parse_header

    try:
        if not path.is_file():
            return None
        with path.open("rb") as stream:
            data = stream.read(_HEAD_BYTES)
        try:
            return _parse_header(data, path)
        except JournalError:
            return read_header(path)
    except (OSError, JournalError):
        return None


def quick_start_allowed(
    shape: tuple[int, ...],
    dtype: str,
    image_path: Path | None,
    index: int = 0,
    n_slices: int = 1,
    dataset: str = "",
) -> bool:
    """Whether this plane may be painted before its full content hash is known.

    Yes when nothing found on disk could belong to it and need that hash: no journal in the
    recovery folder of an image of this shape and dtype holds strokes or a recovered base, or
    is written by another window; no journal an older version left beside its mask; no saved
    mask recorded for it (the record is checked against the full hash). Otherwise the caller
    hashes first, as :func:`find_pending` needs. Reads the header of each journal in the
    folder, and a whole journal only when its image has this shape and dtype.
    """
    from qbi_desktop.core.annotation.journal import inspect

    if image_path is not None:
        if mask_index.recorded(Path(image_path), index, dataset):
            return False
        legacy = default_mask_path(Path(image_path), index, n_slices, dataset)
        if legacy.with_name(legacy.name + SUFFIX).exists():
            return False
    folder = user_dir("recovery")
    shape = tuple(int(s) for s in shape)
    for path in folder.glob(f"*{SUFFIX}"):
        header = _head(path)
        if header is None:
            continue  # not a journal find_pending would use either
        image = header["image"]
        if tuple(image.shape) != shape or image.dtype != dtype:
            continue
        if JournalLock.is_held(path):
            return False
        try:
            _header, n, _problems = inspect(path)
        except JournalError:
            continue
        if n > 0 or header["base_unsaved"]:
            return False
    return True


@dataclass
class Found:
    """What :func:`find_pending` found: a journal to offer (or None), and refusals to report."""

    recovery: RecoveryInfo | None = None
    problems: list[str] = field(default_factory=list)


def _resolved(path: str | Path) -> Path:
    return Path(os.path.abspath(os.path.normpath(path)))


def _agrees(header_mask_path: str | None, place: Path) -> bool:
    """The header names no mask file, or exactly ``place`` (no ``..`` tricks, same folder)."""
    if header_mask_path is None:
        return True
    named = Path(header_mask_path)
    return named.is_absolute() and ".." not in named.parts and _resolved(named) == _resolved(place)


def find_pending(
    identity: ImageIdentity,
    image_path: Path | None,
    index: int = 0,
    n_slices: int = 1,
    dataset: str = "",
) -> Found:
    """Unsaved work for this plane (see the module doc for where it is looked for).

    Raises :class:`JournalLockedError` when the plane's own journal is open in another window
    or process: this window must not paint (nor offer that journal's live strokes)."""
    own = journal_path(identity, image_path, index, n_slices, dataset)
    if JournalLock.is_held(own):
        raise JournalLockedError(own, holder_of(own))
    found = Found(Journal.pending_at(own, identity))
    if found.recovery is not None:
        return found
    # the same pixels under another name: a moved or renamed image
    pattern = f"*-{_digest(identity)}*{SUFFIX}"
    others = sorted(
        (p for p in own.parent.glob(pattern) if p != own and p.is_file()),
        key=_mtime,
        reverse=True,
    )
    for other in others:
        if JournalLock.is_held(other):
            continue  # another window's live journal of a copy of this image
        info = Journal.pending_at(other, identity)
        if info is not None:
            found.recovery = info
            return found
    if image_path is not None:
        legacy_mask = default_mask_path(Path(image_path), index, n_slices, dataset)
        legacy = legacy_mask.with_name(legacy_mask.name + SUFFIX)
        info = Journal.pending_at(legacy, identity) if legacy.exists() else None
        if info is not None:
            if _agrees(info.mask_path, legacy_mask):
                found.recovery = info
            else:
                found.problems.append(
                    f"{legacy}: this recovery journal asks for the mask to be written to "
                    f"{info.mask_path!s}, not to {legacy_mask} where this image's mask "
                    "belongs. It was refused: nothing was recovered from it or written "
                    "anywhere, and the file was left as it is (delete it if you did not "
                    "make it)"
                )
    return found


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # gone meanwhile (another window finished with it)
        return 0.0


def mask_path_after_recovery(
    info: RecoveryInfo,
    image_path: Path | None,
    index: int = 0,
    n_slices: int = 1,
    dataset: str = "",
) -> tuple[Path | None, Path | None]:
    """``(mask file, proposal)`` after recovering ``info``: the header's ``mask_path`` becomes
    the mask's file only when it is a place the app derives for this plane; otherwise it is
    at most a proposal for the save dialog (an absolute path to a mask file), or nothing."""
    named = info.mask_path
    if not named or image_path is None:
        return None, None
    derived = [default_mask_path(Path(image_path), index, n_slices, dataset)]
    recorded = mask_index.lookup(Path(image_path), index, info.image.content_hash, dataset)
    if recorded is not None:
        derived.append(recorded)
    for place in derived:
        if _agrees(named, place):
            return place, None
    proposal = Path(named)
    if (
        proposal.is_absolute()
        and ".." not in proposal.parts
        and proposal.suffix.lower() in MASK_SUFFIXES
    ):
        return None, proposal
    return None, None


def forget_recovered(info: RecoveryInfo, own: Path) -> None:
    """After the user recovered or discarded ``info`` into the plane's own journal ``own``:
    remove the journal it came from when that was another file (a moved image's journal, or
    one an older version left beside the mask), so it is not offered again."""
    if _resolved(info.path) == _resolved(own):
        return
    try:
        read_header(info.path)  # still a journal of ours (not swapped meanwhile)
        info.path.unlink()
    except (OSError, JournalError):
        pass


__all__ = [
    "Found",
    "JournalLockedError",
    "dataset_tag",
    "default_mask_path",
    "find_pending",
    "forget_recovered",
    "journal_path",
    "mask_path_after_recovery",
    "plane_stem",
    "quick_start_allowed",
]
