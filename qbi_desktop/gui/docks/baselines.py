"""The Baselines dock: what a model that learns nothing scores, what nearest neighbours score.

The dock holds the settings of a run (data source, task, model, features, evaluation: see
:mod:`baselines_form`), the Run button, and the run history (every run with its data, split,
model, parameters, seed, test and train scores side by side, balanced accuracy, majority-class
rate, duration and state; kept in a JSON file in the user's config folder). The selected run's
pictures (confusion-matrix heatmap, per-class bars, the images behind a clicked cell, or the
regression scatter / segmentation table) and the comparison of two runs open in a large
"Baseline results" tab beside the image in the window's centre, where they fit without scrolling.

Runs go through the window's task mechanism (:meth:`TaskManager.submit`), with progress and
Cancel, but compute in a child process the panel keeps (:class:`ProcessWorker`; started by the
first run, since the panel is in every window and most sessions never run a baseline; stopped
with the window): numpy and scikit-learn hold the interpreter lock for long stretches, and on a
worker thread they kept the GUI thread waiting up to ~0.8 s during a full MNIST kNN run. The
child opens the data source itself and keeps it for the next run (core/baselines/worker_jobs.py);
this process reads a source only for the gallery's thumbnails. Several runs can be queued; the
panel keeps its own queue and submits one run at a time, so queued runs do not fight over the
cores (and finish in order). Bad input (k larger than the training set, one class, ...) fails
the run at its first step with the core's message, before any work; the app carries on.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.baselines import RESIZE_HINT
from qbi_desktop.core.baselines.small_data import UNSEEN_HINT
from qbi_desktop.core.baselines.worker_jobs import run_on_source
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.job_process import ProcessWorker
from qbi_desktop.core.jobs import Progress, as_job
from qbi_desktop.core.report import write_report
from qbi_desktop.gui.docks.baselines_finish import RESULTS_PAGE, RESULTS_TITLE, FinishMixin
from qbi_desktop.gui.docks.baselines_form import BaselineForm
from qbi_desktop.gui.docks.baselines_gallery import GalleryMixin
from qbi_desktop.gui.docks.baselines_history import (
    HistoryModel,
    HistoryStore,
    RunRecord,
    model_text,
    now_text,
    short_source,
)
from qbi_desktop.gui.docks.baselines_resize import RESIZE_CONTROL
from qbi_desktop.gui.docks.baselines_views import CompareView, ResultView
from qbi_desktop.gui.progress_bar import ProgressBar

log = logging.getLogger(__name__)

CACHED_SOURCES = 2  # datasets kept here for the gallery (digits, MNIST, NPZ; not projects)
ROW_REFRESH_S = 0.2  # history-row progress updates at most this often


def install(window) -> BaselinesPanel:
    panel = BaselinesPanel(window)
    dock = window.add_dock("baselines", "Baselines", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    panel.dock = dock
    window.central_tabs.add_page(RESULTS_PAGE, RESULTS_TITLE, panel.tabs)
    panel.build_menu()
    window.close_guards.append(panel.close_guard)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(panel.store.flush)
        app.aboutToQuit.connect(panel.form.flush_settings)
        app.aboutToQuit.connect(panel.worker.stop)
    return panel


class BaselinesPanel(FinishMixin, GalleryMixin, QWidget):
    def __init__(self, window):
        super().__init__()
        self.window = window
        self.dock = None
        self.store = HistoryStore()
        self.queue: list[RunRecord] = []
        self.running: RunRecord | None = None
        self.cancel_clicked_at: float | None = None
        self._datasets: dict[str, Any] = {}  # for the gallery; the runs' data is in the worker
        # The process the runs compute in; it keeps their data sources between runs. In a session
        # of its own: where Linux shares the CPU by session, its two busy threads would otherwise
        # use up the share of the GUI's session and the GUI thread would wait behind them.
        self.worker = ProcessWorker("qbi-baselines", own_session=True)
        self._stop_worker_after_run = False  # the window closed during a run
        self._gallery_task = None
        self._last_row_refresh = 0.0
        self.last_shown: RunRecord | None = None  # the last finished run taken into the view
        self._warmed = False  # the results page was drawn once off screen (_warm_once)

        # -- left: settings and the run buttons
        self.form = BaselineForm(window)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
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
        self.progress = ProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.cancel_all_button)
        self.problem = QLabel("")  # the last failure (replaced by the next one)
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("QLabel { color: #c92a2a; }")
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.hide()
        self.summary = QLabel("")  # the last result in one line, and where its pictures are
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.linkActivated.connect(lambda _link: self.show_results())
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.status)
        left_layout.addWidget(self.problem)
        left_layout.addWidget(self.summary)

        # -- middle: the run history
        self.model = HistoryModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setMinimumHeight(90)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        # A click on a run (not a selection made by code) shows its pictures beside the image.
        self.table.clicked.connect(self._row_clicked)
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
        self.results_button = QPushButton("Show results")
        self.results_button.setToolTip("The selected run's pictures, beside the image (Alt+2)")
        self.results_button.clicked.connect(self.show_results)
        row = QGridLayout()  # two rows of buttons: they fit a narrow column
        for n, b in enumerate(
            (
                self.results_button,
                self.compare_button,
                self.export_button,
                self.reuse_button,
                self.delete_button,
            )
        ):
            b.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            row.addWidget(b, n // 3, n % 3)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(QLabel("<b>Run history</b>"))
        middle_layout.addWidget(self.table, 1)
        middle_layout.addLayout(row)

        # -- the selected run and comparisons: a central tab of the window (see install)
        self.result_view = ResultView()
        self.compare_view = CompareView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.result_view, "Result")
        self.tabs.addTab(self.compare_view, "Compare")
        self.result_view.heatmap.cell_clicked.connect(self._cell_clicked)
        self.result_view.gallery.open_requested.connect(self.open_gallery_item)
        self.result_view.gallery.browse_requested.connect(self.show_gallery_in_browser)

        # Settings and Run above, the history below; the form scrolls, the Run row never does.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        for w in (left, middle):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)

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
        """Bring the dock (form, Run, history) to the front."""
        dock = self.dock
        if dock is None:
            return
        dock.show()
        dock.raise_()

    def show_results(self) -> None:
        """Bring the results tab beside the image to the front."""
        self.window.central_tabs.show_page(RESULTS_PAGE)

    def _dock_in_view(self) -> bool:
        dock = self.dock
        return dock is not None and dock.isVisible() and not dock.visibleRegion().isEmpty()

    def showEvent(self, event):  # noqa: N802
        self.form.refresh_project()  # the browser may have opened a project meanwhile
        super().showEvent(event)
        self._warm_once()

    def close_guard(self, document) -> bool:
        if document is None:  # the window closes: start nothing new, end the worker process
            self._drop_queue()
            if self.running is None:
                self.worker.stop()
            else:  # the window cancels the run; the worker ends when the run has ended
                self._stop_worker_after_run = True
        return True

    # -- running ---------------------------------------------------------------------------------
    def run_clicked(self) -> RunRecord | None:
        """Queue a run with the form's settings; None (and a message) if the form is incomplete."""
        self.form.refresh_project()
        try:
            spec = self.form.source_spec()
            config = self.form.config()
        except UserFacingError as exc:
            self.show_problem(str(exc))
            return None
        self.problem.hide()
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
        label = short_source(spec)
        title = f"Baseline run {record.id}: {config.describe()} on {label}"
        task = self.window.tasks.submit(
            title,
            # the worker thread only waits on the child's pipe: the GUI thread keeps the lock
            lambda: self.worker.run(run_on_source, spec, config, label),
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
            self.model.refresh_state(record)

    def _ended(self, record: RunRecord, task) -> None:
        record.state = task.state
        record.progress = None
        record.task = None
        record.started, record.ended = task.started_at, task.ended_at
        if task.state == "done":
            run = task.result
            record.set_result(run.result, self._datasets.get(record.source))
            record.pid = run.pid
            result = run.result
            log.info("baseline run %d: %s", record.id, result.summary().replace("\n", "; "))
        elif task.state == "failed":
            record.error = in_form_terms(task.error)
            record.duration = task.duration
            # Told in the panel, the results tab and the status bar, not in a message box per
            # failed run: queued runs that fail one after another do not pile up windows.
            self.show_problem(f"Baseline run {record.id} failed: {record.error}")
        else:
            record.duration = task.duration
            if self.cancel_clicked_at is None:
                # Stopped from outside the panel (the status bar's Cancel): stop the queue too.
                self._drop_queue()
        if self.running is record:
            self.running = None
        if self._stop_worker_after_run and self.running is None:
            self._stop_worker_after_run = False
            self.worker.stop()
        self.model.refresh(record)
        self.store.save(self.model.records)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(f"run {record.id} {record.state}")
        self._pump()  # the next queued run starts before we draw this one's pictures
        self._update_buttons()
        # Taking in the finished run goes in steps, each its own event (_show_finished): the
        # event loop ticks and paints in between, so no step keeps the GUI thread busy for long
        # (in one piece, the row, the pictures and the switch to the results tab took ~0.1 s).
        self._finish_step(record, 0)

    def show_problem(self, message: str) -> None:
        """A failed run or an incomplete form: said in the panel and the status bar (one
        message, replaced by the next), logged; never a pile of message boxes."""
        self.window.last_error = message
        log.error(message)
        self.window.statusBar().showMessage(message, 15000)
        self.problem.setText(message)
        self.problem.show()
        self.summary.setText("")

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

    def _row_clicked(self, index) -> None:
        record = self.model.records[index.row()] if index.isValid() else None
        if record is not None and record.finished:
            self.result_view.show_record(record)
            self.tabs.setCurrentWidget(self.result_view)
            self.show_results()

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
        self.show_results()

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


def in_form_terms(message: str | None) -> str | None:
    """A run's error as the form's user reads it: the core's hint at ``resize_to`` and
    ``--resize`` becomes the form's Resize to control; the command line's option to score
    unseen classes (the form has none) is left out."""
    if not message:
        return message
    return message.replace(
        RESIZE_HINT, f"({RESIZE_CONTROL} in this form: auto, or a height × width)"
    ).replace(UNSEEN_HINT, "")
