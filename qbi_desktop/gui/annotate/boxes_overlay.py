"""Boxes drawn over the image: one graphics item per box, so an edit repaints only its rectangle.

Each :class:`BoxItem` is a rectangle in image coordinates (cosmetic 2 px pen in its class colour;
dashed while it is a copy-forward proposal, or white, dashed and tagged "class?" while it waits
for its class), a tag with the class name, and, when selected, eight
handles. Tag and handles keep their screen size at any zoom (``ItemIgnoresTransformations``).
Moving or resizing a box changes only that item's geometry, so Qt repaints the old and new
rectangles, never the whole canvas.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QGraphicsRectItem

from qbi_desktop.core.annotation.boxes import class_colour, handle_points
from qbi_desktop.core.catalog import Box

HANDLE_PX = 7  # handle side on screen
Z_BOXES = 20  # above the image (0, 1) and the mask overlay
PENDING_TAG = "class?"  # the tag of a drawn box that waits for its class
PENDING_COLOUR = (255, 255, 255)  # no class colour yet


class _Tag(QGraphicsItem):
    """The class name on a filled label at the box's top-left corner, at screen size."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.text = ""
        self.colour = QColor(255, 255, 0)
        self.font = QFont()
        self.font.setPointSizeF(8.5)
        self._rect = QRectF()

    def set(self, text: str, colour: QColor) -> None:
        self.prepareGeometryChange()
        self.text, self.colour = text, colour
        m = QFontMetricsF(self.font)
        self._rect = QRectF(0, -m.height() - 2, m.horizontalAdvance(text) + 6, m.height() + 2)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt naming
        return self._rect

    def paint(self, painter: QPainter, _option, _widget=None) -> None:
        painter.fillRect(self._rect, self.colour)
        dark = self.colour.lightness() > 140
        painter.setPen(QColor(0, 0, 0) if dark else QColor(255, 255, 255))
        painter.setFont(self.font)
        painter.drawText(self._rect.adjusted(3, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, self.text)


class _Handle(QGraphicsRectItem):
    def __init__(self, parent: QGraphicsItem):
        h = HANDLE_PX / 2
        super().__init__(-h, -h, HANDLE_PX, HANDLE_PX, parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setPen(QPen(QColor(0, 0, 0), 1))
        self.setBrush(QBrush(QColor(255, 255, 255)))


class BoxItem(QGraphicsRectItem):
    """One box (or proposal) on the canvas."""

    def __init__(self, box: Box, proposal: bool = False, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self.setZValue(Z_BOXES)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)  # the box tool does the input
        self.tag = _Tag(self)
        self.handles = [_Handle(self) for _ in range(8)]
        self.box: Box | None = None
        self.proposal = proposal
        self.selected = False
        self.set_box(box)
        self.set_selected(False)

    def set_box(self, box: Box) -> None:
        label_changed = self.box is None or self.box.label != box.label
        self.box = box
        self.setRect(QRectF(box.x, box.y, box.w, box.h))
        if label_changed:
            self._style()
        self.tag.setPos(box.x, box.y)
        for handle, (_name, x, y) in zip(self.handles, handle_points(box), strict=True):
            handle.setPos(x, y)

    def _style(self) -> None:
        pending = not self.box.label  # drawn, waiting for its class: dashed, "class?"
        colour = QColor(*PENDING_COLOUR) if pending else QColor(*class_colour(self.box.label))
        pen = QPen(colour, 2.5 if self.selected else 1.6)
        pen.setCosmetic(True)
        if self.proposal or pending:
            pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)
        if pending:
            self.tag.set(PENDING_TAG, colour)
        else:
            self.tag.set(self.box.label + (" ?" if self.proposal else ""), colour)

    def set_selected(self, on: bool) -> None:
        self.selected = on
        self.show_handles(on)
        self._style()

    def show_handles(self, on: bool) -> None:
        """Handles are hidden while the box is dragged: fewer items to move per mouse move."""
        for handle in self.handles:
            if handle.isVisible() != on:
                handle.setVisible(on)


class BoxLayer(QGraphicsObject):
    """All boxes and proposals of the image shown; rebuilt per item, updated box by box."""

    def __init__(self):
        super().__init__()
        self.setZValue(Z_BOXES)
        self.items: list[BoxItem] = []
        self.proposal_items: list[BoxItem] = []
        self.draft = BoxItem(Box("", 0, 0, 0, 0), parent=self)  # the box being drawn
        self.draft.hide()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt naming
        return QRectF()  # draws nothing itself; its children do

    def paint(self, *_args) -> None:
        pass

    def show_boxes(self, boxes: list[Box], proposals: list[Box]) -> None:
        """Make the items match ``boxes`` and ``proposals`` (items are reused, so an edit of
        one box touches one item)."""
        self._sync(self.items, boxes, False)
        self._sync(self.proposal_items, proposals, True)

    def _sync(self, items: list[BoxItem], boxes: list[Box], proposal: bool) -> None:
        scene = self.scene()
        while len(items) > len(boxes):
            item = items.pop()
            if scene is not None:
                scene.removeItem(item)
            item.setParentItem(None)
        for i, box in enumerate(boxes):
            if i < len(items):
                if items[i].box != box:
                    items[i].set_box(box)
            else:
                items.append(BoxItem(box, proposal, parent=self))

    def select(self, kind: str | None, index: int | None) -> None:
        for k, items in (("box", self.items), ("proposal", self.proposal_items)):
            for i, item in enumerate(items):
                on = k == kind and i == index
                if item.selected != on:
                    item.set_selected(on)

    def item(self, kind: str, index: int) -> BoxItem | None:
        items = self.items if kind == "box" else self.proposal_items
        return items[index] if 0 <= index < len(items) else None

    def show_draft(self, box: Box | None) -> None:
        if box is None:
            self.draft.hide()
            return
        self.draft.set_box(box)
        self.draft.show()

    def centre_of(self, box: Box) -> QPointF:
        return QPointF(box.x + box.w / 2, box.y + box.h / 2)
