"""The Simulate dock: simulated radiographs with exact ground truth, previewed and generated.

Phantoms are geometric shapes (plates, cylinders, spheres) or *template* objects cut from the
image shown in the viewer (its dark regions, see core.simulate.template). The physical knobs
are the simulator's: open-beam counts, attenuation range, detector gain (Poisson noise), read
noise, blur, gamma-spot rate and size, image size. "Preview" simulates one image on a worker;
"Generate into project" adds N items with their ground-truth masks, targets and provenance to
the project open in the Dataset Browser (one transaction per item: a cancel keeps the finished
ones, each complete); with no project open, "Generate to folder" writes a simulated set.
The knobs sit on three tabs (Phantom / Physics / Output), one knob a row, so that a laptop's
docked panel shows a whole tab without scrolling and the preview image keeps the rest (at least
35 % of the height).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
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

from qbi_desktop.core.catalog.simulated import MASK_KINDS, simulate_into_project_job
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.simulate import (
    SimulationParams,
    derive_image_seed,
    simulate_radiograph,
    write_simulated_set,
)
from qbi_desktop.gui.elided_label import ElidedLabel
from qbi_desktop.gui.progress_bar import ProgressBar

GEOMETRIC, TEMPLATE = "geometric", "template"
PREVIEW_SHARE = 0.35  # of the panel's height the preview image keeps at least (_share_height)
KIND_NAMES = {"plate": "Plates", "cylinder": "Cylinders", "sphere": "Spheres"}


def install(window) -> SimulatePanel:
    panel = SimulatePanel(window)
    dock = window.add_dock("simulate", "Simulate", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    # A tab beside another right-hand panel: its form needs the column's full height.
    for name in ("annotate", "info"):
        other = window.docks.get(name)
        if other is not None and window.dockWidgetArea(other) == window.dockWidgetArea(dock):
            window.tabifyDockWidget(other, dock)
            other.raise_()
            break
    return panel


def _spin(lo: float, hi: float, value: float, step: float = 1.0, decimals: int = 0, tip=""):
    box = QDoubleSpinBox(decimals=decimals, minimum=lo, maximum=hi, singleStep=step)
    box.setValue(value)
    box.setToolTip(tip)
    return box


class SimulatePanel(QWidget):
    def __init__(self, window):
        super().__init__()
        self.window = window
        self.task = None
        self.preview_task = None
        self.template = None  # TemplateObjects cut from the viewer's image
        self.preview_result = None

        self.phantom = QComboBox()
        self.phantom.addItem("Geometric shapes", GEOMETRIC)
        self.phantom.addItem("Template: objects cut from the current image", TEMPLATE)
        # sized for a docked panel rather than for the longest entry (the popup shows it all)
        self.phantom.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.phantom.setMinimumContentsLength(16)
        self.phantom.currentIndexChanged.connect(self._phantom_changed)
        self.kinds = {k: QCheckBox(text) for k, text in KIND_NAMES.items()}
        for box in self.kinds.values():
            box.setChecked(True)
        self._kinds_row = QHBoxLayout()
        for box in self.kinds.values():
            self._kinds_row.addWidget(box)
        self.template_button = QPushButton("Cut objects from current image")
        self.template_button.clicked.connect(self.take_template)
        self.template_label = ElidedLabel("no template yet")
        self.object_count = QSpinBox(minimum=0, maximum=64, value=6)
        self.size_min = _spin(0.005, 1.0, 0.03, 0.01, 3, "smallest object half-size / image side")
        self.size_max = _spin(0.005, 1.0, 0.12, 0.01, 3, "largest object half-size / image side")
        self._size_row = QHBoxLayout()
        self._size_row.addWidget(self.size_min, 1)
        self._size_row.addWidget(QLabel("to"))
        self._size_row.addWidget(self.size_max, 1)

        self.width_box = QSpinBox(minimum=16, maximum=8192, value=512, singleStep=64)
        self.height_box = QSpinBox(minimum=16, maximum=8192, value=512, singleStep=64)
        self.counts = _spin(1, 65535, 20000, 1000, 0, "mean open-beam counts at the beam centre")
        self.mu_min = _spin(1e-4, 100, 0.01, 0.01, 4, "attenuation coefficient, per mm")
        self.mu_max = _spin(1e-4, 100, 0.1, 0.01, 4, "attenuation coefficient, per mm")
        self.gain = _spin(0.01, 1000, 5.0, 0.5, 2, "counts per detected neutron: Poisson noise")
        self.read_noise = _spin(0, 65535, 5.0, 1.0, 1, "Gaussian read noise, counts")
        self.blur = _spin(0, 50, 1.0, 0.25, 2, "detector blur (Gaussian sigma, px)")
        self.spot_rate = _spin(0, 1e5, 400, 50, 0, "gamma spots per megapixel")
        self.spot_size_max = QSpinBox(minimum=1, maximum=64, value=20)
        self.spot_size_max.setToolTip("largest spot, pixels")

        self.count = QSpinBox(minimum=1, maximum=100000, value=10)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.mask_kind = QComboBox()
        for kind, text in zip(
            MASK_KINDS,
            ("Spots (1 = spot)", "Objects (one id each)", "Both (1 object, 2 spot)"),
            strict=True,
        ):
            self.mask_kind.addItem(text, kind)

        self.preview_button = QPushButton("Preview")
        self.preview_button.clicked.connect(self.preview)
        self.generate_button = QPushButton("Generate into project")
        self.generate_button.clicked.connect(self.generate)
        self.folder_button = QPushButton("Generate to folder…")
        self.folder_button.clicked.connect(self.generate_to_folder_dialog)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.cancel_button.hide()  # shown with the progress bar while a generation runs
        self.progress = ProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        # the black preview area is not left unexplained before the first preview
        self.status = QLabel("Press Preview for one simulated radiograph and its exact truth.")
        self.status.setWordWrap(True)

        self.view = pg.GraphicsLayoutWidget()
        self.view_box = self.view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.preview_item = pg.ImageItem(axisOrder="row-major")
        self.spot_item = pg.ImageItem(axisOrder="row-major")
        self.spot_item.setZValue(1)
        self.view_box.addItem(self.preview_item)
        self.view_box.addItem(self.spot_item)
        self.show_truth = QCheckBox("Show ground truth")
        self.show_truth.setChecked(True)
        self.show_truth.toggled.connect(self.spot_item.setVisible)
        self.open_button = QPushButton("Open in viewer")
        self.open_button.setToolTip(
            "Show the preview image full size in the main viewer (levels, zoom, read-out)"
        )
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_preview)

        self._build_layout()
        self._phantom_changed()

    # -- layout -------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        """Parameters in tabs (Phantom / Physics / Output) above the run buttons, the preview
        below them; a splitter between the two gives the parameters the height they need and
        the preview image the rest, at least 35 % of the panel, until the user drags it (see
        _share_height)."""
        phantom = QWidget()
        pf = self._form(phantom)
        pf.addRow("Type", self.phantom)
        pf.addRow("Shapes", self._kinds_row)
        template_row = QHBoxLayout()
        template_row.addWidget(self.template_button)
        template_row.addWidget(self.template_label, 1)
        pf.addRow(template_row)
        pf.addRow("Objects per image", self.object_count)
        pf.addRow("Object size", self._size_row)

        # Physics: one knob a row, a range's two ends side by side; two knobs a row made the
        # tab ~380 px wide, wider than a laptop's right-hand column (scrolled sideways, the
        # spin boxes' arrows cut).
        physics = QWidget()
        form = self._form(physics)
        for text, first, between, second in (
            ("Size (w × h)", self.width_box, "×", self.height_box),
            ("Attenuation /mm", self.mu_min, "to", self.mu_max),
        ):
            pair = QHBoxLayout()
            pair.addWidget(first, 1)
            pair.addWidget(QLabel(between))
            pair.addWidget(second, 1)
            form.addRow(self._buddy(text, first), pair)
        for text, box in (
            ("Open beam counts", self.counts),
            ("Gain (noise)", self.gain),
            ("Read noise", self.read_noise),
            ("Blur σ px", self.blur),
            ("Spots / Mpx", self.spot_rate),
            ("Max spot px", self.spot_size_max),
        ):
            form.addRow(self._buddy(text, box), box)

        output = QWidget()
        of = self._form(output)
        of.addRow("Number of images", self.count)
        of.addRow("Seed", self.seed)
        of.addRow("Mask", self.mask_kind)

        self.param_tabs = QTabWidget()
        self.param_tabs.setDocumentMode(True)
        for page, title, tip in (
            (phantom, "Phantom", "What is imaged: geometric shapes or objects cut from an image"),
            (physics, "Physics", "Beam, attenuation, detector noise and blur, gamma spots"),
            (output, "Output", "How many images, the seed and which ground-truth mask"),
        ):
            scroll = QScrollArea()  # a short dock scrolls one tab, never the whole panel
            scroll.setWidget(page)
            scroll.setWidgetResizable(True)
            # never sideways: the rows wrap (a field under its label) in a narrow column
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            self.param_tabs.addTab(scroll, title)
            self.param_tabs.setTabToolTip(self.param_tabs.count() - 1, tip)

        # Two rows of buttons: three in one would widen a docked panel past its column.
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addWidget(self.generate_button)
        run_row = QHBoxLayout()
        run_row.addWidget(self.folder_button)
        run_row.addWidget(self.progress, 1)
        run_row.addWidget(self.cancel_button)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.param_tabs, 1)
        tl.addLayout(buttons)
        tl.addLayout(run_row)

        preview_box = QWidget()
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addWidget(self.view, 1)
        self._truth_row = QHBoxLayout()
        self._truth_row.addWidget(self.show_truth)
        self._truth_row.addStretch(1)
        self._truth_row.addWidget(self.open_button)
        preview_layout.addLayout(self._truth_row)
        preview_layout.addWidget(self.status)
        self.view.setMinimumHeight(100)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(preview_box)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self._split_by_user = False  # until the user drags the handle, resizing re-proportions
        self.splitter.splitterMoved.connect(lambda *_: setattr(self, "_split_by_user", True))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.splitter, 1)

        # Tab order follows the reading order: the parameters (tabs skip hidden pages), the
        # run buttons, then the preview's own controls.
        chain = [
            self.param_tabs.tabBar(),
            self.phantom,
            *self.kinds.values(),
            self.template_button,
            self.object_count,
            self.size_min,
            self.size_max,
            self.width_box,
            self.height_box,
            self.mu_min,
            self.mu_max,
            self.counts,
            self.gain,
            self.read_noise,
            self.blur,
            self.spot_rate,
            self.spot_size_max,
            self.count,
            self.seed,
            self.mask_kind,
            self.preview_button,
            self.generate_button,
            self.folder_button,
            self.cancel_button,
            self.show_truth,
            self.open_button,
        ]
        for a, b in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(a, b)

    @staticmethod
    def _form(page: QWidget) -> QFormLayout:
        """A tab's form: a row too wide for the column puts its field under its label."""
        form = QFormLayout(page)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        return form

    @staticmethod
    def _buddy(text: str, field: QWidget) -> QLabel:
        label = QLabel(text)
        label.setBuddy(field)
        label.setToolTip(field.toolTip())
        return label

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._share_height()

    def _share_height(self) -> None:
        """The parameters get the height their tallest tab needs (a laptop's 45 % rule left
        the form ~140 px with both scroll bars over an empty preview), the preview image the
        rest but at least PREVIEW_SHARE of the panel (then the tab scrolls), until the user
        moves the splitter."""
        if self._split_by_user:
            return
        total = self.splitter.height()
        if total <= 0:
            return
        top_widget = self.splitter.widget(0)
        below_view = (  # the preview's own rows: show-truth / open, the status line
            self._truth_row.sizeHint().height()
            + max(self.status.heightForWidth(self.splitter.width()), 0)
            + 2 * self.splitter.widget(1).layout().spacing()
        )
        room = total - self.splitter.handleWidth() - below_view - int(PREVIEW_SHARE * total)
        top = max(min(top_widget.sizeHint().height(), room), top_widget.minimumSizeHint().height())
        self.splitter.setSizes([top, max(1, total - top)])

    # -- parameters ---------------------------------------------------------------------------
    def _phantom_changed(self) -> None:
        template = self.phantom.currentData() == TEMPLATE
        for box in self.kinds.values():
            box.setEnabled(not template)
        self.template_button.setEnabled(template)
        self.size_min.setEnabled(not template)
        self.size_max.setEnabled(not template)

    def params(self) -> SimulationParams:
        """The knobs as simulator parameters (raises UserFacingError naming a bad field)."""
        kinds = tuple(k for k, box in self.kinds.items() if box.isChecked())
        if not kinds and self.phantom.currentData() == GEOMETRIC:
            raise UserFacingError("Simulate: tick at least one shape (plates, cylinders, spheres)")
        return SimulationParams(
            height=self.height_box.value(),
            width=self.width_box.value(),
            open_beam_counts=self.counts.value(),
            attenuation_per_mm=(self.mu_min.value(), max(self.mu_min.value(), self.mu_max.value())),
            counts_per_neutron=self.gain.value(),
            read_noise_counts=self.read_noise.value(),
            blur_sigma_px=self.blur.value(),
            spot_rate_per_mpx=self.spot_rate.value(),
            spot_size_px=(1, self.spot_size_max.value()),
            object_count=self.object_count.value(),
            object_kinds=kinds or ("plate",),
            object_size_fraction=(
                self.size_min.value(),
                max(self.size_min.value(), self.size_max.value()),
            ),
        )

    def _simulator(self, params: SimulationParams):
        """(image seed -> SimulatedRadiograph, phantom name, provenance extras)."""
        if self.phantom.currentData() == TEMPLATE:
            from qbi_desktop.core.simulate.template import simulate_template_radiograph

            if self.template is None:
                raise UserFacingError(
                    "Simulate: template phantoms need a template: open a radiograph and press "
                    "'Cut objects from current image'"
                )
            template = self.template
            extra = {"template": template.source, "template_objects": len(template.patches)}
            return (lambda s: simulate_template_radiograph(template, params, s)), TEMPLATE, extra
        return (lambda s: simulate_radiograph(params, s)), GEOMETRIC, {}

    def take_template(self) -> bool:
        """Cut the objects out of the image shown in the viewer."""
        from qbi_desktop.core.simulate.template import cut_objects

        document = self.window.current
        if document is None:
            self.window.report_error("Template: open a radiograph in the viewer first")
            return False
        try:
            plane = np.asarray(document.plane().array)
            self.template = cut_objects(plane, source=str(document.path))
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return False
        self.template_label.setText(f"{len(self.template.patches)} object(s) from {document.title}")
        return True

    # -- preview ------------------------------------------------------------------------------
    def preview(self):
        try:
            params = self.params()
            make, _phantom, _extra = self._simulator(params)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return None
        seed = derive_image_seed(self.seed.value(), 0)

        def job() -> Job[Any]:
            yield Progress(0, 1, "simulating preview")
            start = time.perf_counter()
            result = make(seed)
            return result, time.perf_counter() - start

        self.preview_task = self.window.tasks.submit(
            "Simulate preview", job, on_result=self._show_preview, on_error=self.window.report_error
        )
        return self.preview_task

    def _show_preview(self, result) -> None:
        sim, seconds = result
        self.preview_result = sim
        self.open_button.setEnabled(True)
        image = sim.image
        lo, hi = np.percentile(image[:: max(1, image.shape[0] // 256)], (0.5, 99.5))
        self.preview_item.setImage(image, autoLevels=False, levels=(lo, max(hi, lo + 1)))
        truth = np.zeros((*image.shape, 4), np.uint8)
        truth[sim.object_labels > 0] = (60, 200, 255, 50)
        truth[sim.spot_mask] = (255, 40, 40, 255)
        self.spot_item.setImage(truth, autoLevels=False)
        self.view_box.autoRange(padding=0.01)
        self.status.setText(
            f"Preview {image.shape[1]} x {image.shape[0]}: {len(sim.spots)} spots, "
            f"{len(sim.objects)} objects ({seconds * 1000:.0f} ms). Red: spot truth; blue: objects."
        )
        self._share_height()  # the status may have grown a line: keep the image's share

    def open_preview(self):
        """Show the last preview in the main viewer; returns its document (None if none)."""
        sim = self.preview_result
        if sim is None:
            return None
        try:
            return self.window.open_array(
                sim.image,
                name=f"Simulated preview (seed {self.seed.value()})",
                metadata={"spots": len(sim.spots), "objects": len(sim.objects)},
            )
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return None

    # -- generation ---------------------------------------------------------------------------
    def _browser(self):
        return getattr(self.window, "panels", {}).get("browser")

    def _project_root(self) -> Path | None:
        browser = self._browser()
        project = getattr(browser, "project", None)
        return None if project is None else project.root

    def generate(self):
        """Add N simulated items to the project open in the Browser (worker, cancellable)."""
        root = self._project_root()
        if root is None:
            self.window.report_error(
                "Generate: no project is open (Dataset > New/Open Project), or use "
                "'Generate to folder…'"
            )
            return None
        try:
            params = self.params()
            make, phantom, extra = self._simulator(params)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return None
        count, seed, mask = self.count.value(), self.seed.value(), self.mask_kind.currentData()

        from qbi_desktop.gui.docks.browser import own_project_job

        def job() -> Job[list[int]]:
            return own_project_job(
                root,
                lambda project: simulate_into_project_job(
                    project,
                    count,
                    seed,
                    params,
                    mask=mask,
                    simulate=make,
                    phantom=phantom,
                    extra_provenance=extra,
                ),
            )

        return self._start(f"Simulate {count} into project", job, self._generated)

    def generate_to_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the simulated set")
        if folder:
            self.generate_to_folder(folder)

    def generate_to_folder(self, folder: str | Path):
        if self.phantom.currentData() == TEMPLATE:
            self.window.report_error(
                "Generate to folder makes geometric phantoms only; template phantoms go into a "
                "project"
            )
            return None
        try:
            params = self.params()
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return None
        count, seed = self.count.value(), self.seed.value()
        return self._start(
            f"Simulate {count} to folder",
            lambda: write_simulated_set(folder, count, seed, params),
            lambda paths: self.status.setText(f"Wrote {len(paths)} image(s) to {folder}"),
        )

    def _start(self, title: str, factory, on_result):
        if self.task is not None and not self.task.finished:
            self.window.report_error("Simulate: a generation is already running")
            return None
        self.progress.setRange(0, 0)
        self.progress.setFormat("starting…")
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.generate_button.setEnabled(False)
        self.folder_button.setEnabled(False)
        task = self.window.tasks.submit(
            title,
            factory,
            on_result=on_result,
            on_error=self.window.report_error,
            on_progress=self._progress,
        )
        task.ended.connect(self._ended)
        task.cancelled.connect(self._cancelled)
        self.task = task
        return task

    def _progress(self, progress: Progress) -> None:
        if progress.total:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.done)
        self.progress.setFormat(f"%v / %m  {progress.message}")

    def _generated(self, ids: list[int]) -> None:
        self.status.setText(f"Added {len(ids)} simulated item(s) with ground-truth masks")
        self._refresh_browser()

    def _cancelled(self) -> None:
        self.status.setText("Cancelled: the items finished before are kept, each complete")
        self._refresh_browser()

    def _refresh_browser(self) -> None:
        browser = self._browser()
        if browser is not None and browser.project is not None:
            browser._data_changed()

    def _ended(self) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.cancel_button.hide()
        self.generate_button.setEnabled(True)
        self.folder_button.setEnabled(True)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
