"""The window's docks: the viewer's own (files, levels, info, tasks) and ``add_dock`` for panels."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QListWidget,
    QScrollArea,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.gui.docks.info import InfoPanel
from qbi_desktop.gui.docks.levels import LevelsPanel
from qbi_desktop.gui.docks.tasks import QtLogHandler, TasksPanel
from qbi_desktop.gui.layout import arrange_default_layout
from qbi_desktop.gui.window.keys import owns_typing


class _NoHeightForWidth(QVBoxLayout):
    """A layout that does not pass its content's height-for-width on: a scroll area asks for
    that height, computed from the content's *preferred* sizes, and made a panel with wrapped
    text scroll (and lose its right edge to the scroll bar) while its least size fitted."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt's name
        return False


def _fit_to_view(panel: QWidget) -> QWidget:
    holder = QWidget()
    layout = _NoHeightForWidth(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(panel)
    return holder


class DocksMixin:
    """Docks of a ``QMainWindow``: ``self.docks`` by name, each toggled in View > Panels."""

    def _build_docks(self) -> None:
        self.files_list = QListWidget()
        self.files_list.setToolTip("Open images: click to show, Delete to close")
        self.levels_panel = LevelsPanel()
        self.info_panel = InfoPanel()
        self.tasks_panel = TasksPanel(self.tasks)
        self.docks: dict[str, QDockWidget] = {}
        self.dock_panels: dict[str, QWidget] = {}  # the panel each dock holds
        # A click on a dock's tab gives that panel the keyboard (its single keys work at once)
        self.window_input.add((QEvent.Type.MouseButtonPress,), self._dock_tab_pressed)
        for name, title, widget, area in (
            ("files", "Files", self.files_list, Qt.DockWidgetArea.LeftDockWidgetArea),
            (
                "levels",
                "Levels / Histogram",
                self.levels_panel,
                Qt.DockWidgetArea.RightDockWidgetArea,
            ),
            ("info", "Info", self.info_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            ("tasks", "Tasks / Log", self.tasks_panel, Qt.DockWidgetArea.BottomDockWidgetArea),
        ):
            self.add_dock(name, title, widget, area)
        self.resizeDocks([self.docks["files"]], [220], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["levels"]], [340], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["tasks"]], [150], Qt.Orientation.Vertical)
        # never squeezed below a task's row and the log's least lines (a layout saved with a
        # lower dock showed a line and a half of the log, often not the newest)
        tasks_area = self.docks["tasks"].widget()
        tasks_area.setMinimumHeight(self.tasks_panel.minimumSizeHint().height())
        self.log_handler = QtLogHandler()
        self.log_handler.bridge.line.connect(self.tasks_panel.append_log)
        logging.getLogger("qbi_desktop").addHandler(self.log_handler)
        logging.getLogger("qbi_desktop").setLevel(logging.INFO)

    def add_dock(self, name: str, title: str, widget: QWidget, area) -> QDockWidget:
        """Add a dock panel: it gets a toggle in View > Panels and joins the saved layout."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")
        # A scroll area lets a dock shrink below its content's minimum size, so many panels fit
        # on a laptop screen; the content scrolls instead of forcing the window to grow.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(_fit_to_view(widget))
        dock.setWidget(scroll)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        self.window_input.watch_dock(dock)  # its wheel and presses, also when it floats
        self.docks[name] = dock
        self.dock_panels[name] = widget
        if hasattr(self, "panels_menu"):
            self.panels_menu.addAction(dock.toggleViewAction())
        return dock

    # -- the keyboard follows a click on a dock's tab --------------------------------------------
    # A panel's single keys (Annotate's B/E/W/…, Spots' A/R/N/P, Augment's R) work while the
    # keyboard is in that panel (or on the canvas): other panels use the same letters. Clicking
    # a tab of docks grouped as tabs showed the panel but left the keyboard where it was (in the
    # Browser's table, say), so W after clicking the Annotate tab did nothing and the next drag
    # panned. A click on a tab is the user going to that panel: the keyboard goes with it.
    def _dock_tab_pressed(self, target, event) -> bool:
        if (
            event.button() != Qt.MouseButton.LeftButton
            or not isinstance(target, QTabBar)
            or target.parentWidget() is not self  # the main window's dock tabs only
        ):
            return False
        index = target.tabAt(target.mapFrom(self, event.position().toPoint()))
        title = target.tabText(index).replace("&", "") if index >= 0 else ""
        for name, dock in self.docks.items():
            if dock.windowTitle().replace("&", "") == title and not dock.isFloating():
                # after the press has brought the dock to the front
                QTimer.singleShot(0, self, lambda name=name: self.focus_dock(name))
                break
        return False  # the tab bar still gets the press

    def focus_dock(self, name: str) -> None:
        """The keyboard to panel ``name``: to the widget of it that had it last (the Browser's
        table), unless that one takes typing (a text field would swallow the panel's letter
        keys), else to the panel itself. Left where it is if it is in the panel already."""
        dock = self.docks.get(name)
        panel = self.dock_panels.get(name)
        if dock is None or panel is None or not dock.isVisible():
            return
        focused = self.focusWidget() if self.isActiveWindow() else None
        if focused is not None and dock.isAncestorOf(focused):
            return
        last = dock.focusWidget()
        if (
            last is not None
            and dock.isAncestorOf(last)
            and last.isVisible()
            and last.isEnabled()
            and not owns_typing(last)
        ):
            last.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            panel.setFocus(Qt.FocusReason.OtherFocusReason)

    def _arrange_default_layout(self) -> None:
        """Group the docks as tabs: browsing and levels on the left, the jobs on the right."""
        arrange_default_layout(self)
