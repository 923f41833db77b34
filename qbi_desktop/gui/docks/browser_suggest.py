"""Suggestions while labelling in the Browser: a "Suggested" column, Enter to accept, the
"label next" queue and its counter.

The model is :class:`qbi_desktop.core.quality.labelling.LabellingSession` (an incremental exact
kNN on pixel features). It lives in a child process (:mod:`qbi_desktop.core.quality.
suggest_process` on a :class:`ProcessWorker`, started when a project opens, kept when another
opens, ended when the project or the window closes): numpy and scikit-learn hold the interpreter
lock for tens to hundreds of milliseconds at a time, and on a worker thread of this process every
key press waited for it.
It is updated once when a project opens (labelled items and the rows in view first, so the first
suggestions come within a second or two), again while features are still being read, and again
shortly after labels change; a worker thread here only waits on the pipe for the answer. The GUI
thread keeps the last snapshot (sorted id arrays: a cell looks its item up with one binary
search), so typing never waits for the model.

* The table's "Suggested" column (shown next to Label) gives the class and confidence for
  each unlabelled item.
* Enter on an unlabelled item with a suggestion accepts it (one undoable Browser edit) and
  moves on; on the Targets column, or on an item without a suggestion, Enter keeps its other
  meanings (edit the target, open the item). A number key or the class picker gives another
  class, as always.
* "Label next" orders the table by usefulness: least confident first, every tenth item drawn
  at random so the measured accuracy stays honest. The item you are on stays where it is while
  the order is refreshed. Clicking the Suggested header does the same.
* The counter: labelled / remaining and how often the suggestion shown was the label then
  given, over the last 100 labels (whatever key gave it).

The queue and the counter follow the catalog, not only the model's snapshot: the counter reads
labelled / remaining from the catalog's count table after every edit, and an item whose label
was cleared after the snapshot joins the queue at once (:mod:`browser_label_next`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, QRect, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QBrush, QColor, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.job_process import ProcessWorker
from qbi_desktop.core.quality.label_provenance import Shown, label_items
from qbi_desktop.core.quality.labelling import K, RecentAccuracy, SuggestionTable
from qbi_desktop.core.quality.suggest_models import MODELS, set_model, stored_model
from qbi_desktop.core.quality.suggest_process import change_stamp, suggestion_job
from qbi_desktop.gui.annotator import may_edit
from qbi_desktop.gui.docks.browser_label_next import (
    REORDER_EVERY,
    LabelNextQueue,
    has_id,
    scored,
)
from qbi_desktop.gui.docks.browser_model import COL_LABEL, COL_NAME, COL_SUGGESTED, COLUMNS
from qbi_desktop.gui.elided_label import ElidedLabel
from qbi_desktop.gui.steady_line import SteadyLine

DEBOUNCE_MS = 120  # after a label: gather the next few keys into one update
COUNTER_MS = 250  # the counter is refreshed at most this often while labels come in
PRIORITY_ROWS = 300  # rows around the view whose features are read first
#: the child's nice value while it reads features after the first suggestions (suggest_process.
#: lower_priority): background work for minutes on a big project, and on a loaded machine
#: each key press waited behind it for a core
CHILD_NICE = 10
SUGGESTION_COLOUR = QColor(70, 110, 190)
ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


def install(panel) -> BrowserSuggestions:
    suggestions = BrowserSuggestions(panel)
    panel.suggestions = suggestions
    return suggestions


class BrowserSuggestions(LabelNextQueue, QObject):
    """The Browser's suggestion provider (see the module docstring)."""

    def __init__(self, panel):
        super().__init__(panel)
        self.panel = panel
        self.window = panel.window
        self.model = panel.model
        self.root: Path | None = None  # the project suggested for
        self.generation = 0  # counts projects: an answer about an earlier one is dropped
        self.worker: ProcessWorker | None = None  # the child process the model lives in
        self.table: SuggestionTable | None = None
        self.task = None
        self.dirty = False
        self.queue_on = False
        self.accuracy = RecentAccuracy(100)
        self.counted: set[int] = set()  # items whose label was compared with the suggestion
        self.labelled_since: set[int] = set()  # labelled after the model's last snapshot
        #: unlabelled now but labelled in the model's last snapshot: no suggestion yet
        self.cleared_since: set[int] = set()
        #: the queue shown holds items the snapshot it was made from had not scored: made again
        #: when a snapshot that knows them comes
        self._unscored_shown = np.zeros(0, dtype=np.int64)
        self.labels_since_reorder = 0
        self.queue_stale = False  # "Label next" is on but the table is not in its order yet
        self._own_reset = False  # a reset we made (queue order): no new update for it
        self._base_ids: np.ndarray | None = None  # the catalog's ids for the current filters
        self.updates = 0
        self.first_shown_at: float | None = None  # perf_counter of the first suggestions

        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.update_now)
        self.counter_timer = QTimer(self)
        self.counter_timer.setSingleShot(True)
        self.counter_timer.setInterval(COUNTER_MS)
        self.counter_timer.timeout.connect(self._show_counter)
        self.counter_timer.timeout.connect(self._show_current)

        # -- the bar: queue switch and counter, under the class list
        self.queue_box = QCheckBox("Label next")
        self.queue_box.setToolTip(
            "Order the items by usefulness: the least confident suggestions first, every tenth "
            "item at random (so the accuracy shown stays honest). Enter accepts a suggestion."
        )
        self.queue_box.toggled.connect(self.set_queue)
        # the model: kNN or logistic regression, kept in the project's catalog
        self.model_button = QToolButton()
        self.model_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.model_button.setAutoRaise(True)
        self.model_menu = QMenu(self.model_button)
        self.model_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for key, title in (
            ("knn", f"kNN ({K} nearest labelled items)"),
            ("logistic", "Logistic regression"),
        ):
            action = self.model_menu.addAction(title)
            action.setCheckable(True)
            action.setActionGroup(group)
            action.triggered.connect(lambda _c=False, k=key: self.set_model(k))
            self.model_actions[key] = action
        self.model_button.setMenu(self.model_menu)
        self._show_model("knn")
        # beside the switch: "12 / 27 labelled" (cut with "…" in a laptop's ~280 px dock,
        # the whole text is the tooltip); under it, the dock's whole width: how often the
        # suggestions were right and what is still being read. Two lines, not three: the
        # table keeps its six thumbnail rows on a 1366x768 screen
        self.counter = ElidedLabel("", Qt.TextElideMode.ElideRight)
        self.counter.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.counter_detail = ElidedLabel("", Qt.TextElideMode.ElideRight)
        self.counter_detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.bar = QWidget()
        rows = QVBoxLayout(self.bar)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(0)
        row = QHBoxLayout()
        row.addWidget(self.queue_box)
        row.addWidget(self.model_button)
        # held: their text changes while labels come in, and must not lay the panel out again
        row.addWidget(SteadyLine(self.counter), 1)
        rows.addLayout(row)
        rows.addWidget(SteadyLine(self.counter_detail))
        # under the table, above the item's detail line (which says the current suggestion)
        layout = panel.items_layout
        layout.insertWidget(layout.indexOf(panel.detail_line), self.bar)

        header = panel.table.horizontalHeader()
        # after the name: the Label column shows an unlabelled item's suggestion already
        # (LabelDelegate); this column sorts by it (Label next) and shows it in wider docks
        header.moveSection(header.visualIndex(COL_SUGGESTED), header.visualIndex(COL_NAME) + 1)
        header.resizeSection(COL_SUGGESTED, 90)
        # sorting by another column ends "Label next" (after the view's own sort: reload again)
        header.sortIndicatorChanged.connect(
            lambda column, _order: column != COL_SUGGESTED and self.set_queue(False)
        )

        self.model.suggestions = self
        self.model.modelReset.connect(self._model_reset)
        panel.table.installEventFilter(self)
        if hasattr(self.window, "close_asked"):  # the main window (None: a Browser of its own)
            # its close ends the child process (a refused close makes the next update start
            # another); a signal, not an event filter: that would see every event of the window
            self.window.close_asked.connect(self._close_worker)

    # -- what the table shows ----------------------------------------------------------------
    def hidden(self) -> bool:
        """Annotating blind: the model learned from everyone's labels, so its suggestions would
        show the others' work; none are shown or accepted until blind mode is off."""
        window = self.panel.window  # the main window (None: a Browser of its own)
        blind = getattr(window, "panels", {}).get("blind")
        return bool(blind is not None and blind.active)

    def cell(self, item: dict, role) -> object:
        """The Suggested cell of a table row (``item``: the catalog row)."""
        if self.table is None or item["label"] is not None or self.hidden():
            return None
        found = self.table.lookup(int(item["id"]))
        if found is None:
            return None
        name, confidence = found
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{name} · {100 * confidence:.0f} %"
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(SUGGESTION_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole:
            how = (
                "probability from logistic regression on pixels"
                if self.table.model == "logistic"
                else f"of the weighted vote of the {K} nearest labelled items; kNN on pixels"
            )
            return (
                f"suggested class {name} ({100 * confidence:.0f} % {how}, "
                f"{self.table.trained_on:,} labels). "
                "Enter accepts it; a number key or the class picker gives another class."
            )
        return None

    def suggestion_for(self, item_id: int) -> tuple[str, float] | None:
        return None if self.table is None or self.hidden() else self.table.lookup(item_id)

    # -- hearing of edits -------------------------------------------------------------------
    def _model_reset(self) -> None:
        # the model's project: the panel's is still the closing one while the model empties
        project = self.model.project
        root = None if project is None else project.root
        if root != self.root:
            self._new_project(root)
            return
        if not self._own_reset:  # an import, split, filter ...: labels may have changed
            self._show_counter()  # from the catalog, now
            self.schedule()

    def _new_project(self, root: Path | None) -> None:
        self._cancel_update()
        if root is None:
            # ended once the event loop turns, unless a project opens meanwhile: opening another
            # closes this one first, and the new one keeps the child and its imports
            QTimer.singleShot(0, self._close_if_no_project)
        self.table = None
        self.accuracy = RecentAccuracy(100)
        self.counted.clear()
        self.labelled_since.clear()
        self.cleared_since.clear()
        self._unscored_shown = np.zeros(0, dtype=np.int64)
        self.first_shown_at = None
        self.root = root
        self.generation += 1
        project = self.model.project
        self._show_model(stored_model(project.db) if project is not None else "knn")
        self._show_counter()
        if root is not None:
            self.schedule(0)

    # -- the worker -------------------------------------------------------------------------
    def schedule(self, delay_ms: int = DEBOUNCE_MS) -> None:
        if self.root is None:
            return
        # not restarted by the next key: steady typing must not postpone the update forever
        if not self.timer.isActive() or delay_ms < self.timer.remainingTime():
            self.timer.start(delay_ms)

    def update_now(self):
        """Ask the child process for fresh suggestions (one update at a time; later ones
        coalesce)."""
        if self.root is None:
            return None
        if self.task is not None and not self.task.finished:
            self.dirty = True
            return self.task
        if self.worker is None:
            if not self.window.isVisible():  # closed: no new process
                return None
            # a project just opened (or a close of the window was refused): the child's ~1 s
            # of imports starts now, with the first request waiting in its pipe. In a session
            # of its own: Linux autogroup shares the CPU between sessions first, and in ours
            # the child's reading of features would use up the GUI thread's share
            self.worker = ProcessWorker("qbi-suggestions", own_session=True)
        self.dirty = False
        worker, root, generation = self.worker, str(self.root), self.generation
        priority = self._rows_in_view()
        model = self.model_key
        # unchanged catalog and model, every feature read: the child answers "nothing new"
        stamp = None if self.table is None else self._stamp()
        # the first suggestions at the priority the child started with; the reading of the
        # features after them is background work (the updates that follow labels are short)
        nice = CHILD_NICE if self.table is not None and self.table.pending else 0
        # only the first update is listed in Tasks: the rest (a refresh after labels, more
        # features read) are many and short, and a listed task's progress bar repaints the
        # Tasks panel while the user types; the counter says what is still being read
        listed = self.table is None
        self.task = self.window.tasks.submit(
            "Suggestions",
            lambda: worker.run(suggestion_job, root, priority, model, stamp, nice=nice),
            on_result=lambda table, g=generation: self._arrived(g, table),
            on_error=lambda message, g=generation: self._failed(g, message),
            listed=listed,
        )
        self.task.ended.connect(self._ended)
        return self.task

    def _stamp(self) -> tuple[int, int] | None:
        project = self.panel.project
        try:
            return None if project is None else change_stamp(project.db)
        except sqlite3.Error:
            return None

    def _cancel_update(self) -> None:
        self.timer.stop()
        if self.task is not None and not self.task.finished:
            self.task.cancel()
        self.task = None

    def _close_if_no_project(self) -> None:
        if self.root is None:
            self._close_worker()

    def _close_worker(self) -> None:
        """Cancel the running update and end the child process (in a thread: it waits up to
        half a second for the child's job to stop)."""
        self._cancel_update()
        worker, self.worker = self.worker, None
        if worker is not None:
            threading.Thread(target=worker.close, name="qbi-suggestions-close", daemon=True).start()

    def _rows_in_view(self) -> list[int]:
        """The ids of the rows from the top of the view on: from the model's window of ids
        (``model.ids`` would read every id of the catalog's order, 1 M at a million items)."""
        rows = self.model.rowCount()
        top = max(0, self.panel.table.rowAt(0))
        return [self.model.item_id(r) for r in range(top, min(rows, top + PRIORITY_ROWS))]

    def _arrived(self, generation: int, table: SuggestionTable | None) -> None:
        if generation != self.generation:
            return  # another project since
        if table is None:
            return  # nothing changed since the table we have
        self.table = table
        # still unlabelled in this snapshot: labelled after it was made
        self.labelled_since = {i for i in self.labelled_since if has_id(table.ids, i)}
        # unlabelled in this snapshot: scored (or waiting for features) like the others now
        self.cleared_since = {i for i in self.cleared_since if not has_id(table.ids, i)}
        rescored = bool(scored(table, self._unscored_shown).any())
        self.updates += 1
        if self.first_shown_at is None and len(table.ids) and (table.suggested >= 0).any():
            self.first_shown_at = time.perf_counter()
        if self.queue_on and (
            self.queue_stale or rescored or self.labels_since_reorder >= REORDER_EVERY
        ):
            # the first order from a model: its own; later ones keep the item the user is on
            self._reorder_keeping_current(keep=not self.queue_stale)
        else:
            self._repaint_suggested()
        self._show_counter()
        self._show_current()
        if table.pending:
            self.dirty = True  # features still being read: continue right after

    def _repaint_suggested(self) -> None:
        """A new snapshot: the Suggested cells in view are drawn again, and nothing else. Not
        a dataChanged over the rows: Qt 6 repaints the whole viewport for any range of cells
        (every column of every row in view, each cell asking ~7 roles), even for a column
        scrolled out of sight. The cells out of view read the snapshot when they scroll in."""
        table = self.panel.table
        if not self.model.rowCount():
            return
        viewport = table.viewport()
        # the Suggested column, and the Label column that shows the same words (LabelDelegate)
        for column in (COL_LABEL, COL_SUGGESTED):
            if table.isColumnHidden(column):
                continue
            x, width = table.columnViewportPosition(column), table.columnWidth(column)
            if x + width > 0 and x < viewport.width():
                viewport.update(QRect(x, 0, width, viewport.height()))

    def _failed(self, generation: int, message: str) -> None:
        if generation == self.generation:
            whole = f"Suggestions: {message}"
            self._set_counter(self.counter.text(), whole)
            self.counter_detail.setToolTip(whole)  # with its line breaks

    def _ended(self) -> None:
        if self.dirty and self.root is not None:
            self.schedule(0)

    # -- counter ----------------------------------------------------------------------------
    def _set_counter(self, counts: str, detail: str, whole: str | None = None) -> None:
        """The counter's lines; ``whole``: the second line in full words (shown short). Each
        is one line (its holder is one line tall: a text with a line break printed its two
        lines over each other); the tooltip has the whole text."""
        self.counter.setText(" ".join(counts.splitlines()))
        self.counter_detail.setText(" ".join(detail.splitlines()))
        self._detail_whole = detail if whole is None else whole

    def counter_text(self) -> str:
        """The counter's two lines, whole: in full words (they are shown short, and each may
        be cut with "…"); the tooltip's words."""
        whole = getattr(self, "_detail_whole", self.counter_detail.text())
        return "\n".join(line for line in (self.counter.text(), whole) if line)

    def _show_counter(self) -> None:
        t = self.table
        if self.root is None:
            self._set_counter("", "")
            return
        counts = self._catalog_counts()
        if t is None:
            start = "" if counts is None else _counted(*counts)
            self._set_counter(start, "Suggestions: reading the labels…")
            return
        if self.hidden():
            self._set_counter("", "Suggestions are off while annotating blind")
            self.counter_detail.setToolTip(
                "The model learns from everyone's labels: its suggestions would show the "
                "other annotators' work"
            )
            return
        # the catalog's counts as they are now; the snapshot's may be a few edits behind
        labelled, unlabelled = counts if counts is not None else (t.labelled, t.unlabelled)
        counted = _counted(labelled, unlabelled)
        # the footer's words are short, so that they fit a laptop's ~280 px dock (the core's
        # long sentences were cut: "suggestions need labels of at least two cla…"); the
        # tooltip says it all
        parts, said = [], []
        acc = self.accuracy.value
        if acc is not None:
            parts.append(f"suggestions right {100 * acc:.0f} % of the last {len(self.accuracy)}")
            said.append(parts[-1])
        if t.message:
            parts.append("label 2 classes to get suggestions")
            said.append(t.message)
        if t.pending:
            parts.append(f"reading {t.pending:,} images…")
            said.append(f"features of {t.pending:,} items still to read")
        if t.resized:
            parts.append(f"{t.resized:,} images resized")
            said.append(
                f"{t.resized:,} item(s) of another size or type than the others, resized or "
                "converted to compare them with the others"
            )
        if t.left_out:
            parts.append(f"{len(t.left_out)} unreadable")
            said.append(f"{len(t.left_out)} unreadable item(s) left out")
        self._set_counter(counted, fitting(self.counter_detail, parts), " · ".join(said))
        tip = [counted, *said, f"{MODELS[t.model]} on pixels, {t.trained_on:,} labels"]
        if t.resized:
            tip.append(f"{t.resized:,} item(s) resized or converted for the features:")
            tip += [f"  {name}: {why}" for name, why in t.resized_names[:5]]
        tip += [f"left out: {name} ({why})" for name, why in t.left_out[:5]]
        self.counter.setToolTip("\n".join(tip))
        self.counter_detail.setToolTip("\n".join(tip))

    def current_text(self, item: dict) -> str:
        """The detail line's words for an unlabelled item with a suggestion, else ""."""
        if item["label"] is not None or self.table is None or self.hidden():
            return ""
        found = self.table.lookup(int(item["id"]))
        if found is None:
            return ""
        name, confidence = found
        return f"Suggested: <b>{name}</b> ({100 * confidence:.0f} %), Enter accepts"

    def _show_current(self) -> None:
        """A new snapshot: the detail line says the current item's suggestion as it is now."""
        index = self.panel.table.currentIndex()
        if index.isValid():
            self.panel._current_changed(index, None)

    # -- Enter accepts ------------------------------------------------------------------------
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt API)
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and isinstance(
            event, QKeyEvent
        ):
            if event.key() in ENTER_KEYS and not event.modifiers() & ~(
                Qt.KeyboardModifier.KeypadModifier
            ):
                if self._acceptable() is not None:
                    if kind == QEvent.Type.ShortcutOverride:
                        event.accept()  # the table takes Enter: the open-item shortcut waits
                        return True
                    self.accept_current()
                    return True
        return False

    def _acceptable(self, any_column: bool = False) -> tuple[int, str] | None:
        """(row, class) when Enter should accept: an unlabelled item with a suggestion, and
        not on the Targets column (there Enter edits the target)."""
        index = self.panel.table.currentIndex()
        if not index.isValid() or self.panel.project is None:
            return None
        if not any_column and COLUMNS[index.column()][0] == "Targets":
            return None
        item = self.model.item(index.row())
        if item["label"] is not None:
            return None
        found = self.suggestion_for(int(item["id"]))
        return None if found is None else (index.row(), found[0])

    def give_label(self, project, ids: list[int], label: str, what: str = "") -> Change:
        """Label ``ids`` (one transaction); the history of each item that showed a suggestion
        says whether it was accepted or rejected, and by which model."""
        shown = {}
        for item_id in ids:
            found = None if item_id in self.labelled_since else self.suggestion_for(item_id)
            if found is not None:
                shown[item_id] = Shown(found[0], found[1], self.model_name())
        return label_items(project, ids, label, self.panel.annotator, shown, what)

    def model_name(self) -> str:
        """The model that made the suggestions shown, in words."""
        return MODELS[self.table.model if self.table is not None else self.model_key]

    # -- the model choice -------------------------------------------------------------------
    def set_model(self, key: str) -> bool:
        """Suggest with ``key`` (suggest_models.MODELS) from now on, in this project: kept in
        its catalog; the column is refreshed by the next update, on the worker."""
        project = self.panel.project
        if project is None:
            self._show_model(key)
            return False
        try:
            set_model(project, key)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            self._show_model(stored_model(project.db))
            return False
        self._show_model(key)
        self.schedule(0)
        return True

    def _show_model(self, key: str) -> None:
        self.model_key = key
        self.model_actions[key].setChecked(True)
        self.model_button.setText("Logistic" if key == "logistic" else "kNN")
        self.model_button.setToolTip(
            f"Suggestions from {MODELS[key]} on the items' pixels (resized to a common size); "
            "click to choose the model (kept in the project)"
        )

    def accept_current(self) -> bool:
        """Give the current item its suggested class (one undoable edit) and move on."""
        found = self._acceptable()
        if found is None or self.panel.project is None:
            return False
        row, name = found
        item_id = self.model.item_id(row)
        panel = self.panel
        if not may_edit(self.window):  # a shared project: the name first
            return False
        try:
            change = self.give_label(
                panel.project, [item_id], name, what=f"label {name!r} (suggestion accepted)"
            )
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return False
        panel._record(change)
        panel._items_changed([item_id])
        said = f"{self.model.item(row)['name']}: {change.what}"  # by name, as the number keys
        panel._advance(row)
        now = panel.table.currentIndex().row()
        if 0 <= now != row:
            said += f"; next: {self.model.item(now)['name']}"
        self.window.statusBar().showMessage(said, 4000)
        return True


def _counted(labelled: int, unlabelled: int) -> str:
    """The counter's first line: short enough to fit beside the switch in a laptop's dock
    ("labelled 12 / remaining 15" was cut to "labelled 12 / remainin…")."""
    return f"{labelled:,} / {labelled + unlabelled:,} labelled"


def fitting(label, parts: list[str]) -> str:
    """``parts`` joined with " · ", as many whole ones as fit ``label``'s width, and "(+n:
    hover)" for those left out: never a word cut in the middle."""
    text = " · ".join(parts)
    width = label.width()
    metrics = label.fontMetrics()
    if width < 60 or metrics.horizontalAdvance(text) <= width:
        return text
    for n in range(len(parts) - 1, 0, -1):
        shown = " · ".join(parts[:n]) + f" · (+{len(parts) - n}: hover)"
        if metrics.horizontalAdvance(shown) <= width:
            return shown
    return text
