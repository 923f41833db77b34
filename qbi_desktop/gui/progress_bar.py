"""A progress bar that is painted with the window's next paint, never at once, and that has no
busy indicator.

QProgressBar repaints synchronously: ``setValue`` (when the bar or its percentage moves) and the
reset that ``setRange`` does on a value outside the new range call ``QWidget.repaint()``. A
synchronous repaint of a child widget makes Qt paint every dirty region of its window there and
then: the status bar's, the Baselines panel's and the Tasks panel's bars each did that, up to
10 times a second while a job ran, and with the results' plots waiting to be drawn one such
report took 15–40 ms of the GUI thread (over 100 ms on a busy machine). Here those changes only
mark the bar for the next paint, which Qt does once for all of them.
"""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar


class ProgressBar(QProgressBar):
    """QProgressBar whose value and range changes schedule a paint instead of painting."""

    def setValue(self, value: int) -> None:  # noqa: N802 - Qt's name
        old, low, high = self.value(), self.minimum(), self.maximum()
        if value == old:
            return
        small = low < value < high and old >= low and abs(value - old) * 100 < high - low
        if small and "%v" not in self.format():
            # Under 1 % of the bar and no count shown: nothing visible moves. QProgressBar would
            # find that out by laying out its text (~1 ms; 5-10 ms on a busy machine) each time.
            return
        self._deferred(super().setValue, value)

    def setRange(self, minimum: int, maximum: int) -> None:  # noqa: N802 - Qt's name
        if minimum == maximum == 0:
            # No count yet: an empty bar that still shows its text. Qt's busy indicator for
            # (0, 0) draws no text at all (what runs went unsaid) and repaints the window 30-60
            # times a second for as long as it shows.
            if (self.minimum(), self.maximum(), self.value()) != (0, 1, 0):
                self._deferred(self._empty)
            return
        if (minimum, maximum) == (self.minimum(), self.maximum()):
            return
        self._deferred(super().setRange, minimum, maximum)

    def _empty(self) -> None:
        super().setRange(0, 1)
        super().setValue(0)  # not the reset value below the range, for which Qt draws no text

    def reset(self) -> None:
        self._deferred(super().reset)

    def _deferred(self, change, *args) -> None:
        # With updates disabled repaint() does nothing; enabling them again calls update(),
        # which only marks the bar dirty for the window's next paint.
        if not self.updatesEnabled():
            change(*args)
            return
        self.setUpdatesEnabled(False)
        try:
            change(*args)
        finally:
            self.setUpdatesEnabled(True)
