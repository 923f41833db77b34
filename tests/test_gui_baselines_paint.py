"""A finished run's pictures are painted once when their page comes to the front, not two or
three times in a row (each paint of the heatmap or the bars is several ms of the GUI thread):
the axes are sized for the new class names before the first paint, and a plot shown again is
not repainted all over by its scene. The GUI thread's gaps are measured in
tests/benchmarks/bench_baselines_gui.py."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QLabel, QStackedWidget

from qbi_desktop.gui.docks.baselines_plots import ConfusionHeatmap, PerClassBars

LONG = ["background", "cracked weld seam", "porosity", "inclusion (tungsten)", "undercut"]


class PaintCounter(QObject):
    def __init__(self, widget):
        super().__init__(widget)
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, _obj, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def _matrix(n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 9, (n, n)) + np.diag(np.full(n, 40))


def _rows(labels: list[str]) -> list[dict]:
    return [
        {"class": c, "precision": 0.9 - 0.1 * i, "recall": 0.8, "f1": 0.85, "support": 10}
        for i, c in enumerate(labels)
    ]


@pytest.fixture
def pages(qtbot):
    """A heatmap and the bars on one page behind another, as in the results tab."""
    stack = QStackedWidget()
    qtbot.addWidget(stack)
    front = QLabel("the image")
    heat, bars = ConfusionHeatmap(), PerClassBars()
    holder = QLabel()  # the results page: both plots on it side by side
    stack.addWidget(front)
    stack.addWidget(holder)
    heat.setParent(holder)
    bars.setParent(holder)
    heat.setGeometry(0, 0, 420, 500)
    bars.setGeometry(420, 0, 300, 500)
    stack.resize(720, 500)
    stack.show()
    qtbot.waitExposed(stack)
    return stack, holder, heat, bars


def _show_and_count(qtbot, stack, holder, heat, bars) -> tuple[int, int]:
    # The dock fills the pictures in on one event and brings their page up on a later one.
    qtbot.wait(50)
    counters = PaintCounter(heat.plot.viewport()), PaintCounter(bars.plot.viewport())
    stack.setCurrentWidget(holder)
    qtbot.wait(400)  # every paint that showing the page brings, in however many passes
    return counters[0].count, counters[1].count


def test_a_result_shown_behind_another_page_is_painted_once_when_it_comes_up(pages, qtbot):
    stack, holder, heat, bars = pages
    # The first result: the axes go from empty to the class names.
    heat.set_matrix(_matrix(len(LONG)), LONG, "Confusion matrix, 5 test classes")
    bars.set_rows(_rows(LONG))
    assert _show_and_count(qtbot, stack, holder, heat, bars) == (1, 1)

    # Back to the image, a new result with other names, then the pictures again.
    stack.setCurrentIndex(0)
    qtbot.wait(100)
    other = [f"class {i}" for i in range(8)]
    heat.set_matrix(_matrix(8), other, "Confusion matrix, 8 test classes")
    bars.set_rows(_rows(other))
    assert _show_and_count(qtbot, stack, holder, heat, bars) == (1, 1)

    # Shown again with nothing new: painted once more, not re-activated and painted over.
    stack.setCurrentIndex(0)
    qtbot.wait(100)
    assert _show_and_count(qtbot, stack, holder, heat, bars) == (1, 1)


def test_the_axis_fits_the_longest_class_name_before_the_first_paint(pages, qtbot):
    stack, holder, heat, bars = pages
    heat.set_matrix(_matrix(len(LONG)), LONG, "")
    qtbot.wait(50)  # the layout settles; nothing is painted, the page is hidden
    axis = heat.plot.getPlotItem().getAxis("left")
    before = axis.width()
    stack.setCurrentWidget(holder)
    qtbot.wait(300)
    assert axis.width() == pytest.approx(before)
    # Long class names are not clipped: the axis is at least as wide as the longest name.
    font = axis.style["tickFont"] or axis.font()
    assert axis.width() >= max(QFontMetrics(font).horizontalAdvance(c) for c in LONG)
