"""Small things a new user trips over in the viewer: the wheel over docks, message boxes and
focus, same-named files, the empty window, the Help menu."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollArea,
    QScrollBar,
)


def _wheel(widget, steps: int = -1) -> None:
    """One notch of the mouse wheel over the middle of ``widget`` (negative: scroll down)."""
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def _value(widget):
    if isinstance(widget, QComboBox):
        return widget.currentIndex()
    if isinstance(widget, QAbstractSpinBox):
        return widget.text()
    return widget.value()


def test_wheel_over_dock_controls_scrolls_instead_of_changing_them(qtbot, main_window):
    dock = main_window.docks["levels"]
    dock.setFloating(True)
    dock.resize(320, 140)  # the panel is taller than this: its scroll area scrolls
    QApplication.processEvents()
    scroll = dock.widget()
    assert isinstance(scroll, QScrollArea)
    bar = scroll.verticalScrollBar()
    assert bar.maximum() > 0
    cmap = main_window.levels_panel.cmap
    scroll.ensureWidgetVisible(cmap)
    bar.setValue(0)
    before = cmap.currentIndex()
    _wheel(cmap, -1)
    assert cmap.currentIndex() == before, "the wheel changed the colour map while scrolling"
    assert bar.value() > 0, "the dock did not scroll"
    assert not cmap.hasFocus()
    # with focus (clicked or tabbed into) the wheel does change it
    cmap.setFocus(Qt.FocusReason.TabFocusReason)
    _wheel(cmap, -1)
    assert cmap.currentIndex() == before + 1


def test_wheel_changes_no_control_in_any_dock(qtbot, main_window):
    QApplication.processEvents()
    kinds = (QComboBox, QAbstractSpinBox, QAbstractSlider)
    changed = []
    seen = 0
    for name, dock in main_window.docks.items():
        controls = [c for kind in kinds for c in dock.findChildren(kind)]
        for control in controls:
            if isinstance(control, QScrollBar) or not control.isEnabled():
                continue
            seen += 1
            before = _value(control)
            for steps in (-1, 1, 1):
                _wheel(control, steps)
                if _value(control) != before:
                    changed.append(f"{name}: {type(control).__name__} {control.objectName()}")
                    break
    assert seen >= 10
    assert changed == []
