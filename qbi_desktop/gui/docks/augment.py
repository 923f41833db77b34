"""The Augment dock: configure augmentation with a live preview, write augmented datasets.

Layout, top to bottom: a compact header (the modality profile with a one-line note — the reasons
are its tooltip —, seed, re-roll and Keras mode), so that the option rows start high enough to be
seen in the default docked layout; every engine option grouped by kind (see augment_controls);
pipeline load/save and the batch button; then the preview — the current image and N samples with
its mask overlaid, drawn with the viewer's levels and colour map, and the difference view of the
selected sample. The sample count sits in the preview's tab bar.

Switching profiles never loses settings: what a profile switched off comes back with its value
when a profile that allows it is chosen (the note says which). Keras mode greys out the OpenCV
resampler (Keras resamples with scipy), and a refused pipeline greys out the samples on screen,
so stale pictures never pass for the current settings.

Modules: this one builds the panel and runs the preview; augment_controls/augment_editors hold
the option form and its editors, augment_profiles the profile chooser and dialog,
augment_files the pipeline's load/save and remembered settings, augment_batch the batch dialog
and run, augment_preview the preview worker, grid and difference view, augment_render the
preview's computation and rendering (numpy, on the worker).

Any change re-draws the preview after a 30 ms pause, on a preview-sized copy, in a latest-only
worker (augment_preview): the GUI never waits, and a result that a newer change has made stale
is never shown. The samples use the same parameters a batch run with the same seed writes for
copies 0..N-1 of this image, so what the user sees (and hovers) is what gets written.
"""

from __future__ import annotations

import html
import secrets
import time

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.augment import Profile
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.docks.augment_batch import BatchRunMixin
from qbi_desktop.gui.docks.augment_controls import OptionsForm
from qbi_desktop.gui.docks.augment_editors import in_dock_words, shrinkable
from qbi_desktop.gui.docks.augment_files import PipelineFilesMixin
from qbi_desktop.gui.docks.augment_preview import DifferenceView, LatestOnlyRunner, SampleGrid
from qbi_desktop.gui.docks.augment_profiles import (  # noqa: F401  (PROFILE_TITLES, ProfileDialog: public names)
    PROFILE_TITLES,
    ProfileDialog,
    ProfilesMixin,
    profile_reasons_html,
)
from qbi_desktop.gui.docks.augment_render import (
    PreviewBase,
    PreviewResult,
    compute_preview,
    make_base,
)
from qbi_desktop.gui.docks.levels import colormap_lut
from qbi_desktop.gui.progress_bar import ProgressBar

KERAS_NOTE = (
    "Keras mode reproduces ImageDataGenerator exactly, defects included: "
    "height_shift_range moves horizontally and width_shift_range vertically, the pivot is "
    "off-centre on non-square images, 'wrap' is scipy's legacy (non-periodic) wrap, 'constant' "
    "does not interpolate across the edge, brightness goes through 8-bit PIL, and brightness / "
    "channel shift return float images."
)
CORRECTED_NOTE = (
    "Off: corrected mode — shifts along the right axes, the true centre, periodic wrap, "
    "full-precision brightness, dtype kept. Tick to reproduce Keras exactly."
)
DEBOUNCE_MS = 30
PREVIEW_MIN_SIDE = 128
PREVIEW_MAX_SIDE = 256
CONTROLS_SHARE = 56  # per cent of a tall panel for the controls, the rest the preview


class AugmentPanel(ProfilesMixin, PipelineFilesMixin, BatchRunMixin, QWidget):
    """The dock's widget. Public for tests and other panels: ``form``, ``grid``, ``difference``,
    ``pipeline()``, ``refresh()``, ``load_pipeline()``, ``save_pipeline()``, ``start_batch()``."""

    preview_shown = Signal(object)  # PreviewResult, after the grid's images were set
    items_added = Signal(list)  # new project item ids from a batch written into a project

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.runner = LatestOnlyRunner(self)
        self.runner.done.connect(self._show_result)
        self.runner.failed.connect(self._show_failure)
        self.result: PreviewResult | None = None
        self.batch_task = None
        self._base: PreviewBase | None = None
        self._dirty = True
        self._profiles: dict[str, Profile] = {}
        self._last_request = 0.0
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.refresh)
        self._build()
        self._reload_profiles()
        self._restore()

    # -- construction ------------------------------------------------------------------------
    def _build(self) -> None:
        self.profile = QComboBox()
        # sized for a docked panel, not for the longest profile title (the popup shows it all)
        self.profile.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.profile.setMinimumContentsLength(14)
        self.profile.setToolTip(
            "Modality profile: switches off augmentations this kind of data does not allow"
        )
        self.save_profile_button = QPushButton("Save profile…")
        self.save_profile_button.setToolTip(
            "Make your own profile from the options allowed now (untick the ones to forbid)"
        )
        # one line ("CT: 13 options off — hover for why"), plus one for what a switch changed;
        # the reasons are its tooltip (and each greyed-out option's own)
        self.profile_note = QLabel("")
        self.profile_note.setWordWrap(True)
        self.profile_note.setObjectName("profileNote")
        # by name: a bare rule would colour the note's tooltip too
        self.profile_note.setStyleSheet("QLabel#profileNote { color: #b36b00; }")
        self.profile_note.hide()
        self.keras = QCheckBox("Keras mode")  # short: the seed row fits a narrow column
        self.keras.setToolTip(CORRECTED_NOTE + "\n\n" + KERAS_NOTE)
        self.notice = ""  # something the panel changed on its own, shown with the preview status
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.seed.setKeyboardTracking(False)
        shrinkable(self.seed, 90)
        self.seed.setToolTip("Same seed, same samples (and the same batch output)")
        self.reroll = QPushButton("Re-roll")
        self.reroll.setToolTip("Draw new samples: a new random seed (R when this panel has focus)")
        self.n_samples = QSpinBox(minimum=1, maximum=16, value=8)
        self.n_samples.setToolTip("Number of samples in the preview")
        self.load_button = QPushButton("Load…")
        self.save_button = QPushButton("Save…")
        self.load_button.setToolTip("Load a pipeline JSON (profile, mode, seed and options)")
        self.save_button.setToolTip("Save this pipeline as JSON (for the batch command)")
        self.batch_button = QPushButton("Write dataset…")
        self.batch_button.setToolTip(
            "Write an augmented dataset (N copies of each image of a folder or the project)"
        )
        self.batch_progress = ProgressBar()
        self.batch_progress.setTextVisible(True)
        # a row of its own under the buttons while a batch runs: beside Load/Save/Cancel it had
        # ~95 px and "104 of 1800 written" wrapped to two clipped lines
        self.batch_progress.setMinimumWidth(40)
        self.batch_cancel = QPushButton("Cancel")
        self.batch_progress.hide()
        self.batch_cancel.hide()
        self.form = OptionsForm()

        # The header is kept to three rows (four while a profile note is due; Keras mode's
        # explanation is the box's tooltip): in the default docked layout the controls area is
        # ~220 px tall and at least three option rows must show in it.
        head = QFormLayout()
        head.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.profile, 1)
        row.addWidget(self.save_profile_button)
        head.addRow("Profile", row)
        head.addRow(self.profile_note)
        row = QHBoxLayout()
        row.addWidget(self.seed, 1)
        row.addWidget(self.reroll)
        row.addSpacing(6)
        row.addWidget(self.keras)
        head.addRow("Seed", row)

        controls = QWidget()
        column = QVBoxLayout(controls)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(head)
        column.addWidget(self.form)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(controls)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.scroll = scroll
        scroll.setMinimumWidth(260)  # narrow docks scroll sideways rather than squeeze

        batch_row = QHBoxLayout()
        self.pipeline_label = pipeline_label = QLabel("Pipeline")
        pipeline_label.setToolTip("Load or save these settings as a pipeline JSON")
        batch_row.addWidget(pipeline_label)
        batch_row.addWidget(self.load_button)
        batch_row.addWidget(self.save_button)
        batch_row.addWidget(self.batch_button, 1)
        run_row = QHBoxLayout()
        run_row.addWidget(self.batch_progress, 1)
        run_row.addWidget(self.batch_cancel)

        self.grid = SampleGrid(self.n_samples.value())
        self.difference = DifferenceView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.grid, "Samples")
        self.tabs.addTab(self.difference, "Difference")
        self.tabs.setTabToolTip(
            0, "Hover a sample for the parameters drawn for it; double-click it for the difference"
        )
        corner = QWidget()
        crow = QHBoxLayout(corner)
        crow.setContentsMargins(0, 0, 2, 0)
        crow.addWidget(self.n_samples)  # "Samples" is the tab's name: no label, a narrow row
        self.tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)
        self.status = QLabel("Open an image to see the preview")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.status.setToolTip(
            "Samples, seed, whether the Annotate mask is overlaid, the preview copy's size (of "
            "the image's), and how long the preview took"
        )
        preview = QWidget()
        pcol = QVBoxLayout(preview)
        pcol.setContentsMargins(0, 0, 0, 0)
        pcol.addWidget(self.tabs, 1)
        pcol.addWidget(self.status)

        top = QWidget()
        tcol = QVBoxLayout(top)
        tcol.setContentsMargins(0, 0, 0, 0)
        tcol.addWidget(scroll, 1)
        tcol.addLayout(batch_row)
        tcol.addLayout(run_row)  # no height while its widgets are hidden
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(preview)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self._split_by_user = False  # until the user drags the handle, resizing re-proportions
        self.splitter.splitterMoved.connect(lambda *_: setattr(self, "_split_by_user", True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.splitter)

        self.form.changed.connect(self.schedule)
        self.form.editors["resampler"].changed.connect(self._clear_notice)
        self.keras.toggled.connect(self._keras_toggled)
        self.seed.valueChanged.connect(self.schedule)
        self.reroll.clicked.connect(self.reroll_seed)
        self.n_samples.valueChanged.connect(self._count_changed)
        self.profile.currentIndexChanged.connect(self._profile_changed)
        self.save_profile_button.clicked.connect(self.save_profile_dialog)
        self.load_button.clicked.connect(self.load_pipeline_dialog)
        self.save_button.clicked.connect(self.save_pipeline_dialog)
        self.batch_button.clicked.connect(self.open_batch_dialog)
        self.batch_cancel.clicked.connect(self.cancel_batch)
        self.grid.selected.connect(self._sample_selected)
        for tile in self.grid.tiles:
            tile.double_clicked.connect(self._open_difference)
        reroll = QShortcut(QKeySequence("R"), self)
        reroll.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        reroll.setWhatsThis("Re-roll the preview's samples (a new seed)")
        reroll.activated.connect(self.reroll_seed)
        self._keras_toggled(False)

    # -- pipeline ----------------------------------------------------------------------------
    def _keras_toggled(self, on: bool, schedule: bool = True) -> None:
        # Keras resamples with scipy: the OpenCV resampler is greyed out while the mode is on,
        # so the engine's refusal of that pair cannot be reached from the dock.
        if self.form.set_keras_mode(on):
            self.notice = (
                "Resampler set to exact: options.resampler 'opencv' cannot be combined with "
                "Keras mode."
            )
            self.window.statusBar().showMessage(self.notice, 8000)
        elif not on:
            self.notice = ""
        if schedule:
            self.schedule()

    def _clear_notice(self) -> None:
        self.notice = ""

    def reroll_seed(self) -> None:
        """New samples: a fresh random seed (type the old one back to see the old samples)."""
        new = secrets.randbelow(2**31 - 1)
        while new == self.seed.value():
            new = secrets.randbelow(2**31 - 1)
        self.seed.setValue(new)

    def _count_changed(self, n: int) -> None:
        self.grid.set_count(n)
        for tile in self.grid.tiles:
            tile.double_clicked.connect(self._open_difference)
        self.schedule()

    # -- preview -----------------------------------------------------------------------------
    def schedule(self, *_args) -> None:
        """Something changed: refresh the preview.

        Debounced with a leading edge: a change after a quiet spell (worker idle, no request in
        the last 30 ms) is drawn at once; changes that follow quickly (a slider drag) collapse
        into one request 30 ms after the last of them.
        """
        self._dirty = True
        now = time.perf_counter()
        quiet = now - self._last_request > DEBOUNCE_MS / 1000 and not self.runner.busy
        if quiet and not self._debounce.isActive():
            self._last_request = now
            self.refresh()
        else:
            self._last_request = now
            self._debounce.start()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """Controls beside the preview in a wide dock, above it in a tall one."""
        super().resizeEvent(event)
        wide = self.width() > 1.15 * self.height() and self.width() > 640
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        turned = self.splitter.orientation() != orientation
        if turned or not self._split_by_user:
            self.splitter.setOrientation(orientation)
            if wide:
                side = max(self.scroll.widget().sizeHint().width() + 20, 430)
                self.splitter.setSizes([side, max(1, self.width() - side)])
            else:
                # the controls get a little more than half: a docked panel is short, and a
                # preview that leaves few rows of controls visible cannot be steered
                controls = self.height() * CONTROLS_SHARE // 100
                self.splitter.setSizes([controls, self.height() - controls])

    def _dock_visible(self) -> bool:
        dock = self.window.docks.get("augment")
        return dock is None or dock.isVisible()

    def current_mask(
        self, shape: tuple[int, ...]
    ) -> tuple[np.ndarray | None, dict[int, tuple[int, int, int]] | None]:
        """The Annotate panel's mask of the current plane (``shape``: its height and width) and
        its label colours, if any."""
        panel = getattr(self.window, "panels", {}).get("annotate")
        if panel is None:
            return None, None
        mask = None
        try:
            for attr in ("mask_for_current", "current_mask"):
                fn = getattr(panel, attr, None)
                if callable(fn):
                    mask = fn()
                    break
            else:
                session = getattr(panel, "session", None)
                mask = getattr(session, "mask", None) if session is not None else None
        except Exception:  # noqa: BLE001 - the other panel's state must not break the preview
            mask = None
        if mask is None or tuple(np.shape(mask)) != tuple(shape[:2]):
            return None, None
        colours = None
        labels = getattr(panel, "labels", None) or getattr(
            getattr(panel, "session", None), "labels", None
        )
        try:
            colours = {int(lab.value): tuple(lab.colour) for lab in labels} if labels else None
        except Exception:  # noqa: BLE001
            colours = None
        return np.asarray(mask), colours

    def preview_side(self) -> int:
        """The preview copy's longest side: what a grid tile shows in device pixels (no point
        computing more), between 128 and 256 px, in steps of 64 so a resize rarely recomputes
        the copy."""
        tile = max(self.grid.tile_side(), 1) * self.devicePixelRatioF()
        return int(min(PREVIEW_MAX_SIDE, max(PREVIEW_MIN_SIDE, 64 * -(-tile // 64))))

    def connect_annotate(self) -> None:
        """Re-draw the preview when the Annotate panel's mask changes (if that panel exists)."""
        panel = getattr(self.window, "panels", {}).get("annotate")
        if panel is None or getattr(self, "_annotate_connected", False):
            return
        for name in ("mask_changed", "session_changed"):
            signal = getattr(panel, name, None)
            if signal is not None and hasattr(signal, "connect"):
                signal.connect(self.schedule)
        boxes = getattr(panel, "boxes", None)
        if boxes is not None:  # boxes follow the image too (gui/annotate/boxes_dock.py)
            boxes.boxes_changed.connect(self.schedule)
        self._annotate_connected = True

    def refresh(self) -> None:
        """Ask the worker for a new preview now (the newest request wins)."""
        self._debounce.stop()
        if not self._dock_visible():
            self._dirty = True
            return
        self._dirty = False
        doc = self.window.current
        if doc is None:
            self.grid.clear("Open an image to see the preview")
            self.status.setText("Open an image to see the preview")
            return
        try:
            pipeline = self.pipeline()
            pipeline.check()
        except UserFacingError as exc:
            self._refused(in_dock_words(str(exc)))
            return
        self._remember(pipeline)
        try:
            plane = doc.plane()
        except UserFacingError as exc:  # a damaged slice, or its file closed meanwhile
            self._refused(str(exc), "from the last image that could be read")
            return
        side = self.preview_side()
        key = (id(doc), doc.index, plane.shape, plane.complete, side)
        base = self._base if self._base is not None and self._base.key == key else None
        array = plane.array
        mask, colours = self.current_mask(plane.shape)
        panel = getattr(self.window, "panels", {}).get("annotate")
        boxes = panel.boxes.boxes_shown(doc) if getattr(panel, "boxes", None) else None
        levels = tuple(float(v) for v in doc.levels)
        lut = colormap_lut(self.window.levels_panel.cmap.currentText())
        n = self.n_samples.value()

        def work() -> PreviewResult:
            b = base if base is not None else make_base(key, array, side)
            self._base = b  # a plain attribute swap: the GUI thread only reads it
            return compute_preview(b, mask, pipeline, n, levels, lut, colours, boxes=boxes)

        self.runner.submit(work)

    def _show_result(self, _generation: int, result: PreviewResult) -> None:
        self.result = result
        self.grid.show_result(result)
        self.difference.show_sample(result, self.grid.selected_index)
        h, w = result.original.shape[:2]
        mask = "with its mask" if result.has_mask else "no mask"
        # one line, so the grid keeps its height (how to use the grid is the tab's tooltip)
        text = html.escape(
            f"{len(result.samples)} samples · seed {result.seed} · {mask} · {w}×{h} of "
            f"{result.full_shape[1]}×{result.full_shape[0]} px · {result.seconds * 1000:.0f} ms"
        )
        if self.notice:
            text = f"<span style='color:#b36b00'>{html.escape(self.notice)}</span><br>{text}"
        self.status.setText(text)
        self.preview_shown.emit(result)

    def _show_failure(self, _generation: int, message: str) -> None:
        self._refused(in_dock_words(message))  # a refusal from the preview's worker too

    def _refused(self, message: str, drawn_for: str = "for earlier settings") -> None:
        """The pipeline (or its preview, or the image) was refused: say why, and grey out the
        samples on screen, which were drawn ``drawn_for`` and must not pass for these."""
        self.runner.invalidate()  # a preview still computing for earlier settings is dropped
        self.result = None
        self.grid.set_stale(f"Drawn {drawn_for}: {message}")
        self.difference.clear()
        self.status.setText(
            f"<span style='color:#d04040'>{html.escape(message)}</span><br>"
            f"The samples shown are greyed out: they were drawn {drawn_for}."
        )

    def _sample_selected(self, index: int) -> None:
        if self.result is not None:
            self.difference.show_sample(self.result, index)

    def _open_difference(self, index: int) -> None:
        self.grid.select(index)
        self.tabs.setCurrentWidget(self.difference)

    def _document_changed(self, *_args) -> None:
        self._base = None
        self.schedule()

    def _visibility_changed(self, visible: bool) -> None:
        if visible and self._dirty:
            self.schedule()


def install(window) -> AugmentPanel:
    """Build the Augment dock, its menu and connections."""
    panel = AugmentPanel(window)
    dock = window.add_dock("augment", "Augment", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    levels = window.docks.get("levels")
    if levels is not None:
        window.tabifyDockWidget(levels, dock)
        levels.raise_()
    dock.visibilityChanged.connect(panel._visibility_changed)
    menu = window.add_menu("augment", "&Augment")
    window.add_action(
        "Show Augment Panel",
        lambda: (dock.show(), dock.raise_()),
        None,
        menu,
        "Configure augmentation with a live preview",
    )
    window.add_action("&Load Pipeline…", panel.load_pipeline_dialog, None, menu)
    window.add_action("&Save Pipeline…", panel.save_pipeline_dialog, None, menu)
    window.add_action(
        "&Write Augmented Dataset…",
        panel.open_batch_dialog,
        None,
        menu,
        "K augmented copies of every item, with provenance; resumable",
    )
    window.add_action("&Re-roll Preview", panel.reroll_seed, "Ctrl+Alt+R", menu)
    window.document_shown.connect(panel._document_changed)
    window.slice_bar.index_changed.connect(panel._document_changed)
    window.levels_panel.levels_changed.connect(panel.schedule)
    window.levels_panel.colormap_changed.connect(panel.schedule)
    window.levels_panel.auto_requested.connect(panel.schedule)
    # The Annotate panel may be installed after this one: connect once all panels exist.
    QTimer.singleShot(0, panel.connect_annotate)
    return panel
