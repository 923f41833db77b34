"""Suggestions while labelling, computed in a child process (:class:`ProcessWorker`).

Why: the :class:`~qbi_desktop.core.quality.labelling.LabellingSession`'s work (feature reading,
kNN search, a logistic fit) is numpy / scikit-learn code that holds the interpreter lock for tens
to hundreds of milliseconds at a time. On a worker thread the GUI thread waited for that lock
while the user typed (heartbeat gaps up to ~0.5 s). In a child process it shares nothing: the GUI
process only waits on the pipe and unpickles the :class:`SuggestionTable` (~2 MB for 100 000
items).

:func:`suggestion_job` runs in the child. The session lives there, in :data:`_SESSIONS`, keyed by
the project folder and its catalog file's identity (a project deleted and made again in the same
folder is another catalog), so its features and kNN state stay between the requests. The GUI
sends only plain values: the project folder, the item ids in view, the model chosen, and the
catalog's change stamp (:func:`change_stamp`); the child reads the labels from the catalog itself
(SQLite WAL shows it what the GUI committed) through a connection that cannot write.

While features are still to be read after the first suggestions, the GUI asks the child to
run at a lower priority (``nice``, :func:`lower_priority`; for good: an unprivileged process
cannot raise it again): reading the features of 100 000 items takes minutes of CPU that the
user never waits for, while every key press is waited for, and on a loaded machine the GUI
thread queued behind it for a core (heartbeat gaps over 50 ms while typing). A project whose
features are all read at the first request keeps a child at full priority.

The CLI and the audit call the core in-process; only the GUI needs this.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from qbi_desktop.core.catalog import count_cache
from qbi_desktop.core.catalog.project import CATALOG
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.quality.labelling import (
    FEATURE_BUDGET_S,
    LabellingSession,
    SuggestionTable,
)

#: (project folder, catalog device, catalog inode) -> its session; one project at a time
_SESSIONS: dict[tuple[str, int, int], _Entry] = {}


class _Entry:
    """A session and what its last complete update was asked with."""

    def __init__(self, session: LabellingSession):
        self.session = session
        self.asked: tuple | None = None  # (stamp, model) of the last update that completed
        self.pending = -1  # items without features after it


def change_stamp(db: sqlite3.Connection) -> tuple[int, int]:
    """The catalog's change stamp seen from ``db`` (the GUI's connection): it moves with every
    commit, another connection's or this one's (:func:`count_cache.state`)."""
    return count_cache.state(db)


def lower_priority(nice: int) -> None:
    """Run this process at nice value ``nice`` at least, and its autogroup too where it leads
    a session of its own (the suggestions' child does): Linux shares the CPU between autogroups
    by their nice values first, a process's own counts only within its group. Never raises
    (where neither can be set, the process runs as it is); asking twice changes nothing."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return  # (Windows: no nice values)
    with contextlib.suppress(OSError):
        if _nice_now() < nice:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
    if os.getsid(0) != os.getpid():
        return  # in another's session: its autogroup is theirs too
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/autogroup") as f:
            now = int(f.read().rsplit("nice", 1)[1])
        if now < nice:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(nice))


def _nice_now() -> int:
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (OSError, AttributeError):
        return 0


def catalog_key(root: str | Path) -> tuple[str, int, int]:
    path = Path(root).absolute()
    st = (path / CATALOG).stat()
    return str(path), st.st_dev, st.st_ino


def suggestion_job(
    root: str,
    priority: Sequence[int] = (),
    model: str | None = None,
    stamp: tuple[int, int] | None = None,
    budget_s: float = FEATURE_BUDGET_S,
    nice: int = 0,
) -> Job[SuggestionTable | None]:
    """Update the project's session (made on the first request) and return its table; None
    when nothing changed since the last update (same ``stamp`` and ``model``, every feature
    read): the caller keeps the table it has. A ``stamp`` of None always updates. ``nice``:
    this process runs at that priority from now on (:func:`lower_priority`; for a child
    process only)."""
    lower_priority(nice)
    yield Progress(0, 0, "suggestions: reading labels")
    key = catalog_key(root)
    entry = _SESSIONS.get(key)
    if entry is None:
        for old in _SESSIONS.values():  # another project: its features are not needed now
            old.session.close()
        _SESSIONS.clear()
        entry = _SESSIONS[key] = _Entry(LabellingSession(Path(root), read_only=True))
    asked = (tuple(stamp), model) if stamp is not None else None
    if asked is not None and asked == entry.asked and entry.pending == 0:
        return None
    entry.session.model = model
    entry.asked = None
    complete = False
    try:
        table = yield from entry.session.update_job(priority, budget_s)
        complete = True
    finally:
        if not complete:
            # cancelled or failed half-way: the kNN state may be half-updated; the next
            # request starts afresh (features come back from the project's feature cache)
            _SESSIONS.pop(key, None)
            entry.session.close()
    entry.asked, entry.pending = asked, table.pending
    return table
