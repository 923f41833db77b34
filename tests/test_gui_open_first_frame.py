"""Opening a small image draws its first frame at once (no worker thread before the paint), with
levels from a quick strided sample, and refines the levels and the panels right after."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import RADIOGRAPHS, need
from PySide6.QtCore import QEvent, QObject

from qbi_desktop.core import levels as core_levels
from qbi_desktop.gui.document import QUICK_SAMPLE_PIXELS, ImageDocument, open_document_job

REAL_FILES = ["edge20mm_0000.tif", "ob.tif", "dc.tif", "spotprojection_0001.tif"]


class PaintWatch(QObject):
    def __init__(self):
        super().__init__()
        self.painted = 0

    def eventFilter(self, _obj, event):  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.Paint:
            self.painted += 1
        return False


def test_small_image_is_drawn_before_open_returns_and_panels_follow(qtbot, main_window):
    path = need(RADIOGRAPHS / "edge20mm_0000.tif")
    data = tifffile.imread(path)
    watch = PaintWatch()
    main_window.canvas.viewport().installEventFilter(watch)
    task = main_window.open_file(path)
    # No event loop has run: the image was opened and painted in the call itself.
    assert task.state == "done", task.error
    assert main_window.current is not None and main_window.current.path == path
    assert main_window.canvas.base_array is not None
    assert watch.painted >= 1
    # The panels and the refined levels come on the next event-loop pass.
    qtbot.waitUntil(lambda: main_window.announced is main_window.current, timeout=5000)
    document = main_window.current
    lo, hi = np.percentile(data, [0.5, 99.5])
    span = float(data.max()) - float(data.min())
    vmin, vmax = document.levels
    assert abs(vmin - lo) <= 0.01 * span and abs(vmax - hi) <= 0.01 * span
    assert main_window.levels_panel.levels() == pytest.approx(document.levels, abs=0.5)
    assert main_window.canvas.levels == pytest.approx(document.levels)
    assert main_window.info_panel.value("Pixel type") == "uint16"
    assert not document.sample_is_quick


def test_a_file_that_cannot_be_read_still_reports_when_opened_here(qtbot, main_window, tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage")
    task = main_window.open_file(bad)
    assert task.state == "failed"
    assert str(bad) in main_window.last_error
    assert main_window.current is None


@pytest.mark.parametrize("name", REAL_FILES)
def test_quick_sample_levels_match_the_full_levels_on_real_radiographs(name):
    """The first frame's window differs from the refined one by under 1 % of the value range."""
    path = need(RADIOGRAPHS / name)
    data = tifffile.imread(path)
    if data.ndim > 2:
        data = data[0]
    full = core_levels.percentile_levels(data)
    job = open_document_job(path, core_levels.DEFAULT_PERCENTILES, (1100, 800), quick=True)
    try:
        while True:
            next(job)
    except StopIteration as stop:
        document: ImageDocument = stop.value
    try:
        assert document.sample.size <= QUICK_SAMPLE_PIXELS or data.size <= QUICK_SAMPLE_PIXELS
        span = float(data.max()) - float(data.min())
        quick = document.levels
        assert abs(quick[0] - full[0]) <= 0.01 * span and abs(quick[1] - full[1]) <= 0.01 * span
        document.refine_sample(core_levels.DEFAULT_PERCENTILES)
        assert not document.sample_is_quick
        refined = document.levels
        assert abs(refined[0] - full[0]) <= 0.005 * span
        assert abs(refined[1] - full[1]) <= 0.005 * span
    finally:
        document.source.close()
