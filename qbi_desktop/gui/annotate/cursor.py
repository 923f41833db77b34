"""What the painter sees under the pen: the brush outline at its true size, the lasso, the preview.

The brush outline is the exact edge of the pixels a dab would paint (the core's disc footprint),
not an approximate circle, so the user sees at any zoom which pixels the next dab takes.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from qbi_desktop.core.annotation.masks import disc_footprint


@lru_cache(maxsize=256)
def footprint_path(radius: float) -> QPainterPath:
    """Outline of the disc footprint of ``radius``, centred on pixel (0, 0) whose square is
    [-0.5, 0.5)^2 (so placing it at a pixel centre shows the pixels the dab covers)."""
    fp = np.asarray(disc_footprint(radius), dtype=bool)
    n = fp.shape[0]
    half = n // 2
    pad = np.zeros((n + 2, n + 2), dtype=bool)
    pad[1:-1, 1:-1] = fp
    path = QPainterPath()
    off = -half - 0.5
    # horizontal edges: between rows i-1 and i of the padded array, at y = i - 1 (+ offset)
    hy, hx = np.nonzero(pad[1:, 1:-1] != pad[:-1, 1:-1])
    for y, x in zip(hy.tolist(), hx.tolist(), strict=True):
        path.moveTo(x + off, y + off)
        path.lineTo(x + 1 + off, y + off)
    vy, vx = np.nonzero(pad[1:-1, 1:] != pad[1:-1, :-1])
    for y, x in zip(vy.tolist(), vx.tolist(), strict=True):
        path.moveTo(x + off, y + off)
        path.lineTo(x + off, y + 1 + off)
    return path


class BrushCursor:
    """Two path items (dark under light, cosmetic pens) showing the footprint at a pixel."""

    def __init__(self, view: pg.ViewBox):
        self.items = []
        for colour, width in ((QColor(0, 0, 0, 200), 3.0), (QColor(255, 255, 255, 230), 1.2)):
            item = QGraphicsPathItem()
            pen = QPen(colour, width)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(40 if width < 2 else 39)
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresParentOpacity, True)
            view.addItem(item, ignoreBounds=True)
            item.hide()
            self.items.append(item)
        self.radius: float | None = None
        self.centre: tuple[int, int] | None = None

    def show_at(self, cy: int, cx: int, radius: float) -> None:
        """Outline of a dab of ``radius`` centred on pixel (cy, cx)."""
        if radius != self.radius:
            path = footprint_path(radius)
            for item in self.items:
                item.setPath(path)
            self.radius = radius
        self.centre = (cy, cx)
        for item in self.items:
            # pixel (cy, cx) spans [cx, cx+1) x [cy, cy+1) in view coordinates
            item.setPos(QPointF(cx + 0.5, cy + 0.5))
            item.show()

    def hide(self) -> None:
        self.centre = None
        for item in self.items:
            item.hide()

    @property
    def visible(self) -> bool:
        return self.items[0].isVisible()


class LassoItem:
    """The polygon being drawn with the lasso tool."""

    def __init__(self, view: pg.ViewBox):
        self.item = QGraphicsPathItem()
        pen = QPen(QColor(255, 230, 60), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.item.setPen(pen)
        self.item.setZValue(41)
        view.addItem(self.item, ignoreBounds=True)
        self.points: list[tuple[float, float]] = []  # (view x, view y)

    def start(self, x: float, y: float) -> None:
        self.points = [(x, y)]
        self._redraw()

    def add(self, x: float, y: float) -> None:
        self.points.append((x, y))
        self._redraw()

    def clear(self) -> None:
        self.points = []
        self.item.setPath(QPainterPath())

    def _redraw(self) -> None:
        path = QPainterPath()
        if self.points:
            path.moveTo(*self.points[0])
            for p in self.points[1:]:
                path.lineTo(*p)
            path.closeSubpath()
        self.item.setPath(path)


class PreviewItem:
    """The constrained brush's preview: the pixels the next dab would take, tinted."""

    def __init__(self, view: pg.ViewBox):
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setZValue(38)
        view.addItem(self.item, ignoreBounds=True)
        self.item.hide()
        self.count = 0  # pixels shown in the preview (tests read it)

    def show(self, rect: tuple[int, int, int, int], take: np.ndarray, colour) -> None:
        y0, y1, x0, x1 = rect
        rgba = np.zeros((*take.shape, 4), dtype=np.uint8)
        rgba[take] = (*colour, 170)
        self.item.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.item.show()
        self.count = int(take.sum())

    def hide(self) -> None:
        self.item.hide()
        self.count = 0
