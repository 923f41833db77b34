"""Full MNIST 1-NN (60 000 x 10 000, L2) through the Baselines dock's worker vs a plain
scikit-learn script, and the GUI's responsiveness during that run.

Run: ``.venv/bin/python tests/benchmarks/bench_baselines_gui.py [--runs 3]``
(offscreen by default; under Xvfb set ``QT_QPA_PLATFORM=xcb``).

Each measurement runs in its own fresh process and the variants are interleaved run by run (the
order alternating), so a busy machine slows both alike; ``--busy 2`` keeps two busy-looping
processes running meanwhile (started and stopped here); the load average is recorded and the
ratio is the median (range) of per-round ratios (sidebyside.py). Sessions: Linux (autogroup)
shares the CPU between sessions before processes, so each measured run and each busy process
starts a session of its own, as separate programs on a desktop do; the dock's worker process
starts its own too (or its computing would take the CPU share of the GUI's session). Loading
the IDX files is not timed on either side (the dock's worker process keeps the dataset it read
in memory for the next run; the benchmark has it read there first, through the worker, as a
first run would).

- ``sklearn-f32``: ``KNeighborsClassifier(1).fit(X, y).predict(Xt)`` on float32 pixels;
- ``gui``: the real main window; the Baselines form set to MNIST, kNN k=1, then Run clicked
  (the run computes in the dock's worker process, as every run from the dock does).
  Timed from the click until the result is in the history (the worker's own time is shown too).
  As the app always does, the run also scores 1000 training items for the train/test columns.
  Then a second run is started and cancelled with the Cancel button once its prediction is
  under way: the time from the click until the run has ended is the cancel latency.
  Throughout, a 5 ms QTimer heartbeat runs in the GUI thread: a gap between its ticks is how
  long the GUI could not react. Gaps are told by phase: at a Run click (1 s after each), during
  the run, at its end (from 0.2 s before the worker's end until 0.5 s after the pictures are
  shown) and at Cancel (from the click until 0.5 s after the run ended); for each phase the
  longest gap, the gaps > 50 ms, and the most CPU time the GUI thread itself used within one
  gap (that part is the app's own work; the rest of a gap is waiting for a core or a lock,
  which grows with the machine's load), and how long the GUI thread was runnable but waiting
  for a core (Linux schedstat). On this shared virtual machine, thread CPU time itself swells
  with the host's load: a fixed 5 ms loop measured up to 19 ms of CPU on a quiet guest, so a
  gap's CPU figure is an upper bound of our work. What the worker does counts too, though it
  runs in another process: while it mapped and unmapped its chunks' scores afresh (~14 600 page
  faults a second) the GUI thread's events took several times their CPU, and 3 of 5 runs had
  gaps over 50 ms while the prediction ran; since the worker keeps its freed memory for the
  job (core/process_memory.py) none did in 10 runs.

- ``qt-window``: the floor (qt_floor.py): a plain Qt window whose progress bars and one table
  cell change 10 times a second, with the same heartbeat, while a child process in a session of
  its own computes 1-NN products of MNIST's size. What gaps it shows too are the machine's; the
  rest of the app's are the app's own work.

``--profile``: the GUI thread's Python stack is sampled every 2 ms and each gap over 30 ms is
printed with its most frequent stacks (a stack ending in the event loop's ``exec`` is Qt's own
layout or painting). For native stacks, run ``--one gui`` under ``perf record -g -k
CLOCK_MONOTONIC``: each gap's ``at`` is a ``time.perf_counter()`` (CLOCK_MONOTONIC) stamp.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qt_floor import HEARTBEAT_MS, floor_run  # noqa: E402  (this folder)
from sidebyside import SideBySide, busy, load_text  # noqa: E402  (this folder)

MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
VARIANTS = ("sklearn-f32", "gui", "qt-window")


def sklearn_run() -> dict:
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    from qbi_desktop.core.datasets import mnist_dataset

    ds = mnist_dataset(MNIST, "all")
    images, labels, splits = ds.images(), ds.targets(), ds.splits()
    train, test = splits == "train", splits == "test"
    X = images[train].reshape(int(train.sum()), -1).astype(np.float32)
    Xt = images[test].reshape(int(test.sum()), -1).astype(np.float32)
    t0 = time.perf_counter()
    pred = KNeighborsClassifier(1).fit(X, labels[train]).predict(Xt)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "errors": int(np.sum(pred != labels[test]))}


class GapSampler:
    """Samples the GUI thread's Python stack every ~2 ms from a thread of its own (``--profile``),
    to say what the GUI thread was doing during a long heartbeat gap. A stack that ends in the
    event loop's ``exec`` means Qt itself (layout, paint) was busy, not a Python slot."""

    def __init__(self, interval: float = 0.002):
        import threading

        self.interval = interval
        self.target = threading.get_ident()
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self.target)
            stack = []
            while frame is not None and len(stack) < 40:
                code = frame.f_code
                name = Path(code.co_filename).name
                stack.append(f"{name}:{frame.f_lineno} {code.co_name}")
                frame = frame.f_back
            self.samples.append((time.perf_counter(), tuple(stack)))

    def during(self, start: float, end: float, depth: int = 8) -> list[tuple[int, str]]:
        """The most frequent stacks (innermost ``depth`` frames) sampled between two times."""
        from collections import Counter

        counts = Counter(" < ".join(s[:depth]) for t, s in self.samples if start < t < end)
        return [(n, s) for s, n in counts.most_common(3)]


class StealSampler:
    """Reads the machine's steal time (:func:`_steal_s`) every 10 ms from a thread of its own,
    so that each long heartbeat gap can say how much of it the hypervisor gave to other
    guests. /proc/stat counts in ticks of 10 ms, summed over the CPUs: a gap with 20 ms of
    steal had at least one CPU taken away for that long (maybe not the GUI thread's)."""

    def __init__(self, interval: float = 0.01):
        import threading

        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        if _steal_s() is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append((time.perf_counter(), _steal_s() or 0.0))

    def during(self, start: float, end: float) -> float | None:
        """Steal (ms) between the last sample before ``start`` and the first after ``end``."""
        before = [v for t, v in self.samples if t <= start]
        after = [v for t, v in self.samples if t >= end]
        if not before or not after:
            return None
        return 1000 * (after[0] - before[-1])


def _gap_phases(gaps: list[tuple[float, float]], marks: dict[str, tuple[float, float]]) -> dict:
    """Per phase (a named time window), the longest heartbeat gap overlapping it (ms) and how
    many gaps > 50 ms; a gap overlapping no window counts as 'during'."""
    out = {name: {"max_ms": 0.0, "over_50": 0} for name in (*marks, "during")}
    for a, b in gaps:
        phase = next((n for n, (lo, hi) in marks.items() if a < hi and b > lo), "during")
        row = out[phase]
        row["max_ms"] = max(row["max_ms"], 1000 * (b - a))
        row["over_50"] += int(b - a > 0.05)
    return out


def gui_run() -> dict:
    import tempfile

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["QBI_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="qbi-bench-")
    import numpy as np
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from qbi_desktop.core.baselines.worker_jobs import load_source
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.gui.app import freeze_startup_objects

    app = QApplication.instance() or QApplication([])
    from qbi_desktop.gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    panel = window.panels["baselines"]
    panel.show_panel()
    form = panel.form
    form.source.setCurrentIndex(form.source.findData("mnist"))
    form.path.setText(str(MNIST))
    form.model.setCurrentIndex(form.model.findData("knn"))
    form.k.setValue(1)
    spec = form.source_spec()
    # as after a first run: the worker process is up and holds the data in memory
    run_job(panel.worker.run(load_source, spec))
    for _ in range(20):
        app.processEvents()
    # as the app does a few seconds after its start (gui/app.py): the long-lived objects are
    # left out of full garbage collections, which took ~40 ms of the GUI thread each
    freeze_startup_objects()

    ticks: list[float] = []
    cpu: list[float] = []  # the GUI thread's CPU time at each tick
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(HEARTBEAT_MS)
    # The GUI thread's time spent runnable but waiting for a core (Linux schedstat, ns): the
    # part of a gap that is the machine's scheduling, not our work nor a lock.
    schedstat = _open_schedstat()
    waited: list[int] = []
    heartbeat.timeout.connect(
        lambda: (
            ticks.append(time.perf_counter()),
            cpu.append(time.thread_time()),
            waited.append(_run_delay_ns(schedstat)),
        )
    )

    def wait_until(done) -> None:
        loop = QEventLoop()
        check = QTimer()
        check.setInterval(5)
        check.timeout.connect(lambda: done() and loop.quit())
        check.start()
        loop.exec()
        check.stop()

    # The machine's own noise: the same heartbeat for 3 s with nothing running.
    heartbeat.start()
    idle_start = time.perf_counter()
    pause = QEventLoop()
    QTimer.singleShot(3000, pause.quit)
    pause.exec()
    idle = np.diff([t for t in ticks if t >= idle_start])
    ticks.clear()
    cpu.clear()
    waited.clear()

    # How long the GUI thread spends in the run's end handler (history, queue), and when the
    # run's pictures have been taken in.
    ended_cost: list[float] = []
    original_ended = panel._ended

    def timed_ended(record, task) -> None:
        s0 = time.perf_counter()
        original_ended(record, task)
        ended_cost.append(time.perf_counter() - s0)

    panel._ended = timed_ended
    shown_at: dict[int, float] = {}

    def shown(record) -> bool:
        if panel.last_shown is record:
            shown_at.setdefault(record.id, time.perf_counter())
        return record.id in shown_at

    sampler = GapSampler() if os.environ.get("QBI_BENCH_PROFILE") else contextlib.nullcontext()
    with sampler, StealSampler() as stealing:
        t0, cpu0, steal0 = time.perf_counter(), time.process_time(), _steal_s()
        panel.run_button.click()
        record = panel.model.records[-1]
        wait_until(lambda: shown(record))
        seconds = time.perf_counter() - t0
        gui_cpu = time.process_time() - cpu0  # every thread of the GUI process, not the worker
        assert record.state == "done", record.error
        assert record.pid == panel.worker.pid != os.getpid()
        first = record
        pause = QEventLoop()  # apart from the next click, so that each gap has one cause
        QTimer.singleShot(1000, pause.quit)
        pause.exec()

        # Cancel: start again, wait until the prediction is under way, press Cancel.
        t1 = time.perf_counter()
        panel.run_button.click()
        record = panel.model.records[-1]
        task = record.task
        wait_until(lambda: (record.progress or 0) > 0.2)
        clicked = time.perf_counter()
        panel.cancel_button.click()
        wait_until(lambda: record.finished)
        # the GUI settles after the cancel (the finished run's row and views)
        pause = QEventLoop()
        QTimer.singleShot(500, pause.quit)
        pause.exec()
        t_end, steal = time.perf_counter(), _steal_s()
    heartbeat.stop()

    stamps = np.asarray([t0, *[t for t in ticks if t0 <= t <= t_end], t_end])
    gaps = [(a, b) for a, b in zip(stamps[:-1], stamps[1:], strict=True)]
    # What the GUI thread itself computed between two ticks (its CPU time): unlike the gap,
    # this does not grow when the machine is busy and the thread waits for a core.
    inside = [i for i, t in enumerate(ticks) if t0 <= t <= t_end]
    work = [
        (ticks[i], ticks[j], cpu[j] - cpu[i]) for i, j in zip(inside[:-1], inside[1:], strict=True)
    ]
    run_gaps = np.diff([t for t in stamps if t <= t0 + seconds])
    marks = {
        "run": (t0, t0 + 1.0),
        "end": (first.ended - 0.2, shown_at[first.id] + 0.5),
        "run2": (t1, t1 + 1.0),
        "cancel": (clicked, t_end),
    }
    phases = _gap_phases(gaps, marks)
    busiest = _gap_phases([(a, a + c) for a, _b, c in work], marks)  # CPU in a gap, by phase
    for name, row in phases.items():
        row["cpu_ms"] = busiest[name]["max_ms"]
    second = phases.pop("run2")
    for key in ("max_ms", "cpu_ms"):
        phases["run"][key] = max(phases["run"][key], second[key])
    phases["run"]["over_50"] += second["over_50"]
    worst = max(gaps, key=lambda g: g[1] - g[0])
    out = {
        "seconds": seconds,
        "worker_seconds": first.ended - first.started,
        "gui_cpu_s": gui_cpu,
        "errors": len(first.result.misclassified),
        "max_gap_ms": float(max(b - a for a, b in gaps) * 1000),
        "p99_gap_ms": float(np.percentile(run_gaps, 99) * 1000),
        "gaps_over_50ms": int(sum(b - a > 0.05 for a, b in gaps)),
        "phases": phases,
        "ticks": len(stamps) - 2,
        "idle_max_gap_ms": float(idle.max() * 1000) if idle.size else None,
        "show_result_ms": 1000 * ended_cost[0] if ended_cost else None,
        # Where the longest gap was: seconds after the first click, and after its worker's end.
        "max_gap_at_s": float(worst[0] - t0),
        "max_gap_after_worker_s": float(worst[0] - first.ended),
    }
    # Each gap over 30 ms: when, how long, the GUI thread's own CPU time in it, the machine's
    # steal time around it, and (--profile) what the GUI thread was doing.
    gui_cpu_in = {round(a, 6): c for a, _b, c in work}
    queued_in = {
        round(ticks[i], 6): (waited[j] - waited[i]) / 1e6
        for i, j in zip(inside[:-1], inside[1:], strict=True)
        if waited[i] >= 0
    }
    out["long_gaps"] = [
        {
            "at_s": a - t0,
            "at": a,
            "ms": 1000 * (b - a),
            "cpu_ms": 1000 * gui_cpu_in[round(a, 6)] if round(a, 6) in gui_cpu_in else None,
            "queued_ms": queued_in.get(round(a, 6)),
            "steal_ms": stealing.during(a, b),
            **({"stacks": sampler.during(a, b)} if isinstance(sampler, GapSampler) else {}),
        }
        for a, b in gaps
        if b - a > 0.03
    ]
    out["cancel_s"] = task.ended_at - clicked
    out["cancel_state"] = record.state
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if steal is not None and steal0 is not None:
        out["steal_ms"] = 1000 * (steal - steal0)
    window.close()
    return out


PHASES = ("run", "during", "end", "cancel")


def _open_schedstat() -> int:
    """A descriptor of the calling thread's /proc schedstat (-1 where there is none)."""
    try:
        return os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return -1


def _run_delay_ns(fd: int) -> int:
    """The thread's total time runnable but not running (ns), or -1 where unknown."""
    if fd < 0:
        return -1
    try:
        return int(os.pread(fd, 64, 0).split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _steal_s() -> float | None:
    """CPU time the hypervisor gave to others while this virtual machine wanted it (all CPUs,
    seconds since boot; None off Linux): a gap with steal in its run is the host's, not ours."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _print_phases(row: dict) -> None:
    """One line per phase: the longest gap, gaps > 50 ms, the GUI thread's most CPU in a gap."""
    parts = [
        f"{name} {p['max_ms']:.0f} ms ({p['over_50']} > 50, CPU {p['cpu_ms']:.0f} ms)"
        for name in PHASES
        for p in (row["phases"][name],)
    ]
    print("      gaps: " + "  ".join(parts))
    for gap in row.get("long_gaps", []):
        if gap["ms"] <= 50 and "stacks" not in gap:
            continue
        print(f"      gap at {gap['at_s']:.2f} s, {gap['ms']:.0f} ms: {_gap_cause(gap)}")
        for n, stack in gap.get("stacks", []):
            print(f"        {n:3d}x {stack}")


def _gap_cause(gap: dict) -> str:
    """The GUI thread's CPU time in a gap and the machine's steal time around it."""
    cpu = "?" if gap.get("cpu_ms") is None else f"{gap['cpu_ms']:.0f}"
    queued = "?" if gap.get("queued_ms") is None else f"{gap['queued_ms']:.0f}"
    steal = "?" if gap.get("steal_ms") is None else f"{gap['steal_ms']:.0f}"
    return f"GUI thread CPU {cpu} ms, waiting for a core {queued} ms, machine steal {steal} ms"


def _stolen(gap: dict) -> bool:
    """A gap over 50 ms that the GUI thread did not fill with its own work and during which
    the hypervisor took a CPU away for at least a tick of /proc/stat (10 ms)."""
    return (gap.get("steal_ms") or 0) >= 10 and (gap.get("cpu_ms") or 0) < 50


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--busy", type=int, default=0, help="busy-looping processes during the runs (e.g. 2)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample the GUI thread's stack during long gaps"
    )
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        os.environ["QBI_BENCH_PROFILE"] = "1"  # read by gui_run in the measured processes
    if args.one:
        runs = {"sklearn-f32": sklearn_run, "gui": gui_run, "qt-window": floor_run}
        print(json.dumps(runs[args.one]()))
        return
    if not MNIST.exists():
        sys.exit(f"MNIST not found at {MNIST}")
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    sbs = SideBySide(
        f"full MNIST 1-NN through the dock vs scikit-learn, {args.runs} interleaved rounds, "
        f"{args.busy} busy processes started by the benchmark"
    )
    print(load_text(), flush=True)
    stack = contextlib.ExitStack()
    stack.enter_context(busy(args.busy, own_sessions=True))
    for run in range(args.runs):
        before = os.getloadavg()[0]
        k = run % len(VARIANTS)
        for variant in VARIANTS[k:] + VARIANTS[:k]:  # alternate who goes first
            proc = subprocess.run(
                [sys.executable, __file__, "--one", variant],
                capture_output=True,
                text=True,
                start_new_session=True,  # see the module's note on sessions
            )
            if proc.returncode != 0:
                sys.exit(f"{variant} failed:\n{proc.stderr[-3000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            results[variant].append(row)
            if variant == "qt-window":
                print(
                    f"run {run + 1} {variant:12s} longest heartbeat gap {row['max_gap_ms']:.0f} ms"
                    f"  {row['gaps_over_50ms']} gaps > 50 ms  (the floor: qt_floor.py)",
                    flush=True,
                )
                continue
            sbs.record(variant, run, row["seconds"])
            extra = ""
            if variant == "gui":
                extra = (
                    f" (worker {row['worker_seconds']:.2f} s)  longest heartbeat gap "
                    f"{row['max_gap_ms']:.0f} ms  p99 {row['p99_gap_ms']:.0f} ms  "
                    f"{row['gaps_over_50ms']} gaps > 50 ms  (longest at "
                    f"{row['max_gap_at_s']:.1f} s, {row['max_gap_after_worker_s']:+.2f} s from "
                    "the worker's end)  "
                    f"(idle {row['idle_max_gap_ms']:.0f} ms)  GUI process CPU "
                    f"{row['gui_cpu_s']:.2f} s  end handler "
                    f"{row['show_result_ms']:.0f} ms  "
                    f"cancel {1000 * row['cancel_s']:.0f} ms ({row['cancel_state']})  "
                    f"peak RSS {row['peak_rss_mb']:.0f} MB  load {os.getloadavg()[0]:.1f}"
                    + (f"  steal {row['steal_ms']:.0f} ms" if "steal_ms" in row else "")
                )
            print(
                f"run {run + 1} {variant:12s} {row['seconds']:6.2f} s  errors {row['errors']}"
                + extra,
                flush=True,
            )
            if variant == "gui":
                _print_phases(row)
        sbs.note_load(before)
    stack.close()
    sbs.summary(unit="s", scale=1.0)
    sbs.ratio("gui", "sklearn-f32", "time GUI / sklearn-f32", "<= 0.6 under two busy processes")
    sk = statistics.median(r["seconds"] for r in results["sklearn-f32"])
    gui = results["gui"]
    gui_med = statistics.median(r["seconds"] for r in gui)
    worker_med = statistics.median(r["worker_seconds"] for r in gui)
    print(f"\nfull MNIST 1-NN, L2, medians of {args.runs} runs (each in a fresh process):")
    print(f"  sklearn-f32                       {sk:6.2f} s")
    print(f"  GUI, click to result in history   {gui_med:6.2f} s   (worker {worker_med:.2f} s)")
    gap_med = statistics.median(r["max_gap_ms"] for r in gui)
    print(f"heartbeat gaps ({HEARTBEAT_MS} ms timer) by phase, over the {len(gui)} runs:")
    print(f"  {'phase':8s} {'longest':>9s} {'median':>8s} {'> 50 ms':>8s} {'GUI CPU':>8s}")
    for phase in PHASES:
        rows = [r["phases"][phase] for r in gui]
        print(
            f"  {phase:8s} {max(x['max_ms'] for x in rows):6.0f} ms "
            f"{statistics.median(x['max_ms'] for x in rows):5.0f} ms "
            f"{sum(x['over_50'] for x in rows):8d} "
            f"{max(x['cpu_ms'] for x in rows):5.0f} ms"
        )
    print(
        f"longest heartbeat gap: median {gap_med:.0f} ms, "
        f"worst {max(r['max_gap_ms'] for r in gui):.0f} ms  (target <= 50 ms); gaps > 50 ms "
        f"per run: {[r['gaps_over_50ms'] for r in gui]}"
    )
    over = [g for r in gui for g in r.get("long_gaps", []) if g["ms"] > 50]
    print(
        f"  of the {len(over)} gaps > 50 ms: {sum(map(_stolen, over))} with the machine's "
        f"steal time in them (>= 10 ms) and the GUI thread's CPU < 50 ms; GUI thread CPU in "
        f"them: {sorted(round(g['cpu_ms']) for g in over if g.get('cpu_ms') is not None)} ms"
    )
    queued = [round(g["queued_ms"]) for g in over if g.get("queued_ms") is not None]
    if queued:
        print(f"  the GUI thread's time waiting for a core in them: {queued} ms")
    floor = results["qt-window"]
    print(
        f"  a plain Qt window under the same load (qt_floor.py, the machine's floor): longest "
        f"gap median {statistics.median(r['max_gap_ms'] for r in floor):.0f} ms, worst "
        f"{max(r['max_gap_ms'] for r in floor):.0f} ms; runs with a gap > 50 ms: "
        f"{sum(r['gaps_over_50ms'] > 0 for r in floor)} of {len(floor)} (the app: "
        f"{sum(r['gaps_over_50ms'] > 0 for r in gui)} of {len(gui)})"
    )
    idle_worst = max(r["idle_max_gap_ms"] for r in gui)
    print(f"  (the same heartbeat with nothing running, worst: {idle_worst:.0f} ms: machine noise)")
    print(
        f"GUI thread in the run's end handler (history, queue; the pictures follow): median "
        f"{statistics.median(r['show_result_ms'] for r in gui):.0f} ms"
    )
    print(
        f"cancel latency: median {1000 * statistics.median(r['cancel_s'] for r in gui):.0f} ms, "
        f"worst {1000 * max(r['cancel_s'] for r in gui):.0f} ms  (target <= 500 ms)"
    )
    print(f"peak RSS of the GUI process: {max(r['peak_rss_mb'] for r in gui):.0f} MB")


if __name__ == "__main__":
    main()
