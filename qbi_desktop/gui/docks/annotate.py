"""Annotate dock: paint label masks with mouse or pen; labels, overlay, files, undo, recovery.

Keys (active while the canvas or this dock has focus): B brush, E eraser, F fill, L lasso,
C constrained brush, W box (a key selects its tool, pressed again it stays), Esc navigate / cancel
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

The panel is split by concept: this module builds the widgets and owns the sessions, tools,
undo and status; the sessions following the planes shown
(:mod:`~qbi_desktop.gui.annotate.dock_planes`), its labels
(:mod:`~qbi_desktop.gui.annotate.dock_labels`), project items
(:mod:`~qbi_desktop.gui.annotate.dock_project`), recovery
(:mod:`~qbi_desktop.gui.annotate.dock_recovery`) and files and closing
(:mod:`~qbi_desktop.gui.annotate.dock_files`) are mixins in ``gui/annotate``.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.annotation.journal import describe_unsaved
from qbi_desktop.core.annotation.leftovers import Leftovers
from qbi_desktop.core.annotation.masks import ConstraintRule
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.labels import LabelTable
from qbi_desktop.gui.annotate.boxes_dock import BoxesDock
from qbi_desktop.gui.annotate.dock_files import FilesMixin
from qbi_desktop.gui.annotate.dock_labels import LabelsMixin
from qbi_desktop.gui.annotate.dock_planes import PLANE_SETTLE_MS, PlanesMixin
from qbi_desktop.gui.annotate.dock_project import ProjectMixin
from qbi_desktop.gui.annotate.dock_recovery import RecoveryMixin
from qbi_desktop.gui.annotate.overlay import MaskOverlay
from qbi_desktop.gui.annotate.session import MaskSession
from qbi_desktop.gui.annotate.store import ItemMaskSaved, ProjectItemStore
from qbi_desktop.gui.annotate.tools import PaintController
from qbi_desktop.gui.settings import read_setting
from qbi_desktop.gui.undo import UndoContext, undo_router

log = logging.getLogger("qbi_desktop")


TOOL_KEYS = {"brush": "B", "eraser": "E", "fill": "F", "lasso": "L", "constrained": "C", "box": "W"}
TOOL_TITLES = {
    "brush": "Brush",
    "eraser": "Eraser",
    "fill": "Fill",
    "lasso": "Lasso",
    "constrained": "Constrained",
    "box": "Box",
}


class AnnotatePanel(QWidget, PlanesMixin, LabelsMixin, ProjectMixin, RecoveryMixin, FilesMixin):
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
        self._recent: dict[tuple[int, int], None] = {}  # session keys, least recently shown first
        self._plane_timer = QTimer(self)  # a slice stepped to: its session after the paint
        self._plane_timer.setSingleShot(True)
        self._plane_timer.setInterval(PLANE_SETTLE_MS)
        self._plane_timer.timeout.connect(self._plane_settled)
        # id(document) -> (document, store): documents whose mask belongs to a project item
        self.stores: dict[int, tuple[object, ProjectItemStore]] = {}
        self.last_save_task = None
        self.last_save_outcome: ItemMaskSaved | None = None  # what the last item save did
        self.recovery_box: QMessageBox | None = None
        self.unsaved_answer: str | None = None  # see _preset_answer
        self.labels_template = LabelTable()
        self.leftovers: Leftovers | None = None  # what the start-up clean-up found
        self.leftovers_box: QMessageBox | None = None
        # other panels' edits on this canvas, asked first by undo / redo (the Spots dock's
        # review decisions): each has undo_text() / redo_text() (None: its edit is not the
        # last one) and undo() / redo()
        self.undo_hooks: list = []

        self.overlay = MaskOverlay()
        self.canvas.view.addItem(self.overlay, ignoreBounds=True)
        self.controller = PaintController(self.canvas, self.overlay, lambda: self.session)
        self.boxes = BoxesDock(self)  # boxes: tool W, list, proposals (gui/annotate/boxes_*.py)
        self._build()
        self._load_settings()
        self.controller.tool_changed.connect(self._tool_changed)
        self.controller.size_changed.connect(self._size_changed)
        self.controller.mask_changed.connect(self._on_mask_changed)
        self.controller.stroke_finished.connect(self._update_status)
        self.controller.stroke_finished.connect(self.boxes.stroke_made)
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
        for w, tip in ((self.min_size, "min"), (self.max_size, "max")):
            pen_row.addWidget(QLabel(tip))
            pen_row.addWidget(w)
        self.protect = QCheckBox("Paint over background only")
        self.protect.toggled.connect(lambda on: setattr(c, "protect", on))

        brush_box = QGroupBox("Brush")
        bf = QFormLayout(brush_box)
        bf.addRow("Size", size_row)
        bf.addRow("Pen", pen_row)
        # γ on a row of its own: with it the pen row made the panel wider than the right
        # column at 1366x768 (the panel scrolled sideways)
        bf.addRow("Pen γ", self.gamma)
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
        col.addWidget(self.boxes.widget)
        col.addWidget(obox)
        col.addStretch(1)
        scroll = self.scroll = QScrollArea()
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
        # (key, slot, what Help > Keyboard Shortcuts says; empty: the button's "Brush (B)")
        # a tool's key selects it; pressed again it stays (a second B that turned the brush off
        # made the next stroke pan the image): Esc goes back to navigating
        bindings = [(TOOL_KEYS[t], lambda t=t: self.set_tool(t), "") for t in TOOL_KEYS]
        bindings += [
            ("Esc", self._escape, ""),
            ("[", lambda: self.controller.grow(-1), "Brush smaller"),
            ("]", lambda: self.controller.grow(1), "Brush larger"),
            ("V", lambda: self.visible.toggle(), "Show or hide the mask"),
            ("0", lambda: self._number_key(0), "Box tool: the first class for the selected box"),
        ]
        bindings += [(str(n), lambda n=n: self._number_key(n), "") for n in range(1, 10)]
        for owner in (self, self.canvas):
            for key, slot, what in bindings:
                sc = QShortcut(QKeySequence(key), owner)
                sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.setWhatsThis(what)
                sc.activated.connect(slot)
                self.shortcuts.append(sc)
        self.boxes.install_shortcuts(self.shortcuts)

    def _number_key(self, n: int) -> None:
        """0-9: the box class with the Box tool, else the mask label (1-9)."""
        if self.controller.tool == "box":
            self.boxes.number_key(n)
        elif n > 0:
            self.select_label_index(n - 1)

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
                lambda: (
                    self._hook("undo_text")
                    or self.boxes.undo_text()
                    or ("mask edit" if self._can_undo() else None)
                ),
                lambda: (
                    self._hook("redo_text")
                    or self.boxes.redo_text()
                    or ("mask edit" if self.session and self.session.editor.redo_depth else None)
                ),
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

        def val(key, default, typ=float, low=0.0):  # sizes, factors, opacity: not negative
            return read_setting(s, f"annotate/{key}", typ(default), low)

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
        self.rule_threshold.setValue(val("rule_threshold", 0.0, low=None))
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

    def _escape(self) -> None:
        if self.boxes.controller.cancel() or self.boxes.cancel_pending():
            return
        if self.boxes.session is not None and self.boxes.session.selected is not None:
            self.boxes.session.select(None)
        elif self.controller._stroke is not None:
            self.controller.cancel()
        else:
            self.set_tool(None)

    def _tool_changed(self, tool) -> None:
        for t, b in self.tool_buttons.items():
            b.setChecked(t == tool)
        if tool == "box":  # its class field and list, below the brush groups on a small screen
            box = self.boxes.widget
            top = box.mapTo(self.scroll.widget(), box.rect().topLeft()).y()
            bar, height = self.scroll.verticalScrollBar(), self.scroll.viewport().height()
            if not bar.value() <= top <= bar.value() + height - box.height():
                bar.setValue(max(0, min(top, top + box.height() - height)))  # vertical only

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

    # -- undo -------------------------------------------------------------------------------------
    def _can_undo(self) -> bool:
        s = self.session
        return s is not None and (self.controller._stroke is not None or s.editor.undo_depth > 0)

    def _hook(self, text: str):
        """What the first undo hook whose edit came last would undo (``text``: "undo_text" or
        "redo_text"), or None."""
        for hook in self.undo_hooks:
            said = getattr(hook, text)()
            if said:
                return said
        return None

    def undo(self):
        for hook in self.undo_hooks:  # a review decision was the last edit on the canvas
            if hook.undo_text():
                return hook.undo()
        if self.boxes.can_undo():  # the last edit on the canvas was a box edit
            return self.boxes.undo()
        s = self.session
        if s is None:
            return
        if self.controller._stroke is not None:
            self.controller.end_stroke()
        self._apply(s.editor.undo())

    def redo(self):
        for hook in self.undo_hooks:
            if hook.redo_text():
                return hook.redo()
        if self.boxes.can_redo():
            return self.boxes.redo()
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
            parts.append(f"unsaved work found ({s.recovery.describe()}): recover or discard")
        if s.store is not None:
            parts.append(f"Mask of {s.store.describe()}")
        else:
            name = s.mask_path.name if s.mask_path else "(not saved yet)"
            document = self.window.current
            if document is not None and s.image_path not in (None, document.path):
                name += f" of frame {s.image_path.name}"  # a numbered series: the frame's file
            parts.append(f"Mask: {name}")
        if s.save_task is not None and not s.save_task.finished:
            parts.append("saving…")
        parts.append("modified" if s.modified else "saved")
        parts.append(f"undo {s.editor.undo_depth} / redo {s.editor.redo_depth}")
        if s.journal is not None:
            held = describe_unsaved(s.journal.n_strokes, s.unsaved_base)
            comma = "," if s.unsaved_base else ""  # "…never saved, safe on disk"
            parts.append(f"journal: {held}{comma} safe on disk")
        elif s.journal_problem:
            parts.append("journal: NOT WRITING (see log)")
        self.status.setText(" · ".join(parts))
        if self.controller.tool == "constrained":
            self.preview_label.setText(
                f"Preview: {self.controller.preview.count} pixel(s) would be taken"
            )


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
