"""Radiography dock: open-beam / dark-current references, the viewer's unit, spot cleaning.

* References: open beam(s) and dark current(s) chosen once per folder (remembered in the
  settings under the folder of the image shown, and offered again for every image there).
* Unit: counts, transmission or attenuation (``U`` cycles them, Image ▸ Next Unit); the canvas,
  the histogram and the status-bar read-out show values in the current unit. Optional dose
  correction from a rectangle drawn on an open part of the image.
* "Clean spots of a series…": the whole-scan job of :mod:`qbi_desktop.core.radiography.clean`
  on the window's task manager (progress, Cancel, resumable), on local processes or on a dask
  cluster given its scheduler address.
* File ▸ Open Series… and Open NeXus/HDF5… open a numbered series or an HDF5 dataset (picked
  from a list, the NXdata signal first) as one stack.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Progress, as_job
from qbi_desktop.core.radiography.normalise import UNITS, References, load_references
from qbi_desktop.core.radiography.view import masked_pixels, set_unit, unit_of
from qbi_desktop.gui.settings import read_setting

log = logging.getLogger("qbi_desktop")

SETTINGS_GROUP = "radiography"
# folder -> {"ob": [...], "dc": [...]} as one JSON value (a folder path is no QSettings key)
REFS_KEY = f"{SETTINGS_GROUP}/references"
UNIT_KEY = "U"  # free in Help ▸ Keyboard Shortcuts (the panels use A, B, C, E, F, L, N, P, R, V)
UNIT_TITLES = {"counts": "Counts", "transmission": "Transmission", "attenuation": "Attenuation"}


def install(window) -> RadiographyPanel:
    panel = RadiographyPanel(window)
    window.add_dock("radiography", "Radiography", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    return panel


def _names(paths: list[str]) -> str:
    if not paths:
        return "(none)"
    text = ", ".join(Path(p).name for p in paths[:2])
    return text + (f" +{len(paths) - 2}" if len(paths) > 2 else "")


class RadiographyPanel(QWidget):
    def __init__(self, window):
        super().__init__()
        self.window = window
        self.settings = window.settings
        self.refs: References | None = None
        self.ob_paths: list[str] = []
        self.dc_paths: list[str] = []
        self.folder: str | None = None  # the folder the references belong to
        self.clean_task = None
        self.last_run = None
        self.roi: pg.RectROI | None = None

        refs_box = QGroupBox("References (remembered for the image's folder)")
        form = QFormLayout(refs_box)
        self.ob_label = QLabel("(none)")
        self.dc_label = QLabel("(none)")
        self.ob_button = QPushButton("Open beam…")
        self.ob_button.setToolTip("Choose one or several open-beam images (averaged)")
        self.dc_button = QPushButton("Dark current…")
        self.dc_button.setToolTip("Choose one or several dark-current images (averaged)")
        for label, button, text in (
            (self.ob_label, self.ob_button, "Open beam"),
            (self.dc_label, self.dc_button, "Dark current"),
        ):
            row = QHBoxLayout()
            row.addWidget(label, 1)
            row.addWidget(button)
            form.addRow(text, row)
        self.ob_button.clicked.connect(lambda: self._choose("ob"))
        self.dc_button.clicked.connect(lambda: self._choose("dc"))

        view_box = QGroupBox("View")
        view_form = QFormLayout(view_box)
        self.unit = QComboBox()
        for unit in UNITS:
            self.unit.addItem(UNIT_TITLES[unit], unit)
        self.unit.setToolTip(f"What the image shows ({UNIT_KEY} switches)")
        self.unit.currentIndexChanged.connect(lambda _i: self.apply_unit())
        view_form.addRow("Unit", self.unit)
        self.dose = QCheckBox("Dose correction from a region")
        self.dose.setToolTip(
            "Scale the image so that the rectangle drawn on an open part (no sample) has the "
            "open beam's dose"
        )
        self.dose.toggled.connect(self._dose_toggled)
        view_form.addRow(self.dose)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        clean_box = QGroupBox("Clean spots")
        clean_form = QFormLayout(clean_box)
        self.workers = QSpinBox()
        self.workers.setRange(1, max(1, os.cpu_count() or 1) * 4)
        self.workers.setValue(
            read_setting(self.settings, f"{SETTINGS_GROUP}/workers", os.cpu_count() or 1, 1)
        )
        self.workers.setToolTip("Local processes (one frame each at a time)")
        clean_form.addRow("Processes", self.workers)
        self.scheduler = QLineEdit(read_setting(self.settings, f"{SETTINGS_GROUP}/scheduler", ""))
        self.scheduler.setPlaceholderText("optional dask scheduler, e.g. tcp://host:8786")
        clean_form.addRow("Dask scheduler", self.scheduler)
        self.clean_button = QPushButton("Clean spots of a series…")
        self.clean_button.setToolTip(
            "Choose the frames and an output folder: writes <stem>.tif (cleaned) and "
            "<stem>_spots.tif (labels); frames already done there are skipped"
        )
        self.clean_button.clicked.connect(self._clean_dialog)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_clean)
        row = QHBoxLayout()
        row.addWidget(self.clean_button, 1)
        row.addWidget(self.cancel_button)
        clean_form.addRow(row)
        self.clean_status = QLabel("")
        self.clean_status.setWordWrap(True)
        clean_form.addRow(self.clean_status)

        layout = QVBoxLayout(self)
        layout.addWidget(refs_box)
        layout.addWidget(view_box)
        layout.addWidget(self.status)
        layout.addWidget(clean_box)
        layout.addStretch(1)

        image_menu = window.menus.get("image")
        window.add_action(
            "Next &Unit (Counts/Transmission/Attenuation)", self.cycle_unit, UNIT_KEY, image_menu
        )
        file_menu = window.menus["file"]
        first = file_menu.actions()[2] if len(file_menu.actions()) > 2 else None
        for text, slot in (
            ("Open &Series…", self.open_series_dialog),
            ("Open Ne&Xus/HDF5…", self.open_nexus_dialog),
        ):
            action = window.add_action(text, slot, None, None)
            file_menu.insertAction(first, action)
        window.document_shown.connect(self._document_shown)

    # -- references ---------------------------------------------------------------------------
    def _start_dir(self) -> str:
        if self.folder:
            return self.folder
        doc = self.window.current
        if doc is not None and doc.source.path.parent.is_dir():
            return str(doc.source.path.parent)
        return str(self.settings.value(f"{SETTINGS_GROUP}/last_dir", str(Path.home())))

    def _choose(self, which: str) -> None:
        title = "Open-beam image(s)" if which == "ob" else "Dark-current image(s)"
        paths, _ = QFileDialog.getOpenFileNames(
            self, title, self._start_dir(), "Images (*.tif *.tiff *.png);;All files (*)"
        )
        if not paths:
            return
        self.settings.setValue(f"{SETTINGS_GROUP}/last_dir", str(Path(paths[0]).parent))
        if which == "ob":
            self.set_references(paths, self.dc_paths)
        else:
            self.set_references(self.ob_paths, paths)

    def _remembered(self) -> dict[str, dict[str, list[str]]]:
        text = self.settings.value(REFS_KEY, "")
        try:
            value = json.loads(text) if text else {}
        except (TypeError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _remember(self, folder: str) -> None:
        known = self._remembered()
        known[folder] = {"ob": self.ob_paths, "dc": self.dc_paths}
        self.settings.setValue(REFS_KEY, json.dumps(known))

    def _current_folder(self) -> str | None:
        doc = self.window.current
        if doc is None:
            return None
        return str(doc.source.path.parent.absolute())

    def set_references(self, ob_paths: list[str], dc_paths: list[str], remember: bool = True):
        """Use these references (read on a worker); remembered for the current image's folder.
        Both lists are needed before anything is read."""
        self.ob_paths = [str(p) for p in ob_paths]
        self.dc_paths = [str(p) for p in dc_paths]
        self.ob_label.setText(_names(self.ob_paths))
        self.ob_label.setToolTip("\n".join(self.ob_paths))
        self.dc_label.setText(_names(self.dc_paths))
        self.dc_label.setToolTip("\n".join(self.dc_paths))
        self.refs = None
        folder = self._current_folder()
        if remember and folder is not None:
            self.folder = folder
            self._remember(folder)
        if not (self.ob_paths and self.dc_paths):
            self.status.setText("Choose an open beam and a dark current to normalise.")
            return None
        obs, dcs = list(self.ob_paths), list(self.dc_paths)
        self.status.setText("reading the references…")

        def loaded(refs: References) -> None:
            if (obs, dcs) != (self.ob_paths, self.dc_paths):
                return  # other references were chosen meanwhile
            self.refs = refs
            note = ""
            if refs.bad_count:
                note = (
                    f" {refs.bad_count} pixel(s) where the open beam is not above the dark "
                    "current will be masked."
                )
            self.status.setText(f"References ready ({refs.shape[1]} x {refs.shape[0]}).{note}")
            self.apply_unit()

        def failed(message: str) -> None:
            self.status.setText(message)
            self.window.report_error(message)

        return self.window.tasks.submit(
            "Read open beam and dark current",
            lambda: as_job(load_references, obs, dcs, message="reading references"),
            on_result=loaded,
            on_error=failed,
        )

    def _document_shown(self, document) -> None:
        note = ""
        folder = self._current_folder()
        if folder is not None and folder != self.folder:
            known = self._remembered().get(folder)
            if known and known.get("ob") and known.get("dc"):
                self.folder = folder
                self.set_references(known["ob"], known["dc"], remember=False)
                return
            if self.ob_paths or self.dc_paths:
                # another folder's references are not this one's: a scan elsewhere is not
                # normalised silently with them (the panel says they are kept per folder)
                self.folder = folder
                self.set_references([], [], remember=False)
                note = (
                    f"No open beam and dark current chosen for {folder} yet: choose them to "
                    "normalise this folder's images."
                )
        if unit_of(document.source) != self.unit.currentData():
            self.apply_unit(report=False)  # a mismatch is said in the panel, not in a dialog
        if note:
            self.status.setText(note)

    # -- unit ---------------------------------------------------------------------------------
    def cycle_unit(self) -> None:
        self.unit.setCurrentIndex((self.unit.currentIndex() + 1) % self.unit.count())

    def _dose_region(self):
        if not self.dose.isChecked() or self.roi is None:
            return None
        pos, size = self.roi.pos(), self.roi.size()
        x0, y0 = int(round(pos.x())), int(round(pos.y()))
        return (y0, y0 + max(1, int(round(size.y()))), x0, x0 + max(1, int(round(size.x()))))

    def _dose_toggled(self, on: bool) -> None:
        view = self.window.canvas.view
        if on and self.roi is None:
            doc = self.window.current
            h, w = doc.source.slice_shape[:2] if doc is not None else (100, 100)
            self.roi = pg.RectROI(
                [w * 0.02, h * 0.02], [max(4, w * 0.12), max(4, h * 0.12)], pen=pg.mkPen("y")
            )
            self.roi.setZValue(20)
            self.roi.sigRegionChangeFinished.connect(lambda _roi: self.apply_unit())
            view.addItem(self.roi)
        elif not on and self.roi is not None:
            view.removeItem(self.roi)
            self.roi = None
        self.apply_unit()

    def apply_unit(self, report: bool = True) -> None:
        """Show the current image in the chosen unit (levels re-fitted, read-out follows);
        ``report``: a refusal (references of another shape or type) also opens a message."""
        doc = self.window.current
        unit = self.unit.currentData()
        if doc is None:
            return
        source = doc.source
        if unit != "counts" and self.refs is None:
            self.status.setText("Choose an open beam and a dark current to normalise.")
            if unit_of(source) != "counts":
                self._set(doc, "counts", report)
                self.status.setText("Choose an open beam and a dark current to normalise.")
            return
        self._set(doc, unit, report)

    def _set(self, doc, unit: str, report: bool = True) -> None:
        problem = None
        try:
            set_unit(doc.source, unit, self.refs, self._dose_region())
            doc.pyramids.clear()  # the overview of another unit
            doc.overview = None
            doc.refresh_sample()
        except UserFacingError as exc:
            set_unit(doc.source, "counts")
            doc.pyramids.clear()
            doc.refresh_sample()
            problem = str(exc)
            if report:
                self.window.report_error(problem)
            unit = "counts"
        doc.levels_manual = False
        doc.auto_levels(*self.window.levels_panel.percentiles)
        self.window._show_plane(keep_view=True)
        masked = masked_pixels(doc.source, doc.index)
        text = f"Showing {unit}."
        if masked:
            text += f" {masked} pixel(s) masked (no value: shown as the lowest level)."
        self.status.setText(problem or text)

    # -- opening series and NeXus ---------------------------------------------------------------
    def open_series_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window,
            "Open a numbered series: choose one of its frames",
            self._start_dir(),
            "Images (*.tif *.tiff *.png);;All files (*)",
        )
        if path:
            self.open_series(path)

    def open_series(self, spec: str):
        from qbi_desktop.core.radiography.series import open_series

        return self._open_source(f"Open series {Path(spec).name}", lambda: open_series(spec))

    def open_nexus_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window,
            "Open a NeXus/HDF5 file",
            self._start_dir(),
            "NeXus/HDF5 (*.nxs *.h5 *.hdf5 *.hdf *.nx5);;All files (*)",
        )
        if not path:
            return
        from qbi_desktop.core.radiography.nexus import default_dataset, list_image_datasets

        try:
            datasets = list_image_datasets(path)
            default = default_dataset(path)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return
        name = default.name
        if len(datasets) > 1:
            items = [default.describe()] + [d.describe() for d in datasets if d != default]
            choice, ok = QInputDialog.getItem(
                self.window, "Open NeXus/HDF5", "Image dataset:", items, 0, False
            )
            if not ok:
                return
            name = choice.split("  (")[0]
        self.open_nexus(path, name)

    def open_nexus(self, path: str, dataset: str | None = None):
        from qbi_desktop.core.radiography.nexus import open_nexus

        return self._open_source(f"Open {Path(path).name}", lambda: open_nexus(path, dataset))

    def _open_source(self, title: str, opener):
        from qbi_desktop.gui.document import ImageDocument

        percentiles = self.window.levels_panel.percentiles

        def job():
            yield Progress(0, 2, title)
            source = opener()
            document = ImageDocument(source)
            yield Progress(1, 2, "reading the first slice")
            document.refresh_sample()
            document.auto_levels(*percentiles)
            return document

        return self.window.tasks.submit(
            title, job, on_result=self.window._document_opened, on_error=self.window.report_error
        )

    # -- cleaning -------------------------------------------------------------------------------
    def _clean_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self.window,
            "Clean spots: choose the frames of the scan (or its NeXus/HDF5 file)",
            self._start_dir(),
            "Images and NeXus/HDF5 (*.tif *.tiff *.png *.nxs *.h5 *.hdf5 *.hdf *.nx5);;"
            "All files (*)",
        )
        if not paths:
            return
        out = QFileDialog.getExistingDirectory(
            self.window, "Folder for the cleaned frames", str(Path(paths[0]).parent)
        )
        if out:
            self.start_clean(paths, out)

    def start_clean(self, paths: list[str], out: str):
        """Run the whole-scan cleaning on the window's task manager (progress, Cancel)."""
        from qbi_desktop.core.radiography.clean import clean_series_job

        scheduler = self.scheduler.text().strip() or None
        if scheduler and "://" not in scheduler:
            self.window.report_error(
                f"scheduler: {scheduler!r} is not an address like tcp://host:8786"
            )
            return None
        workers = self.workers.value()
        self.settings.setValue(f"{SETTINGS_GROUP}/workers", workers)
        self.settings.setValue(f"{SETTINGS_GROUP}/scheduler", scheduler or "")
        dark = list(self.dc_paths)

        def job():
            from qbi_desktop.core.radiography.frames import expand_frames

            frames = expand_frames(paths)  # a NeXus/HDF5 file: every frame of its NXdata signal
            # a frame or two: the dark current chosen here
            hot_from = dark if dark and len(frames) < 3 else None
            return (
                yield from clean_series_job(
                    frames, out, hot_pixels_from=hot_from, workers=workers, scheduler=scheduler
                )
            )

        self.clean_status.setText(f"cleaning {len(paths)} file(s) into {out}…")
        self.clean_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        task = self.window.tasks.submit(
            f"Clean spots of {len(paths)} file(s)",
            job,
            on_progress=self._clean_progress,
            on_result=self._clean_done,
            on_error=self._clean_failed,
        )
        task.cancelled.connect(self._clean_cancelled)
        self.clean_task = task
        return task

    def cancel_clean(self) -> None:
        if self.clean_task is not None and not self.clean_task.finished:
            self.clean_task.cancel()
            self.clean_status.setText("cancelling after the frames under way…")

    def _clean_progress(self, progress: Progress) -> None:
        self.clean_status.setText(f"{progress.done} of {progress.total}: {progress.message}")

    def _clean_finished(self) -> None:
        self.clean_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _clean_done(self, run) -> None:
        self._clean_finished()
        self.last_run = run
        hot = (
            f" Hot pixels from {run.hot_source}: {run.hot_pixels} (kept out of the spots)."
            if run.hot_source
            else " No hot-pixel reference: lone bright pixels may be hot pixels."
        )
        isolated = sum(f["isolated"] for f in run.frames)
        self.clean_status.setText(
            f"{len(run.frames)} frame(s) cleaned, {run.skipped} already done; {run.spots} spots "
            f"replaced ({isolated} of them a lone bright pixel) → {run.out}.{hot}"
        )
        log.info("cleaned %d frames into %s", len(run.frames), run.out)

    def _clean_failed(self, message: str) -> None:
        self._clean_finished()
        self.clean_status.setText(message)
        self.window.report_error(message)

    def _clean_cancelled(self) -> None:
        self._clean_finished()
        self.clean_status.setText(
            "Cancelled. The frames written are complete; run again on the same folder to resume."
        )
