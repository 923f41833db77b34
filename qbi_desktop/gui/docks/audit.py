"""Dataset > Audit…: run the label-quality audit of the open project on a worker and show the
issues (likely wrong labels, duplicates, leaks, outliers, unlabelled items) in a table.

The audit is :func:`qbi_desktop.core.quality.audit.audit_job`, the same job as
``qbi-desktop audit``; it reads the project on the worker through its own connection and
changes nothing in the catalog. The window shows progress in the Tasks panel and can cancel it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.jobs import Job
from qbi_desktop.core.quality.audit import KINDS, AuditReport, audit_job
from qbi_desktop.core.quality.features import project_items_job

COLUMNS = ("Item", "Kind", "Score", "Given label", "Suggested label", "Related item")


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
        self.task = self.window.tasks.submit(
            f"Audit of {root.name}",
            lambda: project_audit_job(root),
            on_result=self.show,
            on_error=lambda message: self.window.report_error(f"Audit: {message}"),
        )
        return self.task

    def show(self, report: AuditReport) -> None:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = AuditDialog(report, self.window)
        self.dialog.show()


class AuditDialog(QDialog):
    """The issues as a sortable table, the counts and what the audit needs or changed."""

    def __init__(self, report: AuditReport, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Audit")
        self.report = report
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
            )
            for c, value in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(value))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table)
        self.resize(760, 520)
