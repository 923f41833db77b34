"""Annotate dock: paint label masks with mouse or pen; labels, overlay, files, undo, recovery.

Keys (active while the canvas or this dock has focus): B brush, E eraser, F fill, L lasso,
C constrained brush (each toggles back to navigating when pressed again), Esc navigate / cancel
the lasso, [ and ] brush size, 1-9 active label, V show/hide the mask. Window-wide: Ctrl+S save,
Ctrl+Shift+S save as, Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo. Space-drag pans while a tool is
active; Alt+wheel changes the brush size.

Masks of project items: the Dataset Browser opens an item with :meth:`AnnotatePanel.attach_store`
(a :class:`~qbi_desktop.gui.annotate.store.ProjectItemStore`) before the image is shown; that
image's session reads the item's mask and the project's class names from the catalog, Save
(Ctrl+S) writes the mask back into the project on a worker (``Project.set_mask``, with the
annotator) together with the names of its labels (the project's ``mask_classes``: a label added
or renamed here is named so in exports; the status bar says what changed), and Save As writes
a copy to a file. An empty mask (after New Mask) saved into a project removes the item's mask.
Dirty state, undo, the close guard and the crash journal work as for a mask file (the journal
is keyed by project and item); renaming a label the project knew counts as an unsaved change.

Crash safety: every completed stroke is appended to the plane's journal (flushed) before the next
one starts. When a plane is opened for which a journal with strokes exists, the panel offers to
recover it (non-modal box; :meth:`AnnotatePanel.recover` / :meth:`discard_recovery` do the work).
The setting ``annotate/auto_recover`` or the environment variable ``QBI_ANNOTATE_AUTO_RECOVER``
(``recover`` or ``discard``) answers without asking (used by the kill -9 test).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.annotation import mask_index
from qbi_desktop.core.annotation.leftovers import Leftovers, clean_leftovers_job
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.labels import LabelTable, LabelTableError
from qbi_desktop.core.maskio import TooManyLabelsError, import_mask
from qbi_desktop.core.masks import ConstraintRule
from qbi_desktop.gui.annotate.overlay import MaskOverlay
from qbi_desktop.gui.annotate.session import MaskSession, prepare_item_job, prepare_job
from qbi_desktop.gui.annotate.store import ItemMaskSaved, ProjectItemStore
from qbi_desktop.gui.annotate.tools import PaintController
from qbi_desktop.gui.undo import UndoContext, undo_router

log = logging.getLogger("qbi_desktop")

MASK_FILTER = "Masks (*.tif *.tiff *.png);;All files (*)"
IMPORT_FILTER = "Images (*.tif *.tiff *.png *.jpg *.jpeg *.bmp);;All files (*)"
TOOL_KEYS = {"brush": "B", "eraser": "E", "fill": "F", "lasso": "L", "constrained": "C"}
TOOL_TITLES = {
    "brush": "Brush",
    "eraser": "Eraser",
    "fill": "Fill",
    "lasso": "Lasso",
    "constrained": "Constrained",
}
AUTO_RECOVER_ENV = "QBI_ANNOTATE_AUTO_RECOVER"


def _swatch(colour) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(QColor(*colour))
    return QIcon(pix)


class AnnotatePanel(QWidget):
    """The dock's widget, and the owner of the mask sessions, overlay and paint controller."""

    session_changed = Signal(object)  # the MaskSession shown (or None)
    mask_changed = Signal(object)  # rect changed (y0, y1, x0, x1) or None for "everything"
    item_mask_saved = Signal(object)  # the ProjectItemStore whose mask is now in the project

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.canvas = window.canvas
        self.settings = window.settings
        self.sessions: dict[tuple[int, int], MaskSession] = {}
        self.session: MaskSession | None = None
        self._key: tuple[int, int] | None = None
        self._prepare_tasks: dict[tuple[int, int], object] = {}
        # id(document) -> (document, store): documents whose mask belongs to a project item
        self.stores: dict[int, tuple[object, ProjectItemStore]] = {}
        self.last_save_task = None
        self.last_save_outcome: ItemMaskSaved | None = None  # what the last item save did
        self.recovery_box: QMessageBox | None = None
        self.unsaved_answer: str | None = None  # see _preset_answer
        self.labels_template = LabelTable()
        self.leftovers: Leftovers | None = None  # what the start-up clean-up found
        self.leftovers_box: QMessageBox | None = None

        self.overlay = MaskOverlay()
        self.canvas.view.addItem(self.overlay, ignoreBounds=True)
        self.controller = PaintController(self.canvas, self.overlay, lambda: self.session)
        self._build()
        self._load_settings()
        self.controller.tool_changed.connect(self._tool_changed)
        self.controller.size_changed.connect(self._size_changed)
        self.controller.mask_changed.connect(self._on_mask_changed)
        self.controller.stroke_finished.connect(self._update_status)
        self.controller.message.connect(lambda m: self.window.statusBar().showMessage(m, 5000))
        self.canvas.plane_changed.connect(self._plane_changed)

    # -- construction ----------------------------------------------------------------------------
    def _build(self) -> None:
        c = self.controller
        tools = QGridLayout()
        self.tool_group = QButtonGroup(self)
        self.tool_group.setExclusive(False)
        self.tool_buttons: dict[str | None, QToolButton] = {}
        entries = [(None, "Navigate", "Esc")] + [
            (t, TOOL_TITLES[t], TOOL_KEYS[t]) for t in TOOL_KEYS
        ]
        for i, (tool, title, key) in enumerate(entries):
            b = QToolButton()
            b.setText(f"{title} ({key})")
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setSizePolicy(b.sizePolicy().horizontalPolicy(), b.sizePolicy().verticalPolicy())
            b.clicked.connect(lambda _c=False, t=tool: self.set_tool(t))
            tools.addWidget(b, i // 3, i % 3)
            self.tool_buttons[tool] = b
        self.tool_buttons[None].setChecked(True)

        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(1, 200)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 500)
        self.size_spin.setSuffix(" px")
        self.size_slider.valueChanged.connect(lambda v: c.set_size(v))
        self.size_spin.valueChanged.connect(lambda v: c.set_size(v))
        size_row = QHBoxLayout()
        size_row.addWidget(self.size_slider, 1)
        size_row.addWidget(self.size_spin)

        self.min_size = QDoubleSpinBox(minimum=1, maximum=500, decimals=1, suffix=" px")
        self.max_size = QDoubleSpinBox(minimum=1, maximum=500, decimals=1, suffix=" px")
        self.gamma = QDoubleSpinBox(minimum=0.1, maximum=5.0, decimals=2, singleStep=0.1)
        self.gamma.setToolTip("Pressure curve: size = min + (max - min) x pressure ^ gamma")
        self.min_size.valueChanged.connect(lambda v: setattr(c, "min_size", v))
        self.max_size.valueChanged.connect(lambda v: setattr(c, "max_size", v))
        self.gamma.valueChanged.connect(lambda v: setattr(c, "gamma", v))
        pen_row = QHBoxLayout()
        for w, tip in ((self.min_size, "min"), (self.max_size, "max"), (self.gamma, "γ")):
            pen_row.addWidget(QLabel(tip))
            pen_row.addWidget(w)
        self.protect = QCheckBox("Paint over background only")
        self.protect.toggled.connect(lambda on: setattr(c, "protect", on))

        brush_box = QGroupBox("Brush")
        bf = QFormLayout(brush_box)
        bf.addRow("Size", size_row)
        bf.addRow("Pen", pen_row)
        bf.addRow(self.protect)

        self.fill_mode = QComboBox()
        self.fill_mode.addItems(["Same label", "Image intensity"])
        self.fill_mode.currentIndexChanged.connect(
            lambda i: setattr(c, "fill_mode", "intensity" if i == 1 else "label")
        )
        self.tolerance = QDoubleSpinBox(minimum=0, maximum=1e9, decimals=2)
        self.tolerance.setToolTip("Fill on intensity: take 4-connected pixels within ± this")
        self.tolerance.valueChanged.connect(lambda v: setattr(c, "tolerance", v))
        fill_row = QHBoxLayout()
        fill_row.addWidget(self.fill_mode, 1)
        fill_row.addWidget(QLabel("±"))
        fill_row.addWidget(self.tolerance)
        bf.addRow("Fill", fill_row)

        cbox = QGroupBox("Constrained brush (C)")
        cf = QFormLayout(cbox)
        self.rule_kind = QComboBox()
        self.rule_kind.addItems(["Residual > k·σ (spots)", "Raw value ≥ threshold"])
        self.rule_k = QDoubleSpinBox(minimum=0.1, maximum=1000, decimals=1, singleStep=0.5)
        self.rule_threshold = QDoubleSpinBox(minimum=-1e12, maximum=1e12, decimals=1)
        self.rule_median = QSpinBox(minimum=3, maximum=51, singleStep=2)
        self.rule_below = QCheckBox("Take dark pixels instead")
        for w in (self.rule_k, self.rule_threshold, self.rule_median):
            w.valueChanged.connect(self._rule_changed)
        self.rule_kind.currentIndexChanged.connect(self._rule_changed)
        self.rule_below.toggled.connect(self._rule_changed)
        cf.addRow("Rule", self.rule_kind)
        cf.addRow("k (σ)", self.rule_k)
        cf.addRow("Threshold", self.rule_threshold)
        cf.addRow("Median size", self.rule_median)
        cf.addRow(self.rule_below)
        self.preview_label = QLabel("Preview: hover the image with the constrained brush")
        self.preview_label.setWordWrap(True)
        cf.addRow(self.preview_label)

        lbox = QGroupBox("Labels (1–9)")
        lv = QVBoxLayout(lbox)
        self.label_list = QListWidget()
        self.label_list.setMaximumHeight(120)
        self.label_list.currentRowChanged.connect(self._label_row_changed)
        self.label_list.itemChanged.connect(self._label_item_edited)
        lv.addWidget(self.label_list)
        row = QHBoxLayout()
        for text, slot in (
            ("Add…", self._add_label_dialog),
            ("Rename…", self._rename_label_dialog),
            ("Colour…", self._recolour_dialog),
        ):
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
        lv.addLayout(row)

        obox = QGroupBox("Overlay")
        of = QFormLayout(obox)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.valueChanged.connect(lambda v: self.overlay.setOpacity(v / 100.0))
        self.outlines = QCheckBox("Outlines only")
        self.outlines.toggled.connect(self.overlay.set_outline)
        self.visible = QCheckBox("Show mask (V)")
        self.visible.setChecked(True)
        self.visible.toggled.connect(self.overlay.setVisible)
        of.addRow("Opacity", self.opacity)
        row = QHBoxLayout()
        row.addWidget(self.visible)
        row.addWidget(self.outlines)
        of.addRow(row)

        self.status = QLabel("No image")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        inner = QWidget()
        col = QVBoxLayout(inner)
        col.setContentsMargins(4, 4, 4, 4)
        col.addLayout(tools)
        col.addWidget(brush_box)
        col.addWidget(cbox)
        col.addWidget(lbox)
        col.addWidget(obox)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumSize(120, 80)  # the dock may share its side with many others
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        # The save state stays in view below the scrolling controls.
        outer.addWidget(self.status)
        self._refresh_labels()

    def install_shortcuts(self) -> None:
        """Single keys, on this dock and on the canvas only (other panels use single keys too)."""
        self.shortcuts: list[QShortcut] = []
        bindings = [(TOOL_KEYS[t], lambda t=t: self.toggle_tool(t)) for t in TOOL_KEYS]
        bindings += [
            ("Esc", self._escape),
            ("[", lambda: self.controller.grow(-1)),
            ("]", lambda: self.controller.grow(1)),
            ("V", lambda: self.visible.toggle()),
        ]
        bindings += [(str(n), lambda n=n: self.select_label_index(n - 1)) for n in range(1, 10)]
        for owner in (self, self.canvas):
            for key, slot in bindings:
                sc = QShortcut(QKeySequence(key), owner)
                sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.activated.connect(slot)
                self.shortcuts.append(sc)

    def install_menu(self) -> None:
        w = self.window
        menu = w.add_menu("annotate", "&Annotate")
        self.actions = {
            "new": w.add_action("&New Mask", self.new_mask, None, menu, "Clear the mask"),
            "load": w.add_action("&Load Mask…", self.load_dialog, None, menu),
            "import": w.add_action(
                "&Import Mask…", self.import_dialog, None, menu, "Binary, label or colour"
            ),
            "save": w.add_action("&Save Mask", self.save, "Ctrl+S", menu),
            "save_as": w.add_action("Save Mask &As…", self.save_as_dialog, "Ctrl+Shift+S", menu),
        }
        menu.addSeparator()
        # Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y belong to Edit > Undo / Redo, which come here when the
        # canvas or this panel is the one being worked in (gui/undo.py), not from the Browser
        self.actions["undo"] = w.add_action("&Undo Stroke", self.undo, None, menu)
        self.actions["redo"] = w.add_action("&Redo Stroke", self.redo, None, menu)
        undo_router(w).register(
            UndoContext(
                "Annotate",
                lambda: [self, self.canvas, w.docks.get("annotate"), w.docks.get("spots")],
                lambda: "mask edit" if self._can_undo() else None,
                lambda: "mask edit" if self.session and self.session.editor.redo_depth else None,
                self.undo,
                self.redo,
            )
        )
        menu.addSeparator()
        for tool in TOOL_KEYS:
            w.add_action(
                f"{TOOL_TITLES[tool]} tool ({TOOL_KEYS[tool]})",
                lambda _c=False, t=tool: self.set_tool(t),
                None,
                menu,
            )

    # -- settings ---------------------------------------------------------------------------------
    def _load_settings(self) -> None:
        s = self.settings

        def val(key, default, typ=float):
            return s.value(f"annotate/{key}", default, type=typ)

        c = self.controller
        self.size_spin.setValue(int(val("size", 9, int)))
        self.size_slider.setValue(int(val("size", 9, int)))
        c.set_size(self.size_spin.value())
        self.min_size.setValue(val("min_size", 2.0))
        self.max_size.setValue(val("max_size", 24.0))
        self.gamma.setValue(val("gamma", 1.0))
        self.opacity.setValue(int(val("opacity", 55, int)))
        self.overlay.setOpacity(self.opacity.value() / 100)
        self.rule_k.setValue(val("rule_k", 5.0))
        self.rule_median.setValue(int(val("rule_median", 5, int)))
        self.rule_threshold.setValue(val("rule_threshold", 0.0))
        c.min_size, c.max_size, c.gamma = (
            self.min_size.value(),
            self.max_size.value(),
            self.gamma.value(),
        )
        self._rule_changed()

    def save_settings(self) -> None:
        s = self.settings
        for key, value in (
            ("size", self.size_spin.value()),
            ("min_size", self.min_size.value()),
            ("max_size", self.max_size.value()),
            ("gamma", self.gamma.value()),
            ("opacity", self.opacity.value()),
            ("rule_k", self.rule_k.value()),
            ("rule_median", self.rule_median.value()),
            ("rule_threshold", self.rule_threshold.value()),
        ):
            s.setValue(f"annotate/{key}", value)

    # -- tools ------------------------------------------------------------------------------------
    def set_tool(self, tool: str | None) -> None:
        self.controller.set_tool(tool)
        if tool is not None:
            self.canvas.setFocus()

    def toggle_tool(self, tool: str) -> None:
        self.set_tool(None if self.controller.tool == tool else tool)

    def _escape(self) -> None:
        if self.controller._stroke is not None:
            self.controller.cancel()
        else:
            self.set_tool(None)

    def _tool_changed(self, tool) -> None:
        for t, b in self.tool_buttons.items():
            b.setChecked(t == tool)

    def _size_changed(self, size: float) -> None:
        for w in (self.size_spin, self.size_slider):
            w.blockSignals(True)
            w.setValue(int(round(size)))
            w.blockSignals(False)

    def _rule_changed(self, *_args) -> None:
        kind = "raw" if self.rule_kind.currentIndex() == 1 else "residual"
        median = self.rule_median.value() | 1
        try:
            self.controller.rule = ConstraintRule(
                kind=kind,
                threshold=self.rule_threshold.value(),
                k=self.rule_k.value(),
                median_size=max(3, median),
                above=not self.rule_below.isChecked(),
            )
        except UserFacingError as e:
            self.window.report_error(str(e))
        self.rule_k.setEnabled(kind == "residual")
        self.rule_median.setEnabled(kind == "residual")
        self.rule_threshold.setEnabled(kind == "raw")
        c = self.controller
        if c.tool == "constrained" and c.cursor.centre is not None:
            cy, cx = c.cursor.centre
            c.update_preview(cy, cx, c.radius)

    # -- labels -----------------------------------------------------------------------------------
    @property
    def labels(self) -> LabelTable:
        return self.session.labels if self.session is not None else self.labels_template

    def _refresh_labels(self) -> None:
        lst = self.label_list
        lst.blockSignals(True)
        lst.clear()
        active_row = 0
        for row, label in enumerate(self.labels):
            item = QListWidgetItem(_swatch(label.colour), f"{row + 1}  {label.name}")
            item.setData(Qt.ItemDataRole.UserRole, label.value)
            lst.addItem(item)
            if label.value == self.controller.label:
                active_row = row
        if lst.count():
            lst.setCurrentRow(active_row)
            self.controller.label = int(lst.item(active_row).data(Qt.ItemDataRole.UserRole))
        lst.blockSignals(False)

    def _label_row_changed(self, row: int) -> None:
        item = self.label_list.item(row)
        if item is not None:
            self.controller.label = int(item.data(Qt.ItemDataRole.UserRole))

    def select_label_index(self, index: int) -> None:
        """Number keys: the n-th label in the list becomes the active one."""
        if 0 <= index < self.label_list.count():
            self.label_list.setCurrentRow(index)

    def _label_item_edited(self, item) -> None:
        pass

    def add_label(self, name: str, colour=None) -> int:
        label = self.labels.add(name, colour)
        self._labels_changed()
        self.controller.label = label.value
        self._refresh_labels()
        return label.value

    def rename_label(self, value: int, name: str) -> None:
        self.labels.rename(value, name)
        self._labels_changed()
        self._update_status()  # a project item's renamed label is an unsaved change

    def recolour_label(self, value: int, colour) -> None:
        self.labels.recolour(value, colour)
        self._labels_changed()

    def _labels_changed(self) -> None:
        if self.session is not None:
            self.session.labels_changed()
            self.labels_template = copy.deepcopy(self.session.labels)
        self.overlay.set_labels(self.labels)
        self._refresh_labels()

    def _add_label_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "Add label", "Name of the new label:")
        if ok and name.strip():
            try:
                self.add_label(name)
            except UserFacingError as e:
                self.window.report_error(str(e))

    def _rename_label_dialog(self) -> None:
        value = self.controller.label
        if value not in self.labels:
            return
        name, ok = QInputDialog.getText(
            self, "Rename label", "New name:", text=self.labels[value].name
        )
        if ok:
            try:
                self.rename_label(value, name)
            except UserFacingError as e:
                self.window.report_error(str(e))

    def _recolour_dialog(self) -> None:
        value = self.controller.label
        if value not in self.labels:
            return
        colour = QColorDialog.getColor(QColor(*self.labels[value].colour), self, "Label colour")
        if colour.isValid():
            self.recolour_label(value, (colour.red(), colour.green(), colour.blue()))

    # -- planes and sessions ----------------------------------------------------------------------
    def _plane_changed(self, plane) -> None:
        document = self.window.current
        if plane is None or document is None:
            self._show_session(None, None)
            return
        key = (id(document), int(document.index))
        session = self.sessions.get(key)
        if session is None:
            store = self.store_of(document)
            if store is not None and document.source.n_slices > 1 and document.index != 0:
                store = None  # a project item has one 2-D mask: the first plane's
            session = MaskSession(
                plane.array,
                Path(document.path),
                int(document.index),
                int(document.source.n_slices),
                copy.deepcopy(self.labels_template),
                on_journal_error=self._journal_error,
                store=store,
                masks_folder=self.masks_folder(),
            )
            self.sessions[key] = session
        self._show_session(key, session)
        if session.identity is None and key not in self._prepare_tasks and plane.complete:
            self._prepare(key, session)

    def _prepare(self, key, session: MaskSession) -> None:
        def done(prepared) -> None:
            self._prepare_tasks.pop(key, None)
            for problem in prepared.problems:
                self.window.report_error(problem)
            session.apply_prepared(prepared)
            if self.session is session:
                self._show_session(key, session)
            if session.read_only is not None:
                self.window.report_error(session.read_only)
            if session.recovery is not None:
                self._offer_recovery(session)
            self._update_status()

        def failed(message: str) -> None:
            self._prepare_tasks.pop(key, None)
            self.window.report_error(message)

        if session.store is not None:
            fallback = copy.deepcopy(session.labels)

            def job():
                return prepare_item_job(session.image, session.store, fallback)
        else:

            def job():
                return prepare_job(session.image, session.image_path, key[1], session.n_slices)

        self._prepare_tasks[key] = self.window.tasks.submit(
            "Prepare mask", job, on_result=done, on_error=failed
        )

    def _show_session(self, key, session: MaskSession | None) -> None:
        if self.controller._stroke is not None:
            self.controller.end_stroke()
        self._key, self.session = key, session
        if session is None:
            self.overlay.set_mask(None)
        else:
            self.overlay.set_mask(session.editor.mask, session.labels)
        self._refresh_labels()
        self._update_status()
        self.session_changed.emit(session)

    def session_for(self, document, index: int | None = None) -> MaskSession | None:
        idx = document.index if index is None else index
        return self.sessions.get((id(document), int(idx)))

    # -- project items ----------------------------------------------------------------------------
    def attach_store(self, document, store: ProjectItemStore) -> None:
        """``document`` shows a project item: its mask is loaded from and saved to ``store``.
        Call before the document is shown (its session is made when its plane appears)."""
        self.stores[id(document)] = (document, store)

    def store_of(self, document) -> ProjectItemStore | None:
        entry = self.stores.get(id(document))
        return entry[1] if entry is not None and entry[0] is document else None

    def document_for(self, store: ProjectItemStore):
        """The open document showing the same project item, if any (opening it twice would
        give two sessions writing one mask)."""
        open_documents = {id(d) for d in self.window.documents}
        for document, other in self.stores.values():
            if id(document) in open_documents and other.same_item(store):
                return document
        return None

    def save_to_project(self, session: MaskSession):
        """Write the session's mask into its project item on a worker; the Task (or None).

        Painting may go on meanwhile: the snapshot taken now is what is written, and the
        session counts as saved only if nothing changed since. A failure is reported and the
        mask stays in the session, unsaved."""
        store = session.store
        if store is None:
            return None
        running = session.save_task
        if running is not None and not running.finished:
            self.window.statusBar().showMessage(f"Still saving the mask of {store.describe()}…")
            return running
        mask, state = session.snapshot()
        names, baseline = session.label_names(), dict(session.saved_names)

        def done(outcome: ItemMaskSaved) -> None:
            session.save_task = None
            self._item_stored(session, state, names, outcome)
            self.window.statusBar().showMessage(outcome.message(), 8000)

        def failed(message: str) -> None:
            session.save_task = None
            self._update_status()
            self.window.report_error(
                f"{message}.\n\nNothing is lost: the mask stays in Annotate, unsaved. Save "
                "again once this is fixed, or write a copy with Save Mask As…"
            )

        task = self.window.tasks.submit(
            f"Save mask of item {store.item_id}",
            lambda: store.save_job(mask, names, baseline),
            on_result=done,
            on_error=failed,
        )
        session.save_task = self.last_save_task = task
        self._update_status()
        return task

    def _item_stored(
        self, session: MaskSession, state: int, names: dict[int, str], outcome: ItemMaskSaved
    ) -> None:
        """A save into the project is done: the session's saved state and names follow, and
        the Browser hears of it (its Mask column, statistics)."""
        session.stored(state, names)
        relabelled = False
        for value, name in outcome.names.kept.items():  # renamed in the project meanwhile
            session.saved_names[value] = name
            if value in session.labels and session.labels[value].name != name:
                try:
                    session.labels.rename(value, name)
                    relabelled = True
                except LabelTableError:  # the name is taken here: keep ours, the note says so
                    pass
        if relabelled:
            if session is self.session:
                self._labels_changed()  # journal, overlay and list
            else:
                session.labels_changed()
        self.last_save_outcome = outcome
        self._update_status()
        self.item_mask_saved.emit(session.store)

    # -- recovery ---------------------------------------------------------------------------------
    def _auto_recover(self) -> str:
        answer = os.environ.get(AUTO_RECOVER_ENV) or self.settings.value(
            "annotate/auto_recover", ""
        )
        return str(answer or "").strip().lower()

    def _offer_recovery(self, session: MaskSession) -> None:
        info = session.recovery
        answer = self._auto_recover()
        if answer == "recover":
            self.recover(session)
            return
        if answer == "discard":
            self.discard_recovery(session)
            return
        if session.store is not None:
            name = session.store.describe()
        else:
            name = session.image_path.name if session.image_path else "this image"
        text = (
            f"Unsaved strokes were found for {name}"
            f": {info.n_strokes} stroke(s) from {info.created}, kept in {info.path}.\n\n"
            "Recover them (the mask as after the last completed stroke) or discard them?"
        )
        if info.problems:
            text += "\n\nNote: " + "\n".join(info.problems)
        box = QMessageBox(
            QMessageBox.Icon.Question, "Recover unsaved mask", text, parent=self.window
        )
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(recover)
        box.setModal(False)
        recover.clicked.connect(lambda: self.recover(session))
        discard.clicked.connect(lambda: self.discard_recovery(session))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.recovery_box = box
        box.show()

    def recover(self, session: MaskSession | None = None) -> list[str]:
        """Replay the session's pending journal into its mask; returns what could not be."""
        session = session or self.session
        if session is None or session.recovery is None:
            return []
        try:
            problems = session.recover()
        except UserFacingError as e:
            self.window.report_error(str(e))
            return [str(e)]
        for p in problems:
            self.window.report_error(p)
        self.window.statusBar().showMessage("Recovered the unsaved strokes", 8000)
        if session is self.session:
            self._show_session(self._key, session)
        return problems

    def discard_recovery(self, session: MaskSession | None = None) -> None:
        session = session or self.session
        if session is None:
            return
        session.discard_recovery()
        self._update_status()

    def _journal_error(self, message: str) -> None:
        self.window.report_error(message)

    def check_leftovers(self):
        """At start: clean what a killed run left (unfinished mask files, journal copies) and
        tell the user which images still have unsaved strokes (offered when opened)."""

        def done(result: Leftovers) -> None:
            self.leftovers = result
            text = result.message()
            if not text:
                return
            log.warning(text)
            self.window.statusBar().showMessage(text.split("\n")[0], 15000)
            box = QMessageBox(
                QMessageBox.Icon.Information,
                "Unsaved work from an earlier run",
                text,
                parent=self.window,
            )
            images = [
                u.image
                for u in result.unsaved
                if u.image and not u.journal.name.startswith("project-") and Path(u.image).is_file()
            ]
            if images:
                button = box.addButton("Open these images", QMessageBox.ButtonRole.AcceptRole)
                button.clicked.connect(lambda: self.window.open_files(images))
            box.addButton(QMessageBox.StandardButton.Close)
            box.setModal(False)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.leftovers_box = box
            box.show()

        self.leftovers_task = self.window.tasks.submit(
            "Look for unsaved masks", clean_leftovers_job, on_result=done, on_error=log.warning
        )
        return self.leftovers_task

    # -- undo -------------------------------------------------------------------------------------
    def _can_undo(self) -> bool:
        s = self.session
        return s is not None and (self.controller._stroke is not None or s.editor.undo_depth > 0)

    def undo(self) -> None:
        s = self.session
        if s is None:
            return
        if self.controller._stroke is not None:
            self.controller.end_stroke()
        self._apply(s.editor.undo())

    def redo(self) -> None:
        s = self.session
        if s is None:
            return
        self._apply(s.editor.redo())

    def _apply(self, rect) -> None:
        """Show a change the editor made outside the paint controller (undo, accept, import)."""
        s = self.session
        if rect is None or s is None:
            self._update_status()
            return
        if self.overlay.mask is not s.editor.mask:
            self.overlay.set_mask(s.editor.mask, s.labels)
        else:
            self.overlay.update_rect(rect)
        self._on_mask_changed(rect)

    def apply_change(self, rect) -> None:
        """For other panels (Spots): the session's editor changed ``rect``; show it."""
        self._apply(rect)

    def _on_mask_changed(self, rect) -> None:
        self.mask_changed.emit(rect)
        self._update_status()

    # -- files ------------------------------------------------------------------------------------
    def _need_session(self) -> MaskSession | None:
        if self.session is None:
            self.window.report_error("Open an image first: a mask belongs to an image")
            return None
        if self.session.read_only is not None:
            self.window.report_error(self.session.read_only)
            return None
        if not self.session.ready:
            self.window.report_error("The mask is not ready yet (recovery pending or preparing)")
            return None
        return self.session

    def new_mask(self) -> None:
        s = self._need_session()
        if s is not None:
            self._apply(s.replace(np.zeros(s.editor.shape, dtype=s.editor.mask.dtype)))

    def save(self) -> bool:
        """Ctrl+S: into the project item (on a worker), the mask's file, or ask for a file."""
        s = self._need_session()
        if s is None:
            return False
        if s.store is not None:
            return self.save_to_project(s) is not None
        if s.mask_path is None:
            return self.save_as_dialog()
        return self.save_to(s.mask_path)

    def save_to(self, path) -> bool:
        """Save the mask atomically; a failure is reported and nothing painted is lost.

        For a project item's mask this writes a copy; the item is saved with :meth:`save`."""
        s = self._need_session()
        if s is None:
            return False
        if s.store is not None:
            try:
                written = s.export(Path(path))
            except UserFacingError as e:
                self.window.report_error(str(e))
                return False
            self.window.statusBar().showMessage(
                f"Copy of the mask written to {written}; Ctrl+S saves it into the project", 8000
            )
            return True
        try:
            saved = s.save(Path(path))
        except UserFacingError as e:
            self.window.report_error(str(e))
            return False
        self.window.statusBar().showMessage(f"Mask saved to {saved}", 5000)
        self._update_status()
        self.session_saved(s, saved)
        return True

    def session_saved(self, session: MaskSession, path: Path) -> None:
        """Hook for other panels (the Spots dock writes its review beside the mask)."""
        for callback in list(getattr(self, "save_hooks", [])):
            try:
                callback(session, path)
            except UserFacingError as e:
                self.window.report_error(str(e))

    def save_as_dialog(self) -> bool:
        s = self._need_session()
        if s is None:
            return False
        title = "Save a copy of the mask" if s.store is not None else "Save mask"
        # a recovered journal's record of the file is only ever proposed here, for the user to
        # confirm; never written to on its own
        suggested = s.proposed_path or s.suggested_path()
        if suggested.parent == self.masks_folder():  # the default folder exists once proposed
            with contextlib.suppress(OSError):
                suggested.parent.mkdir(parents=True, exist_ok=True)
        path, _ = QFileDialog.getSaveFileName(self.window, title, str(suggested), MASK_FILTER)
        if not path or not self.save_to(path):
            return False
        self.remember_masks_folder(Path(path).parent)
        return True

    def masks_folder(self) -> Path:
        """Where a new mask is proposed: the folder masks were last saved to (remembered in
        the settings), else the masks folder in the user's data area — not the raw-data
        folder, often read-only at a beamline."""
        chosen = str(self.settings.value("annotate/mask_folder", "") or "")
        if chosen and Path(chosen).is_dir():
            return Path(chosen)
        return mask_index.default_folder()

    def remember_masks_folder(self, folder: Path) -> None:
        self.settings.setValue("annotate/mask_folder", str(folder))
        for session in self.sessions.values():
            session.masks_folder = folder

    def load_dialog(self) -> None:
        s = self._need_session()
        if s is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Load mask", str(s.suggested_path().parent), MASK_FILTER
        )
        if path:
            self.load_from(path)

    def load_from(self, path) -> bool:
        s = self._need_session()
        if s is None:
            return False
        try:
            rect = s.load(Path(path))
        except TooManyLabelsError as e:
            if not self.ask_yes_no(
                "Mask has more labels",
                f"{e}\n\nAdd placeholder labels for them and load the mask?",
            ):
                return False
            s.labels.ensure(e.extra_labels)
            self._labels_changed()
            return self.load_from(path)
        except UserFacingError as e:
            self.window.report_error(str(e))
            return False
        self.overlay.set_mask(s.editor.mask, s.labels)
        self._refresh_labels()
        self._apply(rect)
        return True

    def import_from(self, path, **options) -> bool:
        """Import a mask painted elsewhere (see :func:`qbi_desktop.core.maskio.import_mask`)."""
        s = self._need_session()
        if s is None:
            return False
        options.setdefault("label", self.controller.label)
        try:
            mask = import_mask(Path(path), s.image.shape[:2], labels=s.labels, **options)
            rect = s.replace(mask)
        except TooManyLabelsError as e:
            if not self.ask_yes_no(
                "Mask has more labels", f"{e}\n\nAdd placeholder labels for them and import?"
            ):
                return False
            s.labels.ensure(e.extra_labels)
            self._labels_changed()
            return self.import_from(path, **options)
        except UserFacingError as e:
            self.window.report_error(str(e))
            return False
        self._apply(rect)
        return True

    def import_dialog(self) -> None:
        s = self._need_session()
        if s is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import mask", str(s.suggested_path().parent), IMPORT_FILTER
        )
        if not path:
            return
        dialog = ImportDialog(self.window, self.controller.label)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.import_from(path, **dialog.options())

    def ask_yes_no(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self.window, title, text)
        return answer == QMessageBox.StandardButton.Yes

    # -- closing ----------------------------------------------------------------------------------
    def close_guard(self, document) -> bool:
        """Asked before an image (or, with None, the window) closes: Save / Discard / Cancel."""
        if document is None:
            keys = list(self.sessions)
        else:
            keys = [k for k in self.sessions if k[0] == id(document)]
        if self.controller._stroke is not None:
            self.controller.end_stroke()
        modified = [self.sessions[k] for k in keys if self.sessions[k].modified]
        if modified:
            names = ", ".join(sorted({s.title for s in modified})[:5])
            box = QMessageBox(
                QMessageBox.Icon.Warning,
                "Unsaved mask",
                f"The mask ({names}) has unsaved changes. Save before closing?",
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
                self.window,
            )
            box.setDefaultButton(QMessageBox.StandardButton.Save)
            answer = self._preset_answer(box)
            if answer == QMessageBox.StandardButton.Cancel:
                return False
            if answer == QMessageBox.StandardButton.Save:
                for s in modified:
                    try:
                        if s.store is not None:  # closing: wait for it, then carry on
                            mask, state = s.snapshot()
                            names = s.label_names()
                            outcome = run_job(s.store.save_job(mask, names, s.saved_names))
                            self._item_stored(s, state, names, outcome)
                            self.window.statusBar().showMessage(outcome.message(), 8000)
                        else:
                            target = s.suggested_path()
                            with contextlib.suppress(OSError):
                                target.parent.mkdir(parents=True, exist_ok=True)
                            s.save(target)
                    except UserFacingError as e:
                        self.window.report_error(str(e))
                        return False  # keep the window open: nothing is lost
        for k in keys:
            self.sessions.pop(k).close()
            task = self._prepare_tasks.pop(k, None)
            if task is not None:
                task.cancel()
        if document is not None:
            self.stores.pop(id(document), None)
        if document is None:
            self.save_settings()
        return True

    def _preset_answer(self, box: QMessageBox):
        """``unsaved_answer`` ("save" / "discard" / "cancel") answers without asking (scripts,
        tests: a modal question during an automated close would wait forever)."""
        preset = (self.unsaved_answer or "").lower()
        buttons = {
            "save": QMessageBox.StandardButton.Save,
            "discard": QMessageBox.StandardButton.Discard,
            "cancel": QMessageBox.StandardButton.Cancel,
        }
        if preset in buttons:
            box.deleteLater()
            return buttons[preset]
        return box.exec()

    def discard_all(self) -> None:
        """Drop every mask's unsaved changes and journals without asking (scripts and tests)."""
        if self.controller._stroke is not None:
            self.controller.cancel()
        for key in list(self.sessions):
            self.sessions.pop(key).close()
        self._show_session(None, None)

    # -- status -----------------------------------------------------------------------------------
    def _update_status(self) -> None:
        s = self.session
        if s is None:
            self.status.setText("No image")
            return
        parts = []
        if s.identity is None:
            parts.append("preparing…")
        elif s.read_only is not None:
            parts.append("READ-ONLY: open in another window")
        elif s.recovery is not None:
            parts.append(f"{s.recovery.n_strokes} unsaved stroke(s) found: recover or discard")
        if s.store is not None:
            parts.append(f"Mask of {s.store.describe()}")
        else:
            parts.append(f"Mask: {s.mask_path.name if s.mask_path else '(not saved yet)'}")
        if s.save_task is not None and not s.save_task.finished:
            parts.append("saving…")
        parts.append("modified" if s.modified else "saved")
        parts.append(f"undo {s.editor.undo_depth} / redo {s.editor.redo_depth}")
        if s.journal is not None:
            parts.append(f"journal: {s.journal.n_strokes} stroke(s) safe on disk")
        elif s.journal_problem:
            parts.append("journal: NOT WRITING (see log)")
        self.status.setText(" · ".join(parts))
        if self.controller.tool == "constrained":
            self.preview_label.setText(
                f"Preview: {self.controller.preview.count} pixel(s) would be taken"
            )


class ImportDialog(QDialog):
    """How to read a mask painted elsewhere: label image, binary, a colour, or a channel."""

    MODES = [
        ("auto", "Automatic (binary or label image)"),
        ("binary", "Binary: every non-zero pixel"),
        ("labels", "Label image: values kept"),
        ("colour", "Colour: pixels of one colour"),
        ("channel", "Channel above a threshold"),
    ]

    def __init__(self, parent, label: int):
        super().__init__(parent)
        self.setWindowTitle("Import mask")
        self.mode = QComboBox()
        for _key, text in self.MODES:
            self.mode.addItem(text)
        self.label = QSpinBox(minimum=1, maximum=65535, value=label)
        self.colour = [QSpinBox(minimum=0, maximum=255) for _ in range(3)]
        self.colour[0].setValue(255)
        self.tolerance = QSpinBox(minimum=0, maximum=255)
        self.channel = QComboBox()
        self.channel.addItems(["Red", "Green", "Blue", "Alpha"])
        self.threshold = QDoubleSpinBox(minimum=-1e9, maximum=1e9, value=0)
        form = QFormLayout(self)
        form.addRow("Read as", self.mode)
        form.addRow("Label for marked pixels", self.label)
        row = QHBoxLayout()
        for w in self.colour:
            row.addWidget(w)
        form.addRow("Colour (R G B)", row)
        form.addRow("Colour tolerance", self.tolerance)
        form.addRow("Channel", self.channel)
        form.addRow("Channel threshold", self.threshold)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def options(self) -> dict:
        mode = self.MODES[self.mode.currentIndex()][0]
        opts: dict = {"mode": mode, "label": self.label.value()}
        if mode == "colour":
            opts["colour"] = tuple(w.value() for w in self.colour)
            opts["tolerance"] = self.tolerance.value()
        if mode == "channel":
            opts["channel"] = self.channel.currentIndex()
            opts["threshold"] = self.threshold.value()
        return opts


def install(window) -> AnnotatePanel:
    """Build the Annotate dock, its menu and keys, and hook it into the window."""
    panel = AnnotatePanel(window)
    panel.save_hooks = []
    window.add_dock("annotate", "Annotate", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    panel.install_menu()
    panel.install_shortcuts()
    window.close_guards.append(panel.close_guard)
    window.annotate_panel = panel  # the Spots dock finds the mask here
    panel.check_leftovers()
    return panel
