"""Live preview widgets of the Augment dock: a latest-only worker, the sample grid, the difference.

Why a dedicated runner rather than ``window.tasks``: a slider drag asks for a new preview every
few milliseconds. Only the newest request matters, so the runner keeps at most one request
waiting (a newer one replaces it) and shows a result only if no newer request was made while it
was computed. The Tasks dock stays free of hundreds of preview entries.

Rendering (levels, colour map, mask overlay) happens on the worker too (``augment_render``), so
the GUI thread only wraps finished RGB bytes in a QImage and paints them.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, QRunnable, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.docks.augment_render import PreviewResult, abs_difference, describe_params

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Latest-only background runner


class _Run(QRunnable):
    def __init__(self, owner: LatestOnlyRunner, generation: int, fn: Callable[[], Any]):
        super().__init__()
        self.owner, self.generation, self.fn = owner, generation, fn
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread: reports through the owner's queued signal only
        try:
            result, error = self.fn(), None
        except UserFacingError as exc:
            result, error = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - a preview bug must not take the app down
            log.error("augment preview failed:\n%s", traceback.format_exc())
            result, error = None, f"preview failed: {type(exc).__name__}: {exc}"
        try:
            self.owner._w_done.emit(self.generation, result, error)
        except RuntimeError:  # the panel was deleted meanwhile (the app closing): no one to tell
            pass


class LatestOnlyRunner(QObject):
    """Runs one function at a time on its own thread; requests made while busy collapse into the
    newest one, and results of superseded requests are dropped (``done`` only fires for the
    newest request)."""

    done = Signal(int, object)  # generation, result
    failed = Signal(int, str)
    _w_done = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.generation = 0
        self._pending: tuple[int, Callable[[], Any]] | None = None
        self._busy = False
        self._w_done.connect(self._finished)

    def submit(self, fn: Callable[[], Any]) -> int:
        self.generation += 1
        self._pending = (self.generation, fn)
        if not self._busy:
            self._start_next()
        return self.generation

    @property
    def busy(self) -> bool:
        return self._busy or self._pending is not None

    def invalidate(self) -> None:
        """Drop the pending request and make a running one's result stale (never shown)."""
        self.generation += 1
        self._pending = None

    def _start_next(self) -> None:
        if self._pending is None:
            return
        generation, fn = self._pending
        self._pending = None
        self._busy = True
        self.pool.start(_Run(self, generation, fn))

    def _finished(self, generation: int, result: Any, error: str | None) -> None:
        self._busy = False
        if generation == self.generation:
            if error is None:
                self.done.emit(generation, result)
            else:
                self.failed.emit(generation, error)
        self._start_next()

    def wait(self, timeout_ms: int = 5000) -> bool:
        return self.pool.waitForDone(timeout_ms)


# ---------------------------------------------------------------------------------------------
# Widgets


def to_qimage(rgb: np.ndarray) -> QImage:
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class SampleTile(QWidget):
    """One image of the grid, drawn scaled to fit (aspect kept), with a caption and a frame when
    selected. Hover shows its tooltip (the drawn parameters). A stale tile (drawn for settings
    that were then refused) is greyed out and says so."""

    clicked = Signal(int)
    double_clicked = Signal(int)

    def __init__(self, index: int, caption: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.index = index
        self.caption = caption
        self.image: QImage | None = None
        self.selected = False
        self.stale = False
        self.setMinimumSize(40, 40)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(
            Qt.CursorShape.PointingHandCursor if index >= 0 else Qt.CursorShape.ArrowCursor
        )

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return QSize(160, 160)

    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self.stale = False
        self.update()

    def set_stale(self, stale: bool) -> None:
        self.stale = stale
        self.update()

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image is drawn inside the tile (below the caption)."""
        area = QRectF(self.rect()).adjusted(3, 17, -3, -3)
        if self.image is None or self.image.width() == 0:
            return area
        s = min(area.width() / self.image.width(), area.height() / self.image.height())
        w, h = self.image.width() * s, self.image.height() * s
        return QRectF(area.center().x() - w / 2, area.top() + (area.height() - h) / 2, w, h)

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt naming
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 30))
        p.setPen(QColor(220, 220, 220))
        p.drawText(QRectF(4, 1, self.width() - 8, 15), Qt.AlignmentFlag.AlignLeft, self.caption)
        if self.image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            if self.stale:
                p.setOpacity(0.2)  # faint: it shows earlier settings, not these
            p.drawImage(self.image_rect(), self.image)
            p.setOpacity(1.0)
        if self.stale:
            p.setPen(QColor(240, 120, 120))
            p.drawText(
                QRectF(self.rect()).adjusted(3, 17, -3, -3),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                "refused",
            )
        if self.selected:
            p.setPen(QPen(QColor(255, 190, 40), 3))
            p.drawRect(QRectF(self.rect()).adjusted(1.5, 1.5, -1.5, -1.5))
        p.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.button() == Qt.MouseButton.LeftButton and self.index >= 0:
            self.clicked.emit(self.index)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.button() == Qt.MouseButton.LeftButton and self.index >= 0:
            self.double_clicked.emit(self.index)


class SampleGrid(QWidget):
    """The original and N augmented samples in a grid; click selects a sample."""

    selected = Signal(int)
    images_set = Signal()

    def __init__(self, n: int = 8, columns: int = 3, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(3)
        # Its own minimum, not the layout's: otherwise the column count of a wide moment
        # (9 across) would keep a narrowed dock from re-flowing the tiles into 3 columns.
        self.setMinimumSize(120, 80)
        self.columns = columns
        self.original = SampleTile(-1, "original")
        self.original.setToolTip("The current image (preview size)")
        self.tiles: list[SampleTile] = []
        self.selected_index = 0
        self.set_count(n)

    def set_count(self, n: int) -> None:
        for tile in self.tiles:
            self.grid.removeWidget(tile)
            tile.setParent(None)
            tile.deleteLater()
        self.tiles = []
        for k in range(n):
            tile = SampleTile(k, f"#{k + 1}")
            tile.clicked.connect(self.select)
            self.tiles.append(tile)
        self.selected_index = min(self.selected_index, max(0, n - 1))
        if self.tiles:
            self.tiles[self.selected_index].set_selected(True)
        self._layout(self.best_columns())

    def best_columns(self) -> int:
        """The column count that gives the largest square tiles in the current size."""
        n = len(self.tiles) + 1
        w, h = max(self.width(), 1), max(self.height(), 1)
        best, best_side = self.columns, -1.0
        for c in range(1, n + 1):
            rows = -(-n // c)
            side = min(w / c, (h / rows) - 16)  # 16: the caption above the image
            if side > best_side + 1e-6:
                best, best_side = c, side
        return best

    def tile_side(self) -> int:
        """The side of the square an image gets in one tile now (pixels)."""
        tile = self.tiles[0] if self.tiles else self.original
        return max(0, min(tile.width() - 6, tile.height() - 20))

    def _layout(self, columns: int) -> None:
        self.columns = columns
        for k, tile in enumerate([self.original, *self.tiles]):
            self.grid.removeWidget(tile)
            self.grid.addWidget(tile, k // columns, k % columns)
        rows = -(-(len(self.tiles) + 1) // columns)
        for r in range(self.grid.rowCount()):
            self.grid.setRowStretch(r, 1 if r < rows else 0)
        for c in range(self.grid.columnCount()):
            self.grid.setColumnStretch(c, 1 if c < columns else 0)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        columns = self.best_columns()
        if columns != self.columns:
            self._layout(columns)

    def select(self, index: int) -> None:
        if not 0 <= index < len(self.tiles):
            return
        self.tiles[self.selected_index].set_selected(False)
        self.selected_index = index
        self.tiles[index].set_selected(True)
        self.selected.emit(index)

    @property
    def stale(self) -> bool:
        """True while the samples on screen belong to settings that were refused."""
        return any(tile.stale for tile in self.tiles)

    def set_stale(self, message: str) -> None:
        """Grey out the samples (the original stays valid); ``message`` becomes their tooltip."""
        for tile in self.tiles:
            tile.set_stale(True)
            tile.setToolTip(message)

    def show_result(self, result: PreviewResult) -> None:
        self.original.set_image(to_qimage(result.original_rgb))
        for k, tile in enumerate(self.tiles):
            if k < len(result.sample_rgb):
                tile.set_image(to_qimage(result.sample_rgb[k]))
                tile.setToolTip(describe_params(result.params[k], k, result.seed))
            else:
                tile.set_image(None)
                tile.setToolTip("")
        self.images_set.emit()

    def clear(self, message: str = "") -> None:
        self.original.set_image(None)
        for tile in self.tiles:
            tile.set_image(None)
            tile.setToolTip(message)


class DifferenceView(QWidget):
    """Original | sample | |sample − original| of the selected sample, with linked zoom/pan and
    a colour bar for the difference in the image's units."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(pg.mkColor(30, 30, 30))
        self.views: list[pg.ViewBox] = []
        self.items: list[pg.ImageItem] = []
        self.titles: list[pg.LabelItem] = []
        for title in ("original", "sample", "|sample − original|"):
            label = pg.LabelItem(title, color="#dddddd")
            view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
            item = pg.ImageItem(axisOrder="row-major")
            view.addItem(item)
            if self.views:  # zoom/pan together (x only: y follows each view's locked aspect)
                view.setXLink(self.views[0])
            self.views.append(view)
            self.items.append(item)
            self.titles.append(label)
        self.colorbar = pg.ColorBarItem(
            values=(0, 1), colorMap=pg.colormap.get("magma"), interactive=False, width=12
        )
        self.colorbar.setImageItem(self.items[2])
        self.vertical: bool | None = None
        self._arrange(False)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.summary)
        self.difference: np.ndarray | None = None

    def _arrange(self, vertical: bool) -> None:
        """Side by side in a wide area, stacked in a tall one (images as large as possible)."""
        if vertical == self.vertical:
            return
        self.vertical = vertical
        layout = self.plots.ci
        for item in [*self.titles, *self.views, self.colorbar]:
            if item in layout.items:
                layout.removeItem(item)
        for k, (label, view) in enumerate(zip(self.titles, self.views, strict=True)):
            if vertical:
                layout.addItem(label, row=2 * k, col=0)
                layout.addItem(view, row=2 * k + 1, col=0)
            else:
                layout.addItem(label, row=0, col=k)
                layout.addItem(view, row=1, col=k)
        if vertical:
            layout.addItem(self.colorbar, row=5, col=1)
        else:
            layout.addItem(self.colorbar, row=1, col=3)
        QTimer.singleShot(0, self.fit)

    def fit(self) -> None:
        """Show the whole image in every view (they are linked: one range for all)."""
        image = self.items[0].image
        if image is not None:
            rect = QRectF(0, 0, image.shape[1], image.shape[0])
            for view in self.views:
                view.setRange(rect, padding=0.01)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._arrange(self.height() > 1.1 * self.width())
        QTimer.singleShot(0, self.fit)

    def show_sample(self, result: PreviewResult, index: int) -> None:
        if not 0 <= index < len(result.samples):
            return
        old = self.items[0].image
        first = old is None or old.shape != result.original_rgb.shape
        self.items[0].setImage(result.original_rgb, autoLevels=False, levels=(0, 255))
        self.items[1].setImage(result.sample_rgb[index], autoLevels=False, levels=(0, 255))
        diff = abs_difference(result.samples[index], result.original)
        self.difference = diff
        top = float(np.percentile(diff, 99.5)) if diff.size else 1.0
        top = top if top > 0 else float(diff.max()) or 1.0
        self.colorbar.setLevels((0.0, top))
        self.items[2].setImage(diff, autoLevels=False, levels=(0.0, top))
        self.titles[1].setText(f"sample #{index + 1}", color="#dddddd")
        changed = float(np.mean(diff > 0)) * 100
        self.summary.setText(
            f"Sample #{index + 1}: mean |difference| {float(diff.mean()):.4g}, "
            f"max {float(diff.max()):.4g} (image units), {changed:.1f} % of pixels changed. "
            f"Preview at {result.original.shape[1]} x {result.original.shape[0]} px "
            f"of {result.full_shape[1]} x {result.full_shape[0]}."
        )
        if first:
            self.fit()

    def clear(self) -> None:
        for item in self.items:
            item.clear()
        self.summary.setText("")
        self.difference = None
