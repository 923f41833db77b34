"""The mouse wheel scrolls a dock; it changes a combo box, spin box or slider only with focus.

Scrolling down a long dock passes combo boxes and spin boxes under the pointer; Qt hands them
the wheel, so a setting changed without the user noticing (a colour map, a percentile, a model).
One handler of the window's input (:mod:`qbi_desktop.gui.window_input`) fixes it for every dock,
including controls that panels create later: an unfocused control in a dock gives the wheel to
the nearest scrolling area around it (the dock's scroll area, a table) and is not focused by it.
Click or Tab into the control first to use the wheel on it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDockWidget,
    QScrollBar,
    QWidget,
)

GUARDED = (QComboBox, QAbstractSpinBox, QAbstractSlider)


def _in_dock(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QDockWidget):
            return True
        parent = parent.parentWidget()
    return False


def _guarded_control(obj) -> QWidget | None:
    """The combo/spin/slider a wheel event on ``obj`` would change (a spin box's line edit
    receives the event first), or None."""
    widget = obj if isinstance(obj, QWidget) else None
    for _ in range(2):  # the control itself, or its inner line edit / list
        if widget is None:
            return None
        if isinstance(widget, GUARDED) and not isinstance(widget, QScrollBar):
            return widget
        widget = widget.parentWidget()
    return None


def _scroll_target(control: QWidget) -> QWidget | None:
    parent = control.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea):
            return parent.viewport()
        if isinstance(parent, QDockWidget):
            return None
        parent = parent.parentWidget()
    return None


def _guard(target: QWidget, event: QWheelEvent) -> bool:
    """The wheel over an unfocused control in a dock: to the scrolling area around it."""
    control = _guarded_control(target)
    if control is None or control.hasFocus() or not _in_dock(control):
        return False
    scroller = _scroll_target(control)
    if scroller is not None:
        at = event.globalPosition()
        QApplication.sendEvent(
            scroller,
            QWheelEvent(
                scroller.mapFromGlobal(at),
                at,
                event.pixelDelta(),
                event.angleDelta(),
                event.buttons(),
                event.modifiers(),
                event.phase(),
                event.inverted(),
                event.source(),
            ),
        )
    return True  # never to the control


def install(window) -> None:
    """Guard every dock of ``window`` (a QMainWindow), docked or floating."""
    window.window_input.add((QEvent.Type.Wheel,), _guard)
