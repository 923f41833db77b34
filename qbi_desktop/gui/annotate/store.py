"""Where a mask session's mask comes from and goes to, when that is a project item, not a file.

A session without a store is file-backed (``<image>.mask.tif`` or a path the user chose). A
session with a :class:`ProjectItemStore` reads its mask from the project's catalog when the
plane is prepared and writes it back with ``Project.set_mask`` (one transaction, the annotator
recorded, the old mask file deleted after commit) when the user saves.

Both jobs run on a worker with their own :class:`Project` (their own SQLite connection), so the
store works whether or not the Browser still has that project open.

A save also carries Annotate's label names into the project's ``mask_classes`` (the one
project-wide table exporters name categories from; see :func:`merge_class_names`), in the same
transaction as the mask; and an all-zero mask removes the item's mask instead of storing an
empty file, so the item counts as unmasked everywhere (Browser, exports).

Its crash journal is keyed by the project folder and the item id
(:meth:`ProjectItemStore.journal_place`): two items with identical pixels (duplicates) or the
same item in two copies of a project never share a journal.

No Qt here.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.labels import LabelTable, LabelTableError


class ItemChangedError(UserFacingError):
    """The item a mask belongs to was deleted, or its id now names another image."""


@dataclass
class ClassNameMerge:
    """What :func:`merge_class_names` decided: the ``mask_classes`` to write (None: unchanged),
    the names added and renamed (value -> name / (old, new)), the project's names that were
    renamed there meanwhile and that the session should show (``kept``), and notes on names
    not written."""

    classes: dict[str, object] | None = None
    added: dict[int, str] = field(default_factory=dict)
    renamed: dict[int, tuple[str, str]] = field(default_factory=dict)
    kept: dict[int, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        """One phrase per change, for the status bar."""
        parts = [
            f"label {v} renamed {old!r} -> {new!r} in project"
            for v, (old, new) in sorted(self.renamed.items())
        ]
        parts += [f"label {v} {name!r} added to project" for v, name in sorted(self.added.items())]
        return parts + self.skipped


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
    #: annotating blind: load only ``annotator``'s own mask (core.annotation.own_view)
    blind: bool = False

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

    def suggested_file(self, folder: Path) -> Path:
        """Where "Save Mask As…" proposes to write a copy: in ``folder`` (the masks folder),
        not beside the item's image (a raw-data folder, often read-only)."""
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(self.name).stem)
        stem = f"{stem or 'item'}-item{self.item_id}"
        return Path(folder) / f"{stem}.mask.tif"

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
            if self.blind:
                from qbi_desktop.core.annotation.own_view import own_mask

                mask = own_mask(project, self.item_id, self.annotator, tuple(shape))
            else:
                mask = project.mask(self.item_id)
            meta = project.metadata()
            classes = meta.get("mask_classes")
            instances = meta.get("mask_instances")
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
        instance_class = instances.strip() if isinstance(instances, str) else ""
        # an instance mask's values are object ids: the default labels ("1 spot") would misname them
        labels = labels_from_classes(classes, LabelTable([]) if instance_class else fallback)
        if mask is not None and mask.any():
            values = np.unique(mask)
            if instance_class:  # each value is one object of that class: "object 3"
                for value in (int(v) for v in values if v > 0):
                    if value not in labels:
                        labels.add(f"{instance_class} {value}", value=value)
            labels.ensure(values)
        return mask, labels

    # -- writing (worker) ------------------------------------------------------------------------
    def save_job(
        self,
        mask: np.ndarray,
        names: Mapping[int, str] | None = None,
        baseline: Mapping[int, str] | None = None,
    ) -> Job[ItemMaskSaved]:
        """Write ``mask`` as the item's mask: one transaction with the annotator and a history
        entry. An all-zero mask removes the item's mask (history: a removal). ``names`` (label
        value -> name, as Annotate shows them; ``baseline``: as when read) are merged into the
        project's ``mask_classes`` in the same transaction (:func:`merge_class_names`).
        Raises a :class:`UserFacingError` (nothing written) when the project is read-only or
        gone, or the item was deleted or now is another image."""
        yield Progress(0, 1, f"saving the mask of {self.describe()}")
        present = label_values(mask)
        try:
            project = open_project(self.root)
        except UserFacingError as exc:
            raise UserFacingError(f"mask of {self.describe()} not saved: {exc}") from exc
        try:
            with project.transaction() as tx:
                self._check_item(tx.db, "not saved")
                had_mask = (
                    tx.db.execute(
                        "SELECT 1 FROM masks WHERE item_id = ?", (self.item_id,)
                    ).fetchone()
                    is not None
                )
                if present:
                    tx.set_mask(self.item_id, mask, self.annotator)
                elif had_mask:  # cleared: the item has no mask any more (logged as a removal)
                    tx.set_mask(self.item_id, None, self.annotator)
                merge = ClassNameMerge()
                if names:
                    merge = merge_class_names(
                        _meta_value(tx.db, "mask_classes"),
                        present,
                        names,
                        instances=_meta_value(tx.db, "mask_instances"),
                        baseline=baseline,
                    )
                    if merge.classes is not None:
                        tx.set_metadata(mask_classes=merge.classes)
        except ItemChangedError:
            raise
        except UserFacingError as exc:
            raise UserFacingError(f"mask of {self.describe()} not saved: {exc}") from exc
        finally:
            project.close()
        yield Progress(1, 1, "saved")
        return ItemMaskSaved(self, removed=not present, had_mask=had_mask, names=merge)

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


@dataclass(frozen=True)
class ItemMaskSaved:
    """What a save into the project did (the result of :meth:`ProjectItemStore.save_job`)."""

    store: ProjectItemStore
    removed: bool  # the mask was empty: the item has no mask now
    had_mask: bool  # the item had a mask before this save
    names: ClassNameMerge

    def message(self) -> str:
        """The status-bar line: what happened to the mask, then to the label names."""
        who = self.store.annotator
        if not self.removed:
            head = f"Mask saved into {self.store.describe()} as {who}"
        elif self.had_mask:
            head = f"Empty mask: the mask of {self.store.describe()} was removed, as {who}"
        else:
            head = f"Empty mask: {self.store.describe()} still has no mask"
        return "; ".join([head, *self.names.describe()])


def label_values(mask: np.ndarray) -> list[int]:
    """The non-zero values a mask holds, ascending (a count per value for 8/16-bit masks: one
    pass, no sort of the whole mask)."""
    array = np.asarray(mask)
    if array.size == 0:
        return []
    if array.dtype.kind == "b":
        return [1] if array.any() else []
    if array.dtype.kind == "u" and array.dtype.itemsize <= 2:
        counts = np.bincount(array.ravel())
        return [int(v) for v in np.flatnonzero(counts) if v != 0]
    return [int(v) for v in np.unique(array) if v != 0]


def _meta_value(db: sqlite3.Connection, key: str) -> object:
    """A metadata field as stored (None if absent); text that is not JSON comes back as text,
    which the merge then leaves alone."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    try:
        return json.loads(row[0])
    except (TypeError, ValueError):
        return row[0]


def _plain_value(key: object) -> int | None:
    """The label value a ``mask_classes`` key names ("3" -> 3), None for any other key (e.g. a
    range such as "1..m"); parsed as the exporters parse it."""
    try:
        value = int(str(key).strip())
    except ValueError:
        return None
    return value if 1 <= value <= 65535 else None


def _placeholder(name: str, value: int) -> bool:
    """A name Annotate made up for a value nobody named ("label 5", see LabelTable.ensure)."""
    return name.rstrip("'") == f"label {value}"


def merge_class_names(
    stored: object,
    present: Iterable[int],
    names: Mapping[int, str],
    instances: object = None,
    baseline: Mapping[int, str] | None = None,
) -> ClassNameMerge:
    """Merge Annotate's names of the label values in a saved mask into ``mask_classes``.

    ``stored`` is the project's ``mask_classes`` as stored (absent: None), ``present`` the
    non-zero values of the saved mask, ``names`` Annotate's value -> name, ``baseline`` the
    names the session had when the item was opened or last saved (None: unknown).

    One project-wide table, so for a value the project names differently Annotate's name wins:
    the user renamed it. Also written: a rename (against ``baseline``) of a label the project
    names even if this mask does not hold it. Left as they are: keys that are not one label
    value (whatever another part of the app keeps there); names of other values the mask does
    not hold; Annotate's placeholder names ("label 5") for values the project does not name;
    a name another value already has in the project (two values with one name would merge two
    categories on export); and a project name that changed since the session read it while
    the session left that label alone (renamed meanwhile, e.g. from another item: not undone).
    Notes say what was not written. Nothing is written when the project's masks are instance
    masks (``instances``: each value is one object, not a class) or ``mask_classes`` is not a
    table.
    """
    result = ClassNameMerge()
    present = [int(v) for v in present if int(v) != 0]
    if isinstance(instances, str) and instances.strip():
        if present:
            result.skipped.append(
                "label names not written: the project's masks are instance masks "
                f"(each value one {instances.strip()!r})"
            )
        return result
    if stored is None:
        stored = {}
    if not isinstance(stored, dict):
        result.skipped.append("label names not written: the project's mask_classes is not a table")
        return result
    have: dict[int, str] = {}  # value -> the project's name, from plain keys only
    for key, name in stored.items():
        value = _plain_value(key)
        if value is not None and value not in have:
            have[value] = str(name).strip()
    base = dict(baseline or {})
    candidates = set(present)
    candidates |= {v for v in have if v in base and v in names and names[v] != base[v]}
    wanted: dict[int, str] = {}
    for value in sorted(candidates):
        name = str(names.get(value, "")).strip()
        if not name or name == have.get(value):
            continue
        if value not in have:
            if not _placeholder(name, value):
                wanted[value] = name
        elif value in base and name == base[value]:
            result.kept[value] = have[value]
            result.skipped.append(
                f"label {value} stays {have[value]!r} in project (renamed there since "
                f"{name!r} was read)"
            )
        else:
            wanted[value] = name
    # A new name must not be another value's name once everything is merged; dropping one
    # change can bring an old name back, so repeat until nothing clashes.
    while True:
        final = {**have, **wanted}
        clash = {
            v: w
            for v, name in wanted.items()
            for w, other in final.items()
            if w != v and other == name
        }
        if not clash:
            break
        for value, other in sorted(clash.items()):
            result.skipped.append(
                f"label {value} not named {wanted.pop(value)!r} in project: label {other} "
                "has that name there"
            )
    if not wanted:
        return result
    classes: dict[str, object] = {}
    for key, name in stored.items():
        value = _plain_value(key)
        if value in wanted:  # renamed: in its place, under its plain key ("02" -> "2")
            if str(value) not in classes:
                classes[str(value)] = wanted[value]
                result.renamed[value] = (have[value], wanted[value])
        else:
            classes[key] = name
    for value, name in wanted.items():
        if value not in have:
            classes[str(value)] = name
            result.added[value] = name
    result.classes = classes
    return result
