"""What the canvas shows while no image is open: how to open one, instead of a blank frame."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


def _key(standard: QKeySequence.StandardKey) -> str:
    return QKeySequence(standard).toString(QKeySequence.SequenceFormat.NativeText)


class EmptyHint(QWidget):
    """A centred note with Open… and Open Demo buttons; file drops pass through to the window."""

    open_requested = Signal()
    demo_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("empty_hint")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(
            "#empty_hint { background: rgba(45, 45, 45, 235); border-radius: 10px; }"
            "#empty_hint QLabel { color: #e6e6e6; }"
        )
        title = QLabel("<h2>No image open</h2>")
        open_key = _key(QKeySequence.StandardKey.Open) or "Ctrl+O"
        self.text = QLabel(
            "<ul style='margin-left:0'>"
            f"<li><b>Open</b> a radiograph or stack: File &gt; Open… ({open_key})</li>"
            "<li><b>Drag and drop</b> image files (TIFF, PNG, JPEG, BMP) onto this window</li>"
            "<li>Try the <b>demo</b>: simulated 16-bit neutron radiographs with gamma spots</li>"
            "<li>A dataset: Dataset &gt; New Project… or Dataset &gt; Open Project…, then "
            "Dataset &gt; Import…; its items show in the Dataset Browser panel</li>"
            "</ul>"
            "<p>Help &gt; Keyboard Shortcuts lists every key; Help &gt; QBI Desktop Help "
            "(F1) is the guide.</p>"
        )
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.open_button = QPushButton("Open…")
        self.demo_button = QPushButton("Open Demo")
        self.open_button.clicked.connect(self.open_requested)
        self.demo_button.clicked.connect(self.demo_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 16, 24, 20)
        layout.addWidget(title, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.text)
        layout.addLayout(buttons)

    def demo_busy(self, busy: bool) -> None:
        """While the demo is being made: its button says so and takes no second click."""
        self.demo_button.setEnabled(not busy)
        self.demo_button.setText("Making the demo…" if busy else "Open Demo")

    def place(self, width: int, height: int) -> None:
        """Centre in a parent of ``width`` x ``height``, never wider than it."""
        w = min(520, max(200, width - 24))
        self.setFixedWidth(w)
        h = self.heightForWidth(w) if self.hasHeightForWidth() else self.sizeHint().height()
        h = min(max(h, self.minimumSizeHint().height()), max(80, height - 24))
        self.resize(w, h)
        self.move(max(0, (width - w) // 2), max(0, (height - h) // 2))
