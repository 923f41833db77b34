"""The focused widget keeps the keys it uses itself, whatever the window binds to them.

The window's single-key shortcuts (Image > Next Slice on "." and PgDown, First/Last Slice on
Home/End, Measure's I/Q/O, the unit's U) work anywhere in the window, and Qt gives a shortcut the
key before the focused widget, unless that widget claims it on ``ShortcutOverride``. Line edits
claim typing and Home/End; item views, combo boxes, spin boxes and sliders claim nothing: PgDown
in the Dataset Browser's table (70 000 MNIST items) stepped the viewer's slice and the table's
row stayed put. Here every focused widget of those kinds claims the keys it uses:

* navigation keys (Home, End, PgUp, PgDown, arrows; with or without Shift/Ctrl): item views
  (tables, lists, trees), combo boxes, spin boxes, sliders, text fields and text areas;
* typing (a printable key, with or without Shift): text fields, text areas, spin boxes, combo
  boxes (an editable one types, the others find an entry by its first letters).

Item views do not claim typing: the panels give their tables single keys of their own (the
Browser's 0-9, A/R/F, C), bound to the table, which must keep working there. A widget that says
the viewer's keys are its own (``setProperty(VIEWER_KEYS, True)``, the slice bar under the
canvas) claims nothing: PgDown on the slice slider steps one slice like the menu says.

One filter follows the focus (installed on the focused widget, removed when it loses the focus):
a filter on the application would be a call into Python for every event of every object.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

VIEWER_KEYS = "qbi_viewer_keys"  # widget property: the window's viewer keys win here

NAVIGATION = frozenset(
    {
        Qt.Key.Key_Home,
        Qt.Key.Key_End,
        Qt.Key.Key_PageUp,
        Qt.Key.Key_PageDown,
        Qt.Key.Key_Up,
        Qt.Key.Key_Down,
        Qt.Key.Key_Left,
        Qt.Key.Key_Right,
    }
)
NAVIGATING = (
    QAbstractItemView,
    QComboBox,
    QAbstractSpinBox,
    QAbstractSlider,
    QLineEdit,
    QTextEdit,
    QPlainTextEdit,
)
TYPING = (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox, QComboBox)

_SELECTING = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
_TYPED = Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier


def _modifiers_within(event, allowed) -> bool:
    return not (event.modifiers() & ~(allowed | Qt.KeyboardModifier.KeypadModifier))


def owns_key(widget: QWidget, event) -> bool:
    """``widget`` (focused) uses the key of ``event`` itself: no window shortcut may take it."""
    if widget.property(VIEWER_KEYS):
        return False
    key = event.key()
    if key in NAVIGATION:
        return isinstance(widget, NAVIGATING) and _modifiers_within(event, _SELECTING)
    text = event.text()
    if not (text and text.isprintable() and _modifiers_within(event, _TYPED)):
        return False
    return owns_typing(widget)


def owns_typing(widget: QWidget) -> bool:
    """``widget`` takes typed characters: a text field or area, a spin box, a combo box."""
    if not isinstance(widget, TYPING):
        return False
    if isinstance(widget, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)):
        return not widget.isReadOnly()
    return True


class FocusKeys(QObject):
    """Claims, for the focused widget, the keys it uses (see the module's note); one per
    application, made by :func:`install`."""

    def __init__(self, app: QApplication):
        super().__init__(app)
        self.watched: QWidget | None = None
        app.focusChanged.connect(self._focus_changed)
        focused = app.focusWidget()
        if focused is not None:
            self._focus_changed(None, focused)

    def _focus_changed(self, old, new) -> None:
        if self.watched is not None:
            try:
                self.watched.removeEventFilter(self)
            except RuntimeError:  # deleted meanwhile
                pass
            self.watched = None
        if isinstance(new, NAVIGATING) and not new.property(VIEWER_KEYS):
            new.installEventFilter(self)
            self.watched = new

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.ShortcutOverride and owns_key(watched, event):
            event.accept()  # no shortcut: the key press goes to the widget
            return True
        return False


def install() -> FocusKeys | None:
    """The application's :class:`FocusKeys` (made on the first call)."""
    app = QApplication.instance()
    if app is None:
        return None
    found = app.findChild(FocusKeys, "", Qt.FindChildOption.FindDirectChildrenOnly)
    return found or FocusKeys(app)
