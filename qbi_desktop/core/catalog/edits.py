"""Undoable catalog edits: every Browser edit says what it changed, so it can be taken back.

An edit of item columns (class label, review state, notes, split) captures the values it
replaces and returns them as a :class:`Change`. ``Project.revert(change)`` writes the old values
back in one transaction, records the restore in each item's history and returns the inverse
change (so redo is another revert). An item edited again since the change (by another panel, an
import, another program) is left alone and counted, never silently overwritten.

Qt-free: the GUI's undo stacks (``gui/undo.py``) only hold these records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: The item columns each kind of edit writes (the first is the one named in the history).
FIELDS: dict[str, tuple[str, ...]] = {
    "label": ("label", "label_by"),
    "review": ("review", "reviewed_by", "notes"),
    "notes": ("notes",),
    "split": ("split",),
}

_CHUNK = 500  # ids per "IN (...)" query: far below SQLite's variable limit


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

    @property
    def changed(self) -> int:
        """How many items got a different value."""
        return sum(b != a for b, a in zip(self.before, self.after, strict=True))

    def inverse(self) -> Change:
        return Change(self.field, self.what, self.ids, self.after, self.before)


@dataclass(frozen=True)
class Reverted:
    """The outcome of :func:`revert`: the change that undoes it again and what was skipped."""

    change: Change  # apply with revert() to redo
    restored: int  # items whose values were written back
    skipped: int  # items changed again since (or removed): left as they are


def read_values(db: sqlite3.Connection, field: str, ids: Sequence[int]) -> dict[int, tuple]:
    """The current values of ``FIELDS[field]`` for ``ids`` (removed items are absent)."""
    columns = ", ".join(FIELDS[field])
    out: dict[int, tuple] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        for row in db.execute(f"SELECT id, {columns} FROM items WHERE id IN ({marks})", chunk):
            out[int(row[0])] = tuple(row[1:])
    return out


def capture(db: sqlite3.Connection, field: str, ids: Iterable[int]) -> tuple[tuple[int, ...], list]:
    """(ids that exist, their current values): call before writing, inside the transaction."""
    ids = list(dict.fromkeys(int(i) for i in ids))
    values = read_values(db, field, ids)
    kept = tuple(i for i in ids if i in values)
    return kept, [values[i] for i in kept]


def finish(
    db: sqlite3.Connection, field: str, what: str, ids: tuple[int, ...], before: list
) -> Change:
    """The :class:`Change` of an edit just written (reads the new values back)."""
    now = read_values(db, field, ids)
    return Change(field, what, ids, tuple(before), tuple(now[i] for i in ids))


def write_values(db: sqlite3.Connection, field: str, pairs: Sequence[tuple[int, tuple]]) -> None:
    columns = FIELDS[field]
    assignments = ", ".join(f"{c} = ?" for c in columns)
    db.executemany(
        f"UPDATE items SET {assignments} WHERE id = ?", [(*values, i) for i, values in pairs]
    )


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
    head = FIELDS[change.field][0]
    writer.db.executemany(
        "INSERT INTO annotation_log(item_id, what, value, annotator, at) VALUES (?,?,?,?,?)",
        [(i, head, None if old[0] is None else str(old[0]), annotator, stamp) for i, old in pairs],
    )
    inverse = Change(change.field, change.what, tuple(ids), tuple(before), tuple(after))
    return Reverted(inverse, len(pairs), len(change.ids) - len(ids))
