"""Browser figures through the real table model on a 100 000-item catalog: open the project and
show the first page, filter, sort, jump to the end; targets <= 1 s first page, <= 100 ms filter
or sort.

Run: .venv/bin/python tests/benchmarks/bench_browser.py   (prints medians)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_catalog import build_100k  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QTableView  # noqa: E402

from qbi_desktop.core.catalog import Filters, open_project  # noqa: E402
from qbi_desktop.gui.docks.browser_model import COLUMNS, ItemTableModel  # noqa: E402


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
    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = build_100k(Path(tmp))

        def open_first_page():
            project = open_project(root)
            model = ItemTableModel()
            view = QTableView()
            view.setModel(model)
            model.set_project(project)
            touch_page(model, 0)
            app.processEvents()
            project.close()

        print(
            f"open + model + first page (100 000 items): {median_ms(open_first_page):.1f} ms "
            "(target <= 1000)"
        )

        project = open_project(root)
        model = ItemTableModel()
        view = QTableView()
        view.setModel(model)
        model.set_project(project)

        def filter_label():
            model.set_filters(Filters(label="3"))
            touch_page(model, 0)

        def filter_split_label():
            model.set_filters(Filters(split="train", label=["1", "2"]))
            touch_page(model, 0)

        def filter_name():
            model.set_filters(Filters(name="12"))
            touch_page(model, 0)

        print(f"filter label=3 + first page: {median_ms(filter_label):.1f} ms (target <= 100)")
        print(f"filter split+labels + first page: {median_ms(filter_split_label):.1f} ms")
        print(f"filter name contains + first page: {median_ms(filter_name):.1f} ms")
        model.set_filters(Filters())
        for column, name in ((3, "label"), (2, "name"), (4, "split"), (11, "target")):

            def sort(column=column):
                model.sort(column, Qt.SortOrder.DescendingOrder)
                touch_page(model, 0)

            print(f"sort by {name} (desc) + first page: {median_ms(sort):.1f} ms (target <= 100)")
        model.sort(3, Qt.SortOrder.AscendingOrder)
        print(
            f"jump to row 99 970 (page fetch): "
            f"{median_ms(lambda: (model._rows.clear(), touch_page(model, 99_970))):.2f} ms"
        )
        project.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
