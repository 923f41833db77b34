"""The Baselines dock: what a model that learns nothing scores, what nearest neighbours score.

Left, the settings of a run (data source, task, model, features, evaluation: see
:mod:`baselines_form`); in the middle, the run history (every run with its data, split, model,
parameters, seed, test and train scores side by side, balanced accuracy, majority-class rate,
duration and state; kept in a JSON file in the user's config folder); right, the selected run as
pictures (confusion-matrix heatmap, per-class bars, the images behind a clicked cell, or the
regression scatter / segmentation table) and the comparison of two runs.

Runs go through the window's task mechanism (:meth:`TaskManager.submit`) on a worker thread,
with progress and Cancel. Several runs can be queued; the panel keeps its own queue and submits
one run at a time, so queued runs do not fight over the cores (and finish in order). Bad input
(k larger than the training set, one class, ...) fails the run at its first step with the core's
message, before any work; the app carries on.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.baselines import BaselineConfig, run_baseline
from qbi_desktop.core.datasets import ArrayDataset, open_source
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress, as_job
from qbi_desktop.core.report import write_report
from qbi_desktop.gui.docks.baselines_form import BaselineForm
from qbi_desktop.gui.docks.baselines_history import (
    HistoryModel,
    HistoryStore,
    RunRecord,
    model_text,
    now_text,
    short_source,
)
from qbi_desktop.gui.docks.baselines_plots import thumbnail_array
from qbi_desktop.gui.docks.baselines_views import CompareView, ResultView

log = logging.getLogger(__name__)

MAX_GALLERY = 300  # images shown for one cell
CACHED_SOURCES = 2  # datasets kept in memory between runs (digits, MNIST, NPZ; not projects)
ROW_REFRESH_S = 0.2  # history-row progress updates at most this often
MIN_DOCKED_HEIGHT = 480  # below this the pictures are too small: the panel floats instead


def install(window) -> BaselinesPanel:
    panel = BaselinesPanel(window)
    dock = window.add_dock("baselines", "Baselines", panel, Qt.DockWidgetArea.BottomDockWidgetArea)
    # A tab beside the Tasks / Log dock: the panel wants the window's full width.
    tasks = window.docks.get("tasks")
    if tasks is not None and window.dockWidgetArea(tasks) == window.dockWidgetArea(dock):
        window.tabifyDockWidget(tasks, dock)
        tasks.raise_()
    panel.dock = dock
    panel.build_menu()
    window.close_guards.append(panel.close_guard)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(panel.store.flush)
    return panel


def baseline_job(spec: str, config: BaselineConfig, dataset: Any = None) -> Job[tuple[Any, Any]]:
    """Open the data source (unless already open) and run the baseline; (dataset, result)."""
    if dataset is None:
        yield Progress(0, 0, f"reading {short_source(spec)}")
        dataset = open_source(spec)
    result = yield from run_baseline(config, dataset)
    return dataset, result


def open_source_job(spec: str) -> Job[Any]:
    yield Progress(0, 0, f"reading {short_source(spec)}")
    return open_source(spec)


def thumbnails_job(dataset: Any, indices: list[int]) -> Job[list[tuple[int, Any]]]:
    """Thumbnails (uint8 arrays) of dataset items, read on a worker (project images are files)."""
    out = []
    for k, i in enumerate(indices):
        out.append((int(i), thumbnail_array(dataset.item(int(i)).image)))
        if k % 16 == 15:
            yield Progress(k + 1, len(indices), "thumbnails")
    return out


def _in_memory(dataset: Any) -> bool:
    return isinstance(dataset, ArrayDataset)


class BaselinesPanel(QWidget):
    def __init__(self, window):
        super().__init__()
        self.window = window
        self.dock = None
        self.store = HistoryStore()
        self.queue: list[RunRecord] = []
        self.running: RunRecord | None = None
        self.cancel_clicked_at: float | None = None
        self._datasets: dict[str, Any] = {}
        self._gallery_task = None
        self._last_row_refresh = 0.0
        self.last_shown: RunRecord | None = None  # the last finished run taken into the view

        # -- left: settings and the run buttons
        self.form = BaselineForm(window)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.form.minimumSizeHint().width() + 24)
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Queue a run with these settings (Ctrl+Return)")
        self.run_button.clicked.connect(self.run_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running baseline (within half a second)")
        self.cancel_button.clicked.connect(self.cancel_current)
        self.cancel_all_button = QPushButton("Cancel all")
        self.cancel_all_button.setToolTip("Stop the running baseline and drop the queued ones")
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.cancel_all_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.status)

        # -- middle: the run history
        self.model = HistoryModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Select two finished runs (Ctrl+click) to compare them")
        self.compare_button.clicked.connect(self.compare_selected)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip(
            "Write the selected run's confusion matrix PNG, metrics CSV/JSON and parameters"
        )
        self.export_button.clicked.connect(self.export_clicked)
        self.reuse_button = QPushButton("Use settings")
        self.reuse_button.setToolTip("Put the selected run's settings into the form")
        self.reuse_button.clicked.connect(self.reuse_selected)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Remove the selected finished runs from the history")
        self.delete_button.clicked.connect(self.delete_selected)
        row = QHBoxLayout()
        for b in (self.compare_button, self.export_button, self.reuse_button, self.delete_button):
            row.addWidget(b)
        row.addStretch(1)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(QLabel("<b>Run history</b>"))
        middle_layout.addWidget(self.table, 1)
        middle_layout.addLayout(row)

        # -- right: the selected run, and comparisons
        self.result_view = ResultView()
        self.compare_view = CompareView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.result_view, "Result")
        self.tabs.addTab(self.compare_view, "Compare")
        self.result_view.heatmap.cell_clicked.connect(self._cell_clicked)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for w in (left, middle, self.tabs):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setStretchFactor(2, 4)
        self.splitter.setSizes([280, 470, 800])
        # The content scrolls rather than imposing its minimum size on the dock area: docked
        # beside the Tasks panel, the panel must not squeeze the image canvas.
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(4, 4, 4, 4)
        content_layout.addWidget(self.splitter)
        outer = QScrollArea()
        outer.setWidgetResizable(True)
        outer.setFrameShape(QFrame.Shape.NoFrame)
        outer.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(outer)

        run_key = QShortcut(QKeySequence("Ctrl+Return"), self)
        run_key.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        run_key.activated.connect(self.run_clicked)
        delete_key = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table)
        delete_key.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete_key.activated.connect(self.delete_selected)

        records = self.store.load()
        self.model.set_records(records)
        self._next_id = max((r.id for r in records), default=0) + 1
        self._resize_columns()
        self._update_buttons()

    # -- menu ------------------------------------------------------------------------------------
    def build_menu(self) -> None:
        w = self.window
        menu = w.add_menu("baselines", "&Baselines")
        w.add_action("Show &Baselines Panel", self.show_panel, None, menu)
        w.add_action("&Run Baseline", self.run_clicked, None, menu, "Queue a run")
        w.add_action("&Cancel Baseline Run", self.cancel_current, None, menu)
        menu.addSeparator()
        w.add_action("C&ompare Selected Runs", self.compare_selected, None, menu)
        w.add_action("&Export Selected Run…", self.export_clicked, None, menu)

    def show_panel(self) -> None:
        """Show the dock with room for its pictures: docked if the window can give it enough
        height, otherwise floating over the window (double-click its title to dock it again)."""
        dock = self.dock
        if dock is None:
            return
        dock.show()
        dock.raise_()
        if dock.isFloating():
            return
        self.window.resizeDocks([dock], [int(self.window.height() * 0.6)], Qt.Orientation.Vertical)
        QTimer.singleShot(0, self._float_if_cramped)

    def _float_if_cramped(self) -> None:
        dock = self.dock
        if dock is None or dock.isFloating() or dock.height() >= MIN_DOCKED_HEIGHT:
            return
        geometry = self.window.geometry()
        width = min(1500, int(geometry.width() * 0.95))
        height = min(860, int(geometry.height() * 0.85))
        dock.setFloating(True)
        dock.resize(width, height)
        dock.move(
            geometry.x() + (geometry.width() - width) // 2,
            geometry.y() + (geometry.height() - height) // 2,
        )

    def showEvent(self, event):  # noqa: N802
        self.form.refresh_project()  # the browser may have opened a project meanwhile
        super().showEvent(event)

    def close_guard(self, document) -> bool:
        if document is None:  # the window closes: start nothing new
            self._drop_queue()
        return True

    # -- running ---------------------------------------------------------------------------------
    def run_clicked(self) -> RunRecord | None:
        """Queue a run with the form's settings; None (and a message) if the form is incomplete."""
        self.form.refresh_project()
        try:
            spec = self.form.source_spec()
            config = self.form.config()
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return None
        self.form.save()
        record = RunRecord(
            id=self._next_id, source=spec, config=config.to_dict(), created=now_text()
        )
        self._next_id += 1
        self.model.add(record)
        self.queue.append(record)
        self.table.scrollToBottom()
        self._pump()
        self._update_buttons()
        return record

    def _pump(self) -> None:
        """Start the next queued run when none is running."""
        if self.running is not None or not self.queue:
            self._update_status()
            return
        record = self.queue.pop(0)
        self.running = record
        record.state = "running"
        record.progress = 0.0
        config = record.config_obj
        spec = record.source
        dataset = self._datasets.get(spec)
        title = f"Baseline run {record.id}: {config.describe()} on {short_source(spec)}"
        task = self.window.tasks.submit(
            title,
            lambda: baseline_job(spec, config, dataset),
            on_progress=lambda p, r=record: self._progress(r, p),
        )
        record.task = task
        task.ended.connect(lambda r=record, t=task: self._ended(r, t))
        self.cancel_clicked_at = None
        self.model.refresh(record)
        self._update_status()

    def _progress(self, record: RunRecord, progress: Progress) -> None:
        if progress.total > 0:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(min(progress.done, progress.total))
            record.progress = progress.fraction
        else:
            self.progress.setRange(0, 0)
        self.progress.setFormat(f"run {record.id}: {progress.message or '%p %'}")
        now = time.perf_counter()
        if now - self._last_row_refresh >= ROW_REFRESH_S:
            self._last_row_refresh = now
            self.model.refresh(record)

    def _ended(self, record: RunRecord, task) -> None:
        record.state = task.state
        record.progress = None
        record.task = None
        record.started, record.ended = task.started_at, task.ended_at
        if task.state == "done":
            dataset, result = task.result
            record.set_result(result, dataset)
            self._remember_dataset(record.source, dataset)
            log.info("baseline run %d: %s", record.id, result.summary().replace("\n", "; "))
        elif task.state == "failed":
            record.error = task.error
            record.duration = task.duration
            self.window.report_error(f"Baseline run {record.id}: {task.error}")
        else:
            record.duration = task.duration
            if self.cancel_clicked_at is None:
                # Stopped from outside the panel (the status bar's Cancel): stop the queue too.
                self._drop_queue()
        if self.running is record:
            self.running = None
        self.model.refresh(record)
        self.store.save(self.model.records)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(f"run {record.id} {record.state}")
        self._pump()  # the next queued run starts before we draw this one's pictures
        self._update_buttons()
        # Drawing the pictures is the next event: the event loop ticks in between, so taking
        # in a finished run never blocks the GUI for long in one piece.
        QTimer.singleShot(0, lambda r=record: self._show_finished(r))

    def _show_finished(self, record: RunRecord) -> None:
        if record not in self.model.records:
            return
        self._resize_columns()
        if record.state == "done" and len(self._selected_rows()) <= 1:
            self.select_record(record)
        elif self.result_view.record is record:
            self.result_view.show_record(record)
        self.last_shown = record

    def _remember_dataset(self, spec: str, dataset: Any) -> None:
        if spec.partition(":")[0] == "project":
            return  # a project changes as people label it: read it afresh for each run
        self._datasets.pop(spec, None)
        self._datasets[spec] = dataset
        while len(self._datasets) > CACHED_SOURCES:
            self._datasets.pop(next(iter(self._datasets)))

    def cancel_current(self) -> None:
        """Stop the running run at its next chunk (chunks are ~0.1 s)."""
        record = self.running
        if record is not None and record.task is not None:
            self.cancel_clicked_at = time.perf_counter()
            record.task.cancel()
            self.progress.setFormat(f"run {record.id}: cancelling…")

    def cancel_all(self) -> None:
        self._drop_queue()
        self.cancel_current()

    def _drop_queue(self) -> None:
        for record in self.queue:
            record.state = "cancelled"
            self.model.refresh(record)
        self.queue.clear()
        self._update_status()

    def _update_status(self) -> None:
        parts = []
        if self.running is not None:
            parts.append(f"running run {self.running.id}")
        if self.queue:
            parts.append(f"{len(self.queue)} queued ({', '.join(str(r.id) for r in self.queue)})")
        self.status.setText(" · ".join(parts))
        self.cancel_button.setEnabled(self.running is not None)
        self.cancel_all_button.setEnabled(self.running is not None or bool(self.queue))

    # -- history ---------------------------------------------------------------------------------
    def _resize_columns(self) -> None:
        self.table.resizeColumnsToContents()

    def _selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    def selected_records(self) -> list[RunRecord]:
        return [self.model.records[r] for r in self._selected_rows()]

    def select_record(self, record: RunRecord, add: bool = False) -> None:
        row = self.model.row_of(record)
        flags = QItemSelectionModel.SelectionFlag.Rows | (
            QItemSelectionModel.SelectionFlag.Select
            if add
            else QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        self.table.selectionModel().select(self.model.index(row, 0), flags)
        self.table.scrollTo(self.model.index(row, 0))

    def _selection_changed(self, *_args) -> None:
        records = self.selected_records()
        current = self.table.currentIndex()
        shown = None
        if len(records) == 1:
            shown = records[0]
        elif records and current.isValid() and self.model.records[current.row()] in records:
            shown = self.model.records[current.row()]
        if shown is not None and shown is not self.result_view.record:
            self.result_view.show_record(shown)
            self.tabs.setCurrentWidget(self.result_view)
        self._update_buttons()

    def _update_buttons(self) -> None:
        records = self.selected_records()
        done = [r for r in records if r.state == "done"]
        self.compare_button.setEnabled(len(records) == 2 and len(done) == 2)
        self.export_button.setEnabled(len(records) == 1 and len(done) == 1)
        self.reuse_button.setEnabled(len(records) == 1)
        self.delete_button.setEnabled(any(r.finished or r.state == "queued" for r in records))
        self._update_status()

    def delete_selected(self) -> None:
        rows = [
            self.model.row_of(r)
            for r in self.selected_records()
            if r.finished or r.state == "queued"
        ]
        for record in self.model.remove(rows):
            if record in self.queue:
                self.queue.remove(record)
            if self.result_view.record is record:
                self.result_view.show_record(None)
        self.store.save(self.model.records)
        self._update_buttons()

    def reuse_selected(self) -> None:
        records = self.selected_records()
        if len(records) == 1:
            self.form.set_config(records[0].source, records[0].config_obj)

    # -- comparing -------------------------------------------------------------------------------
    def compare_selected(self) -> bool:
        records = [r for r in self.selected_records() if r.state == "done"]
        if len(records) != 2:
            self.window.statusBar().showMessage("Select two finished runs to compare", 5000)
            return False
        self.compare(*records)
        return True

    def compare(self, a: RunRecord, b: RunRecord) -> None:
        self.compare_view.compare(a, b)
        self.tabs.setCurrentWidget(self.compare_view)

    # -- gallery ---------------------------------------------------------------------------------
    def _cell_clicked(self, row: int, col: int) -> None:
        record = self.result_view.record
        if record is not None:
            self.show_cell(record, row, col)

    def show_cell(self, record: RunRecord, row: int, col: int) -> None:
        """Show the test images behind confusion-matrix cell (row = true, col = predicted)."""
        result = record.get_result()
        gallery = self.result_view.gallery
        if result is None or result.task != "classification":
            return
        true, pred = result.labels[row], result.labels[col]
        indices = [int(i) for i in result.cell_indices(true, pred)]
        count = int(result.confusion[row, col])
        what = "correctly classified" if row == col else "misclassified"
        title = f"true {true}, predicted {pred}: {count} {what} test item{'s' * (count != 1)}"
        if count == 0:
            gallery.show_message(f"{title}.")
            return
        if not indices:
            gallery.show_message(
                f"{title}. This run was read back from the history, which keeps only the "
                "misclassified items: run it again to browse the correct ones."
            )
            return
        dataset = record.dataset or self._datasets.get(record.source)
        if dataset is None:
            gallery.show_message(f"{title}: reading {short_source(record.source)}…")

            def opened(ds, r=record, a=row, b=col) -> None:
                r.dataset = ds
                self._remember_dataset(r.source, ds)
                if self.result_view.record is r:
                    self.show_cell(r, a, b)

            self._gallery_task = self.window.tasks.submit(
                f"Read {short_source(record.source)} for the gallery",
                lambda s=record.source: open_source_job(s),
                on_result=opened,
                on_error=self.window.report_error,
            )
            return
        shown = indices[:MAX_GALLERY]
        more = len(indices) - len(shown)
        if self._gallery_task is not None and not self._gallery_task.finished:
            self._gallery_task.cancel()
        if _in_memory(dataset):  # arrays in memory: no I/O, quick enough for the GUI thread
            tiles = [(i, thumbnail_array(dataset.item(i).image)) for i in shown]
            gallery.set_tiles(title, tiles, true, pred, more)
            return
        gallery.show_message(f"{title}: reading images…")

        def done(tiles, r=record) -> None:
            if self.result_view.record is r:
                gallery.set_tiles(title, tiles, true, pred, more)

        self._gallery_task = self.window.tasks.submit(
            f"Gallery: true {true}, predicted {pred}",
            lambda: thumbnails_job(dataset, shown),
            on_result=done,
            on_error=self.window.report_error,
        )

    # -- export ----------------------------------------------------------------------------------
    def export_clicked(self) -> None:
        records = [r for r in self.selected_records() if r.state == "done"]
        if len(records) != 1:
            self.window.statusBar().showMessage("Select one finished run to export", 5000)
            return
        start = str(self.window.settings.value("baselines/export_dir", str(Path.home())))
        folder = QFileDialog.getExistingDirectory(self, "Export the run into folder", start)
        if folder:
            self.window.settings.setValue("baselines/export_dir", folder)
            self.export(records[0], Path(folder))

    def export(self, record: RunRecord, parent: Path):
        """Write the run's report (metrics.json/.csv, params.json, confusion_matrix.png) into
        ``parent/run-NNN-model`` on a worker; returns the task."""
        result = record.get_result()
        if result is None:
            self.window.report_error(f"Run {record.id} has no result to export")
            return None
        target = Path(parent) / f"run-{record.id:03d}-{record.config.get('model', 'model')}"

        def written(folder) -> None:
            self.window.statusBar().showMessage(f"Run {record.id} exported to {folder}", 10000)
            log.info("baseline run %d exported to %s", record.id, folder)

        return self.window.tasks.submit(
            f"Export baseline run {record.id}",
            lambda: as_job(write_report, result, target, message=f"writing {target}"),
            on_result=written,
            on_error=self.window.report_error,
        )

    def describe(self, record: RunRecord) -> str:
        return f"run {record.id}: {model_text(record.config)} on {short_source(record.source)}"
