"""Where a mask session's mask comes from and goes to, when that is a project item, not a file.

A session without a store is file-backed (``<image>.mask.tif`` or a path the user chose). A
session with a :class:`ProjectItemStore` reads its mask from the project's catalog when the
plane is prepared and writes it back with ``Project.set_mask`` (one transaction, the annotator
recorded, the old mask file deleted after commit) when the user saves.

Both jobs run on a worker with their own :class:`Project` (their own SQLite connection), so the
store works whether or not the Browser still has that project open.

Its crash journal is keyed by the project folder and the item id
(:meth:`ProjectItemStore.journal_place`): two items with identical pixels (duplicates) or the
same item in two copies of a project never share a journal.

No Qt here.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.labels import LabelTable, LabelTableError


class ItemChangedError(UserFacingError):
    """The item a mask belongs to was deleted, or its id now names another image."""


@dataclass(frozen=True)
class ProjectItemStore:
    """The mask of item ``item_id`` in the project at ``root``, saved as ``annotator``.

    ``image_hash`` is the content hash the item had when it was opened: a save refuses to
    write onto an item that now stands for another image (deleted and its id reused).
    ``image_file`` is the item's image file, None for a row/page of an array container.
    """

    root: Path
    item_id: int
    name: str
    annotator: str
    image_hash: str | None = None
    image_file: Path | None = None

    def describe(self) -> str:
        return f"item {self.item_id} ({self.name}) of project {self.root.name}"

    def same_item(self, other: ProjectItemStore) -> bool:
        return self.root == other.root and self.item_id == other.item_id

    def journal_place(self) -> Path:
        """A mask path that no file ever takes, unique per project folder and item: the
        journal lives beside it (``<place>.journal``) in the user recovery folder."""
        from qbi_desktop.core.paths import user_dir

        digest = hashlib.blake2b(str(self.root.resolve()).encode(), digest_size=8).hexdigest()
        return user_dir("recovery") / f"project-{digest}-item{self.item_id}.mask.tif"

    def suggested_file(self) -> Path:
        """Where "Save Mask As…" proposes to write a copy."""
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(self.name).stem)
        stem = f"{stem or 'item'}-item{self.item_id}"
        folder = self.image_file.parent if self.image_file is not None else Path.home()
        return folder / f"{stem}.mask.tif"

    # -- reading (worker) ------------------------------------------------------------------------
    def load(
        self, shape: tuple[int, int], fallback: LabelTable
    ) -> tuple[np.ndarray | None, LabelTable]:
        """The item's stored mask (None if it has none) and the label table to paint with:
        the project's mask classes where it names them, else ``fallback``; values the mask
        holds that neither names get placeholder labels so every region shows."""
        try:
            project = open_project(self.root)
        except UserFacingError as exc:
            raise UserFacingError(f"mask of {self.describe()} not loaded: {exc}") from exc
        try:
            self._check_item(project.db, "not loaded")
            mask = project.mask(self.item_id)
            classes = project.metadata().get("mask_classes")
        finally:
            project.close()
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != tuple(shape):
                raise UserFacingError(
                    f"mask of {self.describe()}: shape {mask.shape} does not match the image "
                    f"{tuple(shape)}; not loaded (fix or remove the mask in the project)"
                )
            if mask.dtype.kind not in "ui" or (mask.size and mask.min() < 0):
                raise UserFacingError(
                    f"mask of {self.describe()}: values must be labels 0..65535, "
                    f"the file holds {mask.dtype}; not loaded"
                )
        labels = labels_from_classes(classes, fallback)
        if mask is not None and mask.any():
            labels.ensure(np.unique(mask))
        return mask, labels

    # -- writing (worker) ------------------------------------------------------------------------
    def save_job(self, mask: np.ndarray) -> Job[str]:
        """Write ``mask`` as the item's mask: one transaction with the annotator and a history
        entry. Raises a :class:`UserFacingError` (nothing written) when the project is
        read-only or gone, or the item was deleted or now is another image."""
        yield Progress(0, 1, f"saving the mask of {self.describe()}")
        try:
            project = open_project(self.root)
        except UserFacingError as exc:
            raise UserFacingError(f"mask of {self.describe()} not saved: {exc}") from exc
        try:
            with project.transaction() as tx:
                self._check_item(tx.db, "not saved")
                tx.set_mask(self.item_id, mask, self.annotator)
        except ItemChangedError:
            raise
        except UserFacingError as exc:
            raise UserFacingError(f"mask of {self.describe()} not saved: {exc}") from exc
        finally:
            project.close()
        yield Progress(1, 1, "saved")
        return self.describe()

    def _check_item(self, db: sqlite3.Connection, outcome: str) -> None:
        row = db.execute("SELECT hash FROM items WHERE id = ?", (self.item_id,)).fetchone()
        if row is None:
            raise ItemChangedError(
                f"mask of {self.describe()} {outcome}: the item is no longer in the project "
                "(deleted meanwhile)"
            )
        if self.image_hash is not None and row[0] != self.image_hash:
            raise ItemChangedError(
                f"mask of {self.describe()} {outcome}: the item now refers to another image "
                "(removed and re-imported meanwhile)"
            )


def labels_from_classes(classes: object, fallback: LabelTable) -> LabelTable:
    """A label table from a project's ``mask_classes`` ({"1": "spot", ...}); entries whose key
    is not one label value (e.g. "1..m" for object ids) are left to placeholders. Without
    usable names: a copy of ``fallback``."""
    import copy

    named: dict[int, str] = {}
    if isinstance(classes, dict):
        for key, name in classes.items():
            try:
                value = int(str(key).strip())
            except ValueError:
                continue
            if 1 <= value <= 65535 and str(name).strip():
                named[value] = str(name).strip()
    if not named:
        return copy.deepcopy(fallback)
    table = LabelTable([])
    for value in sorted(named):
        try:
            table.add(named[value], value=value)
        except LabelTableError:  # a name used twice: keep the value, make the name unique
            table.add(f"{named[value]} ({value})", value=value)
    return table
