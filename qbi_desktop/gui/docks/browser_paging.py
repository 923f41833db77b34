"""The ids behind the Browser's rows at a million items: a window, not the whole list.

A filter or sort asks the catalog for the number of matching items and the ids of the first
rows (``Project.page_ids``: one page plan, a few milliseconds whatever the catalog's size; the
first window is :data:`FIRST` rows, a screenful and some, because a filtered walk of the sort
order costs in proportion to the rows it gathers). The number comes from the catalog's count
tables, or from a count kept for this filter and catalog state; when only a test of every item
can tell (a name substring that most names hold), the first window's rows stand in until a
worker has counted, and :attr:`IdWindow.counting` says so (the Browser shows "200+"). Scrolling
elsewhere asks for the window there. The whole list is read only when a caller needs it: the
label-next queue orders all of them, and finding the row of an item outside the window searches
it (both kept until the next reload).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any

import numpy as np

from qbi_desktop.core.catalog import Project, count_cache, queries
from qbi_desktop.core.catalog.queries import remember_count
from qbi_desktop.core.jobs import Job, Progress

#: Rows asked for at a time, and how many of them lie before the row that made us ask.
WINDOW = 1000
MARGIN = 300
#: Rows asked for when a filter or sort changes (what the first screens show).
FIRST = 200


class IdWindow:
    """The item ids of the rows ``start .. start + len(window)`` of ``total`` rows."""

    def __init__(self) -> None:
        self.clear()

    def clear(self, keep_count: bool = False) -> None:
        """Forget the ids. With ``keep_count``, a count running for the same filter and catalog
        state goes on (only the sort changed): its answer is this one's too."""
        if not keep_count:
            self._stop_count()
        self.project: Project | None = None
        #: where the ids and the count come from: the catalog's queries, or an object with
        #: their signatures (own_pages.Own: blind mode, one person's own opinions)
        self.source: Any = queries
        self.filters: Any = None
        self.sort: str | None = None
        self.total = 0
        self.start = 0
        self.window = np.zeros(0, dtype=np.int64)
        self._all: np.ndarray | None = None
        self.counting = False  # the total is the first window's size until counted()

    def _stop_count(self) -> None:
        # a count still running for the filter before is of no use any more
        for interrupt in list(getattr(self, "interrupts", ())):
            with contextlib.suppress(sqlite3.Error):
                interrupt()
        self.interrupts: set[Callable[[], None]] = getattr(self, "interrupts", set())
        self.count_state: count_cache.State | None = None  # the catalog's, when counting began
        self.count_running = False  # a worker counts (the model started it)
        self.generation = getattr(self, "generation", 0) + 1  # a count started before is stale

    def reset(
        self,
        project: Project,
        filters: Any,
        sort: str,
        count_later: bool = False,
        source: Any = queries,
    ) -> None:
        """Another filter or sort: the count and the first window. With ``count_later``, a
        count that would read every item is left to :func:`count_job` (``counting`` is True
        and ``total`` is the first window's size until :meth:`counted`); one already running
        for this filter and catalog state (another sort) goes on."""
        keep = (
            self.counting
            and self.count_running
            and self.project is project
            and self.source == source
            and self.filters == filters
            and self.count_state == count_cache.state(project.db)
        )
        self.clear(keep_count=keep)
        self.project, self.filters, self.sort = project, filters, sort
        self.source = source
        self._load(0, FIRST)
        if self.window.size < FIRST:
            self.total = int(self.window.size)  # all of them are in the first window
        elif count_later and (keep or not source.count_is_quick(project.db, filters)):
            self.total, self.counting = int(self.window.size), True
            if not keep:
                self.count_state = count_cache.state(project.db)
        else:
            self.total = source.count(project.db, filters)

    def counted(self, total: int) -> None:
        """The worker's count: exact from now on, and kept for this filter while the catalog
        stays as it was when counting began (the next sort shows it at once)."""
        # kept counts are the catalog's (one's own filters count other items)
        if self.project is not None and self.count_state is not None and self.source is queries:
            remember_count(self.project.db, self.filters, total, self.count_state)
        self.total, self.counting, self.count_running = max(int(total), self.total), False, False

    def set_all(self, ids: np.ndarray) -> None:
        """These ids in this order (the label-next queue): all of them known."""
        self._stop_count()
        self.counting = False
        self._all = np.asarray(ids, dtype=np.int64)
        self.total = int(self._all.size)
        self.start, self.window = 0, self._all

    def __len__(self) -> int:
        return self.total

    def id_at(self, row: int) -> int:
        i = row - self.start
        if not 0 <= i < self.window.size:
            self._load(max(0, row - MARGIN))
            i = row - self.start
            if not 0 <= i < self.window.size:  # the catalog changed under the count
                self.set_all(self.all())
                i = row
        return int(self.window[i])

    def slice(self, start: int, stop: int) -> np.ndarray:
        """The ids of rows ``start .. stop`` (one window's worth at most)."""
        stop = min(stop, self.total)
        if start >= stop:
            return np.zeros(0, dtype=np.int64)
        if not (self.start <= start and stop <= self.start + self.window.size):
            self._load(max(0, start - MARGIN) if stop - start <= WINDOW - MARGIN else start)
        return self.window[start - self.start : stop - self.start]

    def loaded_rows(self, item_id: int) -> list[int]:
        """The rows of ``item_id`` among the ids known now (those the view can be showing)."""
        return (np.flatnonzero(self.window == item_id) + self.start).tolist()

    def row_of(self, item_id: int) -> int | None:
        rows = self.loaded_rows(item_id)
        if rows:
            return rows[0]
        if self.project is None and self._all is None:
            return None
        hits = np.flatnonzero(self.all() == item_id)
        return int(hits[0]) if hits.size else None

    def all(self) -> np.ndarray:
        """Every id in row order (read once per reload when asked for)."""
        if self._all is None:
            if self.project is None:
                return np.zeros(0, dtype=np.int64)
            self._all = self.source.id_array(self.project.db, self.filters, self.sort)
        return self._all

    def _load(self, start: int, size: int = WINDOW) -> None:
        if self._all is not None:
            self.start, self.window = 0, self._all
            return
        if self.project is None:
            return
        self.start = start
        self.window = self.source.page_ids(self.project.db, self.filters, self.sort, start, size)


def count_job(project: Project, filters: Any, window: IdWindow) -> Job[int | None]:
    """Worker: the number of items ``filters`` keeps, on a connection of its own; None when
    the window moved on to another filter or sort meanwhile (the count was interrupted)."""
    db = project.connect()
    source = window.source
    window.interrupts.add(db.interrupt)
    try:
        yield Progress(0, 1, "counting the items shown")
        return source.count(db, filters)
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc):
            return None
        raise
    finally:
        window.interrupts.discard(db.interrupt)
        db.close()
