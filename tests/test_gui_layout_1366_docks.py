"""The Baselines results, the Simulate dock and the Augment dock read right on a 1366x768 laptop
in the default layout (a new user's walk-through): the per-class chart's legend clear of its
bars, a confusion cell's captions whole, the Simulate parameters without scroll bars, a batch's
progress text on one line. Real window, real project, real runs."""

from __future__ import annotations

import numpy as np
import tifffile
from PySide6.QtCore import QPoint, QRect, Qt

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog.images import hash_file

LAPTOP = (1366, 768)


def _walkthrough_project(tmp_path):
    """Ten 16-bit plates in three classes that brightness separates (one unlabelled)."""
    files = tmp_path / "in"
    files.mkdir()
    rng = np.random.default_rng(0)
    labels = ["edge"] * 3 + ["flat"] * 3 + ["dark"] * 3 + [None]
    items = []
    for i, label in enumerate(labels):
        level = {"edge": 9000, "flat": 30000, "dark": 2000}.get(label, 20000)
        path = files / f"edge20mm_{i:04d}.tif"
        tifffile.imwrite(path, (level + rng.integers(0, 3000, (40, 40))).astype(np.uint16))
        items.append(
            NewItem(
                name=path.name, hash=hash_file(path), path=path, width=40, height=40, label=label
            )
        )
    project = open_project(tmp_path / "proj1", create=True)
    with project.transaction() as tx:
        tx.add_items(items)
    project.close()
    return tmp_path / "proj1"


def _fully_shown(widget) -> bool:
    return widget.isVisible() and widget.visibleRegion().boundingRect().size() == widget.size()


def test_baseline_results_at_1366_legend_clear_of_the_bars_and_captions_whole(
    qtbot, main_window, tmp_path
):
    main_window.resize(*LAPTOP)
    browser = main_window.panels["browser"]
    assert browser.open_project(_walkthrough_project(tmp_path))
    panel = main_window.panels["baselines"]
    panel.show_panel()
    qtbot.waitUntil(lambda: panel.run_button.isVisible(), timeout=5000)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)  # the defaults: kNN, Auto
    record = panel.model.records[-1]
    qtbot.waitUntil(lambda: record.finished and panel.last_shown is record, timeout=60000)
    assert record.error is None, record.error
    view = panel.result_view
    qtbot.waitUntil(lambda: view.bars.isVisible(), timeout=5000)
    qtbot.wait(100)

    # every class's three bars are 1.0 (brightness separates them): their tops are in view and
    # the legend lies on none of them
    bars = view.bars
    assert list(bars.heights("recall")) == [1.0, 1.0, 1.0]
    item = bars.plot.getPlotItem()
    assert item.vb.viewRange()[1][1] >= 1.0
    legend = bars.legend.sceneBoundingRect()
    assert legend.width() > 0 and not legend.intersects(item.vb.sceneBoundingRect())
    assert len(bars.legend.items) == 3

    # the cell gallery keeps one whole row of thumbnails with both caption lines, even when the
    # splitter above it is dragged down as far as it goes
    right = view.gallery.parentWidget()
    right.setSizes([10_000, 1])
    qtbot.wait(50)
    heat = view.heatmap
    qtbot.mouseClick(heat.plot.viewport(), Qt.MouseButton.LeftButton, pos=heat.cell_pos(0, 0))
    gallery = view.gallery
    qtbot.waitUntil(lambda: gallery.list.count() > 0, timeout=10000)
    qtbot.wait(50)
    first = gallery.list.visualItemRect(gallery.list.item(0))
    viewport = QRect(QPoint(0, 0), gallery.list.viewport().size())
    assert viewport.contains(first), (first, viewport)
    lines = gallery.list.fontMetrics().lineSpacing()
    assert first.height() >= 72 + 2 * lines  # the thumbnail and both lines: "true …", "pred …"
    assert bars.height() >= 150  # and the chart above keeps the rest


def test_simulate_at_1366_shows_each_tab_whole_without_scroll_bars(qtbot, main_window):
    from PySide6.QtWidgets import QScrollArea

    main_window.resize(*LAPTOP)
    dock = main_window.docks["simulate"]
    dock.show()
    dock.raise_()
    panel = main_window.panels["simulate"]
    qtbot.waitUntil(lambda: panel.isVisible(), timeout=5000)
    qtbot.wait(100)
    tabs = panel.param_tabs
    for page in range(tabs.count()):
        tabs.setCurrentIndex(page)
        qtbot.wait(50)
        scroll = tabs.widget(page)
        assert isinstance(scroll, QScrollArea)
        name = tabs.tabText(page)
        assert not scroll.verticalScrollBar().isVisible(), name
        assert not scroll.horizontalScrollBar().isVisible(), name
        knobs = [
            w
            for w in scroll.widget().findChildren(object)
            if hasattr(w, "visibleRegion") and w.isVisibleTo(scroll.widget())
        ]
        assert knobs
        for knob in knobs:
            assert _fully_shown(knob), (name, type(knob).__name__, knob.geometry())
    # "Spheres" reads whole, and the preview keeps a good share of the dock
    assert _fully_shown(panel.kinds["sphere"]) or tabs.currentIndex() != 0
    tabs.setCurrentIndex(0)
    qtbot.wait(50)
    assert _fully_shown(panel.kinds["sphere"])
    assert panel.view.height() >= 0.3 * panel.height()


def test_a_running_batch_at_1366_shows_its_progress_on_one_line(qtbot, main_window, tmp_path):
    from qbi_desktop.gui.docks.augment_batch import BatchRequest

    main_window.resize(*LAPTOP)
    panel = main_window.panels["augment"]
    dock = main_window.docks["augment"]
    dock.show()
    dock.raise_()
    panel.form.editors["rotation_range"].spin.setValue(10)
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(2)
    for i in range(20):
        tifffile.imwrite(src / f"im{i:03d}.tif", rng.integers(0, 4000, (32, 32), np.uint16))
    request = BatchRequest("folder", str(src), str(tmp_path / "out"), copies=90)
    task = panel.start_batch(request)
    bar = panel.batch_progress
    qtbot.waitUntil(lambda: "written" in bar.format(), timeout=20000)
    qtbot.wait(50)
    text = bar.text()  # e.g. "104 of 1800 written"
    assert "of 1800 written" in text
    assert bar.width() >= bar.fontMetrics().horizontalAdvance(text) + 12, (bar.width(), text)
    assert bar.height() <= bar.sizeHint().height() + 2  # one line, not two squeezed
    assert _fully_shown(bar) and _fully_shown(panel.batch_cancel)
    # the Write button stays where it was (greyed while the batch runs)
    assert panel.batch_button.isVisible() and not panel.batch_button.isEnabled()
    panel.batch_cancel.click()
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert panel.batch_button.isEnabled() and not bar.isVisible()
