"""Live preview machinery of the Augment dock: a latest-only worker, rendering, grid, difference.

Why a dedicated runner rather than ``window.tasks``: a slider drag asks for a new preview every
few milliseconds. Only the newest request matters, so the runner keeps at most one request
waiting (a newer one replaces it) and shows a result only if no newer request was made while it
was computed. The Tasks dock stays free of hundreds of preview entries.

Rendering (levels, colour map, mask overlay) happens on the worker too, so the GUI thread only
wraps finished RGB bytes in a QImage and paints them.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, QRunnable, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.labels import DEFAULT_COLOURS
from qbi_desktop.core.levels import to_uint8

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
# Rendering (numpy only; runs on the worker)


def mask_palette(colours: dict[int, tuple[int, int, int]] | None, top: int) -> np.ndarray:
    """(top + 1, 3) uint8 colours for label values 0..top (0 unused)."""
    table = np.zeros((max(top, 1) + 1, 3), np.uint8)
    for v in range(1, top + 1):
        table[v] = (colours or {}).get(v, DEFAULT_COLOURS[(v - 1) % len(DEFAULT_COLOURS)])
    return table


def render_rgb(
    image: np.ndarray,
    levels: tuple[float, float],
    lut: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    colours: dict[int, tuple[int, int, int]] | None = None,
    alpha: float = 0.45,
) -> np.ndarray:
    """The image as the canvas shows it (levels, colour map) with the mask blended over it:
    a C-contiguous (H, W, 3) uint8 array."""
    vmin, vmax = levels
    if image.ndim == 2:
        grey = to_uint8(image, vmin, vmax)
        rgb = lut[grey] if lut is not None else np.repeat(grey[..., None], 3, axis=2)
    else:
        chans = image[..., :3] if image.shape[2] >= 3 else np.repeat(image[..., :1], 3, axis=2)
        rgb = to_uint8(np.ascontiguousarray(chans), vmin, vmax)
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if mask is not None:
        labelled = mask > 0
        if labelled.any():
            m = mask.astype(np.int64, copy=False)
            palette = mask_palette(colours, int(m.max()))
            over = palette[m[labelled]].astype(np.float32)
            base = rgb[labelled].astype(np.float32)
            rgb[labelled] = (base * (1 - alpha) + over * alpha + 0.5).astype(np.uint8)
    return rgb


def abs_difference(sample: np.ndarray, original: np.ndarray) -> np.ndarray:
    """|sample - original| in the image's units (max over channels for colour), float32."""
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(sample.astype(np.float32) - original.astype(np.float32))
    # NaN/inf pixels (float radiographs with dead pixels) have no difference to show
    diff = np.nan_to_num(diff, nan=0.0, posinf=0.0, neginf=0.0)
    return diff.max(axis=2) if diff.ndim == 3 else diff


def describe_params(params: dict[str, Any], index: int, seed: int) -> str:
    """The parameters drawn for one sample, as the tooltip text."""
    lines = [f"Sample {index + 1}  (seed {seed}, copy {index})"]
    names = {
        "theta": ("rotation", "°"),
        "tx": ("shift x", " px"),
        "ty": ("shift y", " px"),
        "shear": ("shear", "°"),
        "zx": ("zoom x", ""),
        "zy": ("zoom y", ""),
        "channel_shift_intensity": ("channel shift", ""),
        "brightness": ("brightness", "×"),
        "blur_sigma": ("blur sigma", " px"),
        "gamma": ("gamma", ""),
        "contrast": ("contrast", "×"),
        "noise_std": ("noise std", ""),
        "dose": ("dose", ""),
    }
    for key, value in params.items():
        if value is None or key.endswith("_seed") or key == "counts_per_unit":
            continue
        label, unit = names.get(key, (key.replace("_", " "), ""))
        if key in ("flip_horizontal", "flip_vertical"):
            lines.append(f"{label.replace('_', ' ')}: {'yes' if value else 'no'}")
        elif key == "crop":
            top, left, h, w = value
            lines.append(f"crop: top {top:.3f}, left {left:.3f}, {h:.3f} x {w:.3f} of the image")
        elif key == "elastic":
            lines.append(f"elastic: alpha {value['alpha']:g} px, sigma {value['sigma']:g} px")
        elif isinstance(value, float):
            lines.append(f"{label}: {value:.4g}{unit}")
        else:
            lines.append(f"{label}: {value}{unit}")
    return "\n".join(lines)


@dataclass
class PreviewResult:
    """What one preview computation produced (everything the GUI needs to show it)."""

    original_rgb: np.ndarray
    original: np.ndarray  # preview-sized raw values, for the difference view
    samples: list[np.ndarray]  # raw augmented values
    sample_rgb: list[np.ndarray]
    params: list[dict[str, Any]]
    seed: int
    levels: tuple[float, float]
    lut: np.ndarray | None
    full_shape: tuple[int, ...]
    scale: float
    has_mask: bool
    seconds: float = 0.0


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


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


# ---------------------------------------------------------------------------------------------
# The computation (worker thread)


@dataclass
class PreviewBase:
    """The preview-sized copy of one plane, made once per image/slice and reused per request."""

    key: Any
    small: np.ndarray
    scale: float
    full_shape: tuple[int, ...]


def make_base(key: Any, array: np.ndarray, max_side: int) -> PreviewBase:
    from qbi_desktop.core.augment import preview_copy

    array = np.asarray(array)
    if not array.dtype.isnative:  # memory-mapped big-endian TIFFs: the engine wants native order
        array = array.astype(array.dtype.newbyteorder("="))
    small, _mask, scale = preview_copy(array, None, max_side)
    return PreviewBase(key, np.ascontiguousarray(small), scale, tuple(array.shape))


def small_mask(mask: np.ndarray | None, base: PreviewBase) -> np.ndarray | None:
    """The mask at preview size (block max, so one-pixel labels survive)."""
    if mask is None:
        return None
    if base.scale == 1.0:
        return np.asarray(mask)
    from qbi_desktop.core.augment import geometry

    f = int(round(1 / base.scale))
    out = geometry.block_reduce(np.asarray(mask), f, "max")
    return out[: base.small.shape[0], : base.small.shape[1]]


def compute_preview(
    base: PreviewBase,
    mask: np.ndarray | None,
    pipeline: Any,
    n: int,
    levels: tuple[float, float],
    lut: np.ndarray | None,
    colours: dict[int, tuple[int, int, int]] | None = None,
    item_index: int = 0,
    boxes: list | None = None,
) -> PreviewResult:
    """``n`` samples drawn exactly as a batch run draws copies 0..n-1 of ``item_index`` (full-size
    parameters applied to the preview copy), rendered for display. ``boxes`` (the Annotate
    panel's, full-size pixels) go through each sample's transform and are outlined on it."""
    from qbi_desktop.core.annotation.boxes import as_corner_array, draw_outlines
    from qbi_desktop.core.augment import sample_seed

    start = time.perf_counter()
    pipeline.check()
    sm = small_mask(mask, base)
    corners, names = as_corner_array(boxes or [], base.small.shape[1] / base.full_shape[1])
    small_boxes = corners if len(corners) else None
    samples, rgbs, params = [], [], []
    for k in range(n):
        p = pipeline.sample_params(base.full_shape, sample_seed(pipeline.seed, item_index, k))
        s = pipeline.apply(base.small, p, sm, small_boxes, scale=base.scale)
        samples.append(s.image)
        rgb = render_rgb(s.image, levels, lut, s.mask, colours)
        if s.boxes is not None:
            rgb = draw_outlines(np.array(rgb, copy=True), s.boxes, names)
        rgbs.append(rgb)
        params.append(p)
    original_rgb = render_rgb(base.small, levels, lut, sm, colours)
    if small_boxes is not None:
        original_rgb = draw_outlines(np.array(original_rgb, copy=True), small_boxes, names)
    return PreviewResult(
        original_rgb,
        base.small,
        samples,
        rgbs,
        params,
        pipeline.seed,
        levels,
        lut,
        base.full_shape,
        base.scale,
        sm is not None and bool(sm.any()),
        time.perf_counter() - start,
    )
