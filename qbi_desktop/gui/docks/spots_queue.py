"""Spots dock: the review queue (a zoomed thumbnail per spot, by decreasing score) and the
spots outlined on the canvas, as a mixin of :class:`~qbi_desktop.gui.docks.spots.SpotsPanel`.

Outlines: yellow proposed, green accepted, red rejected, blue edited by hand, the current one in
cyan. Each thumbnail's contrast comes from the raw 16-bit values of its own neighbourhood, so
faint and saturated spots both show. Stepping through the queue centres the canvas on the
current spot, zoomed in (``follow``)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainterPath, QPixmap
from PySide6.QtWidgets import QListWidgetItem

STATE_COLOURS = {
    "proposed": QColor(255, 220, 0),
    "accepted": QColor(60, 220, 90),
    "rejected": QColor(240, 60, 60),
    "edited": QColor(80, 150, 255),
}
THUMB = 64  # thumbnail size in screen pixels
FOLLOW_ZOOM = 8.0  # screen pixels per image pixel when the view follows the current spot
NO_IMAGE = "No image open: open one (Ctrl+O), then Detect proposes its spots"
NOT_DETECTED = (
    "Not detected yet: Detect proposes this image's spots (Live then follows the settings)"
)
DETECTION_FAILED = "Detection failed (see the message)"


def thumbnail(image: np.ndarray, spot, half: int = 6) -> QImage:
    """A patch around the spot, enlarged without smoothing, windowed on the raw values of the
    patch itself (5th percentile .. maximum), with the spot's box framed in yellow."""
    cy, cx = (int(round(v)) for v in spot.centroid)
    y0, y1, x0, x1 = spot.bbox
    half = max(half, (y1 - y0 + 1) // 2 + 2, (x1 - x0 + 1) // 2 + 2)
    h, w = image.shape[:2]
    py0, py1 = max(0, cy - half), min(h, cy + half + 1)
    px0, px1 = max(0, cx - half), min(w, cx + half + 1)
    patch = np.asarray(image[py0:py1, px0:px1], dtype=np.float64)
    lo, hi = float(np.percentile(patch, 5)), float(patch.max())
    grey = np.zeros(patch.shape, dtype=np.uint8)
    if hi > lo:
        grey = (np.clip((patch - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    scale = max(1, THUMB // max(patch.shape))
    big = np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)
    rgb = np.repeat(big[..., None], 3, axis=2)
    # frame the spot's bounding box, one screen pixel outside its pixels
    fy0, fy1 = (max(y0, py0) - py0) * scale, (min(y1, py1) - py0) * scale
    fx0, fx1 = (max(x0, px0) - px0) * scale, (min(x1, px1) - px0) * scale
    fy0, fx0 = max(0, fy0 - 1), max(0, fx0 - 1)
    fy1, fx1 = min(rgb.shape[0] - 1, fy1), min(rgb.shape[1] - 1, fx1)
    yellow = (255, 210, 0)
    rgb[fy0, fx0 : fx1 + 1] = yellow
    rgb[fy1, fx0 : fx1 + 1] = yellow
    rgb[fy0 : fy1 + 1, fx0] = yellow
    rgb[fy0 : fy1 + 1, fx1] = yellow
    rgb = np.ascontiguousarray(rgb)
    qimg = QImage(
        rgb.data, rgb.shape[1], rgb.shape[0], rgb.shape[1] * 3, QImage.Format.Format_RGB888
    )
    return qimg.copy()


class SpotQueueMixin:
    """Needs the panel's review, order, current, queue, paths, highlight, summary, follow,
    canvas, failed_plane and ``_image`` (the plane the thumbnails are cut from)."""

    # -- drawing ---------------------------------------------------------------------------------
    def _refresh(self) -> None:
        self._update_keys()
        self._draw()
        self._fill_queue()
        self._update_summary()

    def _draw(self) -> None:
        paths = {state: QPainterPath() for state in STATE_COLOURS}
        if self.review is not None:
            for s in self.review.spots.values():
                y0, y1, x0, x1 = s.bbox
                paths[s.state].addRect(QRectF(x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2))
        for state, item in self.paths.items():
            item.setPath(paths[state])
        self._draw_highlight()

    def _draw_highlight(self) -> None:
        path = QPainterPath()
        if self.review is not None and self.current in self.review.spots:
            y0, y1, x0, x1 = self.review.spots[self.current].bbox
            path.addRect(QRectF(x0 - 3, y0 - 3, x1 - x0 + 6, y1 - y0 + 6))
        self.highlight.setPath(path)

    def _fill_queue(self) -> None:
        q = self.queue
        q.blockSignals(True)
        q.clear()
        self.order = [] if self.review is None else self.review.ranked()
        image = self._image
        for sid in self.order:
            s = self.review.spots[sid]
            item = QListWidgetItem(self._item_text(s))
            if image is not None:
                item.setIcon(QIcon(QPixmap.fromImage(thumbnail(image, s))))
            item.setData(Qt.ItemDataRole.UserRole, sid)
            item.setForeground(STATE_COLOURS[s.state].darker(130))
            q.addItem(item)
        if self.order:
            if self.current not in self.order:
                self.current = next(
                    (i for i in self.order if self.review.spots[i].state == "proposed"),
                    self.order[0],
                )
            q.setCurrentRow(self.order.index(self.current))
        q.blockSignals(False)
        self._draw_highlight()

    @staticmethod
    def _item_text(s) -> str:
        return f"#{s.id}  score {s.score:.1f}  area {s.area}  peak {s.peak:.0f}\n{s.state}"

    def _update_item(self, sid: int) -> None:
        if sid not in self.order:
            return
        s = self.review.spots[sid]
        item = self.queue.item(self.order.index(sid))
        item.setText(self._item_text(s))
        item.setForeground(STATE_COLOURS[s.state].darker(130))

    def _update_summary(self) -> None:
        if self.review is None:
            plane = self.canvas.plane
            if plane is not None and plane is self.failed_plane:
                self.summary.setText(DETECTION_FAILED)
                return
            # what to do next: nothing is detected on its own when an image opens
            self.summary.setText(NO_IMAGE if plane is None else NOT_DETECTED)
            return
        c = self.review.counts()
        self.summary.setText(
            f"{len(self.review)} spots: {c['proposed']} to review, {c['accepted']} accepted, "
            f"{c['rejected']} rejected, {c['edited']} edited"
        )

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.order):
            self.current = self.order[row]
            self._draw_highlight()
            if self.follow.isChecked():
                self.show_current()

    def show_current(self) -> None:
        """Centre the canvas on the current spot, zoomed in to at least FOLLOW_ZOOM (a closer
        zoom the user chose is kept)."""
        if self.review is None or self.current not in self.review.spots:
            return
        cy, cx = self.review.spots[self.current].centroid
        scale = max(self.canvas.screen_scale(), FOLLOW_ZOOM)
        self.canvas.zoom_to(scale, QPointF(cx + 0.5, cy + 0.5))
