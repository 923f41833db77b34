"""Undoable catalog edits: every Browser edit says what it changed, so it can be taken back.

An edit captures the values it replaces and returns them as a :class:`Change`: item columns
(class label, review state, notes, split), an item's boxes (field ``"boxes"``: the whole box list)
or one regression target (field ``"target:<name>"``: value and annotator, ``(None, None)`` when
the item has none). ``Project.revert(change)`` writes the old values
back in one transaction, records the restore in each item's history and returns the inverse
change (so redo is another revert). An item edited again since the change (by another panel, an
import, another program) is left alone and counted, never silently overwritten.

Qt-free: the GUI's undo stacks (``gui/undo.py``) only hold these records.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

#: The item columns each kind of edit writes (the first is the one named in the history).
FIELDS: dict[str, tuple[str, ...]] = {
    "label": ("label", "label_by"),
    "review": ("review", "reviewed_by", "notes"),
    "notes": ("notes",),
    "split": ("split",),
}

_CHUNK = 500  # ids per "IN (...)" query: far below SQLite's variable limit

BOXES = "boxes"
TARGET = "target:"  # + the target's name

_NO_TARGET = (None, None)


def target_field(name: str) -> str:
    """The :class:`Change` field of the regression target ``name``."""
    return TARGET + name


def _chunks(ids: Sequence[int]) -> Iterable[tuple[list[int], str]]:
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        yield chunk, ",".join("?" * len(chunk))


def _item_ids(db: sqlite3.Connection, ids: Sequence[int]) -> set[int]:
    out: set[int] = set()
    for chunk, marks in _chunks(ids):
        out.update(r[0] for r in db.execute(f"SELECT id FROM items WHERE id IN ({marks})", chunk))
    return out


@dataclass(frozen=True)
class Change:
    """What one catalog transaction changed on some items: old and new column values.

    ``before[i]`` and ``after[i]`` are the values of ``FIELDS[field]`` for ``ids[i]``.
    """

    field: str
    what: str  # in the user's words: "label '3'", "split (stratified 70/15/15)"
    ids: tuple[int, ...]
    before: tuple[tuple[Any, ...], ...]
    after: tuple[tuple[Any, ...], ...]
    # The editing annotator's own versions (opinions): (item, annotator, kind, name, before,
    # after) stored texts, so undo also gives them their earlier version back.
    opinions: tuple[tuple[Any, ...], ...] = ()

    @property
    def changed(self) -> int:
        """How many items got a different value."""
        return sum(b != a for b, a in zip(self.before, self.after, strict=True))

    def inverse(self) -> Change:
        return Change(
            self.field, self.what, self.ids, self.after, self.before, _swap(self.opinions)
        )


def _swap(opinions: tuple) -> tuple:
    return tuple((*o[:4], o[5], o[4]) for o in opinions)


@dataclass(frozen=True)
class Reverted:
    """The outcome of :func:`revert`: the change that undoes it again and what was skipped."""

    change: Change  # apply with revert() to redo
    restored: int  # items whose values were written back
    skipped: int  # items changed again since (or removed): left as they are


def read_values(db: sqlite3.Connection, field: str, ids: Sequence[int]) -> dict[int, tuple]:
    """The current values of ``field`` for ``ids`` (removed items are absent)."""
    if field == BOXES:
        return _read_boxes(db, ids)
    if field.startswith(TARGET):
        return _read_target(db, field[len(TARGET) :], ids)
    columns = ", ".join(FIELDS[field])
    out: dict[int, tuple] = {}
    for chunk, marks in _chunks(ids):
        for row in db.execute(f"SELECT id, {columns} FROM items WHERE id IN ({marks})", chunk):
            out[int(row[0])] = tuple(row[1:])
    return out


def _read_boxes(db: sqlite3.Connection, ids: Sequence[int]) -> dict[int, tuple]:
    # An item's value is its box list in drawing order: ((label, x, y, w, h, annotator), ...).
    out: dict[int, list] = {i: [] for i in _item_ids(db, ids)}
    for chunk, marks in _chunks(ids):
        rows = db.execute(
            f"SELECT item_id, label, x, y, w, h, annotator FROM boxes "
            f"WHERE item_id IN ({marks}) ORDER BY item_id, id",
            chunk,
        )
        for row in rows:
            out[int(row[0])].append(tuple(row[1:]))
    return {i: tuple(boxes) for i, boxes in out.items()}


def _read_target(db: sqlite3.Connection, name: str, ids: Sequence[int]) -> dict[int, tuple]:
    out: dict[int, tuple] = dict.fromkeys(_item_ids(db, ids), _NO_TARGET)
    for chunk, marks in _chunks(ids):
        rows = db.execute(
            f"SELECT item_id, value, annotator FROM targets "
            f"WHERE name = ? AND item_id IN ({marks})",
            [name, *chunk],
        )
        for item_id, value, annotator in rows:
            out[int(item_id)] = (value, annotator)
    return out


def capture(db: sqlite3.Connection, field: str, ids: Iterable[int]) -> tuple[tuple[int, ...], list]:
    """(ids that exist, their current values): call before writing, inside the transaction."""
    ids = list(dict.fromkeys(int(i) for i in ids))
    values = read_values(db, field, ids)
    kept = tuple(i for i in ids if i in values)
    return kept, [values[i] for i in kept]


def finish(
    db: sqlite3.Connection,
    field: str,
    what: str,
    ids: tuple[int, ...],
    before: list,
    opinions: tuple = (),
) -> Change:
    """The :class:`Change` of an edit just written (reads the new values back)."""
    now = read_values(db, field, ids)
    return Change(field, what, ids, tuple(before), tuple(now[i] for i in ids), tuple(opinions))


def keep_unattributed(db: sqlite3.Connection, change: Change, boxes: Sequence[Any]) -> Change:
    """Give the boxes an item already had without an annotator their ``None`` back after a
    box-list edit (``Writer.set_boxes`` gives every box without one the editor's name: right
    for the boxes drawn or added, wrong for the unattributed boxes that come back unchanged).
    ``boxes``: the list just written, in order; returns ``change`` with the values stored."""
    if len(change.ids) != 1 or not change.before:
        return change
    item = change.ids[0]
    unowned = Counter(tuple(row[:5]) for row in change.before[0] if row[5] is None)
    if not unowned:
        return change
    rows = [r[0] for r in db.execute("SELECT id FROM boxes WHERE item_id = ? ORDER BY id", (item,))]
    reset = []
    for row_id, box in zip(rows, boxes, strict=True):
        key = (box.label, box.x, box.y, box.w, box.h)
        if box.annotator is None and unowned[key] > 0:
            unowned[key] -= 1
            reset.append((row_id,))
    if not reset:
        return change
    db.executemany("UPDATE boxes SET annotator = NULL WHERE id = ?", reset)
    after = read_values(db, BOXES, change.ids)
    return replace(change, after=tuple(after[i] for i in change.ids))


def write_values(db: sqlite3.Connection, field: str, pairs: Sequence[tuple[int, tuple]]) -> None:
    if field == BOXES:
        db.executemany("DELETE FROM boxes WHERE item_id = ?", [(i,) for i, _ in pairs])
        db.executemany(
            "INSERT INTO boxes(item_id, label, x, y, w, h, annotator) VALUES (?,?,?,?,?,?,?)",
            [(i, *box) for i, boxes in pairs for box in boxes],
        )
        return
    if field.startswith(TARGET):
        name = field[len(TARGET) :]
        db.executemany(
            "DELETE FROM targets WHERE item_id = ? AND name = ?",
            [(i, name) for i, (value, _) in pairs if value is None],
        )
        db.executemany(
            "INSERT INTO targets(item_id, name, value, annotator) VALUES (?,?,?,?) "
            "ON CONFLICT(item_id, name) DO UPDATE SET value = excluded.value, "
            "annotator = excluded.annotator",
            [(i, name, float(v), who) for i, (v, who) in pairs if v is not None],
        )
        return
    columns = FIELDS[field]
    assignments = ", ".join(f"{c} = ?" for c in columns)
    db.executemany(
        f"UPDATE items SET {assignments} WHERE id = ?", [(*values, i) for i, values in pairs]
    )


def history_entry(field: str, value: tuple) -> tuple[str, str | None]:
    """(what, value) as an item's history records an edit of ``field`` to ``value``."""
    if field == BOXES:
        return BOXES, str(len(value))
    head = field if field.startswith(TARGET) else FIELDS[field][0]
    return head, None if value[0] is None else str(value[0])


def revert(writer: Any, change: Change, annotator: str | None, stamp: str) -> Reverted:
    """Write ``change.before`` back where the items still hold ``change.after`` (inside a
    transaction of ``writer``, a catalog Writer); log each restore in the item's history."""
    now = read_values(writer.db, change.field, change.ids)
    pairs, ids, before, after = [], [], [], []
    for i, old, new in zip(change.ids, change.before, change.after, strict=True):
        if now.get(i) != new:
            continue  # removed or edited again since: not ours to overwrite
        ids.append(i)
        before.append(new)
        after.append(old)
        if old != new:
            pairs.append((i, old))
    write_values(writer.db, change.field, pairs)
    writer.db.executemany(
        "INSERT INTO annotation_log(item_id, what, value, annotator, at) VALUES (?,?,?,?,?)",
        [(i, *history_entry(change.field, old), annotator, stamp) for i, old in pairs],
    )
    kept = _revert_opinions(writer.db, change.opinions, set(ids), stamp)
    inverse = Change(change.field, change.what, tuple(ids), tuple(before), tuple(after), kept)
    return Reverted(inverse, len(pairs), len(change.ids) - len(ids))


def _revert_opinions(db: sqlite3.Connection, entries: tuple, restored: set[int], at: str) -> tuple:
    """Give the editing annotator their earlier version of the items whose values were
    restored (where their version is still the one the edit wrote); the entries to redo."""
    from qbi_desktop.core.catalog import opinions

    back, redo = [], []
    for item_id, annotator, kind, name, before, after in entries:
        if item_id not in restored:
            continue
        now = opinions.texts(db, [item_id], annotator, kind, name)[item_id]
        if now != after:
            continue  # they changed it again since: theirs to keep
        back.append((item_id, annotator, kind, name, before))
        redo.append((item_id, annotator, kind, name, after, before))
    opinions.put_texts(db, back, at)
    return tuple(redo)
