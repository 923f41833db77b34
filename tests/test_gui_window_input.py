"""The window's input handlers (gui/window_input.py): they see the presses and the wheel of the
main window and of a floating dock, with the widget under the pointer, and nothing else.

Events are delivered to the window's QWindow, as the platform delivers them; Qt then hands them
to the widget under the pointer, as it does for a user's click.
"""

from __future__ import annotations

from gui_window_events import click_through_window, wheel_through_window
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication, QPushButton

from qbi_desktop.gui.undo import UndoContext


def test_a_press_in_a_floating_dock_reaches_the_handler_with_the_widget_under_it(
    qtbot, main_window
):
    seen = []
    hub = main_window.window_input
    hub.add((QEvent.Type.MouseButtonPress,), lambda widget, event: seen.append(widget) or False)
    dock = main_window.docks["tasks"]
    dock.show()
    dock.setFloating(True)
    qtbot.waitUntil(lambda: dock.windowHandle() is not None and dock.isVisible(), timeout=3000)
    QApplication.processEvents()
    target = main_window.tasks_panel.table.viewport()
    click_through_window(target)
    assert seen == [target]
    # and in the main window itself
    seen.clear()
    click_through_window(main_window.files_list.viewport())
    assert seen == [main_window.files_list.viewport()]


def test_a_handler_that_takes_the_event_keeps_it_from_the_widget(qtbot, main_window):
    clicked = []
    button = QPushButton("press me", main_window.files_list)
    button.move(5, 5)
    button.show()
    button.clicked.connect(lambda: clicked.append(1))
    QApplication.processEvents()
    click_through_window(button)
    assert clicked == [1]  # nothing in the way yet
    main_window.window_input.add(
        (QEvent.Type.MouseButtonPress,), lambda widget, event: widget is button
    )
    click_through_window(button)
    assert clicked == [1]  # the press was taken: no click


def test_paints_timers_and_queued_calls_never_reach_python(qtbot, main_window):
    """The reason for the module: no call into Python for events other than input. Counted by
    a handler for every input type while the window repaints and timers run."""
    calls = []
    hub = main_window.window_input
    hub.add(tuple(hub.handlers), lambda widget, event: calls.append(event.type()) or False)
    for _ in range(5):
        main_window.update()
        main_window.canvas.viewport().repaint()
        qtbot.wait(20)
    assert calls == []
    assert wheel_through_window(main_window.files_list.viewport())
    assert calls == [QEvent.Type.Wheel]


def test_undo_follows_a_press_into_a_context_that_takes_no_focus(qtbot, main_window):
    """A context whose widget never takes focus becomes current when pressed in."""
    from qbi_desktop.gui.undo import undo_router

    router = undo_router(main_window)
    button = QPushButton("no focus")
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    main_window.statusBar().addWidget(button)  # nothing around it takes focus either
    button.show()
    QApplication.processEvents()
    context = router.register(
        UndoContext(
            "Test", lambda: [button], lambda: "a change", lambda: None, lambda: None, lambda: None
        )
    )
    assert router.active() is not context
    focus = QApplication.focusWidget()
    click_through_window(button)
    assert QApplication.focusWidget() is focus  # focus did not move: the press did it
    assert router.active() is context
