"""Background tasks: run core jobs (generators yielding Progress) on worker threads.

One mechanism for every panel. A :class:`Task` lives in the GUI thread and re-emits what its
worker reports as Qt signals, which Qt queues into the GUI thread. Cancelling sets a flag the
worker checks after every chunk the job yields; the worker then closes the generator, so the job's
``finally`` blocks run and nothing is left half-written. Progress signals are throttled so a job
that yields thousands of times per second cannot flood the event loop.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress

SWITCH_INTERVAL_S = 0.0005

log = logging.getLogger(__name__)

# A progress bar needs no more than 10 updates a second; each update repaints up to three bars
# (the panel's, the Tasks row's, the status bar's), and on a busy machine the reports queued
# while the GUI thread waited for a core were handled in one piece when it got one.
PROGRESS_INTERVAL_S = 0.1


class Task(QObject):
    """A job submitted to the pool. Its state: queued → running → done | failed | cancelled.

    Public signals are emitted in the GUI thread only (the worker reports through private
    signals that Qt queues into this object's thread), so anything may be connected to them.
    """

    progress = Signal(object)  # Progress
    succeeded = Signal(object)  # the job's result
    failed = Signal(str)  # a message for the user
    cancelled = Signal()
    ended = Signal()  # after any of the three above
    state_changed = Signal(str)

    _w_state = Signal(str, object)  # worker → task: (state, payload)
    _w_progress = Signal(object)

    def __init__(
        self, title: str, job_factory: Callable[[], Job[Any]], parent: QObject | None = None
    ):
        super().__init__(parent)
        self.title = title
        self.job_factory = job_factory
        self.listed = True  # shown in the Tasks panel and the status bar (submit(listed=))
        self.state = "queued"
        self.last_progress = Progress(0, 0, "queued")
        self.result: Any = None
        self.error: str | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self._cancel = threading.Event()
        self._w_state.connect(self._on_worker_state)
        self._w_progress.connect(self._on_worker_progress)

    def cancel(self) -> None:
        """Ask the job to stop at its next chunk boundary."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.perf_counter()) - self.started_at

    def _on_worker_progress(self, progress: Progress) -> None:
        self.last_progress = progress
        self.progress.emit(progress)

    def _on_worker_state(self, state: str, payload: Any) -> None:
        self.state = state
        if state == "running":
            self.started_at = payload
        elif state in ("done", "failed", "cancelled"):
            self.ended_at = time.perf_counter()
        self.state_changed.emit(state)
        if state == "done":
            self.result = payload
            self.succeeded.emit(payload)
        elif state == "failed":
            self.error = payload
            self.failed.emit(payload)
        elif state == "cancelled":
            self.cancelled.emit()
        if self.finished:
            self.ended.emit()


class _Runner(QRunnable):
    def __init__(self, task: Task):
        super().__init__()
        self.task = task
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread: talks to the task only through its private signals
        task = self.task
        report = task._w_state.emit
        if task.cancel_requested:
            report("cancelled", None)
            return
        report("running", time.perf_counter())
        last_emit = 0.0
        held: Progress | None = None  # the latest report the throttle held back
        try:
            job = task.job_factory()
            while True:
                try:
                    progress = next(job)
                except StopIteration as stop:
                    if held is not None:  # the bar ends on the job's last report
                        task._w_progress.emit(held)
                    report("done", stop.value)
                    return
                now = time.perf_counter()
                if now - last_emit >= PROGRESS_INTERVAL_S:
                    task._w_progress.emit(progress)
                    last_emit, held = now, None
                else:
                    held = progress
                if task.cancel_requested:
                    job.close()
                    report("cancelled", None)
                    return
        except UserFacingError as exc:
            report("failed", str(exc))
        except MemoryError:
            report("failed", f"{task.title}: not enough memory")
        except Exception as exc:  # noqa: BLE001 - a bug in a job must not take the app down
            log.error("task %r crashed:\n%s", task.title, traceback.format_exc())
            report("failed", f"{task.title} failed: {type(exc).__name__}: {exc}")


class TaskManager(QObject):
    """Submits tasks to a thread pool and keeps them listed for the Tasks dock."""

    task_added = Signal(object)
    active_changed = Signal()

    def __init__(self, parent: QObject | None = None, max_threads: int = 4):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self.tasks: list[Task] = []
        # The GUI thread needs the interpreter lock for every Python slot and event filter; a
        # worker running Python holds it up to the switch interval (5 ms by default) each time.
        # 0.5 ms: typing while the suggestions worker runs had ~100 heartbeat gaps > 50 ms per
        # 300 labels at 5 ms, fewer and shorter at 0.5 ms (bench_browser_keys.py)
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))

    def submit(
        self,
        title: str,
        job_factory: Callable[[], Job[Any]],
        *,
        on_result: Callable[[Any], Any] | None = None,
        on_error: Callable[[str], Any] | None = None,
        on_progress: Callable[[Progress], Any] | None = None,
        listed: bool = True,
        message: str = "",
    ) -> Task:
        """Run a job on the pool. ``listed=False``: kept (cancelled and waited for like any
        other) but not shown in the Tasks panel - for small, frequent refreshes such as the
        Browser's suggestions after each label. ``message``: what the progress bar says until
        the job's first report (it says "queued" otherwise)."""
        task = Task(title, job_factory, self)
        task.listed = listed
        if message:
            task.last_progress = Progress(0, 0, message)
        if on_result is not None:
            task.succeeded.connect(on_result)
        if on_error is not None:
            task.failed.connect(on_error)
        if on_progress is not None:
            task.progress.connect(on_progress)
        task.state_changed.connect(self._on_task_state)
        self.tasks.append(task)
        # Forget finished tasks beyond a history of 50.
        finished = [t for t in self.tasks if t.finished]
        for old in finished[: max(0, len(finished) - 50)]:
            self.tasks.remove(old)
        if listed:
            self.task_added.emit(task)
        self.pool.start(_Runner(task))
        self.active_changed.emit()
        return task

    def run_here(
        self,
        title: str,
        job_factory: Callable[[], Job[Any]],
        *,
        on_result: Callable[[Any], Any] | None = None,
        on_error: Callable[[str], Any] | None = None,
    ) -> Task:
        """Run a short job to its end in the calling (GUI) thread and return it finished, with
        the same signals and error handling as :meth:`submit`: for work smaller than the cost of
        a thread hop (opening a small image must not wait for a worker before its first paint).
        Not listed in the Tasks panel: it is over before the panel could show it."""
        task = Task(title, job_factory, self)
        if on_result is not None:
            task.succeeded.connect(on_result)
        if on_error is not None:
            task.failed.connect(on_error)
        _Runner(task).run()  # reports through queued signals: same thread, so delivered now
        return task

    def _on_task_state(self, _state: str) -> None:
        self.active_changed.emit()

    def active(self) -> list[Task]:
        return [t for t in self.tasks if not t.finished]

    def cancel_all(self) -> None:
        for task in self.active():
            task.cancel()

    def wait(self, timeout_ms: int = 5000) -> bool:
        return self.pool.waitForDone(timeout_ms)
