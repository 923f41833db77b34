"""A label that fits its text to the width it gets, with "…" where it cut."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy


class ElidedLabel(QLabel):
    """A label that shortens each line of its text with "…" to the width it gets (the full text is
    its tooltip), so a long file name or status line never widens the docked panel, and a cut
    one says it is cut. ``mode``: where the "…" goes (the middle for file names)."""

    def __init__(self, text: str = "", mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle):
        super().__init__()
        self._full = ""
        self._mode = mode
        self.setMinimumWidth(40)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        self._full = text
        self.setToolTip(text)
        self._elide()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        # each line of a text with line breaks on its own (a holder may give it several lines)
        metrics, width = self.fontMetrics(), max(self.width(), 40)
        lines = [metrics.elidedText(line, self._mode, width) for line in self._full.split("\n")]
        super().setText("\n".join(lines))
