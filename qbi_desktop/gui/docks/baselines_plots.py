"""Pictures of a baseline run (pyqtgraph): confusion-matrix heatmap, per-class bars, the gallery
of the images behind a cell, the regression scatter, and the segmentation table.

Each widget takes plain data from a :class:`~qbi_desktop.core.baselines.BaselineResult` and knows
nothing of runs, queues or files. Colours follow the exported report: the diagonal (correct) in
blues, the off-diagonal (confusions) in reds, so errors stand out at a glance.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QImage, QPainter, QPen, QPicture, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QGraphicsRectItem,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.report import plot_range

BLUES = np.array([[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]])
REDS = np.array([[255, 245, 240], [252, 187, 161], [251, 106, 74], [203, 24, 29], [103, 0, 13]])
RED, GREEN = QColor(201, 42, 42), QColor(43, 138, 62)
MAX_ANNOTATED = 30  # classes: above this, cells are too small for numbers
THUMB = 72  # gallery thumbnail size (pixels)


def ramp(anchors: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Colours (…, 3) along a piecewise-linear ramp through ``anchors`` at positions t in [0, 1]."""
    t = np.clip(np.asarray(t, float), 0.0, 1.0) * (len(anchors) - 1)
    lo = np.minimum(np.floor(t).astype(int), len(anchors) - 2)
    frac = (t - lo)[..., None]
    return anchors[lo] * (1 - frac) + anchors[lo + 1] * frac


def confusion_colours(cm: np.ndarray, normalised: bool) -> tuple[np.ndarray, np.ndarray]:
    """RGB (n, n, 3) uint8 cell colours and the luminance of each (for the text colour).

    Row-normalised: shade by the share of the true class. Counts: shade by the count relative
    to the largest diagonal / off-diagonal count. Off-diagonal shades use a square root so a few
    confusions are already visible; empty cells are white.
    """
    cm = np.asarray(cm, float)
    n = len(cm)
    diag = np.eye(n, dtype=bool)
    if normalised:
        totals = cm.sum(axis=1, keepdims=True)
        value = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
        t_diag, t_off = value, value
    else:
        top_diag = cm[diag].max() if n else 1.0
        top_off = cm[~diag].max() if n > 1 else 1.0
        t_diag = cm / max(top_diag, 1.0)
        t_off = cm / max(top_off, 1.0)
    rgb = np.where(
        diag[..., None],
        ramp(BLUES, 0.12 + 0.88 * t_diag),
        ramp(REDS, 0.15 + 0.85 * np.sqrt(t_off)),
    )
    rgb[cm == 0] = 255
    lum = (0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]) / 255
    return rgb.astype(np.uint8), lum


def paint_once_when_shown(plot: pg.PlotWidget) -> None:
    """Keep ``plot``'s scene active, and apply a new size of its view at once: pyqtgraph applies
    it at the next paint, which moved every item mid-paint and painted the plot again.

    A scene counts the activations its views send it: a view shown again sends one, hidden it
    takes one back, and the count rising from 0 re-activates every top-level item, which
    repaints them: the plot, already painted once as it appeared, was painted all over again in
    the same pass (twice or three times per plot at the end of a run). One activation of our own,
    never taken back, keeps the count above 0. The plots draw the same whether their scene is
    active or not. (An event filter dropping the deactivations did the same, but made every
    event of the scene a call into Python.)"""
    QApplication.sendEvent(plot.scene(), QEvent(QEvent.Type.WindowActivate))
    plot.getPlotItem().getViewBox().sigResized.connect(lambda view: view.prepareForPaint())


def settle_axes(item: pg.PlotItem) -> None:
    """Size the left and bottom axes for their new tick texts now, before the plot is painted.

    An axis measures its tick texts only as it paints and then widens or narrows itself, which
    lays the plot out again and paints it a second time: with new class names, the first paint
    of a result was thrown away. Measuring here (as the axis' own paint does, into a picture
    that is not kept) lets the layout settle while the results are still being filled in. The
    view's new range is applied now too: left to the paint, it moved every item mid-paint."""
    item.getViewBox().prepareForPaint()
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        picture = QPicture()
        painter = QPainter(picture)
        try:
            if axis.style["tickFont"]:
                painter.setFont(axis.style["tickFont"])
            axis.generateDrawSpecs(painter)
        finally:
            painter.end()


class _ClickableImage(pg.ImageItem):
    clicked = Signal(int, int)  # (row, column) of the cell

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.button() != Qt.MouseButton.LeftButton or self.image is None:
            return
        pos = ev.pos()
        row, col = int(math.floor(pos.y())), int(math.floor(pos.x()))
        if 0 <= row < self.image.shape[0] and 0 <= col < self.image.shape[1]:
            ev.accept()
            self.clicked.emit(row, col)


class CellLabels(pg.GraphicsObject):
    """All the cell annotations of a heatmap as one item that draws its texts in one pass.

    One item instead of a TextItem per cell: 100 TextItems took ~50 ms to build and ~20 ms to
    paint, long enough to stall the GUI when a result arrives. Texts are drawn at a fixed pixel
    size in device coordinates, scaled down to fit small cells and left out when cells are tiny.
    """

    def __init__(self):
        super().__init__()
        self.texts: list[list[str]] = []
        self.dark: np.ndarray = np.zeros((0, 0), bool)  # cells that need white text
        self.font = QFont()

    def set_labels(self, texts: list[list[str]], dark: np.ndarray) -> None:
        self.prepareGeometryChange()
        self.texts, self.dark = texts, np.asarray(dark, bool)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        n = len(self.texts)
        return QRectF(0, 0, n, n)

    def paint(self, painter, *_args) -> None:
        n = len(self.texts)
        if n == 0:
            return
        transform = painter.transform()
        origin = transform.map(QPointF(0, 0))
        cell_w = abs(transform.map(QPointF(1, 0)).x() - origin.x())
        cell_h = abs(transform.map(QPointF(0, 1)).y() - origin.y())
        size = min(13.0, 0.42 * cell_h, 0.3 * cell_w)
        if size < 6.0:
            return  # cells too small for legible numbers: the colours speak
        painter.save()
        painter.resetTransform()
        font = QFont(self.font)
        font.setPixelSize(int(size))
        painter.setFont(font)
        white, ink = QColor(255, 255, 255), QColor(33, 37, 41)
        centre = Qt.AlignmentFlag.AlignCenter
        for r, row in enumerate(self.texts):
            for c, text in enumerate(row):
                if not text:
                    continue
                p = transform.map(QPointF(c + 0.5, r + 0.5))
                painter.setPen(white if self.dark[r, c] else ink)
                painter.drawText(
                    QRectF(p.x() - cell_w / 2, p.y() - cell_h / 2, cell_w, cell_h), centre, text
                )
        painter.restore()


class ConfusionHeatmap(QWidget):
    """A confusion matrix as an annotated heatmap; true class down, predicted class across.

    Counts or row-normalised (share of each true class, in %); clicking a cell emits
    ``cell_clicked(row, column)`` and outlines the cell.
    """

    cell_clicked = Signal(int, int)

    def __init__(self, parent=None, toggles: bool = True):
        super().__init__(parent)
        self.cm = np.zeros((0, 0), np.int64)
        self.labels: list[str] = []
        self.normalised = False
        self.plot = pg.PlotWidget(background="w")
        paint_once_when_shown(self.plot)
        self.plot.setMinimumSize(220, 220)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        vb = item.getViewBox()
        vb.invertY(True)
        vb.setDefaultPadding(0.0)
        vb.disableAutoRange()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(90, 96, 104))
            axis.setTextPen(pg.mkPen(33, 37, 41))
        item.setLabel("left", "true class")
        item.setLabel("bottom", "predicted class")
        self.image = _ClickableImage(axisOrder="row-major")
        self.image.clicked.connect(self._clicked)
        self.plot.addItem(self.image)
        self.highlight = QGraphicsRectItem()
        self.highlight.setPen(QPen(QColor(255, 170, 0), 0.08))
        self.highlight.setZValue(20)
        self.highlight.hide()
        self.plot.addItem(self.highlight)
        self.cell_labels = CellLabels()
        self.cell_labels.setZValue(10)
        self.plot.addItem(self.cell_labels)

        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.counts_button = QRadioButton("Counts")
        self.row_button = QRadioButton("Row-normalised %")
        self.counts_button.setChecked(True)
        self.counts_button.setToolTip("Number of test items in each cell")
        self.row_button.setToolTip("Share of each true class (rows add up to 100 %)")
        self.row_button.toggled.connect(self.set_normalised)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.counts_button)
        top.addWidget(self.row_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)
        # once in this widget: shown before, without a parent, each flashed up as a window
        self.counts_button.setVisible(toggles)
        self.row_button.setVisible(toggles)

    def set_matrix(self, cm: np.ndarray | None, labels: list[str], title: str = "") -> None:
        """Show ``cm``; the matrix already shown is not drawn again (a finished run's is drawn
        ahead, on an event of its own, before its record is shown)."""
        cm = np.zeros((0, 0), np.int64) if cm is None else np.asarray(cm, np.int64)
        self.title.setText(title)
        self.highlight.hide()
        if cm.size and np.array_equal(cm, self.cm) and list(labels) == self.labels:
            return
        self.cm = cm
        self.labels = list(labels)
        n = len(self.cm)
        item = self.plot.getPlotItem()
        ticks = [(i + 0.5, str(name)) for i, name in enumerate(self.labels)]
        step = max(1, math.ceil(n / 30))  # keep tick labels legible with many classes
        item.getAxis("bottom").setTicks([ticks[::step], []])
        item.getAxis("left").setTicks([ticks[::step], []])
        if n == 0:
            self.image.clear()
            self.cell_labels.set_labels([], np.zeros((0, 0), bool))
            return
        self._redraw()
        self.image.setRect(QRectF(0, 0, n, n))
        self.plot.getPlotItem().getViewBox().setRange(xRange=(0, n), yRange=(0, n), padding=0.0)
        settle_axes(item)

    def set_normalised(self, on: bool) -> None:
        self.normalised = bool(on)
        # Exclusive radio buttons are switched by checking the other one.
        button = self.row_button if self.normalised else self.counts_button
        if not button.isChecked():
            button.setChecked(True)
        self._redraw()

    def cell_texts(self) -> list[list[str]]:
        """What each cell shows (for tests and for reading the picture back)."""
        return [list(row) for row in self.cell_labels.texts]

    def _redraw(self) -> None:
        cm = self.cm
        if cm.size == 0:
            return
        rgb, lum = confusion_colours(cm, self.normalised)
        self.image.setImage(rgb, autoLevels=False, levels=(0, 255))
        totals = cm.sum(axis=1)
        n = len(cm)
        texts = [["" for _ in range(n)] for _ in range(n)]
        if n <= MAX_ANNOTATED:
            for r, c in zip(*np.nonzero(cm), strict=True):
                count = int(cm[r, c])
                if not self.normalised:
                    texts[r][c] = str(count)
                    continue
                share = 100.0 * count / totals[r]
                if share >= 99.95:
                    texts[r][c] = "100"
                else:
                    texts[r][c] = f"{share:.1f}" if n <= 12 else f"{share:.0f}"
        self.cell_labels.set_labels(texts, lum < 0.55)

    def _clicked(self, row: int, col: int) -> None:
        self.select_cell(row, col)
        self.cell_clicked.emit(row, col)

    def select_cell(self, row: int | None, col: int | None = None) -> None:
        if row is None or col is None:
            self.highlight.hide()
            return
        self.highlight.setRect(QRectF(col + 0.04, row + 0.04, 0.92, 0.92))
        self.highlight.show()

    def cell_pos(self, row: int, col: int) -> QPoint:
        """The viewport position of a cell's centre (where a click on the cell lands)."""
        scene = self.image.mapToScene(QPointF(col + 0.5, row + 0.5))
        return self.plot.mapFromScene(scene)


class PerClassBars(QWidget):
    """Precision, recall and F1 for each class as grouped bars (support in the tooltip)."""

    SERIES = (
        ("precision", (66, 133, 244)),
        ("recall", (255, 146, 43)),
        ("f1", (43, 138, 62)),
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        paint_once_when_shown(self.plot)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        item.setTitle("Per class: precision, recall, F1", color=(33, 37, 41), size="10pt")
        item.showGrid(y=True, alpha=0.25)
        for name in ("left", "bottom"):
            item.getAxis(name).setPen(pg.mkPen(90, 96, 104))
            item.getAxis(name).setTextPen(pg.mkPen(33, 37, 41))
        item.getAxis("left").setTicks([[(v, f"{v:.1f}") for v in np.arange(0, 1.01, 0.2)], []])
        item.getAxis("left").setStyle(hideOverlappingLabels=False)  # "1.0" at the very top
        # The legend has a row of its own under the class names: inside the plot it lay over
        # the bars' tops on a laptop's ~250 px tall chart (a bar at 1.0 read as 0.9).
        self.legend = pg.LegendItem(offset=None, labelTextColor=(33, 37, 41))
        self.legend.setColumnCount(3)
        item.layout.addItem(self.legend, 4, 1, alignment=Qt.AlignmentFlag.AlignHCenter)
        # The bars and the legend are made once, here, and updated in place by set_rows: making
        # them (3 bars and a legend) took ~30 ms of the GUI thread when a result arrived.
        self.bars: dict[str, pg.BarGraphItem] = {}
        for key, colour in self.SERIES:
            bar = pg.BarGraphItem(
                x=np.zeros(0), height=np.zeros(0), width=0.25, brush=colour, pen=None
            )
            item.addItem(bar)
            self.legend.addItem(bar, "F1" if key == "f1" else key)
            self.bars[key] = bar
        self.rows: list[dict[str, Any]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        """Show ``rows`` (one dict per class); the rows already shown are not drawn again."""
        if rows and list(rows) == self.rows:
            return
        item = self.plot.getPlotItem()
        self.rows = list(rows)
        n = len(rows)
        x = np.arange(n, dtype=float)
        width = 0.27
        for j, (key, _colour) in enumerate(self.SERIES):
            heights = np.array([float(r.get(key) or 0.0) for r in rows])
            self.bars[key].setOpts(x=x + (j - 1) * width, height=heights, width=width * 0.95)
        step = max(1, math.ceil(n / 30))
        item.getAxis("bottom").setTicks(
            [[(i, str(r["class"])) for i, r in enumerate(rows)][::step], []]
        )
        item.setXRange(-0.6, max(n - 0.4, 0.6), padding=0)
        item.setYRange(0, 1.05, padding=0)  # a bar at 1.0 shows its top
        settle_axes(item)
        tip = "\n".join(
            f"{r['class']}: precision {r['precision']:.3f}, recall {r['recall']:.3f}, "
            f"F1 {r['f1']:.3f}, support {r['support']}"
            for r in rows[:40]
        )
        self.plot.setToolTip(tip)

    def heights(self, key: str) -> np.ndarray:
        bar = self.bars.get(key)
        return np.asarray(bar.opts["height"], float) if bar is not None else np.zeros(0)


def thumbnail_array(image: np.ndarray) -> np.ndarray:
    """An image as uint8 for a thumbnail: grey (H, W) or RGB (H, W, 3), stretched to 0..255."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] not in (3, 4):
        img = img[..., 0]
    if img.ndim == 3:
        img = img[..., :3]
    if img.dtype == np.uint8:
        out = img
    else:
        f = img.astype(np.float32)
        finite = np.isfinite(f)
        lo, hi = (float(f[finite].min()), float(f[finite].max())) if finite.any() else (0.0, 1.0)
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        out = np.clip((np.nan_to_num(f, nan=lo) - lo) * scale, 0, 255).astype(np.uint8)
    if out.ndim == 2 and out.max() <= 16 and out.max() > 0:  # digits-style 0..16 values
        out = (out.astype(np.uint16) * 255 // out.max()).astype(np.uint8)
    return np.ascontiguousarray(out)


def thumbnail_pixmap(arr: np.ndarray, size: int = THUMB) -> QPixmap:
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        image = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8)
    else:
        image = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888)
    # Small images (digits, MNIST) get crisp pixels; large ones a smooth reduction.
    mode = (
        Qt.TransformationMode.FastTransformation
        if max(h, w) <= size
        else Qt.TransformationMode.SmoothTransformation
    )
    return QPixmap.fromImage(image.copy()).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, mode
    )


class Gallery(QWidget):
    """The images behind one confusion-matrix cell, captioned true vs predicted in red (wrong)
    or green (right), like the lecture's plots. Double-click (or Enter on) a thumbnail to open
    the item; "Show these in the Browser" lists a project's items of the cell there."""

    open_requested = Signal(int)  # the dataset index of the activated thumbnail
    browse_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel("Click a cell of the confusion matrix to see its images.")
        self.title.setWordWrap(True)
        self.browse_button = QPushButton("Show these in the Browser")
        self.browse_button.setToolTip("List exactly these project items in the Dataset Browser")
        self.browse_button.clicked.connect(self.browse_requested)
        self.browse_button.hide()
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        # as narrow as a caption ("true 4" / "pred 9"): three thumbnails side by side in the
        # ~260 px beside a laptop's confusion matrix (two, and a row and a half, before)
        # and tall enough for both caption lines in the user's font; the list is never shorter
        # than one row of them (a laptop's splitter gave it ~90 px and cut the second line)
        line = self.list.fontMetrics().lineSpacing()
        self.list.setGridSize(QSize(THUMB + 6, THUMB + 2 * line + 10))
        self.list.setMinimumHeight(self.list.gridSize().height() + 2 * self.list.frameWidth() + 2)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.itemActivated.connect(
            lambda item: self.open_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))
        )
        # the title has the whole width (beside the button it wrapped to four lines), the
        # button goes under it, at the right, when there is a project's cell to list
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addStretch(1)
        top.addWidget(self.browse_button)
        self.button_row = QWidget()
        self.button_row.setLayout(top)  # no height while its button is hidden
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.button_row)
        layout.addWidget(self.list, 1)
        self.indices: list[int] = []

    def show_message(self, text: str) -> None:
        self.list.clear()
        self.indices = []
        self.title.setText(text)
        self.browse_button.hide()

    def set_tiles(
        self, title: str, tiles: list[tuple[int, np.ndarray]], true: str, pred: str, more: int = 0
    ) -> None:
        """``tiles``: (dataset index, uint8 thumbnail array); ``more``: items not shown."""
        self.list.clear()
        self.indices = [i for i, _ in tiles]
        right = true == pred
        colour = GREEN if right else RED
        self.title.setText(
            f"<span style='color:{colour.name()}'><b>{title}</b></span>"
            + (f" &nbsp; (showing {len(tiles)}; {more} more not shown)" if more else "")
        )
        for index, arr in tiles:
            item = QListWidgetItem(QIcon(thumbnail_pixmap(arr)), f"true {true}\npred {pred}")
            item.setForeground(QBrush(colour))
            item.setToolTip(
                f"item {index}: true {true}, predicted {pred} (double-click to open it)"
            )
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.list.addItem(item)


class RegressionScatter(QWidget):
    """Predicted against true values with the identity line (perfect predictions)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "true value")
        item.setLabel("left", "predicted value")
        item.showGrid(x=True, y=True, alpha=0.25)
        for name in ("left", "bottom"):
            item.getAxis(name).setPen(pg.mkPen(90, 96, 104))
            item.getAxis(name).setTextPen(pg.mkPen(33, 37, 41))
        self.identity = pg.PlotDataItem(
            pen=pg.mkPen((134, 142, 150), width=2, style=Qt.PenStyle.DashLine)
        )
        self.points = pg.ScatterPlotItem(size=6, brush=(37, 115, 183, 170), pen=None)
        item.addItem(self.identity)
        item.addItem(self.points)
        self.metrics = QLabel("")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.metrics)
        layout.addWidget(self.plot, 1)

    def set_data(self, y_true: np.ndarray, y_pred: np.ndarray, scores: dict[str, float]) -> None:
        t, p = np.asarray(y_true, float), np.asarray(y_pred, float)
        ok = np.isfinite(t) & np.isfinite(p)
        self.points.setData(t[ok], p[ok])
        # (equal values above 2^53 or a span near 1e308: the range stays a real, finite one)
        lo, hi = plot_range(np.concatenate([t[ok], p[ok]]), 0.0)
        if not math.isfinite(hi - lo):  # pyqtgraph works with the span: it must be a float
            lo, hi = max(lo, -8e307), min(hi, 8e307)
        self.identity.setData([lo, hi], [lo, hi])
        self.plot.getPlotItem().setRange(xRange=(lo, hi), yRange=(lo, hi))

        def f(key: str) -> str:
            v = scores.get(key, math.nan)
            return "–" if v is None or not math.isfinite(v) else f"{v:.4g}"

        self.metrics.setText(
            f"<b>MAE {f('mae')}</b> &nbsp; RMSE {f('rmse')} &nbsp; R² {f('r2')} &nbsp; "
            f"<span style='color:gray'>(dashed: predicted = true)</span>"
        )


class SegmentationTable(QWidget):
    """Pooled Dice / IoU / object F1 and a per-image table."""

    HEADERS = ("item", "Dice", "IoU", "true objects", "found objects", "matched")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(self.HEADERS))
        self.table.setHorizontalHeaderLabels(list(self.HEADERS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)

    def set_result(self, scores: dict[str, float], per_item: list[dict[str, Any]]) -> None:
        def f(key: str) -> str:
            v = scores.get(key, math.nan)
            return "–" if v is None or not math.isfinite(v) else f"{v:.3f}"

        self.summary.setText(
            f"<b>Dice {f('dice')}</b> &nbsp; IoU {f('iou')} &nbsp; object F1 {f('object_f1')} "
            f"(precision {f('object_precision')}, recall {f('object_recall')}) &nbsp; "
            f"<span style='color:gray'>pooled over all test pixels / objects</span>"
        )
        self.table.setRowCount(len(per_item))
        keys = ("index", "dice", "iou", "objects_true", "objects_pred", "objects_matched")
        for r, row in enumerate(per_item):
            for c, key in enumerate(keys):
                v = row.get(key)
                text = f"{v:.3f}" if key in ("dice", "iou") and v is not None else str(v)
                cell = QTableWidgetItem(text)
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, cell)
