"""The slice slider under the canvas."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget

from qbi_desktop.gui.window.keys import VIEWER_KEYS


class SliceBar(QWidget):
    """Slider + spin box under the canvas for stacks; hidden for single images."""

    index_changed = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.spin = QSpinBox()
        self.label = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 2)
        layout.addWidget(QLabel("Slice"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self.spin.setValue)
        self.spin.valueChanged.connect(self.slider.setValue)
        self.slider.valueChanged.connect(self.index_changed)
        for widget in (self.slider, self.spin):
            widget.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
            # the window's slice keys (PgDown: one slice on) work here too, not a slider page
            widget.setProperty(VIEWER_KEYS, True)

    def configure(self, count: int, index: int) -> None:
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
            widget.setRange(0, max(0, count - 1))
            widget.setValue(index)
            widget.blockSignals(False)
        self.setVisible(count > 1)
