"""The mask overlay: the label mask drawn in colour over the image, updated rectangle by rectangle.

Why not one ``pg.ImageItem``: it rebuilds its whole QImage on every change, ~0.5 s for an
8192^2 overlay, which a painter that must keep up with a 2 kHz pen cannot pay per dab.

Instead the overlay is a grid of :data:`TILE` x :data:`TILE` tiles, created only where the mask
holds labels (a spot mask touches few of them). Each tile owns a ``uint32`` numpy array that *is*
the memory of its ``QImage`` (premultiplied ARGB32, shared, never copied). Updating a changed
rectangle is one table look-up, ``argb[mask[rect]]``, written into the tiles' arrays over just that
rectangle, then ``QGraphicsItem.update`` of the tiles it touches. Opacity and show/hide act on the
parent item (``setOpacity`` / ``setVisible``), so they never recolour a pixel.

Outline mode draws only the boundary pixels of each label region (a pixel whose label differs
from one of its 4 neighbours); a changed rectangle is recomputed with a one-pixel margin, since
changing a pixel changes whether its neighbours are boundary pixels.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject

from qbi_desktop.core.labels import LabelTable

TILE = 256

Rect = tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open


def argb_table(labels: LabelTable, size: int) -> np.ndarray:
    """``size`` uint32 premultiplied-ARGB colours: 0 and unknown labels transparent, labels opaque.

    Opacity is applied by the parent item, so the table holds fully opaque colours.
    """
    table = np.zeros(size, dtype=np.uint32)
    for label in labels:
        if label.value < size:
            r, g, b = label.colour
            table[label.value] = (0xFF << 24) | (r << 16) | (g << 8) | b
    return table


def boundary(labels: np.ndarray) -> np.ndarray:
    """True where a labelled pixel has a 4-neighbour of another value (edges of the array: no)."""
    b = np.zeros(labels.shape, dtype=bool)
    if labels.shape[0] > 1:
        d = labels[1:] != labels[:-1]
        b[1:] |= d
        b[:-1] |= d
    if labels.shape[1] > 1:
        d = labels[:, 1:] != labels[:, :-1]
        b[:, 1:] |= d
        b[:, :-1] |= d
    b &= labels != 0
    return b


class _Tile(QGraphicsItem):
    """One tile of the overlay: a QImage over a numpy buffer, drawn at its place in the image."""

    def __init__(self, parent: QGraphicsItem, y0: int, x0: int, h: int, w: int):
        super().__init__(parent)
        self.y0, self.x0, self.h, self.w = y0, x0, h, w
        self.argb = np.zeros((h, w), dtype=np.uint32)
        # PySide6 builds a QImage on the array's memory (no copy); keep the array alive with it
        self.qimage = QImage(self.argb, w, h, w * 4, QImage.Format.Format_ARGB32_Premultiplied)
        self._rect = QRectF(x0, y0, w, h)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt naming
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.drawImage(self._rect, self.qimage)


class MaskOverlay(QGraphicsObject):
    """Shows a label mask (uint8 or uint16, shape (H, W)) as coloured tiles over the image.

    Call :meth:`update_rect` with each rectangle the mask editor reports as changed. The mask
    array is read, never written; if the editor swaps it (uint8 promoted to uint16), call
    :meth:`set_mask` again.
    """

    def __init__(self, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, True)
        self.setZValue(10)
        self.mask: np.ndarray | None = None
        self.labels = LabelTable()
        self.outline = False
        self._tiles: dict[tuple[int, int], _Tile] = {}
        self._table = argb_table(self.labels, 256)
        self.rendered_pixels = 0  # pixels recoloured so far (for tests and benchmarks)

    # -- QGraphicsItem ---------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt naming
        if self.mask is None:
            return QRectF()
        return QRectF(0, 0, self.mask.shape[1], self.mask.shape[0])

    def paint(self, painter, option, widget=None) -> None:  # the tiles draw themselves
        return

    # -- content ---------------------------------------------------------------------------------
    def set_mask(self, mask: np.ndarray | None, labels: LabelTable | None = None) -> None:
        """Show ``mask`` (fully re-rendered once: on load, import, slice change)."""
        if labels is not None:
            self.labels = labels
        self.prepareGeometryChange()
        for tile in self._tiles.values():
            tile.setParentItem(None)
            if tile.scene() is not None:
                tile.scene().removeItem(tile)
        self._tiles.clear()
        self.mask = mask
        self._refresh_table()
        if mask is not None:
            self.render_all()

    def set_labels(self, labels: LabelTable) -> None:
        """Colours changed (or labels added): recolour every tile."""
        self.labels = labels
        self._refresh_table()
        self.render_all()

    def set_outline(self, outline: bool) -> None:
        if outline != self.outline:
            self.outline = outline
            self.render_all()

    def _refresh_table(self) -> None:
        size = 256 if self.mask is None or self.mask.dtype == np.uint8 else 65536
        self._table = argb_table(self.labels, size)

    def render_all(self) -> None:
        """Recolour the whole mask: only the tiles holding labels are created."""
        mask = self.mask
        if mask is None:
            return
        h, w = mask.shape
        for tile in list(self._tiles.values()):
            tile.argb.fill(0)
            tile.update()
        # find the tiles with labels cheaply: any() per tile row band
        for ty in range(0, h, TILE):
            band = mask[ty : ty + TILE]
            cols = np.flatnonzero(band.any(axis=0))
            if cols.size == 0:
                continue
            for tx in np.unique(cols // TILE) * TILE:
                self.update_rect((ty, min(h, ty + TILE), int(tx), min(w, int(tx) + TILE)))

    def update_rect(self, rect: Rect | None) -> None:
        """Recolour the mask inside ``rect`` (y0, y1, x0, x1) and repaint just that."""
        mask = self.mask
        if rect is None or mask is None:
            return
        if mask.dtype != np.uint8 and self._table.size < 65536:
            self._refresh_table()
        h, w = mask.shape
        y0, y1, x0, x1 = max(0, rect[0]), min(h, rect[1]), max(0, rect[2]), min(w, rect[3])
        if y0 >= y1 or x0 >= x1:
            return
        if self.outline:
            # a change moves the boundary of the neighbours too: one pixel around, and the
            # boundary test needs one more pixel of context
            y0, y1, x0, x1 = max(0, y0 - 1), min(h, y1 + 1), max(0, x0 - 1), min(w, x1 + 1)
            cy0, cy1, cx0, cx1 = max(0, y0 - 1), min(h, y1 + 1), max(0, x0 - 1), min(w, x1 + 1)
            ctx = mask[cy0:cy1, cx0:cx1]
            edge = boundary(ctx)[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
            colours = np.where(edge, self._table[mask[y0:y1, x0:x1]], np.uint32(0))
        else:
            colours = self._table[mask[y0:y1, x0:x1]]
        self.rendered_pixels += colours.size
        for ty in range((y0 // TILE) * TILE, y1, TILE):
            for tx in range((x0 // TILE) * TILE, x1, TILE):
                tile = self._tiles.get((ty, tx))
                sy0, sy1 = max(y0, ty), min(y1, ty + TILE)
                sx0, sx1 = max(x0, tx), min(x1, tx + TILE)
                part = colours[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]
                if tile is None:
                    if not part.any():
                        continue  # nothing to show there: no tile needed
                    tile = _Tile(self, ty, tx, min(TILE, h - ty), min(TILE, w - tx))
                    self._tiles[(ty, tx)] = tile
                tile.argb[sy0 - ty : sy1 - ty, sx0 - tx : sx1 - tx] = part
                tile.update(QRectF(sx0, sy0, sx1 - sx0, sy1 - sy0))

    # -- queries (tests, screenshots) ------------------------------------------------------------
    @property
    def tile_count(self) -> int:
        return len(self._tiles)

    def drawn(self) -> np.ndarray:
        """The overlay as drawn: (H, W) uint32 premultiplied ARGB (0 = transparent)."""
        mask = self.mask
        if mask is None:
            return np.zeros((0, 0), dtype=np.uint32)
        out = np.zeros(mask.shape, dtype=np.uint32)
        for tile in self._tiles.values():
            out[tile.y0 : tile.y0 + tile.h, tile.x0 : tile.x0 + tile.w] = tile.argb
        return out
