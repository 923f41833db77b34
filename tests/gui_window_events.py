"""Input sent to a widget's window, as the platform sends it: Qt then hands it to the widget
under the pointer (an event sent straight to a widget never passes its window's filters)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def centre_in_window(widget) -> QPoint | None:
    """``widget``'s centre in its window's coordinates; None if another widget is there."""
    top = widget.window()
    at = widget.mapTo(top, widget.rect().center())
    under = top.childAt(at)
    if under is None or not (under is widget or widget.isAncestorOf(under)):
        return None
    return at


def click_through_window(widget) -> None:
    """A left click on the middle of ``widget``."""
    at = centre_in_window(widget)
    assert at is not None, f"{widget} is covered"
    QTest.mouseClick(
        widget.window().windowHandle(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0), at
    )
    QApplication.processEvents()


def wheel_through_window(widget, steps: int = -1) -> bool:
    """One notch of the wheel over the middle of ``widget`` (negative: scroll down); False,
    and nothing sent, if ``widget`` is not the one under the pointer (covered, scrolled away)."""
    at = centre_in_window(widget)
    if at is None:
        return False
    top = widget.window()
    event = QWheelEvent(
        QPointF(at),
        QPointF(top.mapToGlobal(at)),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(top.windowHandle(), event)
    return True
