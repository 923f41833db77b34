"""Dataset > Audit…: run the label-quality audit of the open project on a worker and review
the issues (likely wrong labels, duplicates, leaks, outliers, unlabelled items) row by row.

The audit is :func:`qbi_desktop.core.quality.audit.audit_job`, the same job as
``qbi-desktop audit``; it reads the project on the worker through its own connection and
changes nothing in the catalog. The window shows progress in the Tasks panel and can cancel it.

The result window is a review queue: on the selected row, Accept suggestion (A), Keep (K),
Reject (R), Merge duplicate (M) or Move to the other split (S) act on the catalog through
:func:`qbi_desktop.core.quality.review.apply_action` (history entry "audit") and go on the
Browser's undo stack, so Ctrl+Z - here or in the Browser - takes them back; Show in Browser (B)
shows the item and its twin there. The selection moves to the next row after each action.
Below the table the selected row's item is shown as a picture, beside the related item's for
a duplicate or a leak (:mod:`.audit_detail`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.edits import Change, read_values
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job
from qbi_desktop.core.quality.audit import KINDS, AuditReport, Issue, audit_job
from qbi_desktop.core.quality.features import project_items_job, reading_message
from qbi_desktop.core.quality.review import allowed, apply_action
from qbi_desktop.gui.annotator import may_edit
from qbi_desktop.gui.docks.audit_detail import IssuePictures

COLUMNS = ("Item", "Kind", "Score", "Given label", "Suggested label", "Related item", "Done")
COL_DONE = len(COLUMNS) - 1
#: (action, button text, key)
BUTTONS = (
    ("accept", "&Accept suggestion", "A"),
    ("keep", "&Keep", "K"),
    ("reject", "&Reject item", "R"),
    ("merge", "&Merge duplicate", "M"),
    ("move", "Move to other &split", "S"),
)
DONE_TEXT = {
    "accept": "suggestion accepted",
    "keep": "kept",
    "reject": "rejected",
    "merge": "merged",
    "move": "moved",
}


def install(window) -> AuditAction:
    return AuditAction(window)


def project_audit_job(root: Path) -> Job[AuditReport]:
    """The audit on the worker, with the worker's own connection to the project."""
    project = open_project(root)
    try:
        items = yield from project_items_job(project)
        return (yield from audit_job(items))
    finally:
        project.close()


class AuditAction:
    """The Dataset menu's Audit… entry and the result window it opens."""

    def __init__(self, window):
        self.window = window
        self.task = None
        self.dialog: AuditDialog | None = None
        menu = window.add_menu("dataset", "&Dataset")
        menu.addSeparator()
        self.action = window.add_action(
            "&Audit…",
            self.start,
            None,
            menu,
            "Find likely wrong labels, duplicates, train/test leaks, outliers and unlabelled "
            "items (the project is not changed)",
        )
        window.needs_project(self.action)

    def _project_root(self) -> Path | None:
        browser = getattr(self.window, "panels", {}).get("browser")
        project = getattr(browser, "project", None)
        return None if project is None else project.root

    def start(self) -> Any:
        root = self._project_root()
        if root is None:
            self.window.report_error("Audit: open a project first (Dataset > Open Project…)")
            return None
        if self.task is not None and not self.task.finished:
            return self.task
        project = self.window.panels["browser"].project
        self.task = self.window.tasks.submit(
            f"Audit of {root.name}",
            lambda: project_audit_job(root),
            on_result=self.show,
            on_error=lambda message: self.window.report_error(f"Audit: {message}"),
            message=reading_message(len(project)),  # a COUNT(*): the bar speaks at once
        )
        return self.task

    def show(self, report: AuditReport) -> None:
        if self.dialog is not None:
            self.dialog.close()
        browser = getattr(self.window, "panels", {}).get("browser")
        self.dialog = AuditDialog(report, self.window, browser)
        self.dialog.show()


class AuditDialog(QDialog):
    """The issues as a table, the counts and what the audit needs or changed, and the review
    actions on the selected row (see the module docstring)."""

    def __init__(self, report: AuditReport, parent=None, browser=None):
        super().__init__(parent)
        self.setWindowTitle("Audit")
        self.report = report
        self.browser = browser
        self.project = None if browser is None else browser.project  # acted on, if still open
        # table row -> (action, change); not named "done": that would hide QDialog.done(), which
        # reject() calls (Esc, the close button), and the app crashed there
        self.decisions: dict[int, tuple[str, Change]] = {}
        layout = QVBoxLayout(self)
        counts = ", ".join(f"{report.counts.get(k, 0)} {k}" for k in KINDS)
        lines = [f"Issues: {counts}."]
        for model in report.models:
            lines.append(
                f"Model: {model['model']} (k={model['k']}), {model['cv_folds']}-fold "
                f"cross-validated accuracy {100 * model['cv_accuracy']:.1f} %."
            )
        lines += report.messages
        if report.resized:
            lines.append(f"{len(report.resized)} items resized or converted for the features.")
        if report.left_out:
            lines.append(
                f"{len(report.left_out)} items left out: "
                + "; ".join(f"{n} ({w})" for n, w in report.left_out[:3])
            )
        self.summary = QLabel("\n".join(lines))
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        rows = report.sorted_issues()
        self.rows: list[Issue] = rows
        self.table = QTableWidget(len(rows), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for r, issue in enumerate(rows):
            values = (
                issue.item,
                issue.kind,
                f"{issue.score:.3f}",
                issue.given_label,
                issue.suggested_label,
                issue.related_item,
                "",  # Done
            )
            for c, value in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(value))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)
        tasks = getattr(parent, "tasks", None)
        self.pictures = IssuePictures(None if tasks is None else tasks.submit, self)
        layout.addWidget(self.pictures)

        # -- review actions on the selected row
        self.buttons: dict[str, QPushButton] = {}
        actions = QHBoxLayout()
        for action, text, key in BUTTONS:
            button = QPushButton(text)
            button.setToolTip(f"{text.replace('&', '')} ({key}); Ctrl+Z takes it back")
            button.clicked.connect(lambda _c=False, a=action: self.act(a))
            actions.addWidget(button)
            self.buttons[action] = button
        self.show_button = QPushButton("Show in &Browser")
        self.show_button.setToolTip("Show the item (and the item it duplicates) in the Browser (B)")
        self.show_button.clicked.connect(self.show_in_browser)
        actions.addWidget(self.show_button)
        actions.addStretch(1)
        layout.addLayout(actions)
        self.shortcuts = []
        for action, _text, key in BUTTONS:
            self._bind(key, lambda a=action: self.act(a))
        self._bind("B", self.show_in_browser)
        self._bind("Ctrl+Z", lambda: self._undo("undo"))
        self._bind("Ctrl+Shift+Z", lambda: self._undo("redo"))
        self.table.selectionModel().currentRowChanged.connect(lambda *_a: self._row_changed())
        if browser is not None:
            browser.undo_stack.changed.connect(self._refresh_done)
        if rows:
            self.table.selectRow(0)
        self._row_changed()
        screen = (self.screen() or QApplication.primaryScreen()).availableGeometry()
        self.resize(min(900, int(screen.width() * 0.92)), min(760, int(screen.height() * 0.9)))

    def _bind(self, key: str, slot) -> None:
        shortcut = QShortcut(QKeySequence(key), self)
        shortcut.activated.connect(slot)
        self.shortcuts.append(shortcut)

    def current_issue(self) -> Issue | None:
        row = self.table.currentRow()
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def _open(self) -> bool:
        """The project the audit was made on is still the Browser's."""
        return (
            self.browser is not None
            and self.project is not None
            and self.browser.project is self.project
        )

    def _row_changed(self) -> None:
        self._enable()
        self.pictures.show_issue(self.current_issue(), self.project if self._open() else None)

    def _enable(self) -> None:
        issue = self.current_issue()
        offered = allowed(issue) if issue is not None and self._open() else ()
        for action, button in self.buttons.items():
            button.setEnabled(action in offered)
        self.show_button.setEnabled(issue is not None and self._open())

    def act(self, action: str) -> Change | None:
        """Do ``action`` on the selected row; the next row is selected."""
        issue = self.current_issue()
        if issue is None:
            return None
        window = self.parent()
        if not self._open():
            window.report_error("Audit: the project it was made on is closed; run the audit again")
            return None
        if action not in allowed(issue):
            window.statusBar().showMessage(
                f"Audit: '{action}' does not apply to a {issue.kind} row", 4000
            )
            return None
        if not may_edit(window, self.project.root):  # a shared project: the name first
            return None
        try:
            change = apply_action(self.project, issue, action, self.browser.annotator)
        except UserFacingError as exc:
            window.report_error(f"Audit: {exc}")
            return None
        row = self.table.currentRow()
        self.decisions[row] = (action, change)
        self.browser._record(change)  # Ctrl+Z in the Browser (or here) takes it back
        self.browser._items_changed(list(change.ids))
        self._refresh_done()
        window.statusBar().showMessage(f"Audit: {issue.item}: {change.what}", 4000)
        if row + 1 < self.table.rowCount():
            self.table.selectRow(row + 1)
        return change

    def _undo(self, which: str) -> None:
        router = getattr(self.parent(), "undo_router", None)
        if router is not None and self.browser is not None:
            router.activate(self.browser.undo_context)
            router.undo() if which == "undo" else router.redo()

    def _refresh_done(self) -> None:
        """The Done column: what was done on each row, unless it was undone since."""
        if not self._open():
            return
        for row, (action, change) in self.decisions.items():
            now = read_values(self.project.db, change.field, change.ids)
            current = all(now.get(i) == a for i, a in zip(change.ids, change.after, strict=True))
            text = DONE_TEXT[action] if current else ""
            self.table.setItem(row, COL_DONE, QTableWidgetItem(text))

    def show_in_browser(self) -> None:
        issue = self.current_issue()
        if issue is None or not self._open():
            return
        ids = [issue.item_id] + ([issue.related_id] if issue.related_id >= 0 else [])
        self.browser.show_ids(ids)
        row = self.browser.model.row_of(issue.item_id)
        if row is not None:
            self.browser.select_rows([row])
