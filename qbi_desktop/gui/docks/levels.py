"""Levels / Histogram dock: window/level on a histogram of the raw values, and the colour map."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

COLORMAPS = {
    "Grey": None,
    "Inverted grey": "inverted",
    "Viridis": "viridis",
    "Magma": "magma",
    "Inferno": "inferno",
    "Cividis": "cividis",
}


def colormap_lut(name: str) -> np.ndarray | None:
    """A (256, 3) uint8 table for a colour map name from :data:`COLORMAPS`; None for grey."""
    key = COLORMAPS.get(name)
    if key is None:
        return None
    if key == "inverted":
        ramp = np.arange(255, -1, -1, dtype=np.uint8)
        return np.stack([ramp] * 3, axis=1)
    return pg.colormap.get(key).getLookupTable(0.0, 1.0, 256, alpha=False)


class LevelsPanel(QWidget):
    """Histogram with a draggable window, min/max boxes, percentile auto-levels, colour map."""

    levels_changed = Signal(float, float)
    colormap_changed = Signal(str)
    auto_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(background=None)
        # beside the Browser the column is shared (layout.py): the least that still reads as a
        # histogram, so that a laptop screen keeps six thumbnail rows in the Browser
        self.plot.setMinimumHeight(60)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.hideAxis("left")
        self.plot.getPlotItem().getViewBox().setDefaultPadding(0.02)
        self.curve = self.plot.plot(
            [0, 1], [0], stepMode="center", fillLevel=0, brush=(120, 160, 220, 150), pen=None
        )
        self.region = pg.LinearRegionItem(values=(0, 1), brush=(255, 200, 60, 40))
        self.region.setZValue(10)
        self.plot.addItem(self.region)
        self.region.sigRegionChanged.connect(self._on_region)

        self.vmin = QDoubleSpinBox(decimals=3)
        self.vmax = QDoubleSpinBox(decimals=3)
        for box in (self.vmin, self.vmax):
            box.setRange(-1e12, 1e12)
            box.setKeyboardTracking(False)
            box.valueChanged.connect(self._on_boxes)
        self.low_pct = QDoubleSpinBox(
            decimals=2, minimum=0.0, maximum=50.0, singleStep=0.1, value=0.5
        )
        self.high_pct = QDoubleSpinBox(
            decimals=2, minimum=50.0, maximum=100.0, singleStep=0.1, value=99.5
        )
        # The boxes' ranges (+-1e12) would make them wide: in a narrow column they give up
        # their spare room rather than widen the panel.
        for box in (self.vmin, self.vmax, self.low_pct, self.high_pct):
            box.setMinimumWidth(60)
        self.auto_button = QPushButton("Auto")
        self.auto_button.setMinimumWidth(56)
        self.auto_button.setToolTip("Levels from the percentiles below (Ctrl+Shift+A)")
        self.auto_button.clicked.connect(self.auto_requested)
        self.auto_on_open = QCheckBox("Auto-levels on open")
        self.auto_on_open.setChecked(True)
        self.log_scale = QCheckBox("Log counts")
        self.log_scale.setChecked(True)
        self.log_scale.toggled.connect(lambda _on: self._draw_histogram())
        self.cmap = QComboBox()
        self.cmap.addItems(list(COLORMAPS))
        self.cmap.currentTextChanged.connect(self.colormap_changed)

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.vmin)
        row.addWidget(self.vmax)
        form.addRow("Min / max", row)
        pct = QHBoxLayout()
        pct.addWidget(self.low_pct)
        pct.addWidget(self.high_pct)
        pct.addWidget(self.auto_button)
        form.addRow("Percentiles", pct)
        form.addRow("Colour map", self.cmap)
        checks = QHBoxLayout()
        checks.addWidget(self.auto_on_open)
        checks.addWidget(self.log_scale)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.plot, 1)
        layout.addLayout(form)
        layout.addLayout(checks)

        self._counts = np.zeros(1)
        self._edges = np.array([0.0, 1.0])
        self._updating = False

    @property
    def percentiles(self) -> tuple[float, float]:
        return self.low_pct.value(), self.high_pct.value()

    def set_histogram(
        self, counts: np.ndarray, edges: np.ndarray, integer: bool | None = None
    ) -> None:
        """Show the histogram of the raw values (computed off the GUI thread).

        Never emits :attr:`levels_changed`: new bounds clamp the old window inside pyqtgraph,
        and that clamped window is not a choice the user made. ``integer`` says the pixel type
        is an integer one, so the min/max boxes show whole numbers; for floating-point data
        they show enough decimals for the data's span.
        """
        self._counts, self._edges = counts, edges
        lo, hi = float(edges[0]), float(edges[-1])
        self._updating = True
        try:
            self.region.setBounds((lo - (hi - lo), hi + (hi - lo)))
            if integer is not None:
                self._set_box_precision(integer, hi - lo)
        finally:
            self._updating = False
        self._draw_histogram()
        self.plot.setXRange(lo, hi, padding=0.02)

    def _set_box_precision(self, integer: bool, span: float) -> None:
        if integer:
            decimals, step = 0, 1.0
        else:
            # three significant digits of the span: 0..1 -> 3 decimals, 0..1e-4 -> 7
            magnitude = math.floor(math.log10(span)) if span > 0 and math.isfinite(span) else 0
            decimals = max(2, min(10, 3 - magnitude))
            step = 10.0 ** (magnitude - 1)
        for box in (self.vmin, self.vmax):
            box.setDecimals(decimals)
            box.setSingleStep(step)

    def _draw_histogram(self) -> None:
        counts = self._counts.astype(float)
        if self.log_scale.isChecked():
            counts = np.log10(counts + 1)
        self.curve.setData(self._edges, counts)

    def set_levels(self, vmin: float, vmax: float) -> None:
        """Show levels chosen elsewhere without re-emitting them."""
        self._updating = True
        try:
            self.region.setRegion((vmin, vmax))
            self.vmin.setValue(vmin)
            self.vmax.setValue(vmax)
        finally:
            self._updating = False

    def levels(self) -> tuple[float, float]:
        return self.vmin.value(), self.vmax.value()

    def _on_region(self) -> None:
        if self._updating:
            return
        vmin, vmax = self.region.getRegion()
        self._updating = True
        try:
            self.vmin.setValue(vmin)
            self.vmax.setValue(vmax)
        finally:
            self._updating = False
        self.levels_changed.emit(float(vmin), float(vmax))

    def _on_boxes(self) -> None:
        if self._updating:
            return
        vmin, vmax = self.vmin.value(), self.vmax.value()
        if vmax <= vmin:
            return
        self._updating = True
        try:
            self.region.setRegion((vmin, vmax))
        finally:
            self._updating = False
        self.levels_changed.emit(vmin, vmax)

    def set_colormap_name(self, name: str) -> None:
        if name in COLORMAPS:
            self.cmap.setCurrentText(name)
