"""One mask being painted: the editor, its journal, its file and its labels — for one image plane.

Masks follow planes: a single image has one mask; a stack gets **one 2-D mask per slice**
(each with its own undo history, journal and file ``<stem>.s<index>.mask.tif``), because
annotation is done slice by slice and a 2-D mask is what Fiji and the dataset code read.

Where the journal lives: in the user recovery folder until the mask has a file (keyed by the
plane's content hash, so it is found again whatever the image is called), then next to the mask
file (``<mask>.journal``). On opening a plane both places are checked.

A session may instead belong to a project item (``store``, a
:class:`~qbi_desktop.gui.annotate.store.ProjectItemStore`): its mask is read from and saved into
the project's catalog, and its journal is keyed by the project and item (see the store). Its
label names go into the project too, so renaming a label the project knew makes the session
unsaved until the next save (:attr:`MaskSession.names_modified`).

No Qt here: the panel drives this, tests can too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.journal import (
    ImageIdentity,
    Journal,
    JournalError,
    RecoveryInfo,
    replay_full,
)
from qbi_desktop.core.labels import LabelTable
from qbi_desktop.core.maskio import load_mask, read_mask_file, save_mask
from qbi_desktop.core.masks import MaskEditor, StrokeDelta
from qbi_desktop.gui.annotate.store import ProjectItemStore


def default_mask_path(image_path: Path, index: int = 0, n_slices: int = 1) -> Path:
    """``<image stem>.mask.tif`` beside the image (``<stem>.s003.mask.tif`` for slice 3)."""
    stem = image_path.stem
    if n_slices > 1:
        stem += f".s{index:03d}"
    return image_path.with_name(stem + ".mask.tif")


@dataclass
class Prepared:
    """What a worker found for a plane: its identity, a mask file beside it, a journal."""

    identity: ImageIdentity
    mask: np.ndarray | None
    mask_path: Path | None
    labels: LabelTable | None
    recovery: RecoveryInfo | None
    problems: list[str]


def prepare_job(
    image: np.ndarray, image_path: Path | None, index: int = 0, n_slices: int = 1
) -> Job[Prepared]:
    """Hash the plane (≈15 ms for 2048^2, 130 ms for 8192^2), load its mask file, find journals."""
    yield Progress(0, 3, "identifying the image")
    identity = ImageIdentity.of(np.asarray(image), image_path)
    yield Progress(1, 3, "looking for its mask")
    mask = labels = mask_path = None
    problems: list[str] = []
    if image_path is not None:
        candidate = default_mask_path(image_path, index, n_slices)
        if candidate.exists():
            try:
                _arr, labels = read_mask_file(candidate, image.shape[:2])
                mask = load_mask(candidate, image.shape[:2], labels)
                mask_path = candidate
            except UserFacingError as e:
                problems.append(f"the mask beside the image was not loaded: {e}")
                mask = labels = None
    yield Progress(2, 3, "looking for unsaved strokes")
    recovery = None
    places = [mask_path] if mask_path is not None else []
    if image_path is not None:
        # a journal beside the default mask file even if the mask itself was never saved there
        places.append(default_mask_path(image_path, index, n_slices))
    places.append(None)
    for place in places:
        recovery = Journal.pending(identity, place)
        if recovery is not None:
            break
    return Prepared(identity, mask, mask_path, labels, recovery, problems)


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
    recovery = Journal.pending(identity, store.journal_place())
    return Prepared(identity, mask, None, labels, recovery, [])


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
    ):
        self.image = image
        self.store = store  # None: the mask lives in a file
        self.image_path = image_path
        self.index = index
        self.n_slices = n_slices
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

    # -- state -----------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Painting allowed: the image is identified and no recovery decision is pending."""
        return self.identity is not None and self.recovery is None

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
        if self.store is not None:
            return self.store.suggested_file()
        if self.mask_path is not None:
            return self.mask_path
        if self.image_path is not None:
            return default_mask_path(self.image_path, self.index, self.n_slices)
        return Path.home() / "mask.tif"

    # -- start-up ----------------------------------------------------------------------------------
    def apply_prepared(self, prepared: Prepared) -> None:
        """Take what :func:`prepare_job` found; if a journal is pending, wait for the user."""
        self.identity = prepared.identity
        # a mask file's labels; a project item's classes even when it has no mask yet
        if prepared.labels is not None and (prepared.mask is not None or self.store is not None):
            self.labels = prepared.labels
        if self.store is not None:
            self.saved_names = self.label_names()
        if prepared.mask is not None:
            self._new_editor(prepared.mask)
            self.mask_path = prepared.mask_path
        self.recovery = prepared.recovery
        if self.recovery is None:
            self._open_journal(overwrite=False)

    def recover(self) -> list[str]:
        """Replay the pending journal: the mask as after its last complete stroke; problems."""
        info = self.recovery
        if info is None or self.identity is None:
            return []
        result = replay_full(info.path, self.identity)
        if result.labels is not None:
            self.labels = result.labels
        mask_path = result.header.get("mask_path")
        if mask_path and self.store is None:  # a store's journal place is no mask file
            self.mask_path = Path(mask_path)
        self._new_editor(result.mask)
        self.unsaved_base = True
        self.recovery = None
        self._open_journal(overwrite=True)
        return list(info.problems) + [p for p in result.problems if p not in info.problems]

    def discard_recovery(self) -> None:
        """Drop the pending journal's strokes; start a fresh journal from the current mask."""
        if self.recovery is None:
            return
        self.recovery = None
        self._open_journal(overwrite=True)

    def _new_editor(self, mask: np.ndarray) -> None:
        self.editor = MaskEditor(mask, on_commit=self._commit)

    def _journal_place(self) -> Path | None:
        if self.store is not None:
            return self.store.journal_place()
        return self.mask_path

    def _open_journal(self, overwrite: bool) -> None:
        if self.identity is None:
            return
        base = self.editor.mask if self.editor.mask.any() else None
        try:
            self.journal = Journal.open_for(
                self.identity,
                self._journal_place(),
                base_mask=base,
                labels=self.labels,
                overwrite=overwrite,
            )
        except JournalError as e1:
            e = e1
            if self.mask_path is not None and self.store is None:
                # the mask's folder is not writable: fall back to the user recovery folder
                try:
                    self.journal = Journal.open_for(
                        self.identity, None, base_mask=base, labels=self.labels, overwrite=True
                    )
                    return
                except JournalError as e2:
                    e = e2
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
        if self.editor.state_id != state_id or self.editor.in_stroke:
            return
        self.editor.mark_saved()
        self.unsaved_base = False
        if self.identity is not None and self.journal is not None:
            try:
                self.journal.rotate(self.editor.mask, self.labels, self._journal_place())
            except JournalError as e:
                self.journal = None
                self._journal_failed(str(e))

    def export(self, path: Path) -> Path:
        """Write a copy of the mask to a file; the session stays the project item's, and its
        saved / modified state is the project's."""
        if self.editor.in_stroke:
            self.editor.end_stroke()
        save_mask(Path(path), self.editor.mask, self.labels)
        return Path(path)

    # -- files -------------------------------------------------------------------------------------
    def save(self, path: Path | None = None) -> Path:
        """Write the mask atomically; then the journal restarts from it (beside the file)."""
        path = Path(path) if path is not None else self.suggested_path()
        if self.editor.in_stroke:
            self.editor.end_stroke()
        save_mask(path, self.editor.mask, self.labels)  # raises MaskFileError, mask untouched
        self.editor.mark_saved()
        self.unsaved_base = False
        moved = self.mask_path != path
        self.mask_path = path
        if self.identity is not None:
            if self.journal is not None and not moved:
                try:
                    self.journal.rotate(self.editor.mask, self.labels, path)
                except JournalError as e:
                    self.journal = None
                    self._journal_failed(str(e))
            else:
                if self.journal is not None:
                    self.journal.discard()
                self._open_journal(overwrite=True)
        return path

    def load(self, path: Path) -> tuple[int, int, int, int] | None:
        """Load a mask saved for this plane (one undo step); it becomes the mask's file."""
        path = Path(path)
        _arr, file_labels = read_mask_file(path, self.image.shape[:2])
        labels = self.labels
        if file_labels is not None:
            labels = file_labels
        mask = load_mask(path, self.image.shape[:2], labels)
        rect = self.editor.replace_mask(mask)
        self.labels = labels
        self.labels_changed()
        if self.store is not None:  # a file put into the item's mask: unsaved until Ctrl+S
            return rect
        self.editor.mark_saved()
        self.unsaved_base = False
        if self.mask_path != path:
            self.mask_path = path
            if self.journal is not None:
                self.journal.discard()
            self._open_journal(overwrite=True)
        return rect

    def replace(self, mask: np.ndarray) -> tuple[int, int, int, int] | None:
        """Replace the mask (import, clear) as one undo step."""
        return self.editor.replace_mask(mask)

    def close(self) -> None:
        """Closed on purpose (saved, or the user chose to discard): drop the journal."""
        if self.journal is not None:
            with contextlib.suppress(OSError):
                self.journal.discard()
            self.journal = None
