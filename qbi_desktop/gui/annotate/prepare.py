"""Preparing a plane for painting, on a worker: which file and HDF5 dataset its mask belongs
to (:func:`plane_file`, :func:`plane_dataset`), its identity (the full content hash, or a
provisional one while the full hash runs in the background: :class:`FullHash`), the mask saved
for it, and unsaved strokes a killed run left (:func:`prepare_job`; a project item's:
:func:`prepare_item_job`). What is found goes to
:meth:`~qbi_desktop.gui.annotate.session.MaskSession.apply_prepared`.

No Qt here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qbi_desktop.core.annotation import mask_index
from qbi_desktop.core.annotation.journal import SUFFIX, ImageIdentity, Journal, RecoveryInfo
from qbi_desktop.core.annotation.journal_lock import JournalLock, JournalLockedError, holder_of
from qbi_desktop.core.annotation.journal_places import (
    default_mask_path,
    find_pending,
    journal_path,
    quick_start_allowed,
)
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.labels import LabelTable
from qbi_desktop.core.maskio import load_mask, read_mask_file
from qbi_desktop.gui.annotate.store import ProjectItemStore


def plane_file(source, index: int) -> tuple[Path, int, int]:
    """The file a plane's mask (and boxes, and journal) belong to, with the plane's index in it
    and the file's slice count: a frame of a numbered series is its own file, so its mask is
    the one that frame has when opened alone (``edge20mm_0003.mask.tif``); any other plane is
    slice ``index`` of the opened file (a NeXus dataset's frames: ``scan.s003.mask.tif``, with
    the dataset told apart by :func:`plane_dataset`)."""
    from qbi_desktop.core.radiography.series import series_slice_path

    frame = series_slice_path(source, int(index))
    if frame is not None:
        return frame, 0, 1
    return Path(source.path), int(index), int(source.n_slices)


def plane_dataset(source) -> str:
    """The HDF5/NeXus dataset a plane of ``source`` is of (``/entry/data/data``), or ``""`` for
    any other file (a TIFF, a series frame): part of the plane's name for its mask, journal and
    boxes, as two datasets of one file are different images."""
    metadata = getattr(source, "metadata", None) or {}
    name = metadata.get("dataset") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name.strip("/"):
        return ""
    return "/" + name.strip("/")  # one spelling whether opened as "entry/x" or "/entry/x"


@dataclass
class Prepared:
    """What a worker found for a plane: its identity, a mask file beside it, a journal."""

    identity: ImageIdentity
    mask: np.ndarray | None
    mask_path: Path | None
    labels: LabelTable | None
    recovery: RecoveryInfo | None
    problems: list[str]
    locked: str | None = None  # another window holds this plane's journal: why read-only
    # the full content hash being computed in the background (identity is provisional then)
    hashing: FullHash | None = None
    quick: ImageIdentity | None = None  # the provisional identity of the plane


class FullHash:
    """The full :class:`ImageIdentity` of an image, computed on a background thread (hashlib
    releases the GIL on large buffers, so painting goes on meanwhile)."""

    def __init__(self, image: np.ndarray, path: Path | None, dataset: str = ""):
        self._result: ImageIdentity | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(image, path, dataset), name="full image hash", daemon=True
        )
        self._thread.start()

    def _run(self, image: np.ndarray, path: Path | None, dataset: str) -> None:
        try:
            self._result = ImageIdentity.of(np.asarray(image), path).in_dataset(dataset)
        except BaseException as e:  # e.g. a memory-mapped file that became unreadable
            self._error = e

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> ImageIdentity:
        """The full identity (waits for it); raises what the hashing raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def prepare_job(
    image: np.ndarray,
    image_path: Path | None,
    index: int = 0,
    n_slices: int = 1,
    dataset: str = "",
) -> Job[Prepared]:
    """Identify the plane, load its mask file, find journals.

    When nothing on disk could hold this plane's unsaved work (:func:`quick_start_allowed`),
    painting starts under a provisional identity from a sample of rows (a few ms at any size)
    and the full hash (≈15 ms for 2048^2, 0.9 s for 16384^2) runs in the background; the session
    moves its journal to the full identity when it is known. Otherwise the full hash comes
    first, as recovery needs it. ``dataset``: the HDF5 dataset the plane is of (``""``: none)."""
    yield Progress(0, 3, "identifying the image")
    arr = np.asarray(image)
    # the dataset goes into the journal's header: a leftover journal names its stack
    quick = ImageIdentity.quick(arr, image_path).in_dataset(dataset)
    hashing = None
    if quick_start_allowed(arr.shape, arr.dtype.name, image_path, index, n_slices, dataset):
        identity, hashing = quick, FullHash(arr, image_path, dataset)
    else:
        identity = ImageIdentity.of(arr, image_path).in_dataset(dataset)
    yield Progress(1, 3, "looking for its mask")
    mask = labels = mask_path = None
    problems: list[str] = []
    if image_path is not None:
        candidates = [
            mask_index.lookup(image_path, index, identity.content_hash, dataset),
            default_mask_path(image_path, index, n_slices, dataset),
        ]
        for candidate in candidates:
            if candidate is None or not candidate.exists():
                continue
            try:
                _arr, labels = read_mask_file(candidate)
                mask = load_mask(candidate, image.shape[:2], labels)
                mask_path = candidate
                break
            except UserFacingError as e:
                problems.append(f"the mask {candidate} was not loaded: {e}")
                mask = labels = None
    yield Progress(2, 3, "looking for unsaved strokes")
    try:
        found = find_pending(identity, image_path, index, n_slices, dataset)
        if found.recovery is None and hashing is None:
            # strokes journaled before the full hash was known, by a run that then crashed
            own = journal_path(quick, image_path, index, n_slices, dataset)
            if JournalLock.is_held(own):
                raise JournalLockedError(own, holder_of(own))
            found.recovery = Journal.pending_at(own, quick)
    except JournalLockedError as e:
        return Prepared(
            identity, mask, mask_path, labels, None, problems, locked=str(e), quick=quick
        )
    return Prepared(
        identity,
        mask,
        mask_path,
        labels,
        found.recovery,
        problems + found.problems,
        hashing=hashing,
        quick=quick,
    )


def prepare_item_job(
    image: np.ndarray, store: ProjectItemStore, fallback: LabelTable
) -> Job[Prepared]:
    """Like :func:`prepare_job` for a project item: its mask and labels come from the catalog,
    its pending journal from the item's own place. A mask that cannot be read raises (the
    session then stays not ready: painting over it and saving would replace the stored mask)."""
    yield Progress(0, 3, "identifying the image")
    identity = ImageIdentity.of(np.asarray(image), store.image_file)
    yield Progress(1, 3, f"reading the mask of {store.describe()}")
    mask, labels = store.load(image.shape[:2], fallback)
    yield Progress(2, 3, "looking for unsaved strokes")
    place = store.journal_place()
    journal = place.with_name(place.name + SUFFIX)
    if JournalLock.is_held(journal):
        locked = str(JournalLockedError(journal, holder_of(journal)))
        return Prepared(identity, mask, None, labels, None, [], locked=locked)
    return Prepared(identity, mask, None, labels, Journal.pending_at(journal, identity), [])
