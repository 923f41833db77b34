"""One mask being painted: the editor, its journal, its file and its labels — for one image plane.

Masks follow planes: a single image has one mask; a stack gets **one 2-D mask per slice**
(each with its own undo history, journal and file ``<stem>.s<index>.mask.tif``), because
annotation is done slice by slice and a 2-D mask is what Fiji and the dataset code read. A
numbered series opened as a stack is a stack of files: each frame's mask is that file's own
(:func:`~qbi_desktop.gui.annotate.prepare.plane_file`). A NeXus/HDF5 file holds several
datasets: a plane's mask, journal and saved-mask record carry the dataset it is of
(:func:`~qbi_desktop.gui.annotate.prepare.plane_dataset`), so frame 1 of ``/entry/data/data``
and frame 1 of ``/entry/dark`` keep their own masks. A plane is prepared (identified, its mask
and unsaved strokes looked for) on a worker by :mod:`~qbi_desktop.gui.annotate.prepare`.

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
from collections.abc import Callable
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
from qbi_desktop.core.annotation.journal_lock import JournalLockedError
from qbi_desktop.core.annotation.journal_places import (
    default_mask_path,
    forget_recovered,
    journal_path,
    mask_path_after_recovery,
)
from qbi_desktop.core.annotation.masks import MaskEditor, StrokeDelta
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.labels import LabelTable
from qbi_desktop.core.maskio import load_mask, read_mask_file, save_mask
from qbi_desktop.gui.annotate.prepare import (  # noqa: F401 (API: what a plane's session needs)
    FullHash,
    Prepared,
    plane_dataset,
    plane_file,
    prepare_item_job,
    prepare_job,
)
from qbi_desktop.gui.annotate.store import ProjectItemStore


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
            tag = hashlib.blake2b(place.encode("utf-8", "surrogateescape"), digest_size=3)
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
