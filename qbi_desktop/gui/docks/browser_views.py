"""Pictures of the Browser: the montage of a selection and the bias / balance view."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.gui.docks.browser_model import REVIEW_COLOURS

SPLIT_COLOURS = {
    "train": (70, 130, 200),
    "val": (240, 160, 40),
    "test": (90, 170, 90),
    "unassigned": (150, 150, 150),
}
SPLIT_ORDER = ("train", "val", "test", "unassigned")
MONTAGE_PAGE = 100  # tiles per montage page: 70 000 MNIST items are 700 pages


class WrappedLabel(QLabel):
    """A word-wrapped label that does not make its panel height-for-width: inside a dock's
    scroll area that would size the whole panel to its preferred height (taller than the
    dock) instead of the dock's height, and the panel would scroll as a whole. QLabel turns
    height-for-width back on at every ``setText``, so a size policy set once does not hold:
    the label says "no" itself and asks, at each resize, for the height its lines need."""

    def __init__(self, text: str = ""):
        super().__init__(text)
        self.setWordWrap(True)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return False

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self._fit_height()

    def resizeEvent(self, event):  # noqa: N802
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        need = self.heightForWidth(max(1, self.width()))
        if need > 0 and need != self.minimumHeight():
            self.setMinimumHeight(need)


def wrapped_label(text: str = "") -> QLabel:
    """A word-wrapped label that keeps its panel out of height-for-width (see WrappedLabel)."""
    return WrappedLabel(text)


class MontageView(QWidget):
    """A grid of thumbnails with their labels (the lecture's ``montage``), review state as a
    coloured frame. Tiles come as (pixmap or None, caption, review state)."""

    open_in_viewer = Signal()
    page_changed = Signal(int)  # 0-based page the user chose

    def __init__(self, parent=None):
        super().__init__(parent)
        self.info = wrapped_label("Select items in the table (or none: all items shown)")
        self.viewer_button = QPushButton("Open as image")
        self.viewer_button.setToolTip("The montage of the full-resolution images in the viewer")
        self.viewer_button.clicked.connect(self.open_in_viewer)
        # pages through every item, not only the first ones
        self.prev_button = QPushButton("◀")
        self.prev_button.setToolTip("Previous page")
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next page")
        for b in (self.prev_button, self.next_button):
            b.setFixedWidth(32)
        self.page_spin = QSpinBox(minimum=1, maximum=1)
        self.page_spin.setToolTip("Montage page")
        self.page_spin.setKeyboardTracking(False)
        self.pages_label = QLabel("of 1")
        self.prev_button.clicked.connect(
            lambda: self.page_spin.setValue(self.page_spin.value() - 1)
        )
        self.next_button.clicked.connect(
            lambda: self.page_spin.setValue(self.page_spin.value() + 1)
        )
        self.page_spin.valueChanged.connect(self._page_chosen)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.picture)
        self.scroll.setWidgetResizable(True)
        top = QHBoxLayout()
        top.addWidget(self.info, 1)
        top.addWidget(self.viewer_button)
        pager = QHBoxLayout()
        pager.addWidget(QLabel("Page"))
        pager.addWidget(self.prev_button)
        pager.addWidget(self.page_spin)
        pager.addWidget(self.next_button)
        pager.addWidget(self.pages_label)
        pager.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addLayout(pager)
        layout.addWidget(self.scroll, 1)
        self.tiles: list[tuple[QPixmap | None, str, str]] = []
        self.tile = 96
        self._update_pager()

    def page(self) -> int:
        return self.page_spin.value() - 1

    def set_pages(self, pages: int, page: int) -> None:
        """How many pages there are and which one is shown (no page_changed signal)."""
        self.page_spin.blockSignals(True)
        self.page_spin.setMaximum(max(1, pages))
        self.page_spin.setValue(page + 1)
        self.page_spin.blockSignals(False)
        self.pages_label.setText(f"of {max(1, pages):,}")
        self._update_pager()

    def _page_chosen(self, value: int) -> None:
        self._update_pager()
        self.page_changed.emit(value - 1)

    def _update_pager(self) -> None:
        self.prev_button.setEnabled(self.page_spin.value() > 1)
        self.next_button.setEnabled(self.page_spin.value() < self.page_spin.maximum())

    def set_tiles(self, tiles: list[tuple[QPixmap | None, str, str]], note: str = "") -> None:
        self.tiles = tiles
        self.info.setText(note or f"{len(tiles)} item(s)")
        self._draw()

    def resizeEvent(self, event):  # noqa: N802
        super().resizeEvent(event)
        if self.tiles:
            self._draw()

    def columns(self) -> int:
        width = max(self.scroll.viewport().width(), self.tile + 8)
        return max(1, width // (self.tile + 8))

    def _draw(self) -> None:
        tile, pad, caption = self.tile, 8, 16
        cols = self.columns()
        rows = max(1, math.ceil(len(self.tiles) / cols))
        pixmap = QPixmap(cols * (tile + pad), rows * (tile + pad + caption))
        pixmap.fill(QColor(30, 30, 30))
        painter = QPainter(pixmap)
        font = QFont(painter.font())
        font.setPointSizeF(8.5)
        painter.setFont(font)
        for n, (thumb, text, review) in enumerate(self.tiles):
            r, c = divmod(n, cols)
            x, y = c * (tile + pad) + pad // 2, r * (tile + pad + caption) + pad // 2
            if thumb is not None:
                scaled = thumb.scaled(
                    tile,
                    tile,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.FastTransformation,
                )
                painter.drawPixmap(
                    x + (tile - scaled.width()) // 2, y + (tile - scaled.height()) // 2, scaled
                )
            else:
                painter.fillRect(x, y, tile, tile, QColor(55, 55, 55))
            colour = REVIEW_COLOURS.get(review)
            if colour is not None:
                painter.setPen(QPen(colour, 3))
                painter.drawRect(x + 1, y + 1, tile - 2, tile - 2)
            painter.setPen(QColor(230, 230, 230))
            painter.drawText(
                QRect(x, y + tile, tile, caption),
                Qt.AlignmentFlag.AlignCenter,
                painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, tile),
            )
        painter.end()
        self.picture.setPixmap(pixmap)
        self.picture.setMinimumSize(pixmap.size())


class _ClassAxis(pg.AxisItem):
    """Bottom axis that names the class under every group of bars. A name wider than its
    group is shortened with "…" (the chart's tooltip has the whole names): pyqtgraph drops a
    tick text that runs past the axis' ends, and the last class ("unlabelled") went unnamed
    in a laptop's 250 px wide panel."""

    def __init__(self):
        super().__init__("bottom")
        self.names: list[str] = []
        self.setStyle(tickFont=QFont())  # measured and drawn with the same font

    def tickValues(self, minVal, maxVal, size):  # noqa: N802
        if not self.names:
            return []
        step = self._step()
        values = [float(i) for i in range(0, len(self.names), step) if minVal <= i <= maxVal]
        return [(float(step), values)]

    def _pixels_per_class(self) -> float:
        lo, hi = self.range
        return self.geometry().width() / (hi - lo) if hi > lo else 0.0

    def _step(self) -> int:
        """Every class named if a short name fits; else every step-th (many classes)."""
        ppc = self._pixels_per_class()
        least = QFontMetricsF(self.style["tickFont"]).horizontalAdvance("Mm…")
        return max(1, math.ceil(least / ppc)) if ppc > 0 else 1

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        metrics = QFontMetricsF(self.style["tickFont"])
        ppc = self._pixels_per_class()
        lo, hi = self.range
        out = []
        for v in values:
            i = int(round(v))
            if abs(v - i) > 1e-6 or not 0 <= i < len(self.names):
                out.append("")
                continue
            # centred on its bars: no wider than its slot, nor than twice the room to an end
            room = min(spacing, 2 * (i - lo), 2 * (hi - i)) * ppc - 4
            out.append(metrics.elidedText(self.names[i], Qt.TextElideMode.ElideRight, room))
        return out

    def set_names(self, names: list[str]) -> None:
        self.names = list(names)
        self.picture = None
        self.update()


class BalanceView(QWidget):
    """Class counts per split as grouped bars, imbalance ratios, warnings, target histograms,
    and duplicate images by content hash."""

    refresh_requested = Signal()
    show_ids = Signal(list)  # item ids to show in the table (a duplicate group)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.min_count = QSpinBox(minimum=1, maximum=1_000_000, value=10)
        self.min_count.setToolTip("Warn about classes with fewer items than this in a split")
        self.min_count.valueChanged.connect(lambda _v: self.refresh_requested.emit())
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh_requested)
        self.summary = wrapped_label("Open a project to see its balance")
        top = QHBoxLayout()
        top.addWidget(QLabel("Min per class"))
        top.addWidget(self.min_count)
        top.addWidget(refresh)
        top.addStretch(1)  # the summary goes under: beside, it kept the column 100 px wider

        self.axis = _ClassAxis()
        self.bar_plot = pg.PlotWidget(axisItems={"bottom": self.axis}, background=None)
        self.bar_plot.setMenuEnabled(False)
        self.bar_plot.setMouseEnabled(x=False, y=False)
        # no title row ("Items per class and split"): on a laptop the chart is ~150 px tall;
        # the tab, the class names and the split legend say what it counts
        self.bar_plot.setLabel("left", "items")
        self.bar_plot.setMinimumHeight(100)  # the panel shares a laptop column: small minimums
        # The legend has a row of its own under the class names (as the Baselines per-class
        # chart): inside the plot it lay over the bars' tops in a laptop's short chart.
        plot_item = self.bar_plot.getPlotItem()
        self.legend = pg.LegendItem(offset=None)
        self.legend.setColumnCount(4)
        plot_item.layout.addItem(self.legend, 4, 1, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.bars: dict[str, pg.BarGraphItem] = {}

        # Each warning wraps to the panel's width (the whole text also in its tooltip): cut
        # at the right, "has only 2 item(s) in unass…" did not say which split.
        self.warnings = QListWidget()
        self.warnings.setMinimumHeight(36)
        self.warnings.setWordWrap(True)
        self.warnings.setResizeMode(QListView.ResizeMode.Adjust)
        self.warnings.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.warnings.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.warnings.setTextElideMode(Qt.TextElideMode.ElideNone)

        self.target = QComboBox()
        self.target.currentTextChanged.connect(lambda _t: self._draw_histogram())
        self.hist_plot = pg.PlotWidget(background=None)
        self.hist_plot.setMenuEnabled(False)
        self.hist_plot.setMinimumHeight(75)
        self.hist_plot.setLabel("left", "items")
        self.hist_legend = self.hist_plot.addLegend(offset=(-10, 10))
        self.hist_curves: dict[str, pg.PlotDataItem] = {}
        hist_box = self.hist_box = QWidget()
        hist_layout = QVBoxLayout(hist_box)
        hist_layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Regression target"))
        row.addWidget(self.target, 1)
        hist_layout.addLayout(row)
        hist_layout.addWidget(self.hist_plot, 1)

        self.duplicates = QTreeWidget()
        self.duplicates.setHeaderLabels(["Duplicates (same content hash)", "Labels", "Splits"])
        self.duplicates.setRootIsDecorated(False)
        self.duplicates.itemDoubleClicked.connect(self._duplicate_clicked)
        self.duplicates.setToolTip("Double-click a group to show its items in the table")
        self.duplicates.header().setStretchLastSection(False)
        self.duplicates.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

        # The sections share the page by stretch, not by sizes in pixels: their preferred
        # heights (the plots' ~550 px) are ignored, so on a laptop the chart and the warnings
        # fit the panel and the splitter's handles still let the user move the room around.
        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        for n, (section, stretch) in enumerate(
            ((self.bar_plot, 3), (self.warnings, 2), (hist_box, 2), (self.duplicates, 1))
        ):
            policy = section.sizePolicy()
            policy.setVerticalPolicy(QSizePolicy.Policy.Ignored)
            section.setSizePolicy(policy)
            splitter.addWidget(section)
            splitter.setStretchFactor(n, stretch)
        splitter.setSizes([300, 200, 200, 100])  # proportions: the splitter scales them
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)
        self.report: dict[str, Any] | None = None

    # -- content -----------------------------------------------------------------------------
    def set_report(self, report: dict[str, Any] | None) -> None:
        """Show a ``stats.summary`` result (None: clear)."""
        self.report = report
        self._draw_bars()
        self._draw_warnings()
        names = sorted((report or {}).get("targets", {}))
        current = self.target.currentText()
        self.target.blockSignals(True)
        self.target.clear()
        self.target.addItems(names)
        if current in names:
            self.target.setCurrentText(current)
        self.target.blockSignals(False)
        self._draw_histogram()
        self._draw_duplicates()
        # sections with nothing to show give their room to the chart and the warnings
        self.hist_box.setVisible(bool(names) or report is None)
        self.duplicates.setVisible(bool((report or {}).get("duplicates")) or report is None)

    def _draw_bars(self) -> None:
        for item in self.bars.values():
            self.bar_plot.removeItem(item)
        self.bars.clear()
        self.legend.clear()
        report = self.report
        if not report:
            self.summary.setText("Open a project to see its balance")
            self.axis.set_names([])
            return
        counts = report["counts"]
        classes = list(report["classes"])
        if any("unlabelled" in per for s, per in counts.items() if s != "all"):
            classes.append("unlabelled")
        splits = [s for s in SPLIT_ORDER if s in counts]
        width = 0.8 / max(1, len(splits))
        x = np.arange(len(classes), dtype=float)
        for k, split in enumerate(splits):
            heights = np.asarray([counts[split].get(c, 0) for c in classes], dtype=float)
            item = pg.BarGraphItem(
                x=x - 0.4 + width * (k + 0.5),
                height=heights,
                width=width * 0.95,
                brush=pg.mkBrush(*SPLIT_COLOURS[split]),
                pen=pg.mkPen(None),
            )
            self.bar_plot.addItem(item)
            self.legend.addItem(item, split)
            self.bars[split] = item
        self.axis.set_names(classes)
        self.bar_plot.setXRange(-0.6, max(0.6, len(classes) - 0.4), padding=0)
        top = max([counts[s].get(c, 0) for s in splits for c in classes] or [1])
        self.bar_plot.setYRange(0, top * 1.05, padding=0)  # the legend is under the chart
        self.bar_plot.setToolTip(
            "\n".join(
                f"{c}: " + ", ".join(f"{s} {counts[s].get(c, 0)}" for s in splits)
                for c in classes[:40]
            )
        )
        ratios = report["imbalance"]
        parts = [f"{report.get('n_items', 0)} items, {len(report['classes'])} classes"]
        for split in ("all", *splits):
            r = ratios.get(split)
            if r is not None:
                parts.append(f"imbalance {split}: {'∞' if math.isinf(r) else f'{r:.2f}'}")
        self.summary.setText(" · ".join(parts))

    def _draw_warnings(self) -> None:
        self.warnings.clear()
        warnings = (self.report or {}).get("warnings", [])
        if not warnings and self.report:
            item = QListWidgetItem("No warnings: every class has enough items in every split")
            item.setForeground(QColor(60, 150, 70))
            self.warnings.addItem(item)
        for w in warnings:
            item = QListWidgetItem("⚠ " + w["message"])
            item.setToolTip(w["message"])
            item.setForeground(QColor(200, 110, 20))
            self.warnings.addItem(item)

    def _draw_histogram(self) -> None:
        for curve in self.hist_curves.values():
            self.hist_plot.removeItem(curve)
        self.hist_curves.clear()
        self.hist_legend.clear()
        entry = (self.report or {}).get("targets", {}).get(self.target.currentText())
        if not entry:
            self.hist_plot.setTitle("No regression targets" if self.report else "")
            return
        edges = np.asarray(entry["edges"])
        per_split = entry.get("splits") or {"all": entry["counts"]}
        for split in [s for s in SPLIT_ORDER if s in per_split] or list(per_split):
            colour = SPLIT_COLOURS.get(split, (120, 120, 200))
            curve = self.hist_plot.plot(
                edges,
                np.asarray(per_split[split], dtype=float),
                stepMode="center",
                fillLevel=0,
                brush=(*colour, 70),
                pen=pg.mkPen(colour, width=2),
                name=split,
            )
            self.hist_curves[split] = curve
        self.hist_plot.setTitle(
            f"{self.target.currentText()}: n={entry['n']}, mean {entry['mean']:.4g}, "
            f"std {entry['std']:.4g}, range {entry['min']:.4g} … {entry['max']:.4g}"
        )

    def _draw_duplicates(self) -> None:
        self.duplicates.clear()
        for group in (self.report or {}).get("duplicates", [])[:500]:
            names = ", ".join(group["names"][:4]) + (" …" if len(group["names"]) > 4 else "")
            labels = sorted({str(v) for v in group["labels"]})
            splits = sorted({str(v) for v in group["splits"] if v})
            item = QTreeWidgetItem(
                [f"{len(group['ids'])}x  {names}", ", ".join(labels), ", ".join(splits)]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, list(group["ids"]))
            if group["conflicting_labels"] or group["across_splits"]:
                for c in range(3):
                    item.setForeground(c, QColor(200, 60, 60))
                item.setToolTip(
                    0,
                    "identical images with different labels"
                    if group["conflicting_labels"]
                    else "identical images in different splits (leakage)",
                )
            self.duplicates.addTopLevelItem(item)
        n = len((self.report or {}).get("duplicates", []))
        self.duplicates.setHeaderLabels(
            [f"Duplicates (same content hash): {n} group(s)", "Labels", "Splits"]
        )

    def _duplicate_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        ids = item.data(0, Qt.ItemDataRole.UserRole)
        if ids:
            self.show_ids.emit(list(ids))

    # -- live target edits ---------------------------------------------------------------------
    def apply_target_change(
        self,
        name: str,
        removed: list[tuple[float, str | None]],
        added: list[tuple[float, str | None]],
    ) -> bool:
        """Move typed target values into the histogram without recomputing it: ``removed`` and
        ``added`` are (value, split) pairs. False when it cannot (no report yet, a new target,
        a value outside the drawn bins): the caller recomputes on a worker."""
        entry = (self.report or {}).get("targets", {}).get(name)
        if entry is None:
            return False
        edges = np.asarray(entry["edges"], dtype=float)
        if any(not edges[0] <= v <= edges[-1] for v, _s in added):
            return False
        n = entry["n"]
        total = entry["mean"] * n
        squares = (entry["std"] ** 2 + entry["mean"] ** 2) * n
        per_split = entry.get("splits")
        for sign, pairs in ((-1, removed), (1, added)):
            for value, split in pairs:
                b = min(int(np.searchsorted(edges, value, side="right")) - 1, len(edges) - 2)
                entry["counts"][b] += sign
                if per_split is not None:
                    per_split.setdefault(split or "unassigned", [0] * (len(edges) - 1))
                    per_split[split or "unassigned"][b] += sign
                n += sign
                total += sign * value
                squares += sign * value * value
        entry["n"] = n
        if n:
            entry["mean"] = total / n
            entry["std"] = math.sqrt(max(0.0, squares / n - entry["mean"] ** 2))
        values = [v for v, _s in added]
        if values:  # min/max only widen here; a removed extreme is fixed by the next refresh
            entry["min"], entry["max"] = min(entry["min"], *values), max(entry["max"], *values)
        if self.target.currentText() == name:
            self._draw_histogram()
        return True

    def show_typed(self, name: str | None, value: float | None) -> None:
        """Mark a value being typed (not yet entered) on the histogram of its target."""
        line = getattr(self, "typed_line", None)
        if line is None:
            line = self.typed_line = pg.InfiniteLine(
                angle=90, pen=pg.mkPen((220, 60, 60), width=2, style=Qt.PenStyle.DashLine)
            )
            line.setZValue(10)
            self.hist_plot.addItem(line)
        visible = value is not None and name is not None and self.target.currentText() == name
        if name is not None and value is not None and self.target.currentText() != name:
            if self.target.findText(name) >= 0:
                self.target.setCurrentText(name)
                visible = True
        line.setVisible(bool(visible))
        if visible:
            line.setPos(value)
