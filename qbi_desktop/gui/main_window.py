"""The main window: the image canvas in the centre, one dock per job around it.

Its parts live in ``gui/window/`` by job; this module builds the window and its job panels."""

from __future__ import annotations

import importlib
import logging

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QVBoxLayout, QWidget

from qbi_desktop.core.process_memory import return_large_blocks_to_os
from qbi_desktop.gui import wheel_guard
from qbi_desktop.gui.annotator import Annotator
from qbi_desktop.gui.canvas import ImageCanvas
from qbi_desktop.gui.document import ImageDocument
from qbi_desktop.gui.layout import (
    DEFAULT_TABS,  # noqa: F401  (the default dock groups, imported from here by older code)
    CentralTabs,
    install_central_actions,
    size_default_layout,
)
from qbi_desktop.gui.settings import open_settings
from qbi_desktop.gui.window import keys as focus_keys
from qbi_desktop.gui.window.display import DisplayMixin
from qbi_desktop.gui.window.docks import DocksMixin
from qbi_desktop.gui.window.menus import MenusMixin
from qbi_desktop.gui.window.opening import (  # noqa: F401  (imported from here by older code)
    FILE_FILTER,
    OPEN_HERE_BYTES,
    OpeningMixin,
)
from qbi_desktop.gui.window.persistence import LAYOUT_VERSION, PersistenceMixin
from qbi_desktop.gui.window.settle import SettleMixin
from qbi_desktop.gui.window.slice_bar import SliceBar
from qbi_desktop.gui.window.status import StatusMixin
from qbi_desktop.gui.window.title import TitleMixin
from qbi_desktop.gui.window_input import WindowInput
from qbi_desktop.gui.workers import Task, TaskManager

# Dock panels of the later jobs (annotate, datasets, augment, baselines): each module in
# qbi_desktop.gui.docks exposes ``install(window)``, which builds its dock with
# ``window.add_dock`` and connects to the window's signals and canvas.
PANEL_MODULES: tuple[str, ...] = (
    "annotate",
    "spots",
    "browser",
    "simulate",
    "baselines",
    "augment",
    "radiography",
)


class MainWindow(
    DisplayMixin,
    OpeningMixin,
    PersistenceMixin,
    MenusMixin,
    StatusMixin,
    DocksMixin,
    SettleMixin,
    TitleMixin,
    QMainWindow,
):
    document_shown = Signal(object)  # ImageDocument, after its first frame is set
    error_reported = Signal(str)
    panels_installed = Signal()
    close_asked = Signal()  # the window is asked to close (before the guards; it may stay open)

    def __init__(self, settings=None, defer_panels: bool = False):
        """``defer_panels``: build only the viewer (canvas, files, levels, info, tasks) now and
        the job panels when :meth:`install_panels` is called, so that the app start draws its
        first image before importing and building the panels (about half the start-up work)."""
        super().__init__()
        return_large_blocks_to_os()  # stepping through a stack must not keep its freed slices
        self.setWindowTitle("QBI Desktop")
        self.setAcceptDrops(True)
        self.settings = settings or open_settings()
        self.annotator = Annotator(self.settings, self)  # who is recorded with every edit
        self.tasks = TaskManager(self)
        self.documents: list[ImageDocument] = []
        self.current: ImageDocument | None = None
        self.announced: ImageDocument | None = None  # the document the panels were told of
        self._plane_announced = True  # the canvas's listeners know the plane it shows
        self.last_error: str | None = None
        self._decode_task: Task | None = None
        self._pyramid_task: Task | None = None

        self.canvas = ImageCanvas()
        self.slice_bar = SliceBar()
        self.slice_bar.hide()
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.slice_bar)
        # The image is the first central tab; panels add result pages beside it.
        self.central_tabs = CentralTabs(centre)
        self.setCentralWidget(self.central_tabs)

        # Asked before closing: guard(document) for one image, guard(None) for the window; a guard
        # returning False (the user chose Cancel) stops the close. Panels append to it.
        self.close_guards: list = []
        self.window_input = WindowInput(self)  # presses and the wheel, before the widgets
        focus_keys.install()  # a focused table, field or box keeps its own keys (Home, PgDown, …)
        wheel_guard.install(self)  # the wheel scrolls docks, not their combos
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self.panels: dict = {}
        self.panels_ready = False
        self.failed_panels: list[str] = []  # panels whose building raised (logged, left out)
        if defer_panels:
            self._restore_geometry()  # the window opens at its size; the docks follow
            self._restore_view_settings()  # the first image opens with the saved percentiles
        else:
            self.install_panels()

    def install_panels(self) -> None:
        """Build the job panels, arrange the default layout and restore the saved one (once).

        After a deferred start the panels also hear of the image already shown, as if it had
        just been opened."""
        if self.panels_ready:
            return
        self.panels_ready = True
        modules = {name: f"qbi_desktop.gui.docks.{name}" for name in PANEL_MODULES}
        # Dataset > Audit… (a menu entry and a result window, no dock of its own)
        modules["audit"] = "qbi_desktop.gui.docks.audit"
        # Dataset > Agreement… (annotators' agreement, consensus, calibration; no dock)
        modules["agreement"] = "qbi_desktop.gui.docks.agreement"
        # Measure menu, profile pane under the canvas, scale bar (no dock of its own)
        modules["measure"] = "qbi_desktop.gui.measure"
        for name, module in modules.items():
            panel = self._install_panel(
                name, lambda module=module: importlib.import_module(module).install(self)
            )
            if panel is not None:
                self.panels[name] = panel
        self._follow_annotator()
        self._arrange_default_layout()
        install_central_actions(self)
        self.add_session_actions()
        self.enable_filled_menus()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._restore_layout()
        if self.isVisible():
            if getattr(self, "_size_default_on_show", False):
                self._size_default_on_show = False
                QTimer.singleShot(0, lambda: size_default_layout(self))
            if self.current is not None:
                self.canvas.plane_changed.emit(self.canvas.plane)
                self.document_shown.emit(self.current)
        self.follow_title()  # the project and the item in the title
        self._tell_failed_panels()
        self.panels_installed.emit()

    def _follow_annotator(self) -> None:
        """Panels that write under a name take the window's annotator, now and when it changes."""
        browser = self.panels.get("browser")
        if browser is not None:
            browser.annotator = self.annotator.name
            self.annotator.changed.connect(lambda name: setattr(browser, "annotator", name))
        edit = self.menus.get("edit")
        if edit is not None:
            edit.addSeparator()
            self._action(
                "Annotator…",
                lambda: self.annotator.ask(self),
                menu=edit,
                tip="Switch who is recorded with every label, box, mask and review",
            )
        # Annotate blind, the name asked in a shared project, items by annotator
        blind = self._install_panel(
            "blind", lambda: importlib.import_module("qbi_desktop.gui.blind").install(self)
        )
        if blind is not None:
            self.panels["blind"] = blind

    def _connect(self) -> None:
        self.canvas.empty_hint.open_requested.connect(self.open_dialog)
        self.canvas.empty_hint.demo_requested.connect(self.open_demo)
        self.canvas.pixel_hovered.connect(self._show_readout)
        self.canvas.view_changed.connect(self._show_zoom)
        self.levels_panel.levels_changed.connect(self.set_levels)
        self.levels_panel.auto_requested.connect(self.auto_levels)
        self.levels_panel.colormap_changed.connect(self._colormap_changed)
        self.slice_bar.index_changed.connect(self.go_to_slice)
        self.files_list.currentRowChanged.connect(self._file_selected)
        # A task started or ended: the bar follows on an event of its own (showing it lays the
        # status bar out again, ~3 ms that were part of a Run click's event)
        self._task_bar_later = QTimer(self)
        self._task_bar_later.setSingleShot(True)
        self._task_bar_later.setInterval(1)
        self._task_bar_later.timeout.connect(self._update_task_bar)
        self.tasks.active_changed.connect(self._task_bar_later.start)
        self._task_timer = QTimer(self)
        self._task_timer.setInterval(100)
        self._task_timer.timeout.connect(self._update_task_bar)
        self._build_settle_timer()

    def closeEvent(self, event):  # noqa: N802
        self.close_asked.emit()
        if not all(guard(None) for guard in list(self.close_guards)):
            event.ignore()
            return
        self.remember_session_project()  # reopened at the next start
        self.save_layout()
        self.tasks.cancel_all()
        self.tasks.wait(3000)
        logging.getLogger("qbi_desktop").removeHandler(self.log_handler)
        self.canvas.set_plane(None)
        for document in self.documents:
            document.source.close()
        super().closeEvent(event)
