"""The central image canvas: draws only what is visible, at the resolution the screen needs.

Two image items share one view box:

* the *base* item shows the whole plane at overview resolution (the plane itself when it is at
  most 2048 px, else a strided read that is swapped for the block-mean pyramid level once built);
  pyqtgraph caches its QImage, so panning and zooming it costs only a scaled blit;
* the *detail* item shows the visible region at the resolution the zoom asks for, re-read from
  the (memory-mapped) plane when the view moves outside what it holds.

Both stay on pyqtgraph's fast path: C-contiguous row-major arrays, explicit levels, a 256-entry
uint8 lookup table.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal

from qbi_desktop.core.io import Plane
from qbi_desktop.core.pyramid import Pyramid, overview_step
from qbi_desktop.gui.empty_hint import EmptyHint

DETAIL_MARGIN = 0.15  # read this much beyond the visible rect, so small pans need no new read


def _power_of_two_at_most(value: float) -> int:
    return 1 if value < 2 else 2 ** int(math.floor(math.log2(value)))


class ImageCanvas(pg.GraphicsView):
    """Shows one plane with levels and a colour map; reports the pixel under the cursor."""

    pixel_hovered = Signal(object)  # (x, y, raw value) or None when outside the image
    view_changed = Signal()
    # Annotation hook: emitted after every set_plane (new image, other slice, plane re-set after
    # decoding), so the mask overlay can follow the plane shown.
    plane_changed = Signal(object)  # the Plane or None

    def __init__(self, parent=None):
        super().__init__(parent, background=pg.mkColor(30, 30, 30))
        self.setAcceptDrops(False)  # the main window takes file drops
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.0)
        self.setCentralItem(self.view)
        self.base_item = pg.ImageItem(axisOrder="row-major")
        self.detail_item = pg.ImageItem(axisOrder="row-major")
        self.detail_item.setZValue(1)
        for item in (self.base_item, self.detail_item):
            self.view.addItem(item)
        self.detail_item.hide()

        self.plane: Plane | None = None
        self.pyramid: Pyramid | None = None
        self.levels: tuple[float, float] = (0.0, 1.0)
        self.lut: np.ndarray | None = None
        self.base_step = 1
        self.base_array: np.ndarray | None = None
        self._detail_key: tuple[int, int, int, int, int] | None = None  # y0, y1, x0, x1, step

        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(0)
        self._detail_timer.timeout.connect(self.update_detail)
        self.view.sigRangeChanged.connect(self._on_range_changed)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        # Annotation hook: True while a paint tool owns the left button (gui/annotate/tools.py
        # takes those events in an event filter on the viewport, so the view box does not pan).
        self.tool_active = False
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # Space (pan) and tool keys reach us
        # While no image is open: how to open one (its buttons are connected by the window).
        self.empty_hint = EmptyHint(self)
        self.empty_hint.show()

    # -- content -------------------------------------------------------------------------------
    def set_plane(
        self,
        plane: Plane | None,
        pyramid: Pyramid | None = None,
        *,
        keep_view: bool = False,
        overview: tuple[np.ndarray, int] | None = None,
        announce: bool = True,
    ):
        """Show ``plane``; ``pyramid`` (if given) supplies smooth overview levels once built.

        ``overview`` is an (array, step) already read off the GUI thread, used when its step is
        the one this view needs. ``announce=False``: the caller emits ``plane_changed`` itself
        (after the first paint, so listeners' work does not delay it).
        """
        self.plane = plane
        self.pyramid = pyramid
        self._detail_key = None
        self.detail_item.hide()
        self.empty_hint.setVisible(plane is None)
        if plane is None:
            self.base_item.clear()
            self.base_array = None
            self.plane_changed.emit(None)
            return
        self.refresh_base(overview)
        if not keep_view:
            self.fit()
        self.update_detail()
        if announce:
            self.plane_changed.emit(plane)

    def overview_step(self, plane: Plane) -> int:
        return overview_step(plane.height, plane.width, self.view.width(), self.view.height())

    def refresh_base(self, overview: tuple[np.ndarray, int] | None = None) -> None:
        """Re-read the overview (after the pyramid finished, or tiles were decoded)."""
        plane = self.plane
        if plane is None:
            return
        step = self.overview_step(plane)
        if overview is not None and overview[1] == step:
            base = overview[0]
        elif step == 1:
            contiguous = plane.array.flags.c_contiguous
            base = plane.array if contiguous else plane.read(0, plane.height, 0, plane.width)
        elif self.pyramid is not None:
            base, step = self.pyramid.read(0, plane.height, 0, plane.width, step)
        else:
            base = plane.read(0, plane.height, 0, plane.width, step)
        self.base_step = step
        self.base_array = base
        self.base_item.setImage(base, autoLevels=False, levels=self.levels, lut=self.lut)
        self.base_item.setRect(QRectF(0, 0, base.shape[1] * step, base.shape[0] * step))

    def refresh_all(self) -> None:
        """The plane's pixels changed (tiles decoded): redraw the overview and the detail."""
        self.refresh_base()
        self._detail_key = None
        self.update_detail()

    def set_levels(self, vmin: float, vmax: float) -> None:
        self.levels = (float(vmin), float(vmax))
        for item in (self.base_item, self.detail_item):
            if item.image is not None:
                item.setLevels(self.levels)

    def set_lut(self, lut: np.ndarray | None) -> None:
        self.lut = lut
        for item in (self.base_item, self.detail_item):
            if item.image is not None:
                item.setLookupTable(lut)

    def set_tool_active(self, active: bool) -> None:
        """Annotation hook: a paint tool takes the left button (Space-drag still pans)."""
        self.tool_active = bool(active)

    # -- view ----------------------------------------------------------------------------------
    def fit(self) -> None:
        if self.plane is None:
            return
        self.view.setRange(QRectF(0, 0, self.plane.width, self.plane.height), padding=0.02)

    def zoom_to(self, scale: float, center: QPointF | None = None) -> None:
        """Set the zoom so that one image pixel spans ``scale`` screen pixels (1 = 1:1)."""
        if self.plane is None:
            return
        size = self.view.size() if hasattr(self.view, "size") else None
        width_px = max(1.0, self.view.width() if size is None else size.width())
        height_px = max(1.0, self.view.height() if size is None else size.height())
        center = center or self.view.viewRect().center()
        w, h = width_px / scale, height_px / scale
        self.view.setRange(QRectF(center.x() - w / 2, center.y() - h / 2, w, h), padding=0)

    def zoom_by(self, factor: float) -> None:
        self.view.scaleBy((1 / factor, 1 / factor))

    def screen_scale(self) -> float:
        """Screen pixels per image pixel at the current zoom."""
        rect = self.view.viewRect()
        width_px = max(1.0, self.view.width())
        return width_px / max(rect.width(), 1e-9)

    # -- detail rendering ----------------------------------------------------------------------
    def _on_range_changed(self, *_args) -> None:
        self._detail_timer.start()
        self.view_changed.emit()

    def wanted_step(self) -> int:
        """Plane pixels per screen pixel at this zoom, as a power of two (>= 1)."""
        return _power_of_two_at_most(1.0 / self.screen_scale())

    def update_detail(self) -> None:
        """Make the detail item show the visible region at the needed resolution (synchronous)."""
        self._detail_timer.stop()
        plane = self.plane
        if plane is None:
            return
        step = self.wanted_step()
        if step >= self.base_step:
            self.detail_item.hide()
            self._detail_key = None
            return
        rect = self.view.viewRect()
        mx, my = rect.width() * DETAIL_MARGIN, rect.height() * DETAIL_MARGIN
        y0 = max(0, int(math.floor(rect.top() - my)))
        y1 = min(plane.height, int(math.ceil(rect.bottom() + my)))
        x0 = max(0, int(math.floor(rect.left() - mx)))
        x1 = min(plane.width, int(math.ceil(rect.right() + mx)))
        if y1 <= y0 or x1 <= x0:
            self.detail_item.hide()
            return
        key = self._detail_key
        visible = (
            max(0, int(rect.top())),
            min(plane.height, int(math.ceil(rect.bottom()))),
            max(0, int(rect.left())),
            min(plane.width, int(math.ceil(rect.right()))),
        )
        if (
            key is not None
            and key[4] == step
            and key[0] <= visible[0]
            and visible[1] <= key[1]
            and key[2] <= visible[2]
            and visible[3] <= key[3]
        ):
            return  # what we hold still covers the view
        # Align to the step so pixels do not shimmer while panning.
        y0, x0 = (y0 // step) * step, (x0 // step) * step
        if self.pyramid is not None and step > 1:
            region, step = self.pyramid.read(y0, y1, x0, x1, step)
        else:
            region = plane.read(y0, y1, x0, x1, step)
        self.detail_item.setImage(region, autoLevels=False, levels=self.levels, lut=self.lut)
        self.detail_item.setRect(QRectF(x0, y0, region.shape[1] * step, region.shape[0] * step))
        self.detail_item.show()
        self._detail_key = (y0, y1, x0, x1, step)

    # -- read-out ------------------------------------------------------------------------------
    def image_pos(self, scene_pos: QPointF) -> tuple[int, int] | None:
        if self.plane is None:
            return None
        point = self.view.mapSceneToView(scene_pos)
        x, y = int(math.floor(point.x())), int(math.floor(point.y()))
        if 0 <= x < self.plane.width and 0 <= y < self.plane.height:
            return x, y
        return None

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        pos = self.image_pos(scene_pos)
        if pos is None:
            self.pixel_hovered.emit(None)
            return
        x, y = pos
        self.pixel_hovered.emit((x, y, self.plane.value_at(y, x)))

    def resizeEvent(self, event):  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        hint = getattr(self, "empty_hint", None)  # pyqtgraph resizes during __init__
        if hint is not None:
            hint.place(self.width(), self.height())

    def keyPressEvent(self, event):  # noqa: N802 - Qt naming
        # Let the main window's shortcuts see keys; the view box has none of its own we want.
        event.ignore()
        if event.key() in (Qt.Key.Key_Plus, Qt.Key.Key_Minus):
            super().keyPressEvent(event)
