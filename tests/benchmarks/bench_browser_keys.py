"""Keyboard labelling in the real Browser on a 100 000-item project: GUI time per item.

Drives the real main window (offscreen) with real key events and prints medians (ms) of:
- a class key (0-9): label written, row refreshed, selection moved on - 1 key press per item;
- a class through the picker (C, a few letters, Enter) for a class past key 9;
- a typed target: the Enter that writes the value, moves on and opens the next cell
  (digits + Enter per item; the digits themselves only type into the editor);
- Ctrl+Z of a target in the Browser;
- typing 500 labels (a key every 50 ms: Enter on a right suggestion, else the class key) with a
  5 ms heartbeat timer recording the gaps between its ticks: median / p95 / max gap, gaps over
  50 ms, with the table in catalog order and in "Label next" order, the suggestion worker reading
  features and updating behind. An idle run first gives the machine's own noise.
Run: .venv/bin/python tests/benchmarks/bench_browser_keys.py [--profile FILE]
(--profile: cProfile of the GUI thread during the typing runs, written to FILE;
 --stalls: where the GUI thread was while the heartbeat was late, sampled every 5 ms)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

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


def heartbeat(app, seconds: float, every_ms: int = 0, act=None) -> tuple[list[float], int]:
    """Run the event loop with a 5 ms heartbeat for ``seconds`` (or until ``act`` returns
    False), calling ``act`` every ``every_ms``; the heartbeat gaps (ms) and the acts done."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    ticks: list[float] = [time.perf_counter()]
    done = [0]
    loop = QEventLoop()
    watch = _StallSampler(ticks) if STALLS is not None else None
    beat = QTimer()
    beat.setTimerType(Qt.TimerType.PreciseTimer)
    beat.setInterval(5)
    beat.timeout.connect(lambda: ticks.append(time.perf_counter()))
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
    return [1000 * (b - a) for a, b in zip(ticks, ticks[1:], strict=False)], done[0]


def gaps_text(gaps: list[float]) -> str:
    import numpy as np

    g = np.asarray(gaps)
    return (
        f"median {np.median(g):.1f} ms, p95 {np.percentile(g, 95):.1f} ms, max {g.max():.1f} ms, "
        f"{int((g > 50).sum())} gap(s) over 50 ms"
    )


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

    cpu = time.thread_time()  # the GUI thread's own CPU time: what typing costs it
    gaps, _ = heartbeat(app, labels * 0.05 + 10, 50, press)
    CPU_PER_LABEL.append(1000 * (time.thread_time() - cpu) / max(1, given[0]))
    return gaps, given[0]


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", type=Path, default=None)
    ap.add_argument("--stalls", action="store_true")
    args = ap.parse_args()
    global STALLS
    STALLS = {} if args.stalls else None
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
        idle, _ = heartbeat(app, 3.0)
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        table.clearSelection()
        table.setCurrentIndex(browser.model.index(60_000, 1))
        plain, n_plain = type_labels(app, browser)
        browser.suggestions.queue_box.click()
        table.setFocus()
        queued, n_queued = type_labels(app, browser)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(args.profile))
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        print(f"heartbeat idle (the machine's noise): {gaps_text(idle)}")
        cpu_plain, cpu_queued = CPU_PER_LABEL[-2:]
        print(
            f"heartbeat, {n_plain} labels typed in catalog order: {gaps_text(plain)}; "
            f"GUI thread CPU {cpu_plain:.1f} ms per label"
        )
        print(
            f"heartbeat, {n_queued} labels typed in 'Label next' order: {gaps_text(queued)}; "
            f"GUI thread CPU {cpu_queued:.1f} ms per label"
        )
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
