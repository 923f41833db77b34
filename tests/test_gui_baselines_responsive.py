"""The Baselines dock keeps the GUI thread free around a run: the Run click leaves writing the
form's settings to another thread (QSettings' own write, with two fdatasync calls, stalled the
click by 30-80 ms on a busy disk) and writes nothing when they did not change, and a finished run
updates the per-class bars in place instead of building new plot items. The heartbeat gaps
themselves are measured in tests/benchmarks/bench_baselines_gui.py."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

try:
    from tests.gui_baselines_helpers import choose as _choose
    from tests.gui_baselines_helpers import open_baselines, run_and_wait
except ImportError:  # pragma: no cover
    from gui_baselines_helpers import choose as _choose
    from gui_baselines_helpers import open_baselines, run_and_wait


@pytest.fixture
def panel(main_window, qtbot):
    return open_baselines(main_window, qtbot)


def _run(qtbot, panel, timeout=30000):
    return run_and_wait(qtbot, panel, timeout)


def _baselines_section(path: Path) -> dict[str, str]:
    """The [baselines] group of the INI file as it is on disk (not QSettings' memory)."""
    values, inside = {}, False
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        if line.startswith("["):
            inside = line.strip() == "[baselines]"
        elif inside and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_run_writes_the_form_settings_without_the_gui_thread(panel, qtbot):
    _choose(panel.form.source, "digits")
    _choose(panel.form.model, "knn")
    panel.form.k.setValue(7)
    path = Path(panel.window.settings.fileName())
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    record = panel.model.records[-1]
    # The GUI thread now processes no events at all: the choices still reach the file.
    deadline = time.monotonic() + 10
    while _baselines_section(path).get("k") != "7" and time.monotonic() < deadline:
        time.sleep(0.05)
    on_disk = _baselines_section(path)
    assert on_disk.get("k") == "7" and on_disk.get("model") == "knn", on_disk
    qtbot.waitUntil(lambda: record.finished and panel.last_shown is record, timeout=30000)
    assert record.state == "done", record.error

    # The same settings again: the file is not written at all.
    panel.form.flush_settings()
    before = path.stat()
    second = _run(qtbot, panel)
    assert second.state == "done", second.error
    panel.form.flush_settings()
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # A setting written elsewhere afterwards is still saved by QSettings as usual.
    panel.window.settings.setValue("test/other", "x")
    qtbot.waitUntil(lambda: "other=x" in path.read_text(encoding="utf-8"), timeout=5000)


def test_a_new_result_updates_the_per_class_bars_in_place(panel, qtbot):
    _choose(panel.form.source, "digits")
    _choose(panel.form.model, "knn")
    panel.form.k.setValue(1)
    first = _run(qtbot, panel)
    bars = panel.result_view.bars
    items = dict(bars.bars)
    plotted = len(bars.plot.getPlotItem().items)
    assert bars.heights("recall") == pytest.approx([c["recall"] for c in first.result.per_class])

    _choose(panel.form.model, "dummy")  # a different result: recall 1 for one class, 0 else
    second = _run(qtbot, panel)
    assert second.state == "done", second.error
    recall = [c["recall"] for c in second.result.per_class]
    assert recall != [c["recall"] for c in first.result.per_class]
    assert bars.heights("recall") == pytest.approx(recall)
    # The same three bar items and legend entries, updated: nothing was built again.
    assert all(bars.bars[key] is items[key] for key in items)
    assert len(bars.plot.getPlotItem().items) == plotted
    assert len(bars.legend.items) == 3


def test_the_results_page_comes_forward_before_its_plots_paint_and_they_all_paint(panel, qtbot):
    """At a run's end the results page comes to the front without its two plots, which then
    paint one event each (painted together with the page they were the longest stretch of the
    GUI thread at a run's end); both are drawn, with the run's result, once it is shown."""
    from PySide6.QtCore import QEvent, QObject

    view = panel.result_view
    plots = {"heatmap": view.heatmap.plot, "bars": view.bars.plot}
    paints: list[str] = []

    class Painted(QObject):
        def eventFilter(self, watched, event):  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                paints.append(next(k for k, p in plots.items() if p.viewport() is watched))
            return False

    spy = Painted()
    for plot in plots.values():
        plot.viewport().installEventFilter(spy)
    at_switch: list[tuple[bool, bool, list[str]]] = []
    tabs = panel.window.central_tabs
    tabs.currentChanged.connect(
        lambda _i: at_switch.append(
            (view.heatmap.plot.updatesEnabled(), view.bars.plot.updatesEnabled(), list(paints))
        )
    )
    _choose(panel.form.source, "digits")
    _choose(panel.form.model, "knn")
    record = _run(qtbot, panel)
    assert record.state == "done", record.error
    assert tabs.current_key() == "baselines"
    # When the page came to the front its plots were held back...
    assert at_switch and at_switch[0][:2] == (False, False)
    # ...and once the run is shown both draw again and have painted since.
    assert view.heatmap.plot.updatesEnabled() and view.bars.plot.updatesEnabled()
    qtbot.waitUntil(lambda: {"heatmap", "bars"} <= set(paints[len(at_switch[0][2]) :]))
    picture = view.heatmap.plot.grab().toImage()
    colours = {
        picture.pixelColor(x, y).name()
        for x in range(0, picture.width(), 7)
        for y in range(0, picture.height(), 7)
    }
    assert len(colours) > 5  # the matrix' shades, not an empty white plot


def test_a_finished_runs_pictures_are_drawn_once_each_before_it_is_shown(panel, qtbot):
    """The heatmap, then the bars are drawn on events of their own before the finished run is
    shown (together they made one 4-10 ms event); showing it then draws neither again."""
    view = panel.result_view
    calls: list[tuple[str, object]] = []
    redraw, set_rows = view.heatmap._redraw, view.bars.set_rows

    def heatmap_drawn():
        calls.append(("heatmap", view.record))
        redraw()

    def bars_set(rows):
        if not (rows and list(rows) == view.bars.rows):  # (what set_rows draws)
            calls.append(("bars", view.record))
        set_rows(rows)

    view.heatmap._redraw = heatmap_drawn
    view.bars.set_rows = bars_set
    _choose(panel.form.source, "digits")
    _choose(panel.form.model, "knn")
    first = _run(qtbot, panel)
    assert first.state == "done", first.error
    assert calls == [("heatmap", None), ("bars", None)]  # each once, before it was shown
    assert view.record is first and np.array_equal(view.heatmap.cm, first.result.confusion)
    calls.clear()
    _choose(panel.form.model, "dummy")
    second = _run(qtbot, panel)
    assert calls == [("heatmap", first), ("bars", first)]
    assert view.record is second
    assert view.bars.heights("recall") == pytest.approx(
        [c["recall"] for c in second.result.per_class]
    )


def test_the_status_bars_task_bar_follows_a_run_click_on_an_event_of_its_own(panel, qtbot):
    """Showing the status bar's task bar lays the status bar out again (~3 ms): it no longer
    runs inside the Run click's event, and still shows the run straight after."""
    from PySide6.QtCore import QEvent, QObject

    window = panel.window
    shown: list[float] = []

    class Shows(QObject):
        def eventFilter(self, watched, event):  # noqa: N802
            if event.type() == QEvent.Type.Show:
                shown.append(time.perf_counter())
            return False

    spy = Shows()
    window.task_bar.installEventFilter(spy)
    _choose(panel.form.source, "digits")
    _choose(panel.form.model, "knn")
    assert not window.task_bar.isVisible()
    clicked = time.perf_counter()
    panel.run_button.click()  # (the click's own event, as a mouse click delivers it)
    record = panel.model.records[-1]
    assert not shown and not window.task_bar.isVisible()
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert shown[0] - clicked < 1.0
    qtbot.waitUntil(lambda: record.finished and panel.last_shown is record, timeout=30000)
    qtbot.waitUntil(lambda: not window.task_bar.isVisible(), timeout=5000)
