"""Keyboard labelling in the real Browser on a 100 000-item project: GUI time per item.

Drives the real main window (offscreen) with real key events and prints medians (ms) of:
- a class key (0-9): label written, row refreshed, selection moved on - 1 key press per item;
- a class through the picker (C, a few letters, Enter) for a class past key 9;
- a typed target: the Enter that writes the value, moves on and opens the next cell
  (digits + Enter per item; the digits themselves only type into the editor);
- Ctrl+Z of a target in the Browser;
- typing 500 labels (a key every 50 ms: Enter on a right suggestion, else the class key) with a
  5 ms heartbeat timer recording the gaps between its ticks: median / p95 / max gap, gaps over
  50 ms and where the GUI thread spent them (on a CPU, runnable but descheduled, asleep on a
  lock or I/O), with the table in catalog order and in "Label next" order, the suggestion
  worker reading features and updating behind. An idle run first gives the machine's own noise.
Run: .venv/bin/python tests/benchmarks/bench_browser_keys.py [--profile FILE] [--stalls]
    [--why] [--busy N] [--labels N] [--child-nice N] [--paints] [--no-freeze]
(--profile: cProfile of the GUI thread during the typing runs, written to FILE;
 --stalls: where the GUI thread was while the heartbeat was late, sampled every 5 ms;
 --why: what the GUI thread was doing in the gaps over 50 ms (another process reads its state
   and system call from /proc every 2 ms: running, runnable, asleep on a lock, in I/O);
 --busy N: N busy-looping processes, each in a session of its own, during the heartbeat runs;
 --labels N: labels typed per typing run, 500 unless given;
 --child-nice N: the suggestion child's priority drop instead of the app's, to compare;
 --paints: the paint events per label during the typing runs, by widget: what a key repaints;
 --no-freeze: without the app's start-up gc.freeze: each full collection then walks the window's
   ~130 000 objects, 70-100 ms of GUI CPU in one heartbeat gap that the app does not have)
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sidebyside import busy, load_text  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
N_ITEMS = 100_000
ROUNDS = 60


def make_project(tmp: Path) -> Path:
    """100 000 random 8x8 images (an NPZ import), 1 000 of them labelled class0..class9."""
    import numpy as np

    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.jobs import run_job

    rng = np.random.default_rng(0)
    np.savez(tmp / "items.npz", x_train=rng.integers(0, 255, (N_ITEMS, 8, 8), np.uint8))
    project = open_project(tmp / "proj", create=True)
    run_job(import_job(project, "npz", [tmp / "items.npz"]))
    ids = project.ids()
    for c in range(10):
        project.set_label(ids[c:10_000:10], f"class{c}")  # item i: class i % 10
    project.close()
    return tmp / "proj"


HANDLER: list[float] = []  # per timed() call: the key's own work, before Qt repaints


def timed(app, action) -> float:
    """GUI time of one action: its handlers (kept in HANDLER) plus the repaint and whatever
    it queued, up to the event loop being idle again."""
    t = time.perf_counter()
    action()
    HANDLER.append((time.perf_counter() - t) * 1000)
    app.processEvents()
    return (time.perf_counter() - t) * 1000


def report(what: str, frames: list[float], start: int) -> None:
    handler = statistics.median(HANDLER[start : start + len(frames)])
    print(f"{what}: {handler:.1f} ms handler, {statistics.median(frames):.1f} ms with repaint")


CPU_PER_LABEL: list[float] = []  # GUI-thread CPU ms per label typed, per typing run
STALLS: dict[str, float] | None = None  # --stalls: GUI-thread stack -> seconds seen late


class _StallSampler:
    """A thread that, while the heartbeat is over 30 ms late, samples the GUI thread's stack."""

    def __init__(self, ticks: list[float]):
        import threading

        self.ticks = ticks
        self.main = threading.main_thread().ident
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import traceback

        while self.running:
            time.sleep(0.005)
            if time.perf_counter() - self.ticks[-1] < 0.03:
                continue
            frame = sys._current_frames().get(self.main)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)[-6:]
            key = " < ".join(
                f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack)
            )
            STALLS[key] = STALLS.get(key, 0.0) + 0.005

    def stop(self) -> None:
        self.running = False
        self.thread.join()


_PROC_SAMPLER = r"""
import sys, time
base, out = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    while True:
        try:
            with open(base + "stat") as s:
                state = s.read().rsplit(")", 1)[1].split()[0]
            with open(base + "syscall") as s:
                call = s.read().split()[0]
        except (OSError, IndexError):
            break
        f.write(f"{time.perf_counter()} {state} {call}\n")
        time.sleep(0.002)
"""
# x86-64 system call numbers of what the GUI thread can be blocked in
_CALLS = {
    "202": "futex: a lock (the interpreter lock, a Qt mutex)",
    "7": "event loop wait (poll)",
    "271": "event loop wait (poll)",
    "232": "event loop wait (poll)",
    "281": "event loop wait (poll)",
    "74": "fsync",
    "75": "fsync",
    "0": "file read/write",
    "1": "file read/write",
    "17": "file read/write",
    "18": "file read/write",
}


class _WhySampler:
    """Another process (it shares no interpreter lock with this one) that reads the GUI thread's
    state and system call from /proc every 2 ms; :meth:`late` sorts the samples that fall in
    heartbeat gaps over 50 ms: running or runnable (the OS gave the core to another), asleep in
    a futex (a lock - the interpreter lock held by another thread of this process), in the
    event loop's poll, in file I/O ..."""

    def __init__(self):
        import subprocess

        fd, self.out = tempfile.mkstemp(prefix="qbi-why-")
        os.close(fd)
        base = f"/proc/{os.getpid()}/task/{_MAIN_TID}/"
        self.proc = subprocess.Popen([sys.executable, "-c", _PROC_SAMPLER, base, self.out])

    def late(self, ticks: list[float]) -> dict[str, int]:
        import bisect

        self.proc.terminate()
        self.proc.wait()
        with open(self.out) as f:
            samples = [line.split() for line in f if line.count(" ") == 2]
        os.unlink(self.out)
        times = [float(t) for t, _, _ in samples]
        counts: dict[str, int] = {}
        for a, b in zip(ticks, ticks[1:], strict=False):
            if b - a <= 0.05:
                continue
            for _t, state, call in samples[bisect.bisect(times, a) : bisect.bisect(times, b)]:
                if state == "R" or call == "running":
                    what = "running or runnable"
                else:
                    what = _CALLS.get(call, f"{state} in system call {call}")
                counts[what] = counts.get(what, 0) + 1
        return counts


WHY: dict[str, int] | None = None  # --why: samples of the GUI thread in late gaps, by kind


def heartbeat(app, seconds: float, every_ms: int = 0, act=None) -> tuple[list[float], int]:
    """Run the event loop with a 5 ms heartbeat for ``seconds`` (or until ``act`` returns
    False), calling ``act`` every ``every_ms``; the heartbeat gaps (ms) and the acts done."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    ticks: list[float] = [time.perf_counter()]
    sched = [_sched()]
    done = [0]
    loop = QEventLoop()
    watch = _StallSampler(ticks) if STALLS is not None else None
    why = _WhySampler() if WHY is not None else None
    beat = QTimer()
    beat.setTimerType(Qt.TimerType.PreciseTimer)
    beat.setInterval(5)
    beat.timeout.connect(lambda: (ticks.append(time.perf_counter()), sched.append(_sched())))
    keys = QTimer()
    keys.setTimerType(Qt.TimerType.PreciseTimer)

    def step() -> None:
        if act() is False:
            loop.quit()
        done[0] += 1

    if act is not None:
        keys.setInterval(every_ms)
        keys.timeout.connect(step)
        keys.start()
    beat.start()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    beat.stop()
    keys.stop()
    if watch is not None:
        watch.stop()
    if why is not None:
        for what, n in why.late(ticks).items():
            WHY[what] = WHY.get(what, 0) + n
    gaps = Gaps(1000 * (b - a) for a, b in zip(ticks, ticks[1:], strict=False))
    for start, gap, (cpu0, wait0), (cpu1, wait1) in zip(
        ticks, gaps, sched, sched[1:], strict=False
    ):
        if gap > 50:
            gaps.late_cpu += (cpu1 - cpu0) / 1e6
            gaps.late_runnable += (wait1 - wait0) / 1e6
            gaps.late_total += gap
            gaps.late.append((start, gap, (cpu1 - cpu0) / 1e6))
    return gaps, done[0]


class Gaps(list):
    """Heartbeat gaps (ms), and where the GUI thread spent the gaps over 50 ms (from the
    kernel's per-thread scheduler statistics): on a CPU, runnable but waiting for one (the OS
    gave the core to another process), or neither - asleep, waiting for a lock (such as the
    interpreter lock a worker thread holds) or for I/O."""

    def __init__(self, values=()):
        super().__init__(values)
        self.late_total = self.late_cpu = self.late_runnable = 0.0
        #: each gap over 50 ms: (its start, time.perf_counter() s; length ms; GUI CPU ms in it)
        self.late: list[tuple[float, float, float]] = []


def _sched() -> tuple[int, int]:
    """The GUI thread's (ns on a CPU, ns runnable waiting for a CPU) so far (Linux)."""
    try:
        with open(f"/proc/self/task/{_MAIN_TID}/schedstat") as f:
            on_cpu, waiting, _ = f.read().split()
        return int(on_cpu), int(waiting)
    except (OSError, ValueError):
        return 0, 0


_MAIN_TID = __import__("threading").main_thread().native_id


def gaps_text(gaps: Gaps) -> str:
    import numpy as np

    g = np.asarray(gaps)
    text = (
        f"median {np.median(g):.1f} ms, p95 {np.percentile(g, 95):.1f} ms, max {g.max():.1f} ms, "
        f"{int((g > 50).sum())} gap(s) over 50 ms"
    )
    if gaps.late_total:
        asleep = gaps.late_total - gaps.late_cpu - gaps.late_runnable
        text += (
            f" (together {gaps.late_total:.0f} ms: GUI thread on a CPU {gaps.late_cpu:.0f} ms, "
            f"runnable but descheduled {gaps.late_runnable:.0f} ms, "
            f"asleep - a lock or I/O, and the timer's own ~5 ms per gap - "
            f"{max(0.0, asleep):.0f} ms)"
        )
        # the gaps where the GUI thread itself worked longest: its own stalls, not the machine's
        worst = sorted(gaps.late, key=lambda g: -g[2])[:3]
        text += "; most GUI CPU in one gap: " + ", ".join(
            f"{cpu:.0f} ms of {gap:.0f} ms (at {start:.3f} s)" for start, gap, cpu in worst
        )
    return text


PAINTS: dict[str, list[float]] | None = None  # --paints: widget -> [paint events, pixels]


def _paint_counter():
    """An application-wide event filter adding up the paint events (and pixels) by widget."""
    from PySide6.QtCore import QEvent, QObject

    class Counter(QObject):
        def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt API)
            if event.type() == QEvent.Type.Paint:
                parent = watched.parentWidget()
                name = type(watched).__name__ + (
                    watched.objectName() and f" {watched.objectName()}"
                )
                name += f" in {type(parent).__name__}" if parent is not None else ""
                pixels = sum(r.width() * r.height() for r in event.region())
                seen = PAINTS.setdefault(name, [0, 0])
                seen[0] += 1
                seen[1] += pixels
            return False

    return Counter()


def type_labels(app, browser, labels: int = 500) -> tuple[list[float], int]:
    """``labels`` labels typed a key every 50 ms: Enter where the suggestion shown is the item's
    class (id % 10, as made), else the class's number key."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    table = browser.table
    given = [0]

    def press():
        if given[0] >= labels:
            return False
        row = table.currentIndex().row()
        if row < 0:
            return False
        item_id = browser.model.item_id(row)
        want = f"class{(item_id - 1) % 10}"
        found = browser.suggestions.suggestion_for(item_id)
        if found is not None and found[0] == want:
            QTest.keyClick(table, Qt.Key.Key_Return)
        else:
            QTest.keyClick(table, getattr(Qt.Key, f"Key_{(item_id - 1) % 10}"))
        given[0] += 1
        return None

    counter = _paint_counter() if PAINTS is not None else None
    if counter is not None:
        app.installEventFilter(counter)
    cpu = time.thread_time()  # the GUI thread's own CPU time: what typing costs it
    before = _pending(browser)
    full: list[float] = []
    collecting = _full_collections(full)
    gc.callbacks.append(collecting)
    try:
        gaps, _ = heartbeat(app, labels * 0.05 + 10, 50, press)
    finally:
        gc.callbacks.remove(collecting)
    FULL_GC.append(full)
    if counter is not None:
        app.removeEventFilter(counter)
    CPU_PER_LABEL.append(1000 * (time.thread_time() - cpu) / max(1, given[0]))
    PENDING.append((before, _pending(browser)))
    return gaps, given[0]


FULL_GC: list[list[float]] = []  # per typing run: the full collections' ms (GUI thread)


def _full_collections(into: list[float]):
    """A gc callback adding the length (ms) of each full collection to ``into``."""
    started = [0.0]

    def callback(phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                into.append(1000 * (time.perf_counter() - started[0]))

    return callback


PENDING: list[tuple] = []  # per typing run: items without features at its start and end


def _pending(browser) -> int | None:
    table = browser.suggestions.table
    return None if table is None else table.pending


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", type=Path, default=None)
    ap.add_argument("--stalls", action="store_true")
    ap.add_argument("--why", action="store_true")
    ap.add_argument("--busy", type=int, default=0)
    ap.add_argument("--labels", type=int, default=500)
    ap.add_argument("--child-nice", type=int, default=None)
    ap.add_argument("--paints", action="store_true")
    ap.add_argument("--no-freeze", action="store_true")
    args = ap.parse_args()
    if args.child_nice is not None:
        from qbi_desktop.gui.docks import browser_suggest

        browser_suggest.CHILD_NICE = args.child_nice
    global STALLS, WHY, PAINTS
    PAINTS = {} if args.paints else None
    STALLS = {} if args.stalls else None
    WHY = {} if args.why else None
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["QBI_DESKTOP_HOME"] = str(tmp / "home")
        (tmp / "home").mkdir()
        t = time.perf_counter()
        root = make_project(tmp)
        print(f"import {N_ITEMS:,} items: {time.perf_counter() - t:.1f} s")

        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest
        from PySide6.QtWidgets import QApplication

        from qbi_desktop.core.catalog import targets as T
        from qbi_desktop.gui.main_window import MainWindow

        app = QApplication.instance() or QApplication(sys.argv)
        window = MainWindow()
        window.resize(1600, 1000)
        window.show()
        app.processEvents()
        if not args.no_freeze:
            from qbi_desktop.gui.app import freeze_startup_objects

            freeze_startup_objects()  # what the app does once start-up is over
        browser = window.panels["browser"]
        t = time.perf_counter()
        browser.open_project(root)
        app.processEvents()
        print(f"open in the Browser: {(time.perf_counter() - t) * 1000:.0f} ms")
        table = browser.table
        browser.classes_edit.setText(", ".join(f"class{k}" for k in range(15)))
        browser._classes_edited()
        table.setFocus()
        table.selectRow(40_000)
        app.processEvents()

        h0 = len(HANDLER)
        key_ms = [timed(app, lambda: QTest.keyClick(table, Qt.Key.Key_3)) for _ in range(ROUNDS)]
        assert browser.model.item(40_000)["label"] == "class3"

        def pick() -> None:
            QTest.keyClick(table, Qt.Key.Key_C)
            picker = browser.class_picker
            QTest.keyClicks(picker.typed, "ss12")
            QTest.keyClick(picker.typed, Qt.Key.Key_Return)

        h1 = len(HANDLER)
        pick_ms = [timed(app, pick) for _ in range(ROUNDS // 2)]
        assert browser.model.item(40_000 + ROUNDS)["label"] == "class12"

        browser.define_target(T.TargetDef("count", "cells", 0, 1000, 0))
        table.selectRow(50_000)
        browser.edit_target()
        enter_ms = []
        h2 = len(HANDLER)
        for k in range(ROUNDS):
            editor = browser.target_delegate.editor
            QTest.keyClicks(editor, str(100 + k))
            app.processEvents()
            enter_ms.append(timed(app, lambda e=editor: QTest.keyClick(e, Qt.Key.Key_Return)))
        assert browser.model.item(50_000)["targets"] == {"count": 100.0}
        QTest.keyClick(browser.target_delegate.editor, Qt.Key.Key_Escape)
        table.setFocus()
        app.processEvents()
        h3 = len(HANDLER)
        ctrl = Qt.KeyboardModifier.ControlModifier
        undo_ms = [timed(app, lambda: QTest.keyClick(table, Qt.Key.Key_Z, ctrl)) for _ in range(20)]
        with busy(args.busy, own_sessions=True):  # as other programs on a desktop
            idle, _ = heartbeat(app, 3.0)
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            table.clearSelection()
            table.setCurrentIndex(browser.model.index(60_000, 1))
            plain, n_plain = type_labels(app, browser, args.labels)
            browser.suggestions.queue_box.click()
            table.setFocus()
            queued, n_queued = type_labels(app, browser, args.labels)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(args.profile))
            load = load_text()
        print(f"({load}; {args.busy} busy process(es) during the heartbeat runs)")
        print(f"heartbeat idle (the machine's noise): {gaps_text(idle)}")
        cpu_plain, cpu_queued = CPU_PER_LABEL[-2:]
        from qbi_desktop.gui.docks import browser_suggest

        nice = getattr(browser_suggest, "CHILD_NICE", 0)
        (p0, p1), (q0, q1) = PENDING[-2:]
        print(
            f"suggestion child at nice {nice} while it reads features; items without "
            f"features while typing: {p0} -> {p1} (catalog order), {q0} -> {q1} (Label next)"
        )
        print(
            f"heartbeat, {n_plain} labels typed in catalog order: {gaps_text(plain)}; "
            f"GUI thread CPU {cpu_plain:.1f} ms per label"
        )
        print(
            f"heartbeat, {n_queued} labels typed in 'Label next' order: {gaps_text(queued)}; "
            f"GUI thread CPU {cpu_queued:.1f} ms per label"
        )
        print(
            "full garbage collections on the GUI thread while typing (catalog order, Label next): "
            + ", ".join(
                f"{len(f)} ({', '.join(f'{ms:.0f}' for ms in f) or '-'} ms)" for f in FULL_GC[-2:]
            )
            + (" - without the start-up gc.freeze" if args.no_freeze else "")
        )
        if WHY:
            total = sum(WHY.values())
            print(f"GUI thread in the gaps over 50 ms, {total} samples every 2 ms (--why):")
            for what, n in sorted(WHY.items(), key=lambda kv: -kv[1]):
                print(f"  {100 * n / total:5.1f} %  {what}")
        if PAINTS:
            labels = n_plain + n_queued
            print(f"paint events per label typed (--paints, {labels} labels), top 12 by pixels:")
            for name, (n, px) in sorted(PAINTS.items(), key=lambda kv: -kv[1][1])[:12]:
                print(f"  {n / labels:5.2f} x {px / labels / 1000:7.1f} kpx  {name}")
        if STALLS:
            print("GUI thread while the heartbeat was late (seconds sampled, top 12):")
            for key, seconds in sorted(STALLS.items(), key=lambda kv: -kv[1])[:12]:
                print(f"  {seconds:6.2f} s  {key}")
        report("class key 0-9: label + move on (1 key per item)", key_ms, h0)
        report("class past key 9: C, 4 letters, Enter (picker)", pick_ms, h1)
        report("target Enter: write + move on + next cell open", enter_ms, h2)
        report("Ctrl+Z of a target in the Browser", undo_ms, h3)
        window.tasks.cancel_all()
        window.tasks.wait(5000)
        window.close()


if __name__ == "__main__":
    main()
