"""Browser figures through the real table model and view at a million items: open the project
and paint the first rows, every sort (both directions, with and without filters), each filter
(labels, splits, a rare and a common name substring, duplicates), jump to the end. Goal (issue
18): every sort and filter <= 50 ms to the first painted rows at 1 M items; the model holds a
window of ids (browser_paging.py), not the whole list.

Run: .venv/bin/python tests/benchmarks/bench_browser.py [--items 1000000] [--project DIR]
     (prints medians; --project reuses a catalog made by bench_catalog.build_scaled)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_catalog import build_scaled  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QTableView  # noqa: E402
from sidebyside import load_text  # noqa: E402

from qbi_desktop.core.catalog import Filters, open_project  # noqa: E402
from qbi_desktop.gui.docks.browser_model import COLUMNS, ItemTableModel  # noqa: E402
from qbi_desktop.gui.workers import TaskManager  # noqa: E402

TASKS: TaskManager | None = None


def browser_model() -> ItemTableModel:
    """The model as the Browser sets it up: a count that reads every item on a worker.
    Thumbnails are left out (their own benchmark; the scaled catalog has no image file)."""

    def run_task(title, factory, on_result, on_error, **_kw):
        if title.startswith("Thumbnails"):
            return None
        return TASKS.submit(title, factory, on_result=on_result, on_error=on_error)

    model = ItemTableModel()
    model.run_task = run_task
    return model


def median_ms(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def touch_page(model: ItemTableModel, first: int, rows: int = 30) -> None:
    """What painting a screenful asks of the model: every cell's display text."""
    for r in range(first, min(first + rows, model.rowCount())):
        for c in range(1, len(COLUMNS)):
            model.data(model.index(r, c))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    global TASKS
    TASKS = TaskManager()
    print(f"start: {load_text()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.project or build_scaled(Path(tmp), args.items)[0]
        repeat = args.repeat

        def paint(view: QTableView) -> None:
            view.viewport().repaint()  # the rows a screen shows, drawn now
            app.processEvents()

        def open_first_page():
            project = open_project(root)
            model = browser_model()
            view = QTableView()
            view.resize(1200, 700)
            view.setModel(model)
            view.show()
            model.set_project(project)
            paint(view)
            touch_page(model, 0)
            view.close()
            project.close()

        total = open_project(root)
        n = len(total)
        total.close()
        print(
            f"open + model + first painted rows ({n:,} items): "
            f"{median_ms(open_first_page, repeat):.1f} ms"
        )

        project = open_project(root)
        model = browser_model()
        view = QTableView()
        view.resize(1200, 700)
        view.setModel(model)
        view.show()
        model.set_project(project)
        paint(view)

        filters = {
            "label=3": Filters(label="3"),
            "split=train, label 1|2": Filters(split="train", label=["1", "2"]),
            "review=accepted": Filters(review="accepted"),
            "name contains 'img00012' (few)": Filters(name="img00012"),
            "name contains 'img0' (most)": Filters(name="img0"),
            "duplicates": Filters(duplicates=True),
        }
        worst = (0.0, "")
        for name, f in filters.items():

            def run(f=f):
                model.set_filters(f)
                paint(view)
                touch_page(model, 0)

            t = median_ms(run, repeat)
            worst = max(worst, (t, f"filter {name}"))
            print(f"filter {name} -> first painted rows ({model.rowCount():,} shown): {t:.1f} ms")
        sortable = [c for c in range(1, len(COLUMNS)) if COLUMNS[c][1] != "suggestion"]
        for label, f in (
            ("no filter", Filters()),
            ("label=3", Filters(label="3")),
            ("name contains 'img0'", Filters(name="img0")),
            ("duplicates", Filters(duplicates=True)),
        ):
            model.set_filters(f)
            cells = []
            for column in sortable:
                for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):

                    def sort(column=column, order=order):
                        model.sort(column, order)
                        paint(view)
                        touch_page(model, 0)

                    t = median_ms(sort, repeat)
                    arrow = "+" if order == Qt.SortOrder.AscendingOrder else "-"
                    key = COLUMNS[column][1] or "target"
                    cells.append(f"{arrow}{key} {t:.0f}")
                    worst = max(worst, (t, f"sort {arrow}{key}, {label}"))
            print(f"sort -> first painted rows, {label} (ms): " + ", ".join(cells))
        print(f"slowest: {worst[0]:.1f} ms ({worst[1]}) (goal <= 50 ms)")
        model.set_filters(Filters())
        model.sort(3, Qt.SortOrder.AscendingOrder)
        last = model.rowCount() - 30
        print(
            f"jump to row {last:,} (window + page fetch): "
            f"{median_ms(lambda: (model._rows.clear(), touch_page(model, last)), repeat):.2f} ms"
        )
        print(f"ids held by the model: {model._ids.window.size:,} of {model.rowCount():,}")
        print(f"end: {load_text()}")
        view.close()
        project.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
