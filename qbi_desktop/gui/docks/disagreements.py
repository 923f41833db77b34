"""Dataset ▸ Review Disagreements…: the items where annotators disagree beyond a threshold, most
first (core.quality.agreement_report). Classes and targets: each person's value; take one,
merge them (majority class, mean target) or type a consensus. Masks and boxes: the item's image
with each person's version in their colour, overlaid or side by side
(:mod:`~qbi_desktop.gui.docks.disagreement_view`); take one, merge, or edit the consensus in the
canvas (:mod:`~qbi_desktop.gui.docks.disagreement_shapes`).

Keys as in the spot review: A accepts and R rejects the item (then the next one), N / P (and the
arrows) step, E edits; 1..9 take that annotator's version, M merges, S shows side by side.
Every decision is undoable (Ctrl+Z / Ctrl+Shift+Z in the queue).

A decision is written as the item's annotation by "consensus of <annotators>", so no person's
own opinion changes (core.catalog.opinions keeps those apart).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.opinions import CONSENSUS_PREFIX, for_item
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.quality.agreement_report import Disagreement, agreement_job
from qbi_desktop.core.quality.merge import MASK_METHODS, METHOD_WORDS
from qbi_desktop.gui.annotator import may_edit
from qbi_desktop.gui.docks.disagreement_shapes import SHAPES, ShapeDecisions
from qbi_desktop.gui.docks.disagreement_view import DisagreementView
from qbi_desktop.gui.undo import REDO_KEYS, UndoStack


def project_disagreements_job(root: Path):
    project = open_project(root)
    try:
        report = yield from agreement_job(project)
        return report.items
    finally:
        project.close()


class DisagreementQueue(ShapeDecisions, QDialog):
    """The queue of disagreeing items and the decisions on them."""

    def __init__(self, window, items: list[Disagreement]):
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Review disagreements")
        screen = (window.screen() or QApplication.primaryScreen()).availableGeometry()
        self.resize(min(1280, int(screen.width() * 0.92)), min(820, int(screen.height() * 0.9)))
        self.all_items = list(items)
        self.loading = None
        self.generation = 0  # of the view's readings: one made before a decision is stale
        self.deciding = None  # the Task writing a mask decision
        self.view = DisagreementView()
        self.undo_stack = UndoStack(self)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setToolTip("Show items whose disagreement score is above this (0 .. 1)")
        self.threshold.valueChanged.connect(self._fill)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Item", "Kind", "Score", "Annotators", "Detail"])
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.currentCellChanged.connect(lambda *_a: self._show_current())
        self.versions = QLabel("")
        self.versions.setWordWrap(True)
        self.versions.setTextFormat(Qt.TextFormat.RichText)
        self.picks = QHBoxLayout()
        self.merge_button = QPushButton("Merge (M)")
        self.merge_button.setToolTip(
            "Classes: the majority (a tie is left to you); targets: the mean; masks: by the "
            "method chosen beside; boxes: those a majority drew, matched at IoU 0.5, their "
            "corners averaged"
        )
        self.merge_button.clicked.connect(self.merge)
        self.method = QComboBox()
        for method in MASK_METHODS:
            self.method.addItem(METHOD_WORDS[method], method)
        self.method.setToolTip("How masks are merged")
        self.edit_button = QPushButton("Edit consensus (E)…")
        self.edit_button.clicked.connect(self.edit_consensus)
        self.accept_button = QPushButton("Accept (A)")
        self.accept_button.clicked.connect(lambda: self.review("accepted"))
        self.reject_button = QPushButton("Reject (R)")
        self.reject_button.clicked.connect(lambda: self.review("rejected"))
        self.status = QLabel("")
        self.status.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(QLabel("Disagreement above"))
        top.addWidget(self.threshold)
        top.addStretch(1)
        picks = QWidget()
        picks.setLayout(self.picks)
        merging = QHBoxLayout()
        for w in (self.merge_button, self.method, self.edit_button):
            merging.addWidget(w)
        reviewing = QHBoxLayout()
        for b in (self.accept_button, self.reject_button):
            reviewing.addWidget(b)
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.table, 1)
        column.addWidget(self.versions)
        column.addWidget(picks)
        column.addLayout(merging)
        column.addLayout(reviewing)
        column.addWidget(self.status)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.view)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        keys = [
            ("A", lambda: self.review("accepted")),
            ("R", lambda: self.review("rejected")),
            ("N", lambda: self.step(1)),
            ("P", lambda: self.step(-1)),
            ("M", self.merge),
            ("E", self.edit_consensus),
            ("S", self.view.side_by_side.toggle),
            (QKeySequence.StandardKey.Undo, self.undo),
        ]
        # both redo keys the window has (a StandardKey makes a shortcut of its first only:
        # Ctrl+Y here, and the Ctrl+Shift+Z this queue's help names did nothing)
        keys += [(key, self.redo) for key in REDO_KEYS]
        keys += [(str(n), lambda n=n: self.take(n - 1)) for n in range(1, 10)]
        for key, slot in keys:
            QShortcut(QKeySequence(key), self, activated=slot)
        self._fill()
        self.table.setFocus()  # A/R go to the queue, not into the threshold box

    # -- the queue -------------------------------------------------------------------------------
    @property
    def project(self):
        browser = self.window.panels.get("browser")
        return getattr(browser, "project", None)

    def shown(self) -> list[Disagreement]:
        return [d for d in self.all_items if d.score > self.threshold.value()]

    def _fill(self) -> None:
        items = self.shown()
        self.table.setRowCount(len(items))
        for row, d in enumerate(items):
            cells = (d.name, d.kind, f"{d.score:.2f}", ", ".join(d.annotators), d.detail)
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        if items:
            self.table.setCurrentCell(0, 0)
        self._show_current()

    def current(self) -> Disagreement | None:
        row = self.table.currentRow()
        items = self.shown()
        return items[row] if 0 <= row < len(items) else None

    def _opinions(self, d: Disagreement) -> dict[str, Any]:
        """Each annotator's value of the disagreeing kind for the item."""
        mine = for_item(self.project.db, d.item)
        if d.kind == "label":
            return {a: v["label"] for a, v in mine.items() if "label" in v}
        if d.kind.startswith("target:"):
            name = d.kind.split(":", 1)[1]
            return {a: v["targets"][name] for a, v in mine.items() if name in v.get("targets", {})}
        return {
            a: f"{len(v.get(d.kind, []) or [])} box(es)" if d.kind == "boxes" else "a mask"
            for a, v in mine.items()
            if d.kind in v
        }

    def step(self, delta: int) -> None:
        row = self.table.currentRow() + delta
        if 0 <= row < self.table.rowCount():
            self.table.setCurrentCell(row, 0)

    def _show_current(self) -> None:
        while self.picks.count():
            self.picks.takeAt(0).widget().deleteLater()
        d = self.current()
        for b in (self.merge_button, self.edit_button, self.accept_button, self.reject_button):
            b.setEnabled(d is not None)
        shape = d is not None and d.kind in SHAPES
        self.method.setVisible(d is not None and d.kind == "mask")
        self.edit_button.setText("Edit in canvas (E)" if shape else "Edit consensus (E)…")
        self._load_view()
        if d is None:
            self.versions.setText("No disagreement above this threshold.")
            return
        versions = self._opinions(d)
        self.versions.setText(
            f"<b>{d.name}</b> ({d.kind}): "
            + " &nbsp;|&nbsp; ".join(f"<b>{a}</b>: {v}" for a, v in versions.items())
        )
        for n, person in enumerate(versions):
            button = QPushButton(f"Take {person}'s")
            button.setToolTip(f"Key {n + 1}" if n < 9 else "")
            button.clicked.connect(lambda _c=False, i=n: self.take(i))
            self.picks.addWidget(button)

    def take(self, index: int) -> None:
        """Take the version of the ``index``-th annotator (in name order) as the consensus."""
        d = self.current()
        if d is None:
            return
        versions = self._opinions(d)
        if not 0 <= index < len(versions):
            return
        person, value = list(versions.items())[index]
        if d.kind in SHAPES:
            self.take_shape(person)
        else:
            self.decide(value)

    # -- decisions -------------------------------------------------------------------------------
    def decide(self, value: Any) -> None:
        """Write ``value`` as the item's consensus for the current kind (undoable)."""
        d = self.current()
        if d is None or self.project is None or not may_edit(self.window, self.project.root):
            return  # (a shared project: the annotator's name first)
        if self.busy():  # a new edit would forget the undo being written
            self.status.setText("Still writing the last decision…")
            return
        who = CONSENSUS_PREFIX + ", ".join(d.annotators)
        if d.kind == "label":
            change = self.project.set_label([d.item], str(value), who)
            self._push(f"consensus {value!r} for {d.name}", change, d)
        else:
            name = d.kind.split(":", 1)[1]
            old = self.project.query({"ids": [d.item]}, limit=None)[0]["targets"].get(name)
            self.project.set_targets(d.item, {name: float(value)}, who)

            def undo(item=d.item, n=name, o=old):
                self.project.set_targets(item, {n: o}, who)
                self._refresh(item)

            def redo(item=d.item, n=name, v=float(value)):
                self.project.set_targets(item, {n: v}, who)
                self._refresh(item)

            self.undo_stack.push(f"consensus {name}={value} for {d.name}", undo, redo)
        self._refresh(d.item)
        self.status.setText(f"{d.name}: consensus {value} by {who}")

    def merge(self) -> None:
        d = self.current()
        if d is None:
            return
        if d.kind in SHAPES:
            self.merge_shapes()
            return
        values = list(self._opinions(d).values())
        if d.kind == "label":
            counts = Counter(values).most_common()
            if len(counts) > 1 and counts[0][1] == counts[1][1]:
                self.status.setText("A tie: take one person's class or edit the consensus.")
                return
            self.decide(counts[0][0])
        else:
            self.decide(sum(values) / len(values))

    def edit_consensus(self):
        d = self.current()
        if d is None:
            return None
        if d.kind in SHAPES:
            return self.edit_in_canvas()
        text, ok = QInputDialog.getText(self, "Consensus", f"Consensus {d.kind} of {d.name}:")
        if not ok or not text.strip():
            return None
        if d.kind == "label":
            self.decide(text.strip())
            return None
        try:
            self.decide(float(text))
        except ValueError:
            self.status.setText(f"{text!r} is not a number: nothing was written.")
        return None

    def review(self, state: str) -> None:
        d = self.current()
        if d is None or self.project is None or not may_edit(self.window, self.project.root):
            return  # (a shared project: the annotator's name first)
        if self.busy():
            self.status.setText("Still writing the last decision…")
            return
        change = self.project.set_review([d.item], state, self.window.annotator.name)
        self._push(f"{state} {d.name}", change, d)
        self._refresh(d.item)
        self.status.setText(f"{d.name}: {state}")
        row = self.table.currentRow()
        if row + 1 < self.table.rowCount():
            self.table.setCurrentCell(row + 1, 0)  # the next item, as in the spot review

    def _push(self, text: str, change, d: Disagreement) -> None:
        state = {"change": change}

        def undo():
            done = self.project.revert(state["change"], self.window.annotator.name)
            state["change"] = done.change
            self._refresh(d.item)
            if done.skipped:
                return f"{d.name}: changed again since; left as it is"
            return None

        self.undo_stack.push(text, undo, undo)  # reverting the revert redoes it

    def undo(self) -> None:
        self._undo_or_redo(self.undo_stack.undo_text(), self.undo_stack.undo, "Undone")

    def redo(self) -> None:
        self._undo_or_redo(self.undo_stack.redo_text(), self.undo_stack.redo, "Redone")

    def _undo_or_redo(self, said: str | None, act, done: str) -> None:
        if said is None:
            return
        if self.busy():  # a mask is being written: the stack waits for the disk
            self.status.setText(
                f"Not {done.lower()}: the last mask decision is still being written"
            )
            return
        try:
            message = act()
        except UserFacingError as exc:  # the project went read-only, a file vanished...
            self.status.setText(f"Not {done.lower()}: {exc}")
            return
        self.status.setText(message or f"{done}: {said}")
        if not self.busy():  # (a mask being written back shows it when it is written)
            self._load_view()  # the consensus the item holds now

    def _refresh(self, item_id: int) -> None:
        browser = self.window.panels.get("browser")
        if browser is not None:
            browser.model.refresh_items([item_id])


class DisagreementAction:
    """The Dataset menu's entry: runs the agreement report on a worker, then opens the queue."""

    def __init__(self, window):
        self.window = window
        self.task = None
        self.dialog: DisagreementQueue | None = None
        menu = window.add_menu("dataset", "&Dataset")
        self.action = window.add_action(
            "Review &Disagreements…",
            self.start,
            None,
            menu,
            "Items where annotators disagree, most first: take one version, merge, or type "
            "a consensus; A accepts, R rejects",
        )
        window.needs_project(self.action)

    def start(self) -> Any:
        browser = self.window.panels.get("browser")
        project = getattr(browser, "project", None)
        if project is None:
            self.window.report_error("Disagreements: open a project first")
            return None
        root = project.root
        self.task = self.window.tasks.submit(
            f"Disagreements in {root.name}",
            lambda: project_disagreements_job(root),
            on_result=self.show,
            on_error=lambda message: self.window.report_error(f"Disagreements: {message}"),
        )
        return self.task

    def show(self, items: list[Disagreement]) -> DisagreementQueue:
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = DisagreementQueue(self.window, items)
        self.dialog.show()
        return self.dialog


def install(window) -> DisagreementAction:
    return DisagreementAction(window)
