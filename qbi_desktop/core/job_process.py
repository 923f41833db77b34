"""Run a job (a generator yielding Progress) in a child process and drive it from here.

Why: a job on a worker *thread* shares the interpreter lock with the GUI thread. Numerical work
that holds the lock between releases (model fitting, feature reading, kNN chunks) then delays
every key press and repaint by tens to hundreds of milliseconds on a busy machine. In a child
process it shares nothing; the thread that drives it here only waits on a pipe (which releases
the lock) and unpickles small Progress records and the result.

:class:`ProcessWorker` keeps one child alive across jobs, so what a job caches at module level in
the child (features, a fitted model) is still there for the next job and the start-up (~1 s of
imports) is paid once.

Protocol, both ways over one :class:`multiprocessing.connection.Connection`:
parent → child ``("run", factory, args, kwargs)`` and ``("cancel",)``;
child → parent ``("progress", Progress)``, ``("done", result)``, ``("failed", kind, message)``.
The child checks for ``cancel`` after every chunk its job yields and closes the generator, so the
job's ``finally`` blocks run (no half-written file). The driver does not wait for that: a chunk
under way on a busy machine can take longer than a user should wait for Cancel (and the child
would be killed, losing what it keeps for the next job), so the answer is awaited on a thread of
its own, and the next job (or :meth:`ProcessWorker.stop`) starts only once it came. A child that
does not answer within ``CANCEL_GRACE_S`` is terminated. A child whose parent died sees the pipe
close and exits.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.process_memory import give_back_memory, keep_freed_memory

T = TypeVar("T")

log = logging.getLogger(__name__)

# A cancelled job's chunk under way must end within this; nobody waits for it but the next job.
CANCEL_GRACE_S = 1.0
# The parent's generator yields at least this often even when the child is silent, so whoever
# drives it can cancel within this time plus the grace above.
POLL_S = 0.05
# The child sends progress at most this often: a job yielding thousands of times per second
# must not spend its time pickling records nobody shows, and a progress bar needs no more
# than 10 updates a second (each one wakes the parent's reading thread).
PROGRESS_INTERVAL_S = 0.1


class WorkerCrashed(UserFacingError):
    """The child process ended without answering (killed, out of memory, a crash in C code)."""


def _child_main(conn, own_session: bool = False) -> None:
    """The child's loop: run each job it is sent, report, wait for the next one."""
    if own_session:
        # Where the scheduler shares the CPU between sessions first (Linux autogroup), a child
        # computing in its parent's session uses up that session's share and the parent's GUI
        # thread waits behind it (heartbeat gaps of 0.2-1.5 s on a busy machine).
        with contextlib.suppress(OSError):
            os.setsid()
        batch_scheduling()
    keep_freed_memory()  # a job's chunks reuse each other's memory (process_memory.py)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pipe or died
        if message[0] != "run":
            continue  # a cancel that arrived after its job had ended
        _, factory, args, kwargs = message
        try:
            _run_one(conn, factory, args, kwargs)
        finally:
            give_back_memory()


class _PipeGone(Exception):
    """The parent closed its end: nobody waits for this job any more."""


def batch_scheduling() -> None:
    """Mark every thread of this process as batch work (Linux SCHED_BATCH; elsewhere nothing).

    Why: a batch thread's wake-up never preempts a running thread. A Run click sends the job to
    the child, which wakes on the click's core with the credit of its idle time and, as an
    ordinary thread, took the core from the GUI thread before the click's own work was done
    (a 63 ms heartbeat gap, 48 ms of it waiting for a core, with two busy processes). Its
    share of the CPU is unchanged: only when it gets the core differs. Threads started later
    (numerical libraries' pools) inherit the policy from the thread that starts them."""
    if not hasattr(os, "SCHED_BATCH"):
        return
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except (OSError, ValueError):
        threads = [0]  # this thread at least
    for tid in threads:
        with contextlib.suppress(OSError):  # a thread that just ended; a refusing system
            os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0))


def _send(conn, message) -> None:
    try:
        conn.send(message)
    except (EOFError, OSError) as exc:
        raise _PipeGone from exc


def _run_one(conn, factory, args, kwargs) -> None:
    last_sent = 0.0
    job = None
    try:
        job = factory(*args, **kwargs)
        while True:
            try:
                progress = next(job)
            except StopIteration as stop:
                _send(conn, ("done", stop.value))
                return
            now = time.monotonic()
            if now - last_sent >= PROGRESS_INTERVAL_S:
                _send(conn, ("progress", progress))
                last_sent = now
            if _cancel_asked(conn):
                job.close()
                _send(conn, ("cancelled",))
                return
    except _PipeGone:
        if job is not None:
            job.close()
    except BaseException as exc:  # noqa: BLE001 - every failure is reported, the child lives on
        if job is not None:
            job.close()
        _send_failure(conn, exc)


def _cancel_asked(conn) -> bool:
    try:
        if not conn.poll():
            return False
        return conn.recv()[0] == "cancel"
    except (EOFError, OSError) as exc:
        raise _PipeGone from exc


def _send_failure(conn, exc: BaseException) -> None:
    if isinstance(exc, UserFacingError):
        kind = "user"
    elif isinstance(exc, MemoryError):
        kind = "memory"
    else:
        kind = "bug"
    text = str(exc) if kind != "bug" else f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    try:
        conn.send(("failed", kind, text))
    except (OSError, ValueError):
        pass


class ProcessWorker:
    """One child process that runs jobs one at a time and keeps its module state between them.

    ``run(factory, *args)`` returns a Job whose iteration happens in the child; iterate it on any
    thread (a GUI worker thread, the CLI). Jobs submitted from several threads wait their turn.
    The factory and its arguments must pickle (a module-level function and plain values: paths,
    not arrays - the child reads its own data).
    """

    def __init__(self, name: str = "qbi-worker", own_session: bool = False):
        self.name = name
        self.own_session = own_session  # the child starts a session of its own (see _child_main)
        self._lock = threading.Lock()  # one job at a time on the pipe
        self._process = None
        self._conn = None
        self._closed = False
        # (connection, deadline) of a cancel sent whose answer has not come yet (_settle)
        self._awaiting: tuple[Any, float] | None = None

    def start(self) -> None:
        """Start the child now (it takes ~1 s to import); harmless when it already runs."""
        with self._lock:
            if not self._closed:
                self._ensure_started()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _ensure_started(self) -> None:
        if self.alive:
            return
        self._discard()
        ctx = multiprocessing.get_context("spawn")  # fork would copy a Qt app's threads' locks
        parent_end, child_end = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=_child_main, args=(child_end, self.own_session), name=self.name, daemon=True
        )
        process.start()
        child_end.close()
        self._process, self._conn = process, parent_end

    def _discard(self) -> None:
        """Stop the child the hard way (it stopped answering) so the next job starts a new one."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.terminate()
                process.join(1.0)
                if process.is_alive():
                    process.kill()
                    process.join(1.0)
            process.close()

    def stop(self) -> None:
        """End the child (at application exit or when its cache should be dropped), once a
        cancelled job's ``finally`` has run."""
        with self._lock:
            self._settle()
            self._discard()

    def close(self) -> None:
        """End the child for good: a job asked for afterwards fails with :class:`WorkerCrashed`
        instead of starting a new child (a job a worker thread was about to begin when its
        owner went away - a project closed - must not leave a process behind). Waits for a
        running job to see its cancel, like :meth:`stop`."""
        self._closed = True  # before the lock: a job waiting for it sees the flag
        self.stop()

    def run(self, factory: Callable[..., Job[T]], *args: Any, **kwargs: Any) -> Job[T]:
        """The job ``factory(*args, **kwargs)`` run in the child; nothing happens until the
        returned generator is first advanced. Closing it cancels the child's job."""
        return self._drive(factory, args, kwargs)

    def _drive(self, factory, args, kwargs) -> Job[T]:
        with self._lock:
            if self._closed:
                raise WorkerCrashed(f"{self.name}: the worker process was closed")
            self._settle()  # a cancelled job before this one has ended in the child
            self._ensure_started()
            conn, process = self._conn, self._process
            try:
                conn.send(("run", factory, args, kwargs))
            except (OSError, ValueError) as exc:
                self._discard()
                raise WorkerCrashed(
                    f"{self.name}: the worker process could not start the job ({exc})"
                ) from exc
            last = Progress(0, 0, "starting")
            answered = False
            try:
                while True:
                    if not conn.poll(POLL_S):
                        if not process.is_alive():
                            raise self._crashed(process)
                        yield last  # lets the driver cancel while the child is silent
                        continue
                    try:
                        message = conn.recv()
                    except (EOFError, OSError):
                        raise self._crashed(process) from None
                    kind = message[0]
                    if kind == "progress":
                        last = message[1]
                        yield last
                    elif kind == "done":
                        answered = True
                        return message[1]
                    elif kind == "cancelled":
                        answered = True
                        return None
                    elif kind == "failed":
                        answered = True
                        _, what, text = message
                        if what == "user":
                            raise UserFacingError(text)
                        if what == "memory":
                            raise MemoryError(text)
                        log.error(
                            "%s: job %r crashed in the worker process:\n%s",
                            self.name,
                            factory,
                            text,
                        )
                        raise RuntimeError(text.splitlines()[0] if text else "worker job failed")
            finally:
                if not answered and self._conn is conn:
                    self._cancel_running(conn)

    def _crashed(self, process) -> WorkerCrashed:
        """The child died mid-job: forget it (the next job starts another) and say so."""
        code = process.exitcode
        self._discard()
        return WorkerCrashed(
            f"{self.name}: the worker process ended unexpectedly (exit code {code})"
        )

    def _cancel_running(self, conn) -> None:
        """The driver closed the job (cancel) or it raised: ask the child to stop its job, and
        return at once; the child's answer is awaited on another thread (with the lock, which
        the next job and :meth:`stop` take too)."""
        try:
            conn.send(("cancel",))
        except (EOFError, OSError, ValueError):
            self._discard()
            return
        self._awaiting = (conn, time.monotonic() + CANCEL_GRACE_S)
        threading.Thread(target=self._settle_now, name=f"{self.name}-cancel", daemon=True).start()

    def _settle_now(self) -> None:
        with self._lock:
            self._settle()

    def _settle(self) -> None:
        """With the lock held: wait for the answer to a cancel sent earlier (its job's
        ``finally`` has then run in the child), or stop the child when it does not come within
        the grace."""
        if self._awaiting is None:
            return
        conn, deadline = self._awaiting
        self._awaiting = None
        if conn is not self._conn:
            return  # that child is gone already
        try:
            while (left := deadline - time.monotonic()) > 0:
                if not conn.poll(left):
                    break
                if conn.recv()[0] in ("cancelled", "done", "failed"):
                    return
        except (EOFError, OSError, ValueError):
            pass
        self._discard()
