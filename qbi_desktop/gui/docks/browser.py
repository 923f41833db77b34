"""The Dataset Browser dock and the Dataset menu.

A project's items in a fast table (filter, sort, thumbnails), labelled and reviewed from the
keyboard: 0-9 give the class at that position of the class list, Backspace clears it, A
accepts, R rejects, F flags for editing, N edits the notes, and the selection moves to the next
item, so a folder is labelled without the mouse; Ctrl+Z / Ctrl+Shift+Z in the Browser undo and
redo these edits (browser_edits.py, gui/undo.py). Double-click (or Enter) opens the item in the
viewer with its mask in the Annotate dock, where it is corrected with the brush and saved back
into the project (Ctrl+S) under the browser's annotator name; the item's row follows. The
Montage tab shows the selection (or every item shown) as a grid, 100 per page; the Balance tab
shows the class distribution per split, imbalance ratios, warnings, regression target
histograms and duplicate images.

Everything slow runs through ``window.tasks`` on a worker with its own catalog connection
(imports, exports, splits, statistics, thumbnails, montages); the GUI thread only reads pages of
the catalog, which take milliseconds.

This module assembles the panel (its widgets and layout) from mixins, one job each: the
project (browser_project.py), the count and detail lines (browser_detail.py), the Dataset menu
(browser_menu.py), filters (browser_filters.py), keyboard edits and undo (browser_edits.py),
opening items (browser_open.py), classes (browser_classes.py), targets (browser_targets.py),
import/export (browser_io.py) and the Montage and Balance tabs (browser_tabs.py).
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.catalog import (
    Project,
    open_project,
)
from qbi_desktop.core.jobs import Job
from qbi_desktop.gui.docks.browser_classes import BrowserClasses
from qbi_desktop.gui.docks.browser_columns import ColumnLayout
from qbi_desktop.gui.docks.browser_detail import BrowserDetail
from qbi_desktop.gui.docks.browser_edits import BrowserEdits
from qbi_desktop.gui.docks.browser_filters import BrowserFilters
from qbi_desktop.gui.docks.browser_io import BrowserTransfer
from qbi_desktop.gui.docks.browser_menu import BrowserMenu
from qbi_desktop.gui.docks.browser_model import (
    COL_ID,
    COL_LABEL,
    COL_NAME,
    COL_TARGETS,
    COL_THUMB,
    ICON_SIZE,
    ItemTableModel,
)
from qbi_desktop.gui.docks.browser_open import BrowserOpening
from qbi_desktop.gui.docks.browser_project import NO_PROJECT, BrowserProject
from qbi_desktop.gui.docks.browser_repair import BrowserRepair
from qbi_desktop.gui.docks.browser_table import LABEL_WIDTH, ItemTable, LabelDelegate
from qbi_desktop.gui.docks.browser_tabs import BrowserTabs, montage_array  # noqa: F401 (API)
from qbi_desktop.gui.docks.browser_targets import BrowserTargets
from qbi_desktop.gui.docks.browser_thumbs import ThumbnailDelegate
from qbi_desktop.gui.docks.browser_views import (
    BalanceView,
    MontageView,
)
from qbi_desktop.gui.steady_line import SteadyLine

MIN_TABLE_ROWS = 4  # thumbnail rows the folded-out filters leave the table (a 1366x768 screen)
FILTERS_LEAST = 56  # px: the filters' area never less (two rows of combos, then it scrolls)


def install(window) -> BrowserPanel:
    panel = BrowserPanel(window)
    window.add_dock("browser", "Dataset Browser", panel, Qt.DockWidgetArea.LeftDockWidgetArea)
    panel.build_menu()
    panel.connect_annotate()
    from qbi_desktop.gui.docks import browser_suggest

    browser_suggest.install(panel)  # suggested classes, Enter accepts, the label-next queue
    return panel


def own_project_job(root: Path, make: Callable[[Project], Job[Any]]) -> Job[Any]:
    """Run a project job on a worker with the worker's own Project (its own connection)."""
    project = open_project(root)
    try:
        return (yield from make(project))
    finally:
        project.close()


class BrowserPanel(
    BrowserProject,
    BrowserRepair,
    BrowserDetail,
    BrowserMenu,
    BrowserFilters,
    BrowserEdits,
    BrowserOpening,
    BrowserClasses,
    BrowserTargets,
    BrowserTransfer,
    BrowserTabs,
    QWidget,
):
    """The Browser dock's widget; see the module docstring."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.project: Project | None = None
        self.balance_dirty = True
        self.annotator = str(window.settings.value("browser/annotator", "") or _user())
        self.model = ItemTableModel(self)
        self.model.run_task = self._submit_thumbnails
        self._montage_task = None
        self._annotate_connected = False
        self._stats_task = None

        # -- project line and filters
        self.project_label = QLabel(NO_PROJECT)
        # one line, clipped in a narrow dock (the full path is its tooltip): a long path without
        # spaces must not set the whole panel's minimum width
        self.project_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.label_filter = QComboBox()
        self.split_filter = QComboBox()
        self.review_filter = QComboBox()
        self.provenance_filter = QComboBox()
        self.name_filter = QLineEdit()
        self.name_filter.setPlaceholderText("name contains…")
        self.name_filter.setClearButtonEnabled(True)
        self.duplicates_only = QCheckBox("Duplicates")
        self.duplicates_only.setToolTip("Only items whose image occurs more than once")
        self.count_label = QLabel("")
        self._ids_filter: list[int] | None = None  # set by "show these items" (duplicates)
        for combo in (
            self.label_filter,
            self.split_filter,
            self.review_filter,
            self.provenance_filter,
        ):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentIndexChanged.connect(self._filters_changed)
        self._name_timer = QTimer(self)
        self._name_timer.setSingleShot(True)
        self._name_timer.setInterval(200)
        self._name_timer.timeout.connect(self._filters_changed)
        self.name_filter.textChanged.connect(lambda _t: self._name_timer.start())
        self.duplicates_only.toggled.connect(self._filters_changed)
        self._fill_filter_combos()

        self.classes_edit = QLineEdit()
        self.classes_edit.setPlaceholderText("class names, comma-separated: key 0 = first")
        self.classes_edit.setToolTip(
            "Keys 0-9 in the table give the class at that position; C class picker for any "
            "class (also /); Backspace clear the label; A accept, R reject, F flag for editing; "
            "Enter opens the item (on the Targets column: types the target, as F2 does)"
        )
        # the list reads from its first class (not scrolled to its end) unless being typed in
        self.classes_edit.textChanged.connect(self._classes_from_start)
        self.classes_edit.returnPressed.connect(self.classes_entered)  # before editingFinished
        self.classes_edit.editingFinished.connect(self._classes_edited)

        # -- the table
        self.table = ItemTable()
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names differ at their ends
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self.table.setIconSize(pg.QtCore.QSize(ICON_SIZE, ICON_SIZE))
        self.thumb_delegate = ThumbnailDelegate(self.table)  # a selected row's thumbnail untinted
        self.table.setItemDelegateForColumn(COL_THUMB, self.thumb_delegate)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        vh = self.table.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row measuring
        vh.setDefaultSectionSize(ICON_SIZE + 4)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.resizeSection(COL_THUMB, ICON_SIZE + 10)
        hh.resizeSection(1, 60)
        hh.resizeSection(COL_NAME, 150)
        titles = hh.fontMetrics()
        for col, width in ((3, 60), (4, 50), (5, 80), (6, 80), (7, 45), (8, 45), (9, 70)):
            title = str(self.model.headerData(col, Qt.Orientation.Horizontal) or "")
            # never narrower than its title and the sort arrow
            hh.resizeSection(col, max(width, titles.horizontalAdvance(title) + 26))
        hh.setStretchLastSection(True)
        # labelling in a ~280 px dock (a laptop's): the picture, its ID, its label (or its
        # suggested class, LabelDelegate) and the name come first, then the Suggested column
        # (placed after the name by browser_suggest, for sorting and wider docks)
        hh.resizeSection(COL_LABEL, LABEL_WIDTH)
        self.table.setItemDelegateForColumn(COL_LABEL, LabelDelegate(self.table))
        hh.moveSection(hh.visualIndex(COL_LABEL), hh.visualIndex(COL_THUMB) + 1)
        hh.moveSection(hh.visualIndex(COL_NAME), hh.visualIndex(COL_LABEL) + 1)
        # the ID, a short number, beside the picture: in view in a narrow dock (after the name
        # it was reached only by scrolling); widths fitted to the content and columns hidden
        # from the header's menu: browser_columns.py
        hh.moveSection(hh.visualIndex(COL_ID), hh.visualIndex(COL_THUMB) + 1)
        self.columns = ColumnLayout(self.table, window.settings)
        # a double-click on the Targets cell types a value there instead
        self.table.doubleClicked.connect(
            lambda index: index.column() == COL_TARGETS or self.open_item(index.row())
        )
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._table_menu)
        selection = self.table.selectionModel()
        selection.currentRowChanged.connect(self._current_changed)
        selection.selectionChanged.connect(self._selection_changed)
        self.model.reloaded.connect(self._reloaded)
        self.model.modelReset.connect(self._say_when_empty)
        self._install_keys()
        self._install_undo()
        self._install_targets()

        # one line (clipped in a narrow dock; the tooltip has it all): a wrapping line would
        # change its height from item to item and lay the whole panel out again on every key
        self.detail = QLabel("")
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setText(NO_PROJECT)

        items_tab = QWidget()
        items_layout = QVBoxLayout(items_tab)
        items_layout.setContentsMargins(0, 0, 0, 0)
        items_layout.setSpacing(2)
        items_layout.addWidget(self.table, 1)
        # set at every key: held so that its new text does not lay the panel out again
        self.detail_line = SteadyLine(self.detail)
        items_layout.addWidget(self.detail_line)
        self.items_layout = items_layout  # the suggestions bar goes above the detail line

        self.montage = MontageView()
        self.montage.open_in_viewer.connect(self.open_montage_in_viewer)
        self.montage.page_changed.connect(lambda _p: self._montage_timer_start())
        self._montage_pool: tuple[str, int] | None = None
        self.balance = BalanceView()
        self.balance.refresh_requested.connect(self.refresh_balance)
        self.balance.show_ids.connect(self.show_ids)
        self.tabs = QTabWidget()
        self.tabs.addTab(items_tab, "Items")
        self.tabs.addTab(self.montage, "Montage")
        # In a scroll area: its plots' least heights would otherwise be the whole panel's and
        # make the Items table scroll with the filters on a laptop screen.
        self.balance_page = QScrollArea()
        self.balance_page.setWidgetResizable(True)
        self.balance_page.setFrameShape(QFrame.Shape.NoFrame)
        self.balance_page.setWidget(self.balance)
        self.tabs.addTab(self.balance_page, "Balance")
        self.tabs.currentChanged.connect(self._tab_changed)

        # The header is one row, the tab bar's: the filters, the name search and the class list
        # fold out under the Filters button (a laptop screen shows >= 6 thumbnail rows), its
        # text saying how many filters are on; the project and the item count are its tooltip.
        filters = QGridLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        filters.setVerticalSpacing(2)
        # no row of its own: at 1366x768 the folded-out filters left ~3 table rows; the
        # project is in the window title and the Filters button's tooltip
        self.project_label.setParent(self)
        self.project_label.hide()
        for n, w in enumerate(
            (self.label_filter, self.split_filter, self.review_filter, self.provenance_filter)
        ):
            filters.addWidget(w, n // 2, n % 2)
            # narrow docks: the combos give way before the name field does
            w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            w.setMinimumContentsLength(6)
        self.name_filter.setMinimumWidth(60)
        names = QHBoxLayout()
        # their own spacing: the grid's (-1, its two spacings differ) left none, and "Classes"
        # ran into the class list ("Classeseference,plate,…")
        names.setSpacing(6)
        names.addWidget(self.name_filter, 1)
        names.addWidget(self.duplicates_only)
        filters.addLayout(names, 2, 0, 1, 2)
        classes = QHBoxLayout()
        classes.setSpacing(6)
        classes.addWidget(QLabel("Classes"))
        classes.addWidget(self.classes_edit, 1)
        classes.addWidget(self.count_label)
        filters.addLayout(classes, 3, 0, 1, 2)
        self.filter_box = QWidget()
        self.filter_box.setLayout(filters)
        self.filter_box.setVisible(False)
        # in a scroll area as tall as the panel can spare: folded out on a laptop screen the
        # filters left the table ~3 rows; now it keeps MIN_TABLE_ROWS and the filters scroll
        self.filter_area = QScrollArea()
        self.filter_area.setWidgetResizable(True)
        self.filter_area.setFrameShape(QFrame.Shape.NoFrame)
        self.filter_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.filter_area.setWidget(self.filter_box)
        self.filter_area.setVisible(False)
        self.filters_button = QToolButton()
        self.filters_button.setText("Filters")
        self.filters_button.setCheckable(True)
        self.filters_button.setArrowType(Qt.ArrowType.DownArrow)
        self.filters_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.filters_button.setAutoRaise(True)
        self.filters_button.toggled.connect(self.show_filters)
        corner = QWidget()  # the tab widget places a bare button 1 px above its own top
        corner_row = QHBoxLayout(corner)
        corner_row.setContentsMargins(0, 2, 0, 0)
        corner_row.addWidget(self.filters_button)
        self.tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)
        # tabs as narrow as their titles: the three and the Filters button share a 280 px dock
        self.tabs.tabBar().setStyleSheet("QTabBar::tab { padding: 3px 7px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(self.filter_area)
        layout.addWidget(self.target_row)
        self.target_row.setVisible(False)  # until a project with regression targets opens
        layout.addWidget(self.tabs, 1)
        self.setMinimumWidth(280)
        self._show_filter_state()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.fit_filters()

    def fit_filters(self) -> None:
        """The folded-out filters take what the panel can spare beyond MIN_TABLE_ROWS table
        rows, scrolling if that is less than they need (once the layout has placed them)."""
        if self.filter_area.isVisibleTo(self):
            QTimer.singleShot(0, self._fit_filters_now)

    def _fit_filters_now(self) -> None:
        if not self.filter_area.isVisibleTo(self):
            return
        table = self.table
        rows = MIN_TABLE_ROWS * table.verticalHeader().defaultSectionSize()
        # the table's height less its viewport's: header, scroll bar, frame
        table_min = rows + table.height() - table.viewport().height() + 2
        want = self.filter_box.sizeHint().height()
        spare = self.filter_area.height() + table.height() - table_min
        height = max(min(want, spare), min(want, FILTERS_LEAST))
        if height != self.filter_area.height() or self.filter_area.maximumHeight() != height:
            self.filter_area.setFixedHeight(height)

    def _classes_from_start(self, _text: str = "") -> None:
        if not self.classes_edit.hasFocus():
            self.classes_edit.setCursorPosition(0)

    def _selection_changed(self, *_args) -> None:
        if self.tabs.currentWidget() is self.montage:
            self._montage_timer_start()

    # -- workers ------------------------------------------------------------------------------
    def _submit_thumbnails(self, title, factory, on_result, on_error, listed: bool = True):
        return self.window.tasks.submit(
            title, factory, on_result=on_result, on_error=on_error, listed=listed
        )

    def _run(
        self,
        title: str,
        make: Callable[[Project], Job[Any]],
        on_result: Callable,
        on_error: Callable[[str], Any] | None = None,
    ):
        """Run ``make(project)`` on a worker with its own connection to this project."""
        root = self.project.root
        return self.window.tasks.submit(
            title,
            lambda: own_project_job(root, make),
            on_result=on_result,
            on_error=on_error or self.window.report_error,
        )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some sandboxes
        return "annotator"
