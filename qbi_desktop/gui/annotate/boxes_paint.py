"""Boxes painted onto small pictures (Browser thumbnails, the Montage): outlines in their class
colours (the canvas's colours), scaled from image pixels to the picture. The thumbnails in the
cache stay plain images; boxes are drawn when shown, so an edit shows at once."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap

from qbi_desktop.core.annotation.boxes import class_colour
from qbi_desktop.core.catalog import Box


def paint_boxes(
    painter: QPainter, boxes: Sequence[Box], scale: float, dx: float = 0.0, dy: float = 0.0
) -> None:
    """Outline ``boxes`` (image pixels) at ``scale`` picture pixels per image pixel, offset."""
    for box in boxes:
        pen = QPen(QColor(*class_colour(box.label)), 1.5)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawRect(
            QRectF(dx + box.x * scale, dy + box.y * scale, box.w * scale, box.h * scale)
        )


def with_boxes(
    pixmap: QPixmap | None, boxes: Sequence[Box], width: int | None, height: int | None
) -> QPixmap | None:
    """A copy of ``pixmap`` (the whole ``width`` x ``height`` image, scaled) with ``boxes``
    drawn on it; the pixmap itself when there is nothing to draw or the size is unknown."""
    if pixmap is None or pixmap.isNull() or not boxes or not width or not height:
        return pixmap
    out = QPixmap(pixmap)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    paint_boxes(painter, boxes, out.width() / float(width))
    painter.end()
    return out
