"""Answers about the catalog that are costly to compute, kept per catalog state.

A count that tests every item (a name substring that most names hold: ~0.3 s at a million
items) is asked again at every sort of the same filter. It is kept here with the state of the
connection it describes and given again only while that state holds, so the Browser shows an
exact count at once and never a stale one.

The state of a connection is ``PRAGMA data_version`` (it changes when another connection
commits) with ``total_changes`` (this connection's own writes, which data_version leaves out).
An entry keeps its connection object: the key is the connection's ``id()``, which could
otherwise be reused by a new connection with the same state numbers.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import asdict, is_dataclass
from typing import Any

State = tuple[int, int]

_LIMIT = 256
_kept: OrderedDict[tuple[int, str, str], tuple[sqlite3.Connection, State, Any]] = OrderedDict()
_lock = threading.Lock()  # the Browser's count worker keeps its answers here too


def state(db: sqlite3.Connection) -> State:
    """The catalog state as this connection sees it now."""
    return int(db.execute("PRAGMA data_version").fetchone()[0]), db.total_changes


def _key(question: Any) -> str:
    if is_dataclass(question):
        question = asdict(question)
    return json.dumps(question, sort_keys=True, default=list)


def get(db: sqlite3.Connection, what: str, question: Any) -> Any | None:
    """The answer kept for ``question`` (any JSON-able value or dataclass) on ``db`` when the
    catalog is still in the state it was computed in, else None."""
    with _lock:
        entry = _kept.get((id(db), what, _key(question)))
    if entry is None or entry[0] is not db:
        return None
    try:
        if entry[1] != state(db):
            return None
    except sqlite3.Error:  # a closed connection
        return None
    return entry[2]


def put(db: sqlite3.Connection, what: str, question: Any, answer: Any, at: State) -> None:
    """Keep ``answer``, computed when ``db`` was in state ``at`` (read before computing)."""
    key = (id(db), what, _key(question))
    with _lock:
        _kept[key] = (db, at, answer)
        _kept.move_to_end(key)
        while len(_kept) > _LIMIT:
            _kept.popitem(last=False)


def clear() -> None:
    with _lock:
        _kept.clear()
