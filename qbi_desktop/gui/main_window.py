"""The main window: the image canvas in the centre, one dock per job around it."""

from __future__ import annotations

import importlib
import logging
import math
import os
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.demo import demo_job
from qbi_desktop.core.io import decode_plane_job
from qbi_desktop.core.short_names import distinct_names
from qbi_desktop.gui import wheel_guard
from qbi_desktop.gui.annotator import Annotator, AnnotatorButton
from qbi_desktop.gui.canvas import ImageCanvas
from qbi_desktop.gui.docks.info import InfoPanel
from qbi_desktop.gui.docks.levels import LevelsPanel, colormap_lut
from qbi_desktop.gui.docks.tasks import QtLogHandler, TasksPanel
from qbi_desktop.gui.document import ImageDocument, open_document_job
from qbi_desktop.gui.layout import (
    DEFAULT_TABS,  # noqa: F401  (the default dock groups, imported from here by older code)
    CentralTabs,
    arrange_default_layout,
    install_central_actions,
    size_default_layout,
)
from qbi_desktop.gui.settings import add_recent_file, open_settings, recent_files
from qbi_desktop.gui.workers import Task, TaskManager

log = logging.getLogger("qbi_desktop")

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

SMALL_SCREEN_WIDTH = 1500  # narrower screens start with the window filling them
FILE_FILTER = "Images (*.tif *.tiff *.png *.jpg *.jpeg *.bmp *.nxs *.h5 *.hdf5);;All files (*)"
# 2: central tabs and full-height side columns; layouts saved by older versions are not restored
LAYOUT_VERSION = 2
# Files up to this size open in the GUI thread (a 4096^2 uint16 TIFF is 32 MB: opening is lazy and
# the first frame reads only a strided overview, a few ms); larger ones open on a worker.
OPEN_HERE_BYTES = 64 * 2**20


class SliceBar(QWidget):
    """Slider + spin box under the canvas for stacks; hidden for single images."""

    index_changed = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.spin = QSpinBox()
        self.label = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 2)
        layout.addWidget(QLabel("Slice"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self.spin.setValue)
        self.spin.valueChanged.connect(self.slider.setValue)
        self.slider.valueChanged.connect(self.index_changed)
        for widget in (self.slider, self.spin):
            widget.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    def configure(self, count: int, index: int) -> None:
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
            widget.setRange(0, max(0, count - 1))
            widget.setValue(index)
            widget.blockSignals(False)
        self.setVisible(count > 1)


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


class MainWindow(QMainWindow):
    document_shown = Signal(object)  # ImageDocument, after its first frame is set
    error_reported = Signal(str)
    panels_installed = Signal()

    def __init__(self, settings=None, defer_panels: bool = False):
        """``defer_panels``: build only the viewer (canvas, files, levels, info, tasks) now and
        the job panels when :meth:`install_panels` is called, so that the app start draws its
        first image before importing and building the panels (about half the start-up work)."""
        super().__init__()
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
        wheel_guard.install(QApplication.instance())  # the wheel scrolls docks, not their combos
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self.panels: dict = {}
        self.panels_ready = False
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
        self.panels = {
            name: importlib.import_module(f"qbi_desktop.gui.docks.{name}").install(self)
            for name in PANEL_MODULES
        }
        # Dataset > Audit… (a menu entry and a result window, no dock of its own)
        self.panels["audit"] = importlib.import_module("qbi_desktop.gui.docks.audit").install(self)
        # Dataset > Agreement… (annotators' agreement, consensus, calibration; no dock)
        self.panels["agreement"] = importlib.import_module(
            "qbi_desktop.gui.docks.agreement"
        ).install(self)
        # Measure menu, profile pane under the canvas, scale bar (no dock of its own)
        self.panels["measure"] = importlib.import_module("qbi_desktop.gui.measure").install(self)
        self._follow_annotator()
        self._arrange_default_layout()
        install_central_actions(self)
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._restore_layout()
        if self.isVisible():
            if getattr(self, "_size_default_on_show", False):
                self._size_default_on_show = False
                QTimer.singleShot(0, lambda: size_default_layout(self))
            if self.current is not None:
                self.canvas.plane_changed.emit(self.canvas.plane)
                self.document_shown.emit(self.current)
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
        self.panels["blind"] = importlib.import_module("qbi_desktop.gui.blind").install(self)

    # -- construction --------------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.files_list = QListWidget()
        self.files_list.setToolTip("Open images: click to show, Delete to close")
        self.levels_panel = LevelsPanel()
        self.info_panel = InfoPanel()
        self.tasks_panel = TasksPanel(self.tasks)
        self.docks: dict[str, QDockWidget] = {}
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
        self.docks[name] = dock
        if hasattr(self, "panels_menu"):
            self.panels_menu.addAction(dock.toggleViewAction())
        return dock

    def _arrange_default_layout(self) -> None:
        """Group the docks as tabs: browsing and levels on the left, the jobs on the right."""
        arrange_default_layout(self)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.readout = QLabel("")
        self.readout.setMinimumWidth(260)
        self.zoom_label = QLabel("")
        self.task_bar = QProgressBar()
        self.task_bar.setMaximumWidth(220)
        self.task_bar.setTextVisible(True)
        self.task_bar.hide()
        self.task_cancel = QPushButton("Cancel")
        self.task_cancel.setFlat(True)
        self.task_cancel.hide()
        self.task_cancel.clicked.connect(self.tasks.cancel_all)
        self.annotator_button = AnnotatorButton(self.annotator)
        bar.addPermanentWidget(self.annotator_button)
        bar.addPermanentWidget(self.readout)
        bar.addPermanentWidget(self.zoom_label)
        bar.addPermanentWidget(self.task_bar)
        bar.addPermanentWidget(self.task_cancel)

    def _action(self, text, slot, shortcut=None, menu=None, tip=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, list):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        if menu is not None:
            menu.addAction(action)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open, file_menu)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._action(
            "Open &Demo", self.open_demo, None, file_menu, "Simulated radiographs with spots"
        )
        file_menu.addSeparator()
        self._action("&Close Image", self.close_current, QKeySequence.StandardKey.Close, file_menu)
        file_menu.addSeparator()
        self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, file_menu)

        view = menu.addMenu("&View")
        self._action("&Fit to Window", self.canvas.fit, "Ctrl+0", view)
        self._action("Actual Size (&1:1)", lambda: self.canvas.zoom_to(1.0), "Ctrl+1", view)
        self._action("Zoom &In", lambda: self.canvas.zoom_by(1.25), ["Ctrl++", "Ctrl+="], view)
        self._action("Zoom &Out", lambda: self.canvas.zoom_by(0.8), "Ctrl+-", view)
        view.addSeparator()
        self.panels_menu = view.addMenu("&Panels")
        for dock in self.docks.values():
            self.panels_menu.addAction(dock.toggleViewAction())
        self._action("&Reset Layout", self.reset_layout, None, view)

        image = menu.addMenu("&Image")
        self._action("&Auto Levels", self.auto_levels, "Ctrl+Shift+A", image)
        self._action("&Next Slice", lambda: self.step_slice(1), [".", "PgDown"], image)
        self._action("&Previous Slice", lambda: self.step_slice(-1), [",", "PgUp"], image)
        self._action("First Slice", lambda: self.go_to_slice(0), "Home", image)
        self._action("Last Slice", lambda: self.go_to_slice(10**9), "End", image)

        self.help_menu = help_menu = menu.addMenu("&Help")
        self.menus = {"file": file_menu, "view": view, "image": image, "help": help_menu}
        self._action(
            "QBI Desktop &Help", self.show_help, QKeySequence.StandardKey.HelpContents, help_menu
        )
        self._action("&Keyboard Shortcuts", self.show_shortcuts, "Ctrl+/", help_menu)
        help_menu.addSeparator()
        self._action("&About QBI Desktop", self.show_about, None, help_menu)
        self._refresh_recent_menu()

    def add_menu(self, key: str, title: str):
        """A top-level menu for a panel (placed before Help); the same menu for the same key."""
        if key not in self.menus:
            menu = self.menuBar().addMenu(title)
            self.menuBar().insertMenu(self.help_menu.menuAction(), menu)
            self.menus[key] = menu
        return self.menus[key]

    def add_action(self, text, slot, shortcut=None, menu=None, tip=None) -> QAction:
        """A menu action with shortcut(s) that work anywhere in the window."""
        return self._action(text, slot, shortcut, menu, tip)

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
        self.tasks.active_changed.connect(self._update_task_bar)
        self._task_timer = QTimer(self)
        self._task_timer.setInterval(100)
        self._task_timer.timeout.connect(self._update_task_bar)

    # -- layout persistence --------------------------------------------------------------------
    def _restore_layout(self) -> None:
        self._restore_geometry()
        state = self.settings.value("window/state")
        restored = (
            isinstance(state, QByteArray)
            and not state.isEmpty()
            and self.restoreState(state, LAYOUT_VERSION)
        )
        if not restored:  # first start, or a layout of an older version: the default columns
            self._size_default_on_show = True  # get their shares of the real width once shown
        self._restore_view_settings()

    def _restore_view_settings(self) -> None:
        if getattr(self, "_view_settings_restored", False):
            return  # once: a colour map chosen since then stays
        self._view_settings_restored = True
        cmap = self.settings.value("view/colormap", "Grey")
        self.levels_panel.set_colormap_name(str(cmap))
        low = self.settings.value("view/percentile_low", 0.5, type=float)
        high = self.settings.value("view/percentile_high", 99.5, type=float)
        self.levels_panel.low_pct.setValue(low)
        self.levels_panel.high_pct.setValue(high)

    def _restore_geometry(self) -> None:
        if self.isVisible():
            return  # shown already (panels built after the first frame): keep where it is
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:  # first start: most of the screen, centred; all of a laptop's screen
            screen = QApplication.primaryScreen()
            if screen is not None:
                area = screen.availableGeometry()
                # Below ~1500 px the docks need every pixel for the canvas to keep half the
                # width, so a small screen gets the whole available area.
                share = 1.0 if area.width() < SMALL_SCREEN_WIDTH else 0.88
                self.resize(int(area.width() * share), int(area.height() * share))
                self.move(area.center() - self.rect().center())
            else:
                self.resize(1400, 900)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        if self.panels_ready:  # closed before the panels were built: keep the saved docks
            self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("view/colormap", self.levels_panel.cmap.currentText())
        low, high = self.levels_panel.percentiles
        self.settings.setValue("view/percentile_low", low)
        self.settings.setValue("view/percentile_high", high)
        self.settings.sync()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        size_default_layout(self)

    def showEvent(self, event):  # noqa: N802
        super().showEvent(event)
        if getattr(self, "_size_default_on_show", False):
            self._size_default_on_show = False
            QTimer.singleShot(0, lambda: size_default_layout(self))

    # -- opening -------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = self.settings.value("paths/last_open_dir", str(Path.home()))
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", start, FILE_FILTER)
        if paths:
            self.settings.setValue("paths/last_open_dir", str(Path(paths[0]).parent))
            self.open_files(paths)

    def open_files(self, paths) -> list[Task]:
        return [self.open_file(p) for p in paths]

    def open_file(self, path) -> Task:
        path = str(Path(path).expanduser().absolute())
        low_high = self.levels_panel.percentiles
        view_size = (self.canvas.view.width(), self.canvas.view.height())
        try:
            small = 0 < os.stat(path).st_size <= OPEN_HERE_BYTES
        except OSError:
            small = False  # the job reports what is wrong with the path
        # A small image opens here, levels from a quick sample: a worker thread would only add
        # its hop (and the wait for the GIL) before the first paint. Large ones open on a worker.
        run = self.tasks.run_here if small else self.tasks.submit
        return run(
            f"Open {Path(path).name}",
            lambda: open_document_job(path, low_high, view_size, quick=small),
            on_result=self._document_opened,
            on_error=self.report_error,
        )

    def open_demo(self) -> Task:
        return self.tasks.submit(
            "Make demo radiographs",
            demo_job,
            on_result=lambda path: self.open_file(path),
            on_error=self.report_error,
        )

    def open_array(self, array, name: str, metadata: dict | None = None, prepare=None):
        """Show an in-memory image (a project item of an array container, a simulated preview)
        as a document, with auto-levels; ``prepare(document)`` runs before it is shown (e.g. to
        hand Annotate where its mask lives). Raises UserFacingError for an unusable array."""
        from qbi_desktop.core.io import source_from_array

        document = ImageDocument(source_from_array(array, name=name, metadata=metadata or {}))
        document.refresh_sample()
        document.auto_levels(*self.levels_panel.percentiles)
        if prepare is not None:
            prepare(document)
        self._document_opened(document)
        # Callers go on with the document shown: panels told now, not on the next loop pass.
        self._after_first_frame(document)
        return document

    def _document_opened(self, document: ImageDocument) -> None:
        same = self.open_document_of(document)
        if same is not None:  # already open: show that one (one document, one mask journal)
            document.source.close()
            self.files_list.blockSignals(True)
            self.files_list.setCurrentRow(self.documents.index(same))
            self.files_list.blockSignals(False)
            if same is not self.current:
                self.show_document(same)
            self.statusBar().showMessage(f"{same.title} is already open: shown", 5000)
            return
        previous = self.current
        if previous is not None and not self.levels_panel.auto_on_open.isChecked():
            # "Auto-levels on open" off: the new image keeps the window shown now (to compare
            # a series under one window); otherwise it keeps the auto levels it was opened with.
            document.levels = previous.levels
            document.levels_manual = True
        self.documents.append(document)
        item = QListWidgetItem(document.title)
        item.setToolTip(str(document.path))
        self.files_list.addItem(item)
        self._refresh_file_names()
        if document.file_size is not None:  # a file on disk (not an in-memory array)
            # After the first frame: writing the settings file costs more than drawing it.
            QTimer.singleShot(0, lambda: self._remember_recent(document))
        log.info(
            "opened %s (%s, %s)",
            document.path,
            " x ".join(map(str, document.source.slice_shape)),
            document.source.dtype,
        )
        self.files_list.blockSignals(True)
        self.files_list.setCurrentRow(len(self.documents) - 1)
        self.files_list.blockSignals(False)
        self.show_document(document)

    def _remember_recent(self, document: ImageDocument) -> None:
        add_recent_file(self.settings, str(document.path))
        self._refresh_recent_menu()

    def open_document_of(self, document: ImageDocument) -> ImageDocument | None:
        """The open document showing the same file as ``document`` (same file on disk, whatever
        the spelling of the path), or None; in-memory images never count as the same."""
        if document.file_size is None:
            return None
        for other in self.documents:
            if other.file_size is None or other is document:
                continue
            try:
                if os.path.samefile(other.path, document.path):
                    return other
            except OSError:
                continue
        return None

    def show_document(self, document: ImageDocument, keep_view: bool = False) -> None:
        self.current = document
        self.announced = None
        self.setWindowTitle(f"{document.title} — QBI Desktop")
        self._refresh_file_names()
        self.slice_bar.configure(document.source.n_slices, document.index)
        # Draw the new image now, and let the panels hear of it afterwards (next event-loop
        # pass): their work never delays the first frame the user sees. On an empty canvas the
        # canvas's listeners (annotation session, boxes, measurements) are told after the paint
        # too; when another image was shown they are told before it, so that its overlays never
        # show over the new image and its session is switched at once.
        deferred = self.canvas.plane is None
        self._draw_plane(keep_view=keep_view, announce=not deferred)
        self._plane_announced = not deferred
        self.canvas.viewport().repaint()
        QTimer.singleShot(0, lambda: self._after_first_frame(document))

    def _after_first_frame(self, document: ImageDocument) -> None:
        if self.current is not document or self.announced is document:
            return
        if document.refine_sample(self.levels_panel.percentiles):
            self.canvas.set_levels(*document.levels)
        if not self._plane_announced:
            self._plane_announced = True
            self.canvas.plane_changed.emit(self.canvas.plane)
        self._update_panels()
        self.announced = document
        self.document_shown.emit(document)

    def _show_plane(self, keep_view: bool) -> None:
        self._draw_plane(keep_view)
        self._update_panels()

    def _draw_plane(self, keep_view: bool, announce: bool = True) -> None:
        document = self.current
        if document is None:
            return
        plane = document.plane()
        pyramid = document.pyramid()
        self.canvas.set_levels(*document.levels)
        overview, document.overview = document.overview, None  # used once, for the first frame
        self.canvas.set_plane(
            plane, pyramid, keep_view=keep_view, overview=overview, announce=announce
        )

    def _update_panels(self) -> None:
        """Histogram, levels, info and slice label of the shown plane; background decoding."""
        document = self.current
        if document is None:
            return
        if document.histogram is None:
            document.refresh_sample()
        integer = document.source.dtype.kind in "uib"
        self.levels_panel.set_histogram(*document.histogram, integer=integer)
        self.levels_panel.set_levels(*document.levels)
        self.info_panel.show_info(document.info_rows())
        label = document.source.slice_label(document.index)
        self.slice_bar.label.setText(label)
        self._start_background_for_plane(document)

    def _start_background_for_plane(self, document: ImageDocument) -> None:
        """Decode tiles of a compressed plane, or build the overview pyramid of a large one."""
        for task in (self._decode_task, self._pyramid_task):
            if task is not None and not task.finished:
                task.cancel()
        self._decode_task = self._pyramid_task = None
        plane = document.plane()
        pyramid = document.pyramid()
        index = document.index
        if not plane.complete:
            last_refresh = [0.0]

            def on_tiles(_progress) -> None:
                # The worker already put the tiles into the plane and the pyramid: redraw a few
                # times a second, not per tile.
                now = time.perf_counter()
                showing = self.current is document and document.index == index
                if showing and now - last_refresh[0] > 0.12:
                    last_refresh[0] = now
                    self.canvas.refresh_all()

            def on_decoded(_plane) -> None:
                if self.current is document and document.index == index:
                    document.refresh_sample()
                    if not document.levels_manual:
                        document.auto_levels(*self.levels_panel.percentiles)
                    self._show_plane(keep_view=True)

            self._decode_task = self.tasks.submit(
                f"Decode {document.title}"
                + (f" slice {index}" if document.source.n_slices > 1 else ""),
                lambda: decode_plane_job(document.source, index, pyramid),
                on_progress=on_tiles,
                on_result=on_decoded,
                on_error=self.report_error,
            )
        elif pyramid is not None and not pyramid.complete:

            def on_built(_pyramid) -> None:
                if self.current is document and document.index == index:
                    self.canvas.refresh_base()

            self._pyramid_task = self.tasks.submit(
                f"Overview of {document.title}",
                pyramid.build_job,
                on_result=on_built,
                on_error=self.report_error,
            )

    def close_current(self) -> None:
        document = self.current
        if document is None:
            return
        if not all(guard(document) for guard in list(self.close_guards)):
            return
        row = self.documents.index(document)
        self.documents.pop(row)
        self.files_list.blockSignals(True)
        self.files_list.takeItem(row)
        self.files_list.blockSignals(False)
        self._refresh_file_names()
        for task in (self._decode_task, self._pyramid_task):
            if task is not None and not task.finished:
                task.cancel()
        if self.documents:
            row = min(row, len(self.documents) - 1)
            self.files_list.setCurrentRow(row)
            self.show_document(self.documents[row])
        else:
            self.current = None
            self.canvas.set_plane(None)
            self.slice_bar.hide()
            self.info_panel.show_info([])
            self.setWindowTitle("QBI Desktop")
        document.source.close()

    def _refresh_file_names(self) -> None:
        """Same-named files from different folders are told apart by their folder."""
        names = distinct_names([d.path for d in self.documents])
        for row, name in enumerate(names):
            item = self.files_list.item(row)
            if item is not None:
                item.setText(name)
        for document, name in zip(self.documents, names, strict=True):
            if document is self.current:
                self.setWindowTitle(f"{name} — QBI Desktop")

    def _file_selected(self, row: int) -> None:
        if 0 <= row < len(self.documents) and self.documents[row] is not self.current:
            self.show_document(self.documents[row])

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = recent_files(self.settings)
        for path in files:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_file(p))
        self.recent_menu.setEnabled(bool(files))

    # -- slices ---------------------------------------------------------------------------------
    def go_to_slice(self, index: int) -> None:
        document = self.current
        if document is None:
            return
        index = max(0, min(int(index), document.source.n_slices - 1))
        if index == document.index:
            return
        document.index = index
        document.refresh_sample()
        if not document.levels_manual and document.source.n_slices == 1:
            document.auto_levels(*self.levels_panel.percentiles)
        self.slice_bar.configure(document.source.n_slices, index)
        self._show_plane(keep_view=True)

    def step_slice(self, delta: int) -> None:
        if self.current is not None:
            self.go_to_slice(self.current.index + delta)

    # -- levels ----------------------------------------------------------------------------------
    def auto_levels(self) -> None:
        document = self.current
        if document is None:
            return
        document.levels_manual = False
        vmin, vmax = document.auto_levels(*self.levels_panel.percentiles)
        self.canvas.set_levels(vmin, vmax)
        self.levels_panel.set_levels(vmin, vmax)

    def set_levels(self, vmin: float, vmax: float) -> None:
        """Levels chosen by the user (dock, or code acting for the user)."""
        document = self.current
        if document is None or vmax <= vmin:
            return
        document.levels = (vmin, vmax)
        document.levels_manual = True
        self.canvas.set_levels(vmin, vmax)
        self.levels_panel.set_levels(vmin, vmax)

    def _colormap_changed(self, name: str) -> None:
        self.canvas.set_lut(colormap_lut(name))

    # -- status ----------------------------------------------------------------------------------
    def _show_readout(self, hit) -> None:
        if hit is None:
            self.readout.setText("")
            return
        x, y, value = hit
        if isinstance(value, float):
            text = f"{value:.6g}"
        elif isinstance(value, tuple):
            text = (
                "(" + ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in value) + ")"
            )
        else:
            text = str(value)
        unit = self.current.source.metadata.get("unit") if self.current is not None else None
        self.readout.setText(f"x {x}  y {y}   value {text}" + (f" ({unit})" if unit else ""))

    def _show_zoom(self) -> None:
        scale = self.canvas.screen_scale()
        shown = self.current is not None and math.isfinite(scale)
        self.zoom_label.setText(f"{scale * 100:.0f} %" if shown else "")

    def _update_task_bar(self) -> None:
        active = self.tasks.active()
        if not active:
            self.task_bar.hide()
            self.task_cancel.hide()
            self._task_timer.stop()
            return
        task = active[0]
        progress = task.last_progress
        if progress.total > 0:
            self.task_bar.setRange(0, progress.total)
            self.task_bar.setValue(progress.done)
        else:
            self.task_bar.setRange(0, 0)
        more = f" (+{len(active) - 1})" if len(active) > 1 else ""
        self.task_bar.setFormat(f"{task.title}{more}")
        self.task_bar.show()
        self.task_cancel.show()
        if not self._task_timer.isActive():
            self._task_timer.start()

    def report_error(self, message: str) -> None:
        """Tell the user what went wrong (status bar, a dialog, the log); the app carries on."""
        self.last_error = message
        log.error(message)
        self.statusBar().showMessage(message, 15000)
        self.error_reported.emit(message)
        box = QMessageBox(
            QMessageBox.Icon.Warning, "QBI Desktop", message, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()
        # the box takes the keyboard: Enter closes it instead of acting on the widget behind
        box.raise_()
        box.activateWindow()
        box.button(QMessageBox.StandardButton.Ok).setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def show_help(self) -> None:
        from qbi_desktop.gui.help import ReadmeDialog

        dialog = ReadmeDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def show_shortcuts(self) -> None:
        from qbi_desktop.gui.help import ShortcutsDialog

        dialog = ShortcutsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def show_about(self) -> None:
        from qbi_desktop.gui.about import about_text

        QMessageBox.about(self, "About QBI Desktop", about_text())

    # -- drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, event):  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_files(paths)

    # -- shutdown --------------------------------------------------------------------------------
    def closeEvent(self, event):  # noqa: N802
        if not all(guard(None) for guard in list(self.close_guards)):
            event.ignore()
            return
        self.save_layout()
        self.tasks.cancel_all()
        self.tasks.wait(3000)
        logging.getLogger("qbi_desktop").removeHandler(self.log_handler)
        self.canvas.set_plane(None)
        for document in self.documents:
            document.source.close()
        super().closeEvent(event)
