"""A holder that keeps a one-line label's text changes from laying its window out again.

``QLabel.setText`` always asks its parent's layout to lay out again, and ``QLayout.activate``
passes the request on to every parent up to the window. A ``QTabWidget`` on the way answers
it by repainting the whole tab: in the Browser the detail line and the suggestions counter,
set at every key press, repainted the tab bar, the table's frame, header and scroll bars with
the line (~5 ms of the GUI thread per key). This holder has a fixed height and no layout: the
label's request ends here, and its parent never hears of the new text.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


class SteadyLine(QWidget):
    """Holds ``line`` (a widget of ``lines`` lines of text, usually a label) at that height, as
    wide as the holder's layout makes the holder."""

    def __init__(self, line: QWidget, parent: QWidget | None = None, lines: int = 1):
        super().__init__(parent)
        self.line = line
        self.lines = lines
        line.setParent(self)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._fit()

    def _fit(self) -> None:
        """The height of its lines in the line's font (again when the font or style change)."""
        metrics = self.line.fontMetrics()
        if self.lines > 1:
            self.setFixedHeight(metrics.height() + (self.lines - 1) * metrics.lineSpacing())
            return
        hint = self.line.sizeHint().height()  # an empty label's may be 0
        self.setFixedHeight(max(hint, metrics.height()))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.line.setGeometry(self.rect())

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit()
