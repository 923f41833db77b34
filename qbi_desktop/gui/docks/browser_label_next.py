"""The "Label next" queue of the Browser's suggestions (mixed into
:class:`~qbi_desktop.gui.docks.browser_suggest.BrowserSuggestions`).

The rows are the model's last snapshot's queue (least confident first, every tenth item at
random), without the items labelled since, and with the items unlabelled since (a clear, an
undo, an import) first, in catalog order, until a snapshot scores them: the queue is never
empty while the catalog has items to label. The snapshot may be seconds old on a big project;
what is labelled now is the catalog's word: its count table for the counter, its label index
for the unlabelled items after a reload. Edits of a few items come through
:meth:`LabelNextQueue.labels_changed` (the table model's ``refresh_items``), whether their rows
are shown or not.
"""

from __future__ import annotations

import sqlite3

import numpy as np
from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import queries
from qbi_desktop.core.quality.labelling import SuggestionTable

#: labels given before "Label next" re-sorts the table: the rows the user is about to work
#: through stay put (and their thumbnails loaded) instead of changing after every key
REORDER_EVERY = 10


class LabelNextQueue:
    """The queue's part of BrowserSuggestions: the attributes it uses are set there."""

    # -- the model's hooks -----------------------------------------------------------------
    def reorder(self, ids: np.ndarray) -> np.ndarray:
        """The table's rows after a reload: in queue order while "Label next" is on. A reload
        follows edits of many items at once (an import, a large undo, a clear of thousands):
        which items are unlabelled is asked of the catalog, not taken from the snapshot."""
        self._base_ids = ids
        if not self.queue_on:
            self.queue_stale = False
            return ids
        unlabelled = self._catalog_unlabelled()
        if self.table is None:  # no model yet: the unlabelled items in the catalog's order
            self.queue_stale = True  # ordered when the first suggestions come
            if unlabelled is None:
                return ids
            return ids[np.isin(ids, unlabelled)]
        if unlabelled is not None:
            known = self.table.ids  # unlabelled in the snapshot
            # both sorted id lists: assume_unique skips np.unique (~90 ms at 100 000 ids)
            self.cleared_since = set(np.setdiff1d(unlabelled, known, True).tolist())
            self.labelled_since = set(np.setdiff1d(known, unlabelled, True).tolist())
        self.queue_stale = False
        return self._queue_rows(current=None)

    def _catalog_unlabelled(self) -> np.ndarray | None:
        """The ids of every item without a label now (sorted; the label index), or None."""
        project = self.model.project
        if project is None:
            return None
        try:
            return queries.id_array(project.db, queries.Filters(label=queries.NONE), "id")
        except sqlite3.Error:
            return None

    def sort_requested(self, order: Qt.SortOrder) -> None:
        """A click on the Suggested header: the label-next order."""
        self.queue_box.setChecked(True)

    def _queue_rows(self, current: int | None) -> np.ndarray:
        queue = self.table.queue
        if self.labelled_since:  # the snapshot was made before these were labelled
            queue = queue[~np.isin(queue, np.fromiter(self.labelled_since, np.int64))]
        # unlabelled since the snapshot (cleared, undone, imported): no score yet, but to be
        # labelled all the same; first, in catalog order, until a snapshot scores them
        cleared = np.array(sorted(self.cleared_since), dtype=np.int64)
        if len(cleared):
            queue = np.concatenate([cleared, queue[~np.isin(queue, cleared)]])
        base = self._base_ids
        total = self._catalog_counts()
        items = sum(total) if total is not None else self.table.labelled + self.table.unlabelled
        if base is not None and len(base) < items:  # filtered: the queue's items shown only
            queue = queue[np.isin(queue, base, assume_unique=True)]
        # shown without a score: the queue is made again when a snapshot scores them
        unscored = queue[np.isin(queue, cleared)] if len(cleared) else queue[:0]
        before = self._unscored_shown
        if len(before):  # known to the snapshot but still waiting for their features
            still = before[np.isin(before, queue) & ~scored(self.table, before)]
            unscored = np.concatenate([unscored, still[~np.isin(still, unscored)]])
        self._unscored_shown = unscored
        if current is not None:
            queue = np.concatenate([[current], queue[queue != current]]).astype(np.int64)
        return queue

    # -- the queue --------------------------------------------------------------------------
    def set_queue(self, on: bool) -> None:
        if on == self.queue_on:
            return
        self.queue_on = on
        if self.queue_box.isChecked() != on:
            self.queue_box.setChecked(on)
        self.labels_since_reorder = 0
        self._own_reset = True
        try:
            self.model.reload()  # through reorder(): queue order, or the catalog's again
        finally:
            self._own_reset = False
        if self.model.rowCount():
            self._go_to_row(0)

    def _go_to_row(self, row: int) -> None:
        self.panel.select_rows([row])  # that row only, whatever keys are held

    def _reorder_keeping_current(self, keep: bool = True) -> None:
        """New queue: the item the user is on stays current (first), the rest follow. Not
        ``keep``: the queue's own order from its first row (the rows shown were the catalog's
        order while no model had scored them)."""
        table = self.panel.table
        row = table.currentIndex().row()
        current = self.model.item_id(row) if keep and 0 <= row < self.model.rowCount() else None
        if current is not None and self.model.item(row)["label"] is not None:
            current = None  # labelled meanwhile: the queue's first item is next
        self.labels_since_reorder = 0
        self.queue_stale = False
        self._own_reset = True
        try:
            self.model.set_order(self._queue_rows(current))
        finally:
            self._own_reset = False
        if self.model.rowCount():
            self._go_to_row(0)

    def labels_changed(self, rows: list[dict]) -> None:
        """Items were read again after an edit (the table model's ``refresh_items``: a label,
        a clear, an undo or redo, an audit's accepted row), shown in the table or not: the
        accuracy, the queue and the counter follow them."""
        if self.root is None:
            return
        changed = False
        unlabelled: list[int] = []
        cleared: list[int] = []  # of those, labelled in the snapshot
        table = self.table
        for item in rows:
            item_id = int(item["id"])
            if item["label"] is None:
                changed = True
                unlabelled.append(item_id)
                self.counted.discard(item_id)  # taken back: a later label counts again
                self.labelled_since.discard(item_id)
                if table is None or not has_id(table.ids, item_id):
                    if item_id not in self.cleared_since:  # the snapshot has it labelled
                        cleared.append(item_id)
                        if table is not None:
                            self.cleared_since.add(item_id)
                continue
            if item_id in self.cleared_since:
                self.cleared_since.discard(item_id)
                changed = True
            if table is None:
                changed = True
                continue
            if item_id not in self.labelled_since:
                self.labelled_since.add(item_id)
                self.labels_since_reorder += 1
                changed = True  # a new label teaches the model, suggested or not (none at 0)
            if item_id in self.counted:
                continue
            found = table.lookup(item_id)
            if found is not None:  # was unlabelled with a suggestion at the last update
                self.counted.add(item_id)
                self.accuracy.record(found[0], str(item["label"]))
                changed = True
        if cleared:  # the snapshot's counts are behind: the catalog's now
            self._show_counter()
        if self.queue_on and unlabelled:
            # items to label that the queue shown may not hold (cleared since the snapshot, or
            # taken out of it when labelled and unlabelled again): in it at once
            ids = np.asarray(unlabelled, dtype=np.int64)  # one row each
            missing = ids[~np.isin(ids, self.model.ids)]
            base = self._base_ids
            if base is not None and len(missing):
                missing = missing[np.isin(missing, base)]  # the filters shown only
            if len(missing):
                self._requeue()
        if changed:
            # the counter follows within a moment, not at every key: its text and tooltip
            # cost ~1 ms of the GUI thread each time they are set
            if not self.counter_timer.isActive():
                self.counter_timer.start()  # and the detail line, should the row stay current
            self.schedule()

    def _requeue(self) -> None:
        """The queue made again now, from the snapshot and the items cleared since (none yet:
        from the catalog), the current item staying current."""
        if self.table is not None:
            self._reorder_keeping_current()
            return
        self._own_reset = True
        try:
            self.model.reload()  # through reorder(): the catalog's unlabelled items
        finally:
            self._own_reset = False

    def _catalog_counts(self) -> tuple[int, int] | None:
        """(labelled, unlabelled) items in the catalog now, from its count table (kept by
        triggers: a few rows, however many items), or None without a readable catalog."""
        project = self.model.project
        if project is None:
            return None
        try:
            total = queries.count(project.db)
            unlabelled = queries.count(project.db, queries.Filters(label=queries.NONE))
        except sqlite3.Error:
            return None
        return total - unlabelled, unlabelled


def has_id(sorted_ids: np.ndarray, item_id: int) -> bool:
    pos = int(np.searchsorted(sorted_ids, item_id))
    return pos < len(sorted_ids) and int(sorted_ids[pos]) == item_id


def scored(table: SuggestionTable, ids: np.ndarray) -> np.ndarray:
    """Which of ``ids`` have a suggestion in ``table`` (one binary search for all)."""
    if not len(ids) or not len(table.ids):
        return np.zeros(len(ids), dtype=bool)
    pos = np.searchsorted(table.ids, ids).clip(max=len(table.ids) - 1)
    return (table.ids[pos] == ids) & (table.suggested[pos] >= 0)
