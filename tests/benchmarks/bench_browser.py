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

        # Every sortable column, both directions, without and with filters (the figure
        # is for any sort); the id list and the first page are timed apart for the worst case.
        sortable = [c for c in range(1, len(COLUMNS))]
        worst = (0.0, "")
        for label, filters in (
            ("no filter", Filters()),
            ("label=3", Filters(label="3")),
            ("split=train, label 1|2", Filters(split="train", label=["1", "2"])),
        ):
            model.set_filters(filters)
            cells = []
            for column in sortable:
                for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):

                    def sort(column=column, order=order):
                        model.sort(column, order)
                        touch_page(model, 0)

                    t = median_ms(sort, repeat=5)
                    arrow = "+" if order == Qt.SortOrder.AscendingOrder else "-"
                    name = COLUMNS[column][1] or "target"
                    cells.append(f"{arrow}{name} {t:.0f}")
                    worst = max(worst, (t, f"{arrow}{name}, {label}"))
            print(f"sort + first page, {label} (ms): " + ", ".join(cells))
        print(f"slowest sort + first page: {worst[0]:.1f} ms ({worst[1]}) (target <= 100)")
        model.set_filters(Filters())
        model.sort(11, Qt.SortOrder.DescendingOrder)
        ids_ms = median_ms(lambda: project.id_array(None, model.sort_key))
        page_ms = median_ms(lambda: (model._rows.clear(), touch_page(model, 0)))
        print(f"  of which -target: id list {ids_ms:.1f} ms, first page rows {page_ms:.1f} ms")
        model.sort(3, Qt.SortOrder.AscendingOrder)
        print(
            f"jump to row 99 970 (page fetch): "
            f"{median_ms(lambda: (model._rows.clear(), touch_page(model, 99_970))):.2f} ms"
        )
        project.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
