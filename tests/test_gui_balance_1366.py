"""The Browser's Balance tab in a laptop's narrow, short panel (1366x768): the chart and the
warnings fit the page, every bar is named, the legend lies beside no bar, warnings wrap."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _project(tmp_path):
    """dark 2, edge 3, flat 3 and one item without a class; a regression target on some."""
    root = tmp_path / "folder"
    rng = np.random.default_rng(7)
    for label, n in (("dark", 2), ("edge", 4), ("flat", 3)):
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (20, 24), dtype=np.uint8)).save(
                root / label / f"{label}{i}.png"
            )
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "imagefolder", [root]))
    ids = [r[0] for r in project.db.execute("SELECT id FROM items WHERE label = 'edge'")]
    project.set_label(ids[:1], None)
    project.set_target(ids[1:3], "thickness", 12.5)
    project.close()
    return tmp_path / "proj"


def _balance_at_1366(qtbot, main_window, tmp_path):
    main_window.resize(1366, 768)
    dock = main_window.docks["browser"]
    dock.show()
    dock.raise_()
    panel = main_window.panels["browser"]
    assert panel.open_project(_project(tmp_path))
    main_window.resizeDocks([dock], [280], Qt.Orientation.Horizontal)
    main_window.resizeDocks([dock], [560], Qt.Orientation.Vertical)
    panel.tabs.setCurrentWidget(panel.balance_page)
    qtbot.waitUntil(lambda: panel._stats_task is not None and panel._stats_task.finished)
    qtbot.waitUntil(lambda: panel.balance.report is not None)
    qtbot.waitUntil(lambda: panel.balance_page.viewport().height() < 480)
    qtbot.wait(100)
    return panel


def test_balance_chart_and_warnings_fit_a_laptop_panel_unscrolled(qtbot, main_window, tmp_path):
    panel = _balance_at_1366(qtbot, main_window, tmp_path)
    page, balance = panel.balance_page, panel.balance
    assert page.viewport().width() < 320
    # the page is as tall as the panel: no scrolling down to find the class names
    assert balance.height() <= page.viewport().height()
    assert page.verticalScrollBar().maximum() == 0
    for section in (balance.bar_plot, balance.warnings, balance.hist_box):
        assert section.isVisible()
        top = section.mapTo(balance, section.rect().topLeft()).y()
        assert top + section.height() <= page.viewport().height()
    # the chart keeps a readable share of the page next to the warnings
    assert balance.bar_plot.height() >= 100 and balance.warnings.height() >= 60
    summary = balance.summary  # its second line shows whole (it wraps at this width)
    assert summary.height() >= summary.heightForWidth(summary.width())


def test_every_bar_is_named_and_the_legend_is_off_the_bars(qtbot, main_window, tmp_path):
    panel = _balance_at_1366(qtbot, main_window, tmp_path)
    balance = panel.balance
    assert balance.axis.names == ["dark", "edge", "flat", "unlabelled"]
    # the texts the axis really draws: one under each group of bars, shortened with "…" only
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    _axis, _ticks, texts = balance.axis.generateDrawSpecs(painter)
    painter.end()
    drawn = [t[2] for t in sorted(texts, key=lambda t: t[0].center().x())]
    assert len(drawn) == 4, drawn
    for shown, name in zip(drawn, balance.axis.names, strict=True):
        assert shown == name or (shown.endswith("…") and name.startswith(shown[:-1]))
    assert drawn[3].startswith("unl")
    # the legend has its own row under the chart, over no bar
    view = balance.bar_plot.getPlotItem().vb
    legend = balance.legend
    assert legend.isVisible() and [label.text for _s, label in legend.items] == ["unassigned"]
    assert not legend.sceneBoundingRect().intersects(view.sceneBoundingRect())
    # the tallest bar (edge: 3) shows its top; whole names and counts are in the tooltip
    assert view.viewRange()[1][1] >= 3
    assert "unlabelled: unassigned 1" in balance.bar_plot.toolTip()


def test_warnings_wrap_in_the_panel_with_the_whole_text_in_the_tooltip(
    qtbot, main_window, tmp_path
):
    panel = _balance_at_1366(qtbot, main_window, tmp_path)
    warnings = panel.balance.warnings
    assert warnings.count() >= 3
    width = warnings.viewport().width()
    line = warnings.fontMetrics().height()
    long = [
        warnings.item(i)
        for i in range(warnings.count())
        if warnings.fontMetrics().horizontalAdvance(warnings.item(i).text()) > width
    ]
    assert long, "at this width some warning is longer than a line"
    for item in long:
        rect = warnings.visualItemRect(item)
        assert rect.width() <= width  # not cut at the right...
        assert rect.height() >= 2 * line - 2  # ...but on as many lines as it needs
        assert item.toolTip() and item.toolTip() in item.text()
    assert "unassigned" in long[0].toolTip()
