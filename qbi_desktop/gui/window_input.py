"""The input of the main window and of its floating docks, seen before Qt hands it to a widget.

Two behaviours concern every widget of a kind, including widgets panels create later: the wheel
over an unfocused combo box in a dock scrolls the dock (:mod:`wheel_guard`), and a press in a
panel makes that panel's edits the ones Edit > Undo takes back (:mod:`undo`). A filter on the
QApplication sees those events, but it also sees every other event of every object (paints,
timers, queued calls, the plots' scene events), and a filter written in Python made each of them
a call into Python: about a fifth of the GUI thread's time during a baseline run, and of the
window's start. A filter on a top-level QWindow sees only what the platform sends that window
(input, exposure, resizes): :class:`WindowInput` puts one on the main window's QWindow and on
each floating dock's, and hands the input events to the handlers registered with it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QWidget

# A handler gets the widget the event is for (the deepest one under the pointer) and the event,
# whose position is in the window's coordinates; True: the event is taken and goes no further.
Handler = Callable[[QWidget, QEvent], bool]

INPUT = frozenset(
    {
        QEvent.Type.MouseButtonPress,
        QEvent.Type.TabletPress,
        QEvent.Type.Wheel,
    }
)


class _WindowFilter(QObject):
    """Installed on one top-level widget's QWindow."""

    def __init__(self, top: QWidget, hub: WindowInput):
        super().__init__(top)
        self.top = top
        self.hub = hub

    def eventFilter(self, _window, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() not in INPUT:
            return False
        point = event.position().toPoint()
        target = self.top.childAt(point) or self.top
        return any(handler(target, event) for handler in self.hub.handlers[event.type()])


class WindowInput(QObject):
    """The input events of ``window`` (a QMainWindow) and its docks while they float; the
    window makes one as it is built (``window.window_input``)."""

    def __init__(self, window: QWidget):
        super().__init__(window)
        self.handlers: dict[QEvent.Type, list[Handler]] = {kind: [] for kind in INPUT}

    def add(self, kinds, handler: Handler) -> None:
        """Call ``handler`` for each event of the given types."""
        for kind in kinds:
            self.handlers[kind].append(handler)

    def watch(self, top: QWidget) -> None:
        """Filter ``top``'s QWindow (again: Qt makes a new one each time a dock floats)."""
        handle = top.windowHandle()
        if handle is None:
            return
        filt = top.findChild(_WindowFilter, "", Qt.FindChildOption.FindDirectChildrenOnly)
        if filt is None:
            filt = _WindowFilter(top, self)
        handle.installEventFilter(filt)  # installing it again on the same window is a no-op

    def watch_dock(self, dock: QDockWidget) -> None:
        """Watch ``dock``'s own window whenever it floats (it has one only once shown)."""
        dock.topLevelChanged.connect(
            lambda floating: floating and QTimer.singleShot(0, dock, lambda: self.watch(dock))
        )
        if dock.isFloating():
            self.watch(dock)
