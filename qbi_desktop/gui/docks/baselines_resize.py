"""The Baselines form's "Resize to" rows: one size for the features of images of different
sizes (a radiography project), as ``resize_to`` = "auto", None (off) or (height, width)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from qbi_desktop.core.baselines import AUTO_RESIZE
from qbi_desktop.core.baselines.plan import MAX_RESIZE_SIDE

RESIZE_CHOICES = (
    (AUTO_RESIZE, "auto"),
    ("off", "off (one size needed)"),
    ("size", "height × width"),
)
# Where the form's resize control is, said in place of the core's resize_to / --resize hint.
RESIZE_CONTROL = "Features ▸ Resize to"
TIP = (
    "One size for all images' features. auto: images of one size stay as they are; images of "
    "different sizes are resized to the most common size, scaled down to at most 32 pixels a "
    "side (the size the Browser's suggestions use). off: a run on images of different sizes "
    "stops and names them. height × width: resize every image to that size"
)


class ResizeRows:
    """The choice (``choice``) and, on a row of its own, the size (``size``: two spin boxes)."""

    def __init__(self) -> None:
        self.choice = QComboBox()
        for key, text in RESIZE_CHOICES:
            self.choice.addItem(text, key)
        self.choice.setToolTip(TIP)
        self.height = QSpinBox(minimum=1, maximum=MAX_RESIZE_SIDE, value=32)
        self.width = QSpinBox(minimum=1, maximum=MAX_RESIZE_SIDE, value=32)
        self.height.setToolTip("Height in pixels every image is resized to")
        self.width.setToolTip("Width in pixels every image is resized to")
        self.size = QWidget()
        row = QHBoxLayout(self.size)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.height, 1)
        row.addWidget(QLabel("×"))
        row.addWidget(self.width, 1)

    def value(self) -> tuple[int, int] | str | None:
        """``resize_to``: ``"auto"``, None (off) or (height, width)."""
        choice = self.choice.currentData()
        if choice == "size":
            return (self.height.value(), self.width.value())
        return None if choice == "off" else AUTO_RESIZE

    def set_value(self, value: Any) -> None:
        """Show a ``resize_to``, or its settings text (auto, off, HxW: the settings file is the
        user's to edit, so anything else shows as auto)."""
        if value is None or value == "off":
            self._select("off")
            return
        try:
            parts = value.lower().split("x") if isinstance(value, str) else list(value)
            h, w = (int(v) for v in parts)
        except (TypeError, ValueError):
            self._select(AUTO_RESIZE)
            return
        self.height.setValue(h)  # the spin boxes keep it within 1..MAX_RESIZE_SIDE
        self.width.setValue(w)
        self._select("size")

    def text(self) -> str:
        """The value as stored in the settings: auto, off or HxW."""
        value = self.value()
        if isinstance(value, tuple):
            return f"{value[0]}x{value[1]}"
        return "off" if value is None else str(value)

    def _select(self, key: str) -> None:
        self.choice.setCurrentIndex(max(0, self.choice.findData(key)))
