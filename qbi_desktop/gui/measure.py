"""Measure menu: a line profile and rectangle/ellipse region statistics on the canvas.

* Measure ▸ Line Profile (``I``) puts a line across the view; its profile (bilinear samples
  <= 1 px apart, :func:`qbi_desktop.core.measure.line_profile`) is plotted in a pane under the
  canvas. Measure ▸ Rectangle ROI (``Q``) / Ellipse ROI (``O``) put a region whose statistics
  (mean, std, min, max, count, SNR) are shown beside the plot. Drag the handles: both follow
  live, at most one update per frame.
* Values come from the plane the canvas shows, so they are in the current unit (counts,
  transmission or attenuation, switched by the Radiography dock's ``U``) and follow slice and
  unit changes.
* A region of more than ~0.5 M pixels is measured live on every k-th row (the read-out says
  "estimate from 1 row in k"); when the drag ends the exact figures are computed on a worker.
* Measure ▸ Clear Measurements (``Ctrl+Shift+M``, or the pane's ✕) removes them and the pane.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from qbi_desktop.core.measure import (
    LIVE_MAX_PIXELS,
    Profile,
    RoiStats,
    line_profile,
    roi_stats,
    roi_stats_job,
)
from qbi_desktop.core.radiography.view import unit_of
from qbi_desktop.gui.scalebar import ScaleBar

LINE_KEY, RECT_KEY, ELLIPSE_KEY, CLEAR_KEY = "I", "Q", "O", "Ctrl+Shift+M"
FRAME_MS = 16  # at most one live update per frame while dragging
PANE_HEIGHT = 170
LINE_PEN = pg.mkPen((255, 200, 40), width=2)
REGION_PEN = pg.mkPen((80, 220, 255), width=2)


def install(window) -> MeasureTools:
    return MeasureTools(window)


class _RectROI(pg.ROI):
    """Axis-aligned rectangle with a scale handle on two opposite corners."""

    def __init__(self, pos, size):
        super().__init__(pos, size, pen=REGION_PEN, removable=False)
        self.addScaleHandle([1, 1], [0, 0])
        self.addScaleHandle([0, 0], [1, 1])


class _EllipseROI(pg.EllipseROI):
    """Axis-aligned ellipse (no rotate handle: the statistics assume unrotated axes)."""

    def __init__(self, pos, size):
        super().__init__(pos, size, pen=REGION_PEN)

    def _addHandles(self):  # noqa: N802 - pyqtgraph's hook
        self.addScaleHandle([1, 1], [0, 0])
        self.addScaleHandle([0, 0], [1, 1])


def unit_title(unit: str) -> str:
    return unit.capitalize()


class MeasurePane(QWidget):
    """Under the canvas: the profile plot and the region read-out, side by side."""

    def __init__(self, on_close):
        super().__init__()
        self.setObjectName("measure_pane")
        self.setFixedHeight(PANE_HEIGHT)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        self.plot = pg.PlotWidget(background=pg.mkColor(30, 30, 30))
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "distance", units="px")
        self.curve = self.plot.plot([], [], pen=LINE_PEN)
        # A 16k-sample profile is drawn at the plot's width (peaks kept), not point by point.
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self.unit_label = ""
        self.title = ""
        self.plot.getPlotItem().setTitle("")
        row.addWidget(self.plot, 1)
        self.stats = QLabel("")
        self.stats.setObjectName("measure_stats")
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stats.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.stats.setMinimumWidth(200)
        self.stats.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        row.addWidget(self.stats)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip(f"Clear the measurements ({CLEAR_KEY})")
        close.setAutoRaise(True)
        close.clicked.connect(on_close)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)


class MeasureTools(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.canvas = window.canvas
        self.line: pg.LineSegmentROI | None = None
        self.region: pg.ROI | None = None
        self.region_kind: str | None = None
        self.profile: Profile | None = None
        self.stats: RoiStats | None = None
        self.updates = 0  # live updates made (the throttle's visible effect)
        self._exact_task = None
        self._generation = 0  # results of an older region or plane are dropped

        self.pane = MeasurePane(self.clear)
        self.pane.hide()
        column = self.canvas.parentWidget().layout()
        column.insertWidget(column.indexOf(self.canvas) + 1, self.pane)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self._frame)
        self._final_pending = False  # the next update is not part of a drag: may go exact
        self.canvas.plane_changed.connect(self._plane_changed)

        self.scale_bar = ScaleBar(window)

        menu = window.add_menu("measure", "&Measure")
        self.line_action = window.add_action(
            "&Line Profile", self.add_line, LINE_KEY, menu, "Profile along a line, under the image"
        )
        self.rect_action = window.add_action(
            "&Rectangle ROI",
            lambda: self.add_region("rectangle"),
            RECT_KEY,
            menu,
            "Mean, std, min, max, count and SNR of a rectangle",
        )
        self.ellipse_action = window.add_action(
            "&Ellipse ROI",
            lambda: self.add_region("ellipse"),
            ELLIPSE_KEY,
            menu,
            "Mean, std, min, max, count and SNR of an ellipse",
        )
        menu.addSeparator()
        self.clear_action = window.add_action("&Clear Measurements", self.clear, CLEAR_KEY, menu)
        menu.addSeparator()
        menu.addAction(self.scale_bar.action)

    # -- placing tools -------------------------------------------------------------------------
    def _view_box(self) -> tuple[float, float, float, float]:
        rect = self.canvas.view.viewRect()
        plane = self.canvas.plane
        if plane is not None:  # keep new tools on the image
            rect = rect.intersected(QRectF(0, 0, plane.width, plane.height))
        return rect.left(), rect.top(), rect.width(), rect.height()

    def add_line(self, start=None, end=None) -> pg.LineSegmentROI | None:
        """A line from ``start`` to ``end`` (x, y), by default across the middle of the view."""
        if self.canvas.plane is None:
            self.window.statusBar().showMessage("Open an image to measure a profile", 4000)
            return None
        if start is None or end is None:
            x, y, w, h = self._view_box()
            start, end = (x + 0.2 * w, y + 0.5 * h), (x + 0.8 * w, y + 0.5 * h)
        if self.line is not None:
            self.canvas.view.removeItem(self.line)
        self._free_left_button()
        self.line = pg.LineSegmentROI([start, end], pen=LINE_PEN)
        self.line.setZValue(20)
        self._watch(self.line)
        self.canvas.view.addItem(self.line)
        self.update_now()
        return self.line

    def add_region(self, kind: str, rect=None) -> pg.ROI | None:
        """A ``kind`` ("rectangle"/"ellipse") region at ``rect`` (x, y, w, h), by default in the
        middle of the view."""
        if self.canvas.plane is None:
            self.window.statusBar().showMessage("Open an image to measure a region", 4000)
            return None
        if rect is None:
            x, y, w, h = self._view_box()
            rect = (x + 0.35 * w, y + 0.35 * h, 0.3 * w, 0.3 * h)
        if self.region is not None:
            self.canvas.view.removeItem(self.region)
        self._free_left_button()
        cls = _RectROI if kind == "rectangle" else _EllipseROI
        self.region = cls(rect[:2], rect[2:])
        self.region.setZValue(20)
        self.region_kind = kind
        self._watch(self.region)
        self.canvas.view.addItem(self.region)
        self.update_now()
        return self.region

    def _free_left_button(self) -> None:
        """A paint tool owns the left button; back to Navigate so the handles can be dragged."""
        annotate = self.window.panels.get("annotate") if hasattr(self.window, "panels") else None
        controller = getattr(annotate, "controller", None)
        if controller is not None and controller.tool is not None:
            annotate.set_tool(None)

    def _watch(self, roi: pg.ROI) -> None:
        roi.sigRegionChanged.connect(self.schedule)
        roi.sigRegionChangeFinished.connect(lambda *_a: self.update_now())

    def clear(self) -> None:
        for roi in (self.line, self.region):
            if roi is not None:
                self.canvas.view.removeItem(roi)
        self.line = self.region = self.region_kind = None
        self.profile = self.stats = None
        self._generation += 1
        self.pane.hide()

    # -- geometry --------------------------------------------------------------------------------
    def line_ends(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        if self.line is None:
            return None
        a, b = (self.line.mapToParent(h.pos()) for h in self.line.getHandles()[:2])
        return (a.x(), a.y()), (b.x(), b.y())

    def region_rect(self) -> tuple[float, float, float, float] | None:
        if self.region is None:
            return None
        pos, size = self.region.pos(), self.region.size()
        return pos.x(), pos.y(), size.x(), size.y()

    # -- updates ---------------------------------------------------------------------------------
    def schedule(self, *_args) -> None:
        """Coalesce changes: one update at the next frame, however many moves came."""
        if not self._timer.isActive():
            self._timer.start()

    def unit(self) -> str:
        doc = self.window.current
        return unit_of(doc.source) if doc is not None else "counts"

    def _plane_changed(self, _plane) -> None:
        self._final_pending = True  # other slice, unit, decoded tiles: settle on exact figures
        self.schedule()

    def _frame(self) -> None:
        final, self._final_pending = self._final_pending, False
        self.update_now(final)

    def update_now(self, final: bool = True) -> None:
        """Recompute from the current plane. ``final`` (not mid-drag): a region measured on
        sampled rows gets its exact figures from a worker."""
        self._timer.stop()
        if self.line is None and self.region is None:
            self.pane.hide()
            return
        self.updates += 1
        self._generation += 1
        plane = self.canvas.plane
        if plane is None:  # the last image closed: nothing left to measure
            self.clear()
            return
        array = plane.array
        unit = unit_title(self.unit())
        self.pane.show()
        ends = self.line_ends()
        self.pane.plot.setVisible(ends is not None)
        if ends is not None:
            self.profile = line_profile(array, *ends)
            self._show_profile(self.profile, unit)
        else:
            self.profile = None
        rect = self.region_rect()
        self.pane.stats.setVisible(rect is not None)
        if rect is not None:
            self.stats = roi_stats(array, self.region_kind, rect, max_pixels=LIVE_MAX_PIXELS)
            self._show_stats(self.stats, unit, plane.complete)
            if final and not self.stats.exact:
                self._start_exact(array, self.region_kind, rect)
        else:
            self.stats = None

    def _show_profile(self, profile: Profile, unit: str) -> None:
        finite = np.isfinite(profile.values)
        self.pane.curve.setData(profile.distance, profile.values, connect="finite")
        if unit != self.pane.unit_label:  # relaying out the axis costs a few ms: only on change
            self.pane.unit_label = unit
            self.pane.plot.setLabel("left", unit)
        size = self.scale_bar.pixel
        length = f"{profile.length:.1f} px"
        if size is not None:
            length += f" = {profile.length * size.size:.4g} {size.unit}"
        if not finite.any():
            length += " (no values: off the image)"
        title = f"Line profile: {length}"
        if title != self.pane.title:
            self.pane.title = title
            self.pane.plot.getPlotItem().setTitle(title, size="9pt")

    def _show_stats(self, stats: RoiStats, unit: str, complete: bool) -> None:
        lines = [f"<b>{self.region_kind.capitalize()}</b> — {unit}"]
        if stats.count:
            lines += [
                f"mean {_fmt(stats.mean)}",
                f"std {_fmt(stats.std)}",
                f"min {_fmt(stats.min)}",
                f"max {_fmt(stats.max)}",
                f"count {stats.count:,} px",
                f"SNR {_fmt(stats.snr)}",
            ]
        else:
            lines.append("no pixels inside the image")
        if stats.nan_count:
            lines.append(f"{stats.nan_count:,} masked (NaN) px left out")
        if not stats.exact:
            lines.append(f"<i>estimate from 1 row in {stats.step}; exact on release</i>")
        if not complete:
            lines.append("<i>image still decoding</i>")
        self.pane.stats.setText("<br>".join(lines))

    def _start_exact(self, array, kind: str, rect) -> None:
        generation = self._generation
        if self._exact_task is not None and not self._exact_task.finished:
            self._exact_task.cancel()

        def done(stats: RoiStats) -> None:
            if generation == self._generation:  # the region or the plane moved on since
                self.stats = stats
                self._show_stats(stats, unit_title(self.unit()), True)

        self._exact_task = self.window.tasks.submit(
            "Region statistics",
            lambda: roi_stats_job(array, kind, rect),
            on_result=done,
            on_error=self.window.report_error,
        )


def _fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.6g}"
