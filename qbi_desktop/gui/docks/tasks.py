"""Tasks / Log dock: every background job with its progress and a cancel button, and the log."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.gui.progress_bar import ProgressBar
from qbi_desktop.gui.workers import Task, TaskManager

LOG_LINES = 3  # the log pane's least height, in lines


class _LogBridge(QObject):
    line = Signal(str)


class QtLogHandler(logging.Handler):
    """A logging handler that forwards records (from any thread) to the GUI thread."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.bridge = _LogBridge()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.line.emit(self.format(record))
        except RuntimeError:  # the GUI is gone (shutdown)
            pass


class TasksPanel(QWidget):
    def __init__(self, manager: TaskManager, parent=None):
        super().__init__(parent)
        self.manager = manager
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Task", "State", "Progress", ""])
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        # the progress message ("5% sim_0003: 103 spots") gets as much room as the title
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(5000)
        # at least the header and a task's row, and LOG_LINES lines of the log: a pane of a
        # line and a half showed half of an older message rather than the newest one
        rows = self.table.horizontalHeader().sizeHint().height()
        rows += self.table.verticalHeader().defaultSectionSize() + 2 * self.table.frameWidth()
        self.table.setMinimumHeight(rows + 8)
        margin = 2 * (self.log_view.frameWidth() + self.log_view.document().documentMargin())
        line = self.log_view.fontMetrics().lineSpacing()
        self.log_view.setMinimumHeight(int(LOG_LINES * line + margin))
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.table)
        splitter.addWidget(self.log_view)
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)
        self._rows: dict[int, Task] = {}
        self._following = True  # the log shows its newest line
        bar = self.log_view.verticalScrollBar()
        bar.valueChanged.connect(self._log_scrolled)
        bar.rangeChanged.connect(self._log_range_changed)
        manager.task_added.connect(self._add_task)

    def append_log(self, line: str) -> None:
        self.log_view.appendPlainText(line)

    def _log_scrolled(self, value: int) -> None:
        self._following = value >= self.log_view.verticalScrollBar().maximum() - 1

    def _log_range_changed(self, _low: int, high: int) -> None:
        # a line added, the pane resized or re-wrapped: the newest line stays in view unless
        # the user scrolled up to read an older one
        if self._following:
            self.log_view.verticalScrollBar().setValue(high)

    def _add_task(self, task: Task) -> None:
        if self.table.rowCount() >= 200:
            self.table.removeRow(self.table.rowCount() - 1)
        self.table.insertRow(0)
        self.table.setItem(0, 0, QTableWidgetItem(task.title))
        self.table.setItem(0, 1, QTableWidgetItem(task.state))
        bar = ProgressBar()
        bar.setRange(0, 0)
        bar.setTextVisible(True)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(task.cancel)
        state_item = self.table.item(0, 1)

        def on_progress(progress) -> None:
            if progress.total > 0:
                bar.setRange(0, progress.total)
                bar.setValue(progress.done)
            elif progress.message:  # a stage without a count ("Reading 70,000 items…")
                bar.setRange(0, 0)  # an empty bar that says it (ProgressBar has no busy bar)
            bar.setFormat(f"%p% {progress.message}" if progress.total else progress.message)
            if bar.toolTip() != progress.message:  # in full, should the cell cut it
                bar.setToolTip(progress.message)

        def on_state(state: str) -> None:
            state_item.setText(state)
            if task.finished:
                cancel.setEnabled(False)
                if state == "done":
                    bar.setRange(0, 1)
                    bar.setValue(1)
                    duration = task.duration or 0.0
                    bar.setFormat(f"done in {duration:.2f} s")
                else:
                    bar.setRange(0, 1)
                    bar.setValue(0)
                    bar.setFormat(state if state == "cancelled" else (task.error or state)[:120])
                    bar.setToolTip(task.error or state)

        task.progress.connect(on_progress)
        task.state_changed.connect(on_state)
        # A text from the first paint, before the job reports; set before the bar is placed in
        # the table, where each change would also mark the table's cell for repainting.
        on_progress(task.last_progress)
        self.table.setCellWidget(0, 2, bar)
        self.table.setCellWidget(0, 3, cancel)
        on_state(task.state)
