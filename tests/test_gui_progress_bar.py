"""Progress reports are drawn with the window's next paint, never painted there and then.

A QProgressBar repaints synchronously when its value moves, and a synchronous repaint paints
every dirty region of the window at once: while a baseline ran, one report of progress then
took 15-40 ms of the GUI thread (over 100 ms on a busy machine), with the results' plots
waiting to be drawn. These tests count the paint events Qt delivers while the app takes in a
report: there must be none, and the bars must show the report after the next paint.
"""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from qbi_desktop.core.jobs import Progress
from qbi_desktop.gui.docks.baselines_history import RunRecord
from qbi_desktop.gui.progress_bar import ProgressBar


class PaintCounter(QObject):
    """Counts the paint events the whole application delivers."""

    def __init__(self):
        super().__init__()
        self.paints = 0
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False

    def remove(self) -> None:
        QApplication.instance().removeEventFilter(self)


@pytest.fixture
def paints():
    counter = PaintCounter()
    yield counter
    counter.remove()


def _shown_bar(qtbot) -> tuple[QWidget, ProgressBar]:
    holder = QWidget()
    qtbot.addWidget(holder)
    bar = ProgressBar()
    bar.setTextVisible(True)
    QVBoxLayout(holder).addWidget(bar)
    holder.resize(300, 60)
    holder.show()
    qtbot.waitExposed(holder)
    return holder, bar  # the holder is kept: the bar is its child


def test_a_new_value_is_painted_later_and_once(qtbot, paints):
    _holder, bar = _shown_bar(qtbot)
    bar.setRange(0, 100)
    qtbot.wait(50)
    before = bar.grab().toImage()
    paints.paints = 0
    for value in (10, 30, 60):
        bar.setValue(value)
    assert paints.paints == 0  # nothing painted while the reports came in
    assert bar.value() == 60
    qtbot.waitUntil(lambda: paints.paints > 0, timeout=2000)
    qtbot.wait(50)
    assert bar.grab().toImage() != before  # the bar moved on screen


def test_a_new_range_that_resets_the_value_is_not_painted_at_once(qtbot, paints):
    """setRange on a value outside the new range resets the bar, which repaints at once."""
    _holder, bar = _shown_bar(qtbot)
    bar.setRange(0, 1000)
    bar.setValue(900)
    qtbot.wait(50)
    paints.paints = 0
    bar.setRange(0, 10)
    bar.reset()
    assert paints.paints == 0
    assert (bar.minimum(), bar.maximum()) == (0, 10)
    qtbot.waitUntil(lambda: paints.paints > 0, timeout=2000)


def test_a_running_tasks_reports_paint_nothing_in_the_window_at_once(qtbot, main_window, paints):
    """The status bar's bar, the Tasks panel's row and the Baselines panel's bar all take a
    report of a real running task without painting; after the next paint they show it."""
    main_window.docks["tasks"].show()
    panel = main_window.panels["baselines"]
    panel.show_panel()
    release = threading.Event()

    def job():
        yield Progress(1, 10, "starting")
        release.wait(10)
        return None

    # the run's record in the Baselines history, whose bar follows the task as a run's does
    record = RunRecord(id=1, source="mnist:x", config={}, created="now", state="running")
    panel.model.add(record)
    task = main_window.tasks.submit("a long job", job)
    task.progress.connect(lambda p: panel._progress(record, p))
    try:
        qtbot.waitUntil(lambda: main_window.task_bar.isVisible(), timeout=5000)
        qtbot.wait(300)  # every bar has been painted with the first report
        paints.paints = 0
        task._on_worker_progress(Progress(7, 10, "comparing test rows"))  # as the queued report
        main_window._update_task_bar()
        assert paints.paints == 0
        qtbot.waitUntil(lambda: paints.paints > 0, timeout=2000)
        assert main_window.task_bar.value() == 7
        assert panel.progress.value() == 7
        row_bar = main_window.tasks_panel.table.cellWidget(0, 2)
        assert isinstance(row_bar, ProgressBar) and row_bar.value() == 7
    finally:
        release.set()
        main_window.tasks.wait(5000)


def test_every_progress_bar_of_the_window_takes_reports_without_painting(main_window):
    """A bar added later as a plain QProgressBar would bring the repaints back."""
    from PySide6.QtWidgets import QProgressBar

    bars = main_window.findChildren(QProgressBar)
    assert len(bars) >= 4  # the status bar's, Baselines', Simulate's and Augment's
    plain = [bar for bar in bars if not isinstance(bar, ProgressBar)]
    assert plain == []


def test_the_status_bar_says_what_runs_as_tasks_come_and_report(qtbot, main_window):
    """Its text is laid out again only when it changes: a second task and a new message must
    still show."""
    release = threading.Event()

    def job(message):
        def run():
            yield Progress(1, 10, message)
            release.wait(10)
            return None

        return run

    first = main_window.tasks.submit("first job", job("reading"))
    bar = main_window.task_bar
    try:
        qtbot.waitUntil(
            lambda: bar.isVisible() and bar.toolTip() == "first job: reading", timeout=5000
        )
        assert bar.text().startswith("first job")
        first._on_worker_progress(Progress(2, 10, "writing"))  # as the queued report
        qtbot.waitUntil(lambda: bar.toolTip() == "first job: writing", timeout=2000)
        main_window.tasks.submit("second job", job("waiting"))
        qtbot.waitUntil(lambda: "(+1)" in bar.text(), timeout=5000)
    finally:
        release.set()
        main_window.tasks.wait(5000)


def test_a_bar_moves_by_whole_percents_and_always_reaches_its_ends(qtbot):
    """Reports under 1 % of the bar apart are not taken (nothing would move on screen), but
    their sum is, and the first and last values always are."""
    _holder, bar = _shown_bar(qtbot)
    bar.setRange(0, 10_000)
    bar.setValue(0)
    for value in range(1, 100):  # 0.99 % in small steps: nothing visible yet
        bar.setValue(value)
    assert bar.value() == 0
    bar.setValue(100)  # a whole percent from the last value shown
    assert bar.value() == 100
    bar.setValue(150)
    assert bar.value() == 100
    bar.setValue(10_000)  # the end is always shown
    assert bar.value() == 10_000
    bar.setRange(0, 10)  # a short job: every step is more than 1 %
    for value in range(11):
        bar.setValue(value)
        assert bar.value() == value


def test_a_bar_that_shows_the_count_takes_every_value(qtbot):
    _holder, bar = _shown_bar(qtbot)
    bar.setFormat("%v / %m images")
    bar.setRange(0, 10_000)
    bar.setValue(0)
    bar.setValue(37)
    assert bar.value() == 37 and bar.text() == "37 / 10000 images"


def test_a_bar_without_a_count_says_what_runs_and_does_not_animate(qtbot, paints):
    """Qt's busy indicator for the range (0, 0) draws no text and repaints the window many times
    a second; ours shows an empty bar with its text, painted once."""
    _holder, bar = _shown_bar(qtbot)
    bar.setRange(0, 100)
    bar.setValue(40)
    bar.setRange(0, 0)
    bar.setFormat("Reading 70,000 items…")
    qtbot.wait(100)
    assert bar.text() == "Reading 70,000 items…"
    paints.paints = 0
    qtbot.wait(500)
    assert paints.paints <= 1


def test_the_status_bar_names_a_task_that_has_no_count_yet(qtbot, main_window):
    release = threading.Event()

    def job():
        yield Progress(0, 0, "reading the catalog")
        release.wait(10)
        return None

    main_window.tasks.submit("Import 3 files", job)
    bar = main_window.task_bar
    try:
        qtbot.waitUntil(lambda: bar.isVisible() and bar.text() == "Import 3 files", timeout=5000)
    finally:
        release.set()
        main_window.tasks.wait(5000)


def test_a_running_baselines_row_repaints_only_its_state_cell(qtbot, main_window):
    """The history row of a running run says how far it is; each update is one cell, not the
    row's twelve (each a call into Python per column and role when painted)."""
    import time

    from qbi_desktop.gui.docks.baselines import ROW_REFRESH_S
    from qbi_desktop.gui.docks.baselines_history import STATE_COLUMN

    panel = main_window.panels["baselines"]
    record = RunRecord(id=1, source="mnist:x", config={}, created="now", state="running")
    panel.model.add(record)
    changed = []
    panel.model.dataChanged.connect(
        lambda a, b, *_: changed.append(((a.row(), a.column()), (b.row(), b.column())))
    )
    time.sleep(ROW_REFRESH_S)
    panel._progress(record, Progress(3, 10, "predicting"))
    row = panel.model.records.index(record)
    assert changed == [((row, STATE_COLUMN), (row, STATE_COLUMN))]
    shown = panel.model.data(panel.model.index(row, STATE_COLUMN))
    assert shown == "running 30 %"
