"""The Browser table's columns: widths fitted to what they show, and the columns the user hides.

The dock is ~280 px wide on a laptop (1366x768): the thumbnail, the ID, the label and the name
come first and fit it (the label as wide as its class names, the name narrowed to the dock's
edge and elided in the middle, :meth:`ItemTable.fit_name_column`); the other columns follow,
each as wide as its title and its widest text on the rows loaded, up to a sensible maximum (a
long source path is elided, not given 400 px). A column the user resizes with the mouse keeps
the width given.

A right click on the header lists every column with a check box: a column unchecked is hidden,
and stays hidden in the next session (``browser/hidden_columns`` in the settings, by title).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QHeaderView, QMenu

from qbi_desktop.gui.docks.browser_model import COL_ID, COL_LABEL, COL_NAME, COLUMNS
from qbi_desktop.gui.docks.browser_table import LABEL_WIDTH
from qbi_desktop.gui.settings import read_list

HIDDEN_KEY = "browser/hidden_columns"
#: widest each column is made to fit its text (px); the others keep the width they are given
CONTENT_MAX = {
    COL_LABEL: LABEL_WIDTH,  # class names read whole up to it ("calibration", "reference")
    COL_NAME: 240,  # then narrowed to the edge of a narrow dock
    COL_ID: 70,
    4: 80,  # Split
    5: 90,  # Review
    6: 100,  # Provenance
    7: 60,  # Mask
    8: 60,  # Boxes
    9: 90,  # Size
    10: 110,  # Annotator
    12: 220,  # Source
}
SORT_ARROW = 26  # room for the sort indicator beside a title
PADDING = 12  # a cell's margins around its text
SAMPLE_ROWS = 200  # rows measured (the first page)


def column_title(column: int) -> str:
    """The column's name as the header menu shows it (the thumbnail's header is empty)."""
    title, _key, tip = COLUMNS[column]
    return title or tip


class ColumnLayout:
    """Fits the widths of ``table``'s columns to their content, and hides the columns the user
    unchecks in the header's context menu (remembered in ``settings``)."""

    def __init__(self, table, settings):
        self.table = table
        self.settings = settings
        self.header: QHeaderView = table.horizontalHeader()
        self.user_sized: set[int] = set()  # resized with the mouse: left as the user made them
        self._fitting = False
        self.header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.header.customContextMenuRequested.connect(self.show_menu)
        self.header.sectionResized.connect(self._resized)
        self.menu: QMenu | None = None  # the open context menu (tests find it here)
        hidden = set(read_list(settings, HIDDEN_KEY, len(COLUMNS)))
        for column in range(len(COLUMNS)):
            if column_title(column) in hidden:
                self.header.setSectionHidden(column, True)
        self._fit_timer = QTimer(table)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(self.fit_to_content)
        model = table.model()
        model.modelReset.connect(self.fit_to_content)  # at once: before anything is measured
        model.rowsInserted.connect(lambda *_a: self._fit_timer.start())

    # -- widths ------------------------------------------------------------------------------------
    def _resized(self, column: int, _old: int, _new: int) -> None:
        if not self._fitting and QApplication.mouseButtons() & Qt.MouseButton.LeftButton:
            self.user_sized.add(column)
            if column == COL_NAME:
                self.table.name_wanted = None

    def fit_to_content(self) -> None:
        """Each fitted column as wide as its title (with the sort arrow) and its widest text on
        the first rows, up to its maximum; then the name is fitted to the dock again."""
        model = self.table.model()
        if model is None:
            return
        metrics = self.table.fontMetrics()
        titles = self.header.fontMetrics()
        rows = min(model.rowCount(), SAMPLE_ROWS)
        self._fitting = True
        try:
            for column, most in CONTENT_MAX.items():
                if column in self.user_sized or self.header.isSectionHidden(column):
                    continue
                title = str(model.headerData(column, Qt.Orientation.Horizontal) or "")
                width = titles.horizontalAdvance(title) + SORT_ARROW
                for row in range(rows):
                    text = model.data(model.index(row, column), Qt.ItemDataRole.DisplayRole)
                    if text:
                        width = max(width, metrics.horizontalAdvance(str(text)) + PADDING)
                        if width >= most:
                            break
                if column == COL_NAME:  # fitted to the dock's edge by the table
                    self.table.name_wanted = min(width, most)
                else:
                    self.header.resizeSection(column, min(width, most))
            self.table.fit_name_column(grow=True)
        finally:
            self._fitting = False

    # -- hiding ----------------------------------------------------------------------------------
    def hidden(self) -> list[int]:
        return [c for c in range(len(COLUMNS)) if self.header.isSectionHidden(c)]

    def set_hidden(self, column: int, hide: bool) -> None:
        """Hide or show ``column`` and remember the hidden ones; the last shown column stays."""
        if hide and len(self.hidden()) >= len(COLUMNS) - 1:
            return
        self.header.setSectionHidden(column, hide)
        self.settings.setValue(HIDDEN_KEY, [column_title(c) for c in self.hidden()])
        if not hide:
            self._fit_timer.start()
        self.table.fit_name_column()

    def build_menu(self) -> QMenu:
        """One check box per column, in the order the header shows them."""
        menu = QMenu(self.table)
        shown = len(COLUMNS) - len(self.hidden())
        for visual in range(self.header.count()):
            column = self.header.logicalIndex(visual)
            action = menu.addAction(column_title(column))
            action.setCheckable(True)
            visible = not self.header.isSectionHidden(column)
            action.setChecked(visible)
            action.setEnabled(not (visible and shown == 1))  # one column always shows
            action.setToolTip(COLUMNS[column][2])
            action.toggled.connect(lambda on, c=column: self.set_hidden(c, not on))
        menu.setToolTipsVisible(True)
        return menu

    def show_menu(self, pos: QPoint) -> QMenu:
        self.menu = self.build_menu()
        self.menu.aboutToHide.connect(lambda: setattr(self, "menu", None))
        self.menu.popup(self.header.mapToGlobal(pos))
        return self.menu
