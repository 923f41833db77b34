"""The window's arrangement: the central tabs (the image, and pages such as baseline results)
and the default placement and sizes of the docks.

The default layout keeps the image canvas at least half the window wide at laptop (1366x768)
and desktop (1600x1000) sizes: browsing and display on the left (Files / Dataset Browser over
Levels / Info), the working panels on the right at the full window height (so their controls
fit without scrolling), and the Tasks / Log under the canvas only.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QTabBar, QTabWidget, QWidget

# The default arrangement: docks of one group share a place as tabs (the first one in front).
DEFAULT_TABS = {
    "left_top": ("files", "browser"),
    "left_bottom": ("levels", "info"),
    "right": ("annotate", "spots", "augment", "simulate", "baselines", "radiography"),
    "bottom": ("tasks",),
}
# Column widths as shares of the window width (the canvas keeps the rest, > 50 %).
LEFT_SHARE = 0.2
RIGHT_SHARE = 0.285  # with the tab strip down its right edge (26 px)
LEFT_MIN, RIGHT_MIN = 282, 386  # narrower than this the panels' rows no longer fit
CANVAS_SHARE = 0.5  # the canvas never gets less than this share when the layout makes room
LEVELS_HEIGHT = 320  # histogram, min/max, percentiles, colour map, options
# What the Browser keeps of the left column when it is in front (filters folded out and a
# dozen rows); Levels gets the rest up to LEVELS_HEIGHT, never less than all its controls.
BROWSER_ROOM = 560
TASKS_HEIGHT = 160  # a task or two and three lines of the log

IMAGE_PAGE = "image"


class CentralTabs(QTabWidget):
    """The central area: the image canvas ("Image", always the first tab) and result pages that
    panels add (closable; the tab bar shows only when there is more than the image)."""

    page_shown = Signal(str)

    def __init__(self, image_widget: QWidget, parent=None):
        super().__init__(parent)
        self.setDocumentMode(True)
        self.setTabBarAutoHide(True)
        self.setTabsClosable(True)
        self.pages: dict[str, QWidget] = {}
        self._titles: dict[str, str] = {}
        self._add(IMAGE_PAGE, "Image", image_widget)
        # The image cannot be closed: no close button on its tab.
        bar = self.tabBar()
        for side in (bar.ButtonPosition.RightSide, bar.ButtonPosition.LeftSide):
            button = bar.tabButton(0, side)
            if button is not None:
                button.resize(0, 0)
                bar.setTabButton(0, side, None)
        self.tabCloseRequested.connect(self._close_requested)
        self.currentChanged.connect(self._current_changed)

    def _add(self, key: str, title: str, widget: QWidget) -> None:
        self.pages[key] = widget
        self._titles[key] = title
        self.addTab(widget, title)

    def add_page(self, key: str, title: str, widget: QWidget) -> None:
        """Register a page; its tab appears the first time it is shown (:meth:`show_page`)."""
        self.pages[key] = widget
        self._titles[key] = title
        widget.setParent(self)
        widget.hide()

    def has_tab(self, key: str) -> bool:
        widget = self.pages.get(key)
        return widget is not None and self.indexOf(widget) >= 0

    def show_page(self, key: str) -> None:
        """Bring the page to the front, adding its tab if it is not there."""
        widget = self.pages[key]
        if self.indexOf(widget) < 0:
            self.addTab(widget, self._titles[key])
        self.setCurrentWidget(widget)

    def show_image(self) -> None:
        self.setCurrentIndex(0)

    def current_key(self) -> str:
        widget = self.currentWidget()
        return next((k for k, w in self.pages.items() if w is widget), "")

    def step(self, delta: int) -> None:
        if self.count() > 1:
            self.setCurrentIndex((self.currentIndex() + delta) % self.count())

    def _close_requested(self, index: int) -> None:
        if index > 0:  # the image stays
            self.removeTab(index)

    def _current_changed(self, _index: int) -> None:
        self.page_shown.emit(self.current_key())


def install_central_actions(window) -> None:
    """View-menu actions to go between the image and the result pages (one key each way)."""
    view = window.menus["view"]
    view.addSeparator()
    tabs = window.central_tabs
    window.add_action("Show &Image", tabs.show_image, "Alt+1", view, "The image canvas")
    window.add_action(
        "Next Central &Tab", lambda: tabs.step(1), "Alt+2", view, "Image / result pages"
    )
    # A document shown (opened, picked in Files, opened from a result) is there to be looked at.
    window.document_shown.connect(lambda _doc: tabs.show_image())


def _group(window, names) -> list:
    return [window.docks[n] for n in names if n in window.docks]


def arrange_default_layout(window) -> None:
    """Place the docks in their default groups and sizes (see the module's note)."""
    left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
    bottom = Qt.DockWidgetArea.BottomDockWidgetArea
    # The side columns run the full height; the Tasks / Log sits under the canvas only.
    window.setCorner(Qt.Corner.BottomLeftCorner, left)
    window.setCorner(Qt.Corner.BottomRightCorner, right)
    window.setCorner(Qt.Corner.TopLeftCorner, left)
    window.setCorner(Qt.Corner.TopRightCorner, right)
    # The job panels' tabs run down the right edge: six or more titles never fit side by side
    # in a 360 px column (they were elided to "An…", "S…"), but they fit one under the other.
    window.setTabPosition(right, QTabWidget.TabPosition.East)
    groups = ((left, "left_top"), (left, "left_bottom"), (right, "right"), (bottom, "bottom"))
    # Start from nothing: tab groups the panels formed while installing would otherwise linger.
    for dock in window.docks.values():
        window.removeDockWidget(dock)
    placed = []
    for area, key in groups:
        docks = _group(window, DEFAULT_TABS[key])
        if not docks:
            continue
        for dock in docks:
            dock.setFloating(False)
        window.addDockWidget(area, docks[0], Qt.Orientation.Vertical)
        for dock in docks[1:]:
            window.tabifyDockWidget(docks[0], dock)
        placed.append(docks)
    for docks in placed:
        for dock in docks:
            dock.show()
        docks[0].raise_()
    raise_docks_in_use(window)
    # Docks of no default group (a panel added later) join the right column.
    grouped = {n for names in DEFAULT_TABS.values() for n in names}
    for name, dock in window.docks.items():
        if name not in grouped:
            window.addDockWidget(right, dock)
            dock.show()
    size_default_layout(window)
    _follow_left_tabs(window)
    hide_stale_tab_bars(window)
    QTimer.singleShot(0, lambda: hide_stale_tab_bars(window))  # after the layout is applied


def raise_docks_in_use(window) -> None:
    """Of a default tab group, the dock the user works in goes in front of the group's first:
    with a project open the Dataset Browser, not the Files list (a Reset Layout with a
    project open showed Files, the project's items one click away)."""
    browser = window.docks.get("browser")
    if browser is not None and getattr(window, "project_is_open", False):
        if not browser.isFloating():
            browser.show()
            browser.raise_()


def hide_stale_tab_bars(window) -> None:
    """Hide the main window's dock tab bars that no longer show a tab group: Qt keeps the bar
    of a group its docks left (``removeDockWidget``) and may leave it visible, drawn over the
    menu bar or a panel with the old titles (e.g. "Levels / Histogram | Augment")."""
    groups = set()
    for dock in window.findChildren(QDockWidget):
        if dock.parent() is window and not dock.isFloating() and dock.isVisible():
            mates = [dock, *window.tabifiedDockWidgets(dock)]
            if len(mates) > 1:
                groups.add(frozenset(d.windowTitle() for d in mates))
    for bar in window.findChildren(QTabBar):
        if bar.parent() is not window or not bar.isVisible():
            continue  # a QTabWidget's own bar, or hidden already
        titles = frozenset(bar.tabText(i) for i in range(bar.count()))
        if not titles or titles not in groups:
            bar.hide()


def _follow_left_tabs(window) -> None:
    """The Browser's table needs height and the Files list little: the Browser in front of
    the left column keeps :data:`BROWSER_ROOM` of it and Levels gets the rest, up to its usual
    height (a 1000 px screen) and down to the least that shows all its controls and a smaller
    histogram (a laptop); Files in front gives Levels its room back."""
    docks = window.docks
    if getattr(window, "_left_tabs_followed", False) or not {"browser", "files", "levels"} <= set(
        docks
    ):
        return
    window._left_tabs_followed = True

    def front(name: str, visible: bool) -> None:
        levels = docks["levels"]
        if not visible or window.dockWidgetArea(docks[name]) != window.dockWidgetArea(levels):
            return
        # Measured after the tab switch is laid out (a resize during it is undone by the
        # layout, and sizes read during it are stale: a restored layout lost ~15 px of Levels
        # at every restart until its last row was cut and both scroll bars showed).
        QTimer.singleShot(0, lambda: _size_levels(window, name))

    docks["browser"].visibilityChanged.connect(lambda v: front("browser", v))
    docks["files"].visibilityChanged.connect(lambda v: front("files", v))

    # floating, it is the user's to size; docked again beside the Browser, its least again
    def floated(floating: bool) -> None:
        if floating:
            docks["levels"].setMinimumHeight(0)
        else:
            QTimer.singleShot(0, lambda: _size_levels(window, "browser"))

    docks["levels"].topLevelChanged.connect(floated)


def levels_least_height(window) -> int:
    """The Levels dock's height that shows all of its panel without scrolling."""
    levels = window.docks["levels"]
    area = levels.widget()
    # the title bar above the panel (its position: stable while a resize is pending) and the
    # scroll area's frame, with a pixel of slack each side
    overhead = area.y() + 2 * area.frameWidth() + 2
    return area.widget().minimumSizeHint().height() + overhead


def _size_levels(window, name: str) -> None:
    docks = window.docks
    levels = docks["levels"]
    if window.dockWidgetArea(docks[name]) != window.dockWidgetArea(levels):
        return
    least = levels_least_height(window)
    # never less while docked: the Browser's panel grows when a project opens (the target
    # row, the suggestions' lines) and the column took that from Levels, under its last row
    levels.setMinimumHeight(0 if levels.isFloating() else least)
    if name == "browser":
        spare = docks["browser"].height() + levels.height() - BROWSER_ROOM
        height = max(least, min(LEVELS_HEIGHT, spare))
    else:
        height = max(least, LEVELS_HEIGHT)
    if height != levels.height():
        window.resizeDocks([levels], [height], Qt.Orientation.Vertical)


def size_default_layout(window, width: int | None = None) -> None:
    """Give the default columns their shares of ``width`` (the window's, by default)."""
    width = width or window.width()
    heads = {key: _group(window, names)[:1] for key, names in DEFAULT_TABS.items()}
    lt, lb, rt = heads["left_top"], heads["left_bottom"], heads["right"]
    if lt and rt:
        window.resizeDocks(
            [lt[0], rt[0]],
            [max(LEFT_MIN, int(width * LEFT_SHARE)), max(RIGHT_MIN, int(width * RIGHT_SHARE))],
            Qt.Orientation.Horizontal,
        )
    if lt and lb:
        # Sizes given for both would be scaled to their sum: give the levels theirs alone.
        window.resizeDocks([lb[0]], [LEVELS_HEIGHT], Qt.Orientation.Vertical)
    if heads["bottom"]:
        window.resizeDocks(heads["bottom"], [TASKS_HEIGHT], Qt.Orientation.Vertical)


def side_room(window, dock) -> int:
    """The widest ``dock`` (in a side column) may become while the canvas keeps its share of the
    window: its width plus what the central area has beyond that share (measured, so tab strips
    and separators are counted whatever their size)."""
    canvas = -(-window.width() * CANVAS_SHARE // 1)  # rounded up
    # the canvas itself when shown (the central tabs' frame takes a few pixels of the area)
    shown = window.canvas.width() if window.canvas.isVisible() else window.centralWidget().width()
    spare = shown - int(canvas) - 8
    return max(dock.width(), dock.width() + spare)
