"""The write operations of one catalog transaction (:meth:`Project.transaction`): items,
labels, splits, review, targets, masks, boxes, each edit logged with who and when, and the
annotator's own version kept (opinions.py); mask and image files written before the commit."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.atomic import flush_batch
from qbi_desktop.core.catalog import edits, opinions, schema, stored_paths
from qbi_desktop.core.catalog.bulk import box_inserts
from qbi_desktop.core.catalog.classes import nfc, refuse_bad_annotators, refuse_bad_names
from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.catalog.images import hash_file, tiff_bytes
from qbi_desktop.core.catalog.records import Box, NewItem, _check_choice, now
from qbi_desktop.core.errors import UserFacingError

if TYPE_CHECKING:
    from qbi_desktop.core.catalog.project import Project


class Writer:
    """The write operations available inside :meth:`Project.transaction`."""

    def __init__(self, project: Project, db: sqlite3.Connection):
        self.project = project
        self.db = db
        self.created: list[Path] = []  # removed again on rollback
        self.obsolete: list[Path] = []  # removed after commit

    def set_metadata(self, **fields: Any) -> None:
        _check_mask_class_names(fields)
        people = fields.get("annotators")
        if isinstance(people, list):
            refuse_bad_annotators((name, "the project's annotators") for name in people)
        for key, value in fields.items():
            if value is None:
                self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self.db.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(value)),
                )

    def add_container(self, path: str | Path, kind: str, key: str, count: int) -> int:
        """Register an array container (or find it if already registered); its id."""
        stored = self.project.store_path(path)
        row = self.db.execute(
            "SELECT id FROM containers WHERE path = ? AND key = ?", (stored, key)
        ).fetchone()
        if row is not None:
            return int(row[0])
        cur = self.db.execute(
            "INSERT INTO containers(path, kind, key, hash, size, count) VALUES (?,?,?,?,?,?)",
            (stored, kind, key, hash_file(path), Path(path).stat().st_size, count),
        )
        return int(cur.lastrowid)

    def add_items(self, items: Sequence[NewItem]) -> list[int]:
        """Insert items with their targets, masks and boxes; their new ids, in order."""
        items = _in_nfc(items)
        refuse_bad_names(
            (name, f"item {it.name!r}")
            for it in items
            for name in (it.label, *(b.label for b in it.boxes))
        )
        refuse_bad_annotators(
            (name, f"annotator of item {it.name!r}")
            for it in items
            for name in (it.annotator, *(b.annotator for b in it.boxes))
        )
        start = int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]) + 1
        stamp = now()
        rows = []
        for n, it in enumerate(items):
            _check_choice(it.split, schema.SPLITS, "split")
            _check_choice(it.provenance_kind, schema.PROVENANCE_KINDS, "provenance")
            rows.append(
                (
                    start + n,
                    stored_paths.shown(it.name),  # a file name's non-UTF-8 bytes as \\xff
                    None if it.path is None else self.project.store_path(it.path),
                    it.container,
                    it.index,
                    it.hash,
                    it.size,
                    it.width,
                    it.height,
                    it.label,
                    it.annotator if it.label is not None else None,
                    it.split,
                    it.provenance_kind,
                    json.dumps(it.provenance),
                    it.parent_id,
                    json.dumps(it.metadata),
                    stamp,
                )
            )
        self.db.executemany(
            "INSERT INTO items(id, name, path, container_id, idx, hash, size, width, height, "
            "label, label_by, split, provenance_kind, provenance, parent_id, metadata, added) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        ids = [start + n for n in range(len(items))]
        targets = [
            (i, name, float(v), it.annotator)
            for i, it in zip(ids, items, strict=True)
            for name, v in it.targets.items()
        ]
        if targets:
            self.db.executemany(
                "INSERT INTO targets(item_id, name, value, annotator) VALUES (?,?,?,?)", targets
            )
        boxes = [
            (i, b.label, b.x, b.y, b.w, b.h, b.annotator or it.annotator)
            for i, it in zip(ids, items, strict=True)
            for b in it.boxes
        ]
        if boxes:
            with box_inserts(self.db, len(boxes)):  # counts made once for many boxes
                self.db.executemany(
                    "INSERT INTO boxes(item_id, label, x, y, w, h, annotator) "
                    "VALUES (?,?,?,?,?,?,?)",
                    boxes,
                )
        masked = [(i, it) for i, it in zip(ids, items, strict=True) if it.mask is not None]
        for i, it in masked:
            self.set_mask(i, it.mask, it.annotator, log=False, sync=False)
        if masked:  # one flush for the batch, before the commit that refers to the files
            flush_batch(self.project.masks_dir)
        return ids

    def store_image(self, array: np.ndarray, name: str) -> Path:
        """Write an image the app made (simulated, augmented) into ``images/``; its path."""
        from qbi_desktop.core.atomic import atomic_write_bytes

        self.project.images_dir.mkdir(exist_ok=True)
        stem = _safe_stem(name)
        path = self.project.images_dir / f"{stem}-{secrets.token_hex(4)}.tif"
        atomic_write_bytes(path, tiff_bytes(np.asarray(array)))
        self.created.append(path)
        return path

    def set_label(
        self, ids: list[int], label: str | None, annotator: str | None, what: str = ""
    ) -> Change:
        refuse_bad_names([(label, f"label of item(s) {_some(ids)}")])
        label = nfc(label)
        stamp = now()
        ids, before = edits.capture(self.db, "label", ids)
        self.db.executemany(
            "UPDATE items SET label = ?, label_by = ? WHERE id = ?",
            [(label, annotator, i) for i in ids],
        )
        self._log(list(ids), "label", label, annotator, stamp)
        kept = self._opinion(ids, "label", label, annotator, stamp)
        what = what or ("clear label" if label is None else f"label {label!r}")
        return edits.finish(self.db, "label", what, ids, before, kept)

    def set_split(self, ids: list[int], split: str | None) -> Change:
        _check_choice(split, schema.SPLITS, "split")
        ids, before = edits.capture(self.db, "split", ids)
        self.db.executemany("UPDATE items SET split = ? WHERE id = ?", [(split, i) for i in ids])
        return edits.finish(self.db, "split", f"split {split or 'unassigned'}", ids, before)

    def set_splits(
        self, assignment: Iterable[tuple[int, str | None]], what: str = "split"
    ) -> Change:
        """Many (item id, split) pairs at once."""
        pairs = [(s, i) for i, s in assignment]
        for s in {s for s, _ in pairs}:
            _check_choice(s, schema.SPLITS, "split")
        ids, before = edits.capture(self.db, "split", [i for _, i in pairs])
        self.db.executemany("UPDATE items SET split = ? WHERE id = ?", pairs)
        return edits.finish(self.db, "split", what, ids, before)

    def set_review(
        self, ids: list[int], state: str, annotator: str | None, notes: str | None
    ) -> Change:
        _check_choice(state, schema.REVIEW_STATES, "review state")
        ids, before = edits.capture(self.db, "review", ids)
        if notes is None:
            self.db.executemany(
                "UPDATE items SET review = ?, reviewed_by = ? WHERE id = ?",
                [(state, annotator, i) for i in ids],
            )
        else:
            self.db.executemany(
                "UPDATE items SET review = ?, reviewed_by = ?, notes = ? WHERE id = ?",
                [(state, annotator, notes, i) for i in ids],
            )
        self._log(list(ids), "review", state, annotator, now())
        kept = self._opinion(ids, "review", state, annotator, now())
        return edits.finish(self.db, "review", state.replace("_", " "), ids, before, kept)

    def set_notes(
        self, item_id: int, notes: str, annotator: str | None = None, log: bool = False
    ) -> Change:
        ids, before = edits.capture(self.db, "notes", [item_id])
        self.db.execute("UPDATE items SET notes = ? WHERE id = ?", (notes, item_id))
        if log:  # a person's edit (imports restore notes without a history entry)
            self._log(list(ids), "notes", notes, annotator, now())
        return edits.finish(self.db, "notes", "notes", ids, before)

    def set_targets(
        self, item_id: int, targets: dict[str, float | None], annotator: str | None
    ) -> None:
        stamp = now()
        for name, value in targets.items():
            if value is None:
                self.db.execute(
                    "DELETE FROM targets WHERE item_id = ? AND name = ?", (item_id, name)
                )
            else:
                self.db.execute(
                    "INSERT INTO targets(item_id, name, value, annotator) VALUES (?,?,?,?) "
                    "ON CONFLICT(item_id, name) DO UPDATE SET value = excluded.value, "
                    "annotator = excluded.annotator",
                    (item_id, name, float(value), annotator),
                )
            self._log([item_id], f"target:{name}", value, annotator, stamp)
            self._opinion([item_id], "target", value, annotator, stamp, name)

    def set_mask(
        self,
        item_id: int,
        mask: np.ndarray | None,
        annotator: str | None,
        log: bool = True,
        sync: bool = True,
    ) -> None:
        """Store a label mask as a new TIFF (the old one is deleted after commit); with
        ``sync=False`` the caller flushes (``atomic.flush_batch``) before the commit."""
        old = self.db.execute("SELECT path FROM masks WHERE item_id = ?", (item_id,)).fetchone()
        if old is not None:
            self.obsolete.append(self.project.resolve(old[0]))
        if mask is None:
            self.db.execute("DELETE FROM masks WHERE item_id = ?", (item_id,))
        else:
            path = self._write_mask(item_id, mask, sync)
            self.db.execute(
                "INSERT INTO masks(item_id, path, annotator, updated) VALUES (?,?,?,?) "
                "ON CONFLICT(item_id) DO UPDATE SET path = excluded.path, "
                "annotator = excluded.annotator, updated = excluded.updated",
                (item_id, self.project.store_path(path), annotator, now()),
            )
        if log:
            self._log([item_id], "mask", None if mask is None else "set", annotator, now())
            if annotator and not opinions.is_consensus(annotator):  # this person's own copy
                data = None if mask is None else path.read_bytes()
                opinions.record_mask(self, item_id, annotator, data, now())

    def _write_mask(self, item_id: int, mask: np.ndarray, sync: bool = True) -> Path:
        from qbi_desktop.core.atomic import atomic_write_bytes, write_new_file
        from qbi_desktop.core.maskio import store_range_problem

        array = np.asarray(mask)
        if array.dtype == bool:
            array = array.astype(np.uint8)
        if not np.issubdtype(array.dtype, np.integer):
            raise UserFacingError(
                f"mask of item {item_id}: must be integer labels, not {array.dtype}"
            )
        problem = store_range_problem(array)
        if problem is not None:
            raise UserFacingError(f"mask of item {item_id}: {problem}")
        if array.size:
            top = int(array.max())
            array = array.astype(np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32)
        self.project.masks_dir.mkdir(exist_ok=True)
        path = self.project.masks_dir / f"{item_id}-{secrets.token_hex(4)}.tif"
        data = tiff_bytes(array, compression="zlib")
        if sync:
            atomic_write_bytes(path, data)
        else:  # a new name no row refers to yet: the caller flushes before the commit
            write_new_file(path, data)
        self.created.append(path)
        return path

    def set_boxes(
        self, item_id: int, boxes: Sequence[Box], annotator: str | None, what: str = ""
    ) -> Change:
        """Replace the item's boxes (a box without its own annotator gets ``annotator``)."""
        refuse_bad_names((b.label, f"box {n} of item {item_id}") for n, b in enumerate(boxes))
        boxes = [b if nfc(b.label) == b.label else replace(b, label=nfc(b.label)) for b in boxes]
        refuse_bad_annotators(
            (b.annotator, f"annotator of box {n} of item {item_id}") for n, b in enumerate(boxes)
        )
        ids, before = edits.capture(self.db, edits.BOXES, [item_id])
        rows = tuple((b.label, b.x, b.y, b.w, b.h, b.annotator or annotator) for b in boxes)
        edits.write_values(self.db, edits.BOXES, [(i, rows) for i in ids])
        self._log(list(ids), "boxes", str(len(boxes)), annotator, now())
        kept = self._opinion(ids, "boxes", opinions.boxes_value(boxes), annotator, now())
        what = what or f"boxes ({len(boxes)})"
        return edits.finish(self.db, edits.BOXES, what, ids, before, kept)

    def set_target(
        self, ids: list[int], name: str, value: float | None, annotator: str | None, what: str = ""
    ) -> Change:
        """Set (or with ``None`` remove) one regression target on items."""
        field = edits.target_field(name)
        ids, before = edits.capture(self.db, field, ids)
        value = None if value is None else float(value)
        edits.write_values(self.db, field, [(i, (value, annotator)) for i in ids])
        self._log(list(ids), field, value, annotator, now())
        kept = self._opinion(ids, "target", value, annotator, now(), name)
        what = what or (f"clear {name}" if value is None else f"{name} = {value:g}")
        return edits.finish(self.db, field, what, ids, before, kept)

    def remove_items(self, ids: list[int]) -> int:
        for (stored,) in self.db.execute(
            f"SELECT path FROM masks WHERE item_id IN ({','.join('?' * len(ids))})", ids
        ).fetchall():
            self.obsolete.append(self.project.resolve(stored))
        for (stored,) in self.db.execute(
            "SELECT json_extract(value, '$') FROM opinions WHERE kind = 'mask' AND item_id IN "
            f"({','.join('?' * len(ids))})",
            ids,
        ).fetchall():
            self.obsolete.append(self.project.resolve(stored))
        from qbi_desktop.core.spot_review import reviews_of_items

        # spot reviews go with their items, as masks do (a later item could reuse the id)
        self.obsolete.extend(reviews_of_items(self.project.root, ids))
        cur = self.db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        self.db.execute(
            "DELETE FROM containers WHERE id NOT IN "
            "(SELECT DISTINCT container_id FROM items WHERE container_id IS NOT NULL)"
        )
        return cur.rowcount

    def _opinion(
        self,
        ids: Iterable[int],
        kind: str,
        value: Any,
        annotator: str | None,
        stamp: str,
        name: str = "",
    ) -> tuple:
        """Keep the annotator's own version (a consensus is the item's annotation only); the
        versions before and after, per item, for undo: (item, annotator, kind, name, before,
        after) texts."""
        if not annotator or opinions.is_consensus(annotator):
            return ()
        ids = list(ids)
        before = opinions.texts(self.db, ids, annotator, kind, name)
        opinions.record(self.db, ids, annotator, kind, value, stamp, name)
        after = opinions.texts(self.db, ids, annotator, kind, name)
        return tuple((i, annotator, kind, name, before[i], after[i]) for i in ids)

    def _log(
        self, ids: list[int], what: str, value: Any, annotator: str | None, stamp: str
    ) -> None:
        refuse_bad_annotators([(annotator, f"annotator of item(s) {_some(ids)}")])
        text = None if value is None else str(value)
        self.db.executemany(
            "INSERT INTO annotation_log(item_id, what, value, annotator, at) VALUES (?,?,?,?,?)",
            [(i, what, text, annotator, stamp) for i in ids],
        )


def _some(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in list(ids)[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def _check_mask_class_names(fields: dict[str, Any]) -> None:
    """The names of mask values (``mask_classes``: value -> class) and the class of instance
    masks (``mask_instances``) are class names too: the same rule as labels."""
    named: list[tuple[Any, str]] = []
    classes = fields.get("mask_classes")
    if isinstance(classes, dict):
        named += [(name, f"mask class {key}") for key, name in classes.items()]
    if isinstance(fields.get("mask_instances"), str):
        named.append((fields["mask_instances"], "the class of the instance masks"))
    refuse_bad_names(named)


def _in_nfc(items: Sequence[NewItem]) -> Sequence[NewItem]:
    """``items`` with their class names (the item's, its boxes') in NFC, the form every class
    name is stored in (classes.nfc): whichever way a name came in (an import, a command, a
    key), "café" typed on a Mac is the class "café" and not a twin of it. Only the few items
    whose names change are copied."""
    out = list(items)
    for n, it in enumerate(out):
        names = [it.label, *(b.label for b in it.boxes)]
        if all(nfc(name) == name for name in names):
            continue
        boxes = [replace(b, label=nfc(b.label)) for b in it.boxes]
        out[n] = replace(it, label=nfc(it.label), boxes=boxes)
    return out


def _safe_stem(name: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).stem)
    return stem[:80] or "image"
