"""One mask being painted: the editor, its journal, its file and its labels — for one image plane.

Masks follow planes: a single image has one mask; a stack gets **one 2-D mask per slice**
(each with its own undo history, journal and file ``<stem>.s<index>.mask.tif``), because
annotation is done slice by slice and a 2-D mask is what Fiji and the dataset code read. A
numbered series opened as a stack is a stack of files: each frame's mask is that file's own
(:func:`plane_file`). A NeXus/HDF5 file holds several datasets: a plane's mask, journal and
saved-mask record carry the dataset it is of (:func:`plane_dataset`), so frame 1 of
``/entry/data/data`` and frame 1 of ``/entry/dark`` keep their own masks.

Where the journal lives: always in the user recovery folder, at a place the app derives from
the plane (:func:`~qbi_desktop.core.annotation.journal_places.journal_path`), whatever file the
mask is saved to — never beside the data, and never where a journal's header says. Opening a
plane looks for unsaved work there (and in the places older versions used, checked first:
see :mod:`~qbi_desktop.core.annotation.journal_places`). The journal is locked while open: a
second window or process opening the same plane gets a read-only session (:attr:`read_only`)
and never truncates it.

Where the mask file is: where it was last saved (recorded by the app,
:mod:`~qbi_desktop.core.annotation.mask_index`), else ``<stem>.mask.tif`` beside the image if
one is there. A new mask is proposed in the masks folder (the user's data area, or the folder
chosen last), not in the raw-data folder.

A session may instead belong to a project item (``store``, a
:class:`~qbi_desktop.gui.annotate.store.ProjectItemStore`): its mask is read from and saved into
the project's catalog, and its journal is keyed by the project and item (see the store). Its
label names go into the project too, so renaming a label the project knew makes the session
unsaved until the next save (:attr:`MaskSession.names_modified`).

No Qt here: the panel drives this, tests can too.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qbi_desktop.core.annotation import leftovers, mask_index
from qbi_desktop.core.annotation.journal import (
    SUFFIX,
    ImageIdentity,
    Journal,
    JournalError,
    RecoveryInfo,
    read_header,
    replay_full,
)
from qbi_desktop.core.annotation.journal_lock import JournalLock, JournalLockedError, holder_of
from qbi_desktop.core.annotation.journal_places import (
    default_mask_path,
    find_pending,
    forget_recovered,
    journal_path,
    mask_path_after_recovery,
    quick_start_allowed,
)
from qbi_desktop.core.annotation.masks import MaskEditor, StrokeDelta
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.labels import LabelTable
from qbi_desktop.core.maskio import load_mask, read_mask_file, save_mask
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

    def __init__(self, image: np.ndarray, path: Path | None):
        self._result: ImageIdentity | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(image, path), name="full image hash", daemon=True
        )
        self._thread.start()

    def _run(self, image: np.ndarray, path: Path | None) -> None:
        try:
            self._result = ImageIdentity.of(np.asarray(image), path)
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
    quick = ImageIdentity.quick(arr, image_path)
    hashing = None
    if quick_start_allowed(arr.shape, arr.dtype.name, image_path, index, n_slices, dataset):
        identity, hashing = quick, FullHash(arr, image_path)
    else:
        identity = ImageIdentity.of(arr, image_path)
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


class MaskSession:
    """The mask of one plane: a :class:`MaskEditor` whose strokes go to a :class:`Journal`."""

    def __init__(
        self,
        image: np.ndarray,
        image_path: Path | None,
        index: int = 0,
        n_slices: int = 1,
        labels: LabelTable | None = None,
        on_journal_error: Callable[[str], None] | None = None,
        store: ProjectItemStore | None = None,
        masks_folder: Path | None = None,
        dataset: str = "",
    ):
        self.image = image
        self.store = store  # None: the mask lives in a file
        self.image_path = image_path
        self.index = index
        self.n_slices = n_slices
        self.dataset = dataset  # the HDF5 dataset the plane is of ("" for other files)
        self.labels = labels if labels is not None else LabelTable()
        self.editor = MaskEditor(image.shape[:2], on_commit=self._commit)
        self.identity: ImageIdentity | None = None
        self.journal: Journal | None = None
        self.mask_path: Path | None = None
        self.recovery: RecoveryInfo | None = None  # a journal waiting for the user's decision
        self.unsaved_base = False  # the mask holds recovered content that was never saved
        self.on_journal_error = on_journal_error
        self.journal_problem: str | None = None
        self._native: np.ndarray | None = None
        # a project item's label names as last read from / saved into the project
        self.saved_names: dict[int, str] = {}
        self.save_task = None  # a save into the project under way (set by the panel)
        # another window edits this plane: why this one is read-only (None: it is not)
        self.read_only: str | None = None
        # where a new mask is proposed (None: the default masks folder)
        self.masks_folder = masks_folder
        # a recovered journal's record of where the mask was saved, when that is no place the
        # app derives: proposed in the save dialog, never written to without the user
        self.proposed_path: Path | None = None
        # the full content hash while it is computed (identity is provisional until then)
        self._full_hash: FullHash | None = None
        self.quick: ImageIdentity | None = None  # the plane's provisional identity

    # -- state -----------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Painting allowed: the image is identified, no recovery decision is pending and no
        other window edits this plane."""
        return self.identity is not None and self.recovery is None and self.read_only is None

    @property
    def modified(self) -> bool:
        return self.editor.is_modified or self.unsaved_base or self.names_modified

    @property
    def names_modified(self) -> bool:
        """A project item's label that the project knew under a name was renamed (or removed)
        since the mask was loaded or saved: the project's class names would change on save.
        New labels do not count (they reach the project once painted, with the mask)."""
        if self.store is None:
            return False
        names = self.label_names()
        return any(names.get(v) != name for v, name in self.saved_names.items())

    def label_names(self) -> dict[int, str]:
        """Label value -> name, as shown (what a save into the project merges)."""
        return {label.value: label.name for label in self.labels}

    @property
    def mask(self) -> np.ndarray:
        return self.editor.mask

    def native_image(self) -> np.ndarray:
        """The plane in native byte order (TIFFs may be big-endian; scikit-image refuses those).
        Converted once, on first use by an intensity tool."""
        if self._native is None:
            img = self.image
            self._native = img if img.dtype.isnative else img.astype(img.dtype.newbyteorder("="))
        return self._native

    @property
    def title(self) -> str:
        """What the mask is called in messages: its file name or its project item."""
        if self.store is not None:
            return self.store.describe()
        return self.suggested_path().name

    def suggested_path(self) -> Path:
        """Where the mask is saved (file-backed) or a copy is proposed (project item)."""
        folder = self.masks_folder or mask_index.default_folder()
        if self.store is not None:
            return self.store.suggested_file(folder)
        if self.mask_path is not None:
            return self.mask_path
        if self.image_path is None:
            return folder / "mask.tif"
        # in the masks folder, not beside the raw data (often read-only at a beamline)
        candidate = folder / self._default_path().name
        if candidate.exists():  # another image's mask of the same name: keep both
            place = str(self.image_path.resolve())
            if self.dataset:
                place += f"\0{self.dataset}"
            tag = hashlib.blake2b(place.encode(), digest_size=3)
            tag = tag.hexdigest()
            candidate = candidate.with_name(candidate.name.replace(".mask.", f"-{tag}.mask.", 1))
        return candidate

    def _default_path(self) -> Path:
        return default_mask_path(self.image_path, self.index, self.n_slices, self.dataset)

    # -- start-up ----------------------------------------------------------------------------------
    def apply_prepared(self, prepared: Prepared) -> None:
        """Take what :func:`prepare_job` found; if a journal is pending, wait for the user."""
        self.identity = prepared.identity
        self.quick = prepared.quick
        self._full_hash = prepared.hashing
        # a mask file's labels; a project item's classes even when it has no mask yet
        if prepared.labels is not None and (prepared.mask is not None or self.store is not None):
            self.labels = prepared.labels
        if self.store is not None:
            self.saved_names = self.label_names()
        if prepared.mask is not None:
            self._new_editor(prepared.mask)
            self.mask_path = prepared.mask_path
        self.recovery = prepared.recovery
        self.read_only = prepared.locked
        if self.recovery is None and self.read_only is None:
            # a fresh editor holds nothing: no need to scan (and touch) a 16384^2 mask
            self._open_journal(overwrite=False, empty=prepared.mask is None)

    def settle_identity(self, wait: bool = True) -> None:
        """Once the full content hash is known (``wait``: wait for it), the session and its
        journal take it instead of the provisional one (:meth:`Journal.moved_to`). Called
        between strokes and before anything that records the hash (save, load)."""
        hashing = self._full_hash
        if hashing is None or (not wait and not hashing.done()):
            return
        self._full_hash = None
        try:
            full = hashing.result()
        except Exception as e:  # noqa: BLE001 - the provisional journal keeps working
            self._journal_failed(
                f"the image could not be hashed in full ({e}); its strokes "
                "stay protected under a provisional identity"
            )
            return
        if self.journal is None:
            self.identity = full
            return
        # (project items are identified in full first: prepare_item_job starts no FullHash)
        place = journal_path(full, self.image_path, self.index, self.n_slices, self.dataset)
        try:
            self.journal = self.journal.moved_to(place, full)
        except (JournalError, JournalLockedError) as e:  # keep journaling where we are
            self._journal_failed(f"{e} (strokes stay in {self.journal.path})")
            return
        self.identity = full

    def recover(self) -> list[str]:
        """Replay the pending journal: the mask as after its last complete stroke; problems."""
        info = self.recovery
        if info is None or self.identity is None:
            return []
        expected = self.identity
        if self.quick is not None and info.image.same_image(self.quick):
            expected = self.quick  # journaled before the full hash was known
        result = replay_full(info.path, expected)
        if result.labels is not None:
            self.labels = result.labels
        if self.store is None:  # a store's journal place is no mask file
            # the journal's record of the mask file is used only where the app derives it
            place, proposal = mask_path_after_recovery(
                info, self.image_path, self.index, self.n_slices, self.dataset
            )
            if place is not None:
                self.mask_path = place
            self.proposed_path = proposal
        self._new_editor(result.mask)
        self.unsaved_base = True
        self.recovery = None
        self._open_journal(overwrite=True)
        if self.journal is not None:
            forget_recovered(info, self.journal.path)
        return list(info.problems) + [p for p in result.problems if p not in info.problems]

    def discard_recovery(self) -> None:
        """Drop the pending journal's strokes; start a fresh journal from the current mask."""
        info = self.recovery
        if info is None:
            return
        self.recovery = None
        self._open_journal(overwrite=True)
        if self.journal is not None:
            forget_recovered(info, self.journal.path)

    def _new_editor(self, mask: np.ndarray) -> None:
        self.editor = MaskEditor(mask, on_commit=self._commit)

    def journal_file(self) -> Path | None:
        """This plane's journal: derived by the app from the plane (or the project item)."""
        if self.store is not None:
            place = self.store.journal_place()
            return place.with_name(place.name + SUFFIX)
        if self.identity is None:
            return None
        return journal_path(self.identity, self.image_path, self.index, self.n_slices, self.dataset)

    def _open_journal(self, overwrite: bool, empty: bool = False) -> None:
        if self.identity is None:
            return
        base = None if empty or not self.editor.mask.any() else self.editor.mask
        try:
            self.journal = Journal.open_at(
                self.journal_file(),
                self.identity,
                self.mask_path,
                base_mask=base,
                labels=self.labels,
                overwrite=overwrite,
                base_unsaved=self.unsaved_base,
            )
        except JournalLockedError as e:
            # another window writes this journal: never touch it; this copy only shows
            self.journal = None
            self.read_only = str(e)
            self._journal_failed(str(e))
        except JournalError as e:
            self.journal = None
            self._journal_failed(str(e))

    def _journal_failed(self, message: str) -> None:
        self.journal_problem = message
        if self.on_journal_error is not None:
            self.on_journal_error(message)

    def _commit(self, delta: StrokeDelta) -> None:
        """Every completed stroke (and undo / redo) goes to the journal and is flushed."""
        if self.journal is None:
            return
        try:
            self.journal.append(delta)
        except JournalError as e:
            self.journal = None
            self._journal_failed(str(e))
        self.settle_identity(wait=False)

    def labels_changed(self) -> None:
        if self.journal is not None:
            try:
                self.journal.append_labels(self.labels)
            except JournalError as e:
                self.journal = None
                self._journal_failed(str(e))

    # -- the project item ------------------------------------------------------------------------
    def snapshot(self) -> tuple[np.ndarray, int]:
        """The mask to save into the project (a copy: painting may go on while a worker writes
        it) and the editor state it is, for :meth:`stored`."""
        if self.editor.in_stroke:
            self.editor.end_stroke()
        return self.editor.mask.copy(), self.editor.state_id

    def stored(self, state_id: int, names: dict[int, str] | None = None) -> None:
        """The snapshot of ``state_id`` is now the item's mask in the project, saved with the
        label ``names`` taken with it (:meth:`label_names`).

        Only when nothing was painted meanwhile is the mask clean and the journal restarted
        from it; otherwise the journal keeps every stroke since the last save, so a crash still
        recovers the newer strokes (and the close guard still asks)."""
        if names is not None:
            self.saved_names = dict(names)
        self.settle_identity()
        if self.editor.state_id != state_id or self.editor.in_stroke:
            return
        self.editor.mark_saved()
        self.unsaved_base = False
        if self.identity is not None and self.journal is not None:
            try:
                self.journal.rotate(self.editor.mask, self.labels, None)
            except JournalError as e:
                self.journal = None
                self._journal_failed(str(e))

    def export(self, path: Path) -> Path:
        """Write a copy of the mask to a file; the session stays the project item's, and its
        saved / modified state is the project's."""
        if self.editor.in_stroke:
            self.editor.end_stroke()
        with leftovers.saving(Path(path)):
            save_mask(Path(path), self.editor.mask, self.labels)
        return Path(path)

    # -- files -------------------------------------------------------------------------------------
    def save(self, path: Path | None = None) -> Path:
        """Write the mask atomically; then the journal restarts from it (in its own place: a
        save under another name moves no journal, so strokes after it are recovered too)."""
        path = Path(path) if path is not None else self.suggested_path()
        if self.read_only is not None:
            raise UserFacingError(f"{path}: not saved — {self.read_only}")
        if self.editor.in_stroke:
            self.editor.end_stroke()
        self.settle_identity()  # the mask is recorded against the full hash
        with leftovers.saving(path):  # a kill -9 mid-save leaves a temporary file: noted
            save_mask(path, self.editor.mask, self.labels)  # raises MaskFileError, mask untouched
        self.editor.mark_saved()
        self.unsaved_base = False
        self.mask_path = path
        self.proposed_path = None
        if self.identity is not None:
            if self.image_path is not None:
                self._remember(path)
            if self.journal is not None:
                self._rotate_journal(path)
            elif self.read_only is None:
                self._open_journal(overwrite=True)
            self._remove_old_journal_beside(path)
        return path

    def _remove_old_journal_beside(self, path: Path) -> None:
        """An older version kept the journal beside the mask file: once the mask is saved, one
        of this image with no unsaved work left is clutter beside the user's data."""
        old = path.with_name(path.name + SUFFIX)
        if self.identity is None or not old.is_file():
            return
        try:
            header = read_header(old)
        except JournalError:
            return  # not ours: left alone
        if header["image"].same_image(self.identity) and (
            Journal.pending_at(old, self.identity) is None
        ):
            with contextlib.suppress(OSError):
                old.unlink()

    def load(self, path: Path) -> tuple[int, int, int, int] | None:
        """Load a mask saved for this plane (one undo step); it becomes the mask's file.

        The journal is never wiped by a load: the replacement is recorded in it like a stroke,
        and only a mask with no unsaved strokes restarts its journal from the loaded file."""
        path = Path(path)
        if self.recovery is not None:  # its strokes would be lost to the loaded file
            raise UserFacingError(
                f"{path}: not loaded — unsaved strokes from {self.recovery.path} wait to be "
                "recovered or discarded first"
            )
        if self.read_only is not None:
            raise UserFacingError(f"{path}: not loaded — {self.read_only}")
        self.settle_identity()
        _arr, file_labels = read_mask_file(path)
        labels = self.labels
        if file_labels is not None:
            labels = file_labels
        mask = load_mask(path, self.image.shape[:2], labels)
        had_unsaved = self.modified
        rect = self.editor.replace_mask(mask)
        self.labels = labels
        self.labels_changed()
        if self.store is not None:  # a file put into the item's mask: unsaved until Ctrl+S
            return rect
        self.mask_path = path
        self.proposed_path = None
        if had_unsaved:  # those strokes stay in the journal (and undo) until a save
            return rect
        self.editor.mark_saved()
        self.unsaved_base = False
        if self.identity is not None and self.image_path is not None:
            self._remember(path)
        if self.journal is not None:
            self._rotate_journal(path)
        return rect

    def _remember(self, path: Path) -> None:
        """Record ``path`` as this plane's mask file (found again on the next open)."""
        mask_index.remember(
            self.image_path, self.index, self.identity.content_hash, path, self.dataset
        )

    def _rotate_journal(self, path) -> None:
        """The mask on disk now equals the editor's: the journal starts again from it."""
        try:
            self.journal.rotate(self.editor.mask, self.labels, path)
        except JournalError as e:
            self.journal = None
            self._journal_failed(str(e))

    def replace(self, mask: np.ndarray) -> tuple[int, int, int, int] | None:
        """Replace the mask (import, clear) as one undo step."""
        return self.editor.replace_mask(mask)

    def close(self) -> None:
        """Closed on purpose (saved, or the user chose to discard): drop the journal."""
        if self.journal is not None:
            with contextlib.suppress(OSError):
                self.journal.discard()
            self.journal = None
