"""Keyboard labelling in the real Browser on a 100 000-item project: GUI time per item.

Drives the real main window (offscreen) with real key events and prints medians (ms) of:
- a class key (0-9): label written, row refreshed, selection moved on - 1 key press per item;
- a class through the picker (C, a few letters, Enter) for a class past key 9;
- a typed target: the Enter that writes the value, moves on and opens the next cell
  (digits + Enter per item; the digits themselves only type into the editor);
- Ctrl+Z of a target in the Browser.
Run: .venv/bin/python tests/benchmarks/bench_browser_keys.py  (takes about a minute)
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
    import numpy as np

    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.idx import write_idx
    from qbi_desktop.core.jobs import run_job

    folder = tmp / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", N_ITEMS - 10_000), ("t10k", 10_000)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (n, 8, 8), np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    project = open_project(tmp / "proj", create=True)
    run_job(import_job(project, "mnist", [folder]))
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


def main() -> None:
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
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        report("class key 0-9: label + move on (1 key per item)", key_ms, h0)
        report("class past key 9: C, 4 letters, Enter (picker)", pick_ms, h1)
        report("target Enter: write + move on + next cell open", enter_ms, h2)
        report("Ctrl+Z of a target in the Browser", undo_ms, h3)
        window.tasks.cancel_all()
        window.tasks.wait(5000)
        window.close()


if __name__ == "__main__":
    main()
