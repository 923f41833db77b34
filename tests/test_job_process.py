"""Jobs run in a child process: results, progress, cancel, failures and a thread that stays free.

The jobs below are module-level so the spawned child can import them by name.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from qbi_desktop.core import process_memory
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.job_process import CANCEL_GRACE_S, ProcessWorker, WorkerCrashed
from qbi_desktop.core.jobs import Cancelled, Progress, run_job

_CALLS = 0  # module state in the child: kept between the jobs of one ProcessWorker


def counting_job(n: int):
    global _CALLS
    _CALLS += 1
    for i in range(n):
        yield Progress(i + 1, n, "counting")
    return {"pid": os.getpid(), "calls": _CALLS, "total": sum(range(n))}


def endless_job(marker: str):
    try:
        while True:
            time.sleep(0.01)
            yield Progress(0, 0, "still going")
    finally:
        Path(marker).write_text("closed")


def slow_chunk_job(marker: str, chunk_seconds: float):
    try:
        while True:
            yield Progress(0, 0, "chunk")
            time.sleep(chunk_seconds)  # a chunk of work between two cancel points
    finally:
        Path(marker).write_text("closed")


def silent_job(seconds: float):
    yield Progress(0, 1, "about to sleep")
    time.sleep(seconds)  # never yields: only terminating the child stops it
    return "woke"


def failing_job(kind: str):
    yield Progress(0, 1, "failing")
    if kind == "user":
        raise UserFacingError("scan.nxs: dataset /entry/data/data has 0 frames")
    raise ZeroDivisionError("a bug")


def dying_job():
    yield Progress(0, 1, "dying")
    os.kill(os.getpid(), signal.SIGKILL)
    yield Progress(1, 1, "never")


def gil_holding_job(n: int):
    yield Progress(0, 1, "summing")
    # one C call that never releases the interpreter lock (~1 s for 5e7 on this machine)
    return sum(range(n))


def paced_job(n: int, pause: float):
    for i in range(n):
        time.sleep(pause)
        yield Progress(i + 1, n, "paced")
    return n


def session_job():
    yield Progress(0, 1, "asking")
    return os.getpid(), os.getsid(0)


def policies_job():
    """The scheduling policy of every thread of the child, with one started by the job."""
    started = threading.Thread(target=time.sleep, args=(0.5,))
    started.start()
    yield Progress(0, 1, "asking")
    tids = [int(tid) for tid in os.listdir("/proc/self/task")]
    policies = {os.sched_getscheduler(tid) for tid in tids}
    started.join()
    return len(tids), policies


def churning_job(mib: int, rounds: int):
    """Allocates, fills and frees a large temporary each round, as a kNN chunk does with its
    scores; returns the minor page faults of the first round and of all later ones, and the
    child's resident set at the start."""
    import resource

    import numpy as np

    def faults() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    rss_start = _resident_mib()
    per_round = []
    for _ in range(rounds):
        before = faults()
        block = np.ones(mib << 18, dtype=np.float32)  # mib MiB, every page written
        del block
        per_round.append(faults() - before)
        yield Progress(len(per_round), rounds, "churning")
    return per_round[0], sum(per_round[1:]), rss_start


def _resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.fixture
def worker():
    w = ProcessWorker("test-worker")
    yield w
    w.stop()


def test_a_job_runs_in_another_process_and_reports_progress_and_result(worker):
    seen = []
    result = run_job(worker.run(counting_job, 2000), on_progress=seen.append)
    assert result["pid"] != os.getpid()
    assert result["total"] == sum(range(2000))
    assert seen and all(isinstance(p, Progress) for p in seen)


def test_progress_comes_from_the_child_at_most_ten_times_a_second(worker):
    """A job reporting 100 times a second: the parent hears of it as often as a progress bar
    needs (each report wakes its reading thread), not every time."""
    seen: list[Progress] = []
    start = time.monotonic()
    assert run_job(worker.run(paced_job, 150, 0.01), on_progress=seen.append) == 150
    elapsed = time.monotonic() - start
    sent = {p.done for p in seen if p.total}  # the parent repeats the last while the child is quiet
    assert sent and len(sent) <= 10 * elapsed + 1, (len(sent), elapsed)


def test_the_worker_keeps_its_state_between_jobs(worker):
    first = run_job(worker.run(counting_job, 10))
    second = run_job(worker.run(counting_job, 10))
    assert second["pid"] == first["pid"]
    assert second["calls"] == first["calls"] + 1  # a cache built by one job is there for the next


def test_cancel_closes_the_childs_job_and_the_worker_lives_on(worker, tmp_path):
    marker = tmp_path / "closed.txt"
    pid_before = run_job(worker.run(counting_job, 1))["pid"]
    stop_at = time.monotonic() + 0.5
    t0 = None

    def should_stop():
        nonlocal t0
        if time.monotonic() > stop_at:
            t0 = time.monotonic()
            return True
        return False

    with pytest.raises(Cancelled):
        run_job(worker.run(endless_job, str(marker)), should_stop=should_stop)
    assert time.monotonic() - t0 <= 0.2  # the driver does not wait for the child's answer
    assert run_job(worker.run(counting_job, 1))["pid"] == pid_before
    # the next job began after the cancelled one's finally: nothing left half-written
    assert marker.read_text() == "closed"


def test_a_cancel_is_reported_at_once_while_the_child_ends_its_chunk(worker, tmp_path):
    """A chunk under way when Cancel comes (a slow block on a busy machine): the driver is free
    at once, the child is not killed for being slow (it keeps what it caches for the next
    job), and stop() waits for the job's finally before it ends the child."""
    marker = tmp_path / "closed.txt"
    job = worker.run(slow_chunk_job, str(marker), 0.6)
    while next(job).message != "chunk":  # the child has begun (not the parent's "starting")
        pass
    # The child looks for a cancel right after it sent "chunk": a cancel sent at once could
    # arrive before that look (about one run in four), and the child then ended between two
    # chunks, not inside one. 0.2 s later it is inside its 0.6 s chunk.
    time.sleep(0.2)
    pid = worker.pid
    t0 = time.monotonic()
    job.close()  # the child is inside a 0.6 s chunk
    assert time.monotonic() - t0 <= 0.2
    assert not marker.exists()  # still computing its chunk
    assert run_job(worker.run(counting_job, 1))["pid"] == pid  # the same child, not a new one
    assert marker.read_text() == "closed"
    job = worker.run(slow_chunk_job, str(marker), 0.6)
    while next(job).message != "chunk":  # the child has begun (not the parent's "starting")
        pass
    marker.unlink()
    job.close()
    worker.stop()  # the window closes right after a cancel
    assert marker.read_text() == "closed" and not worker.alive


def test_a_job_that_never_yields_is_stopped_after_the_grace(worker):
    job = worker.run(silent_job, 30.0)
    while next(job).message != "about to sleep":
        pass
    time.sleep(0.1)  # the child is asleep now, deaf to a polite cancel
    t0 = time.monotonic()
    job.close()
    assert time.monotonic() - t0 <= 0.2
    deadline = t0 + CANCEL_GRACE_S + 0.5
    while worker.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not worker.alive  # terminated once the grace was over, though nobody asked
    assert run_job(worker.run(counting_job, 3))["total"] == 3  # a new child takes over


def test_failures_come_back_as_the_same_kind_of_error(worker):
    with pytest.raises(UserFacingError, match="dataset /entry/data/data has 0 frames"):
        run_job(worker.run(failing_job, "user"))
    with pytest.raises(RuntimeError, match="ZeroDivisionError: a bug"):
        run_job(worker.run(failing_job, "bug"))
    assert run_job(worker.run(counting_job, 2))["total"] == 1  # the child survived both


def test_a_killed_child_is_reported_and_replaced(worker):
    with pytest.raises(WorkerCrashed, match="ended unexpectedly"):
        run_job(worker.run(dying_job))
    assert run_job(worker.run(counting_job, 2))["total"] == 1


def test_a_job_holding_the_interpreter_lock_does_not_stall_this_process():
    """The reason for all this: the thread that waits for the job stays free, and so does every
    other thread of this process (the GUI thread, in the app)."""
    worker = ProcessWorker("gil-test")
    worker.start()
    run_job(worker.run(counting_job, 1))  # started and imported before we measure
    result = {}
    driver = threading.Thread(
        target=lambda: result.setdefault("v", run_job(worker.run(gil_holding_job, 50_000_000)))
    )
    gaps = []
    last = time.perf_counter()
    driver.start()
    while driver.is_alive():
        time.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    driver.join()
    worker.stop()
    assert result["v"] == sum(range(50_000_000))
    assert len(gaps) > 20  # it ran long enough to measure
    assert max(gaps) < 0.15, f"this process stalled {max(gaps) * 1000:.0f} ms"


def test_a_closed_worker_ends_its_child_and_starts_no_other(worker, tmp_path):
    """A project closed while a worker thread was about to submit its next job: the child ends
    with the running job, and the late job fails instead of leaving a new process behind."""
    marker = tmp_path / "closed.txt"
    job = worker.run(endless_job, str(marker))
    next(job)
    pid = worker.pid
    closer = threading.Thread(target=worker.close)
    closer.start()
    time.sleep(0.1)
    job.close()  # the driver sees its cancel, as a worker thread does
    closer.join(5.0)
    assert not closer.is_alive() and not worker.alive
    with pytest.raises(WorkerCrashed, match="closed"):
        run_job(worker.run(counting_job, 1))
    worker.start()
    assert not worker.alive and worker.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_worker_can_run_its_child_in_a_session_of_its_own():
    own = ProcessWorker("own-session", own_session=True)
    try:
        pid, sid = run_job(own.run(session_job))
    finally:
        own.stop()
    assert pid != os.getpid() and sid == pid  # the child leads a new session
    shared = ProcessWorker("shared-session")
    try:
        pid, sid = run_job(shared.run(session_job))
    finally:
        shared.stop()
    assert sid == os.getsid(0)  # by default it stays in ours


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_a_background_child_is_batch_work_and_its_wake_ups_leave_the_gui_its_core():
    own = ProcessWorker("batch", own_session=True)
    try:
        threads, policies = run_job(own.run(policies_job))
    finally:
        own.stop()
    # every thread, the numerical libraries' pools and a thread the job started included
    assert threads >= 2 and policies == {os.SCHED_BATCH}
    shared = ProcessWorker("shared-session")
    try:
        _threads, policies = run_job(shared.run(policies_job))
    finally:
        shared.stop()
    assert policies == {os.SCHED_OTHER}  # a child in our session is scheduled as we are


@pytest.mark.skipif(not process_memory.supported(), reason="glibc's malloc")
def test_the_child_reuses_a_jobs_freed_memory_and_gives_it_back_after(worker):
    # Unless the child keeps what it freed, each round faults its 256 MiB in afresh (128 faults
    # with 2 MiB pages, 65 536 with 4 KiB ones).
    first, later, _ = run_job(worker.run(churning_job, 256, 8))
    assert first > 100  # the first round takes its pages from the system (2 MiB ones or 4 KiB)
    assert later < first / 10  # the seven rounds after it reuse them
    # the memory went back when the job ended: the next job starts without those 256 MiB
    *_, rss_next = run_job(worker.run(churning_job, 1, 1))
    assert rss_next < 200
