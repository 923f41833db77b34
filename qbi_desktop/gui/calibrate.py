"""Dataset ▸ Calibrate Annotator: how good is a person's labelling, measured on simulated truth.

1. "Make a Calibration Set…" adds a few simulated radiographs to the open project (the
   simulator knows every spot exactly; core.catalog.simulated), turns "Annotate blind" on so the
   truth masks stay hidden, and shows those items in the Browser to be labelled in Annotate.
2. "My Calibration" compares the current annotator's own masks of simulated items with the
   truth made again from their provenance (core.quality.calibration) and shows their pixel and
   object sensitivity and precision and their boundary bias.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QInputDialog, QMessageBox

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.simulated import simulate_into_project_job
from qbi_desktop.core.quality.calibration import calibration_job
from qbi_desktop.core.simulate.params import SimulationParams

DEFAULT_COUNT = 10
#: a calibration set's images: small enough to label a handful in a few minutes
CALIBRATION_SIZE = 256


def _own_job(root: Path, make):
    project = open_project(root)
    try:
        return (yield from make(project))
    finally:
        project.close()


class CalibrationFlow:
    def __init__(self, window):
        self.window = window
        self.task = None
        self.made: list[int] = []
        self.result_box: QMessageBox | None = None
        menu = window.add_menu("dataset", "&Dataset").addMenu("Calibrate Annotator")
        self.make_action = menu.addAction("Make a Calibration Set…")
        self.make_action.setToolTip(
            "Add simulated radiographs with exact truth; label their spots blind in Annotate"
        )
        self.make_action.triggered.connect(lambda: self.make_set())
        self.result_action = menu.addAction("My Calibration")
        self.result_action.setToolTip(
            "Your sensitivity, precision and boundary bias against the simulated truth"
        )
        self.result_action.triggered.connect(lambda: self.show_result())
        window.needs_project(self.make_action)
        window.needs_project(self.result_action)

    def _root(self) -> Path | None:
        project = getattr(self.window.panels.get("browser"), "project", None)
        if project is None:
            self.window.report_error("Calibration: open a project first (Dataset > Open Project…)")
            return None
        return project.root

    def make_set(self, count: int | None = None, seed: int | None = None) -> Any:
        root = self._root()
        if root is None:
            return None
        if count is None:
            count, ok = QInputDialog.getInt(
                self.window,
                "Calibration set",
                "Simulated radiographs to label:",
                DEFAULT_COUNT,
                1,
                200,
            )
            if not ok:
                return None
        if seed is None:
            seed = int.from_bytes(os.urandom(3), "little")  # a new set each time
        params = SimulationParams(height=CALIBRATION_SIZE, width=CALIBRATION_SIZE)
        self.task = self.window.tasks.submit(
            f"Calibration set of {count}",
            lambda: _own_job(
                root, lambda p: simulate_into_project_job(p, count, seed, params, mask="spots")
            ),
            on_result=self._made,
            on_error=lambda message: self.window.report_error(f"Calibration set: {message}"),
        )
        return self.task

    def _made(self, ids: list[int]) -> None:
        self.made = list(ids)
        browser = self.window.panels["browser"]
        browser._data_changed()  # new items: filters, classes and counts read again
        blind = getattr(self.window, "blind", None)
        if blind is not None and not blind.action.isChecked():
            blind.action.setChecked(True)  # the truth masks stay hidden while labelling
        browser.show_ids(self.made)
        self.window.statusBar().showMessage(
            f"{len(ids)} simulated items added, annotating blind: mark their spots in Annotate "
            "(Enter opens an item), then Dataset > Calibrate Annotator > My Calibration",
            15000,
        )

    def show_result(self) -> Any:
        root = self._root()
        if root is None:
            return None
        self.task = self.window.tasks.submit(
            "Calibration",
            lambda: _own_job(root, calibration_job),
            on_result=self._show,
            on_error=lambda message: self.window.report_error(f"Calibration: {message}"),
        )
        return self.task

    def text_for(self, report) -> str:
        name = self.window.annotator.name
        mine = report.per_annotator.get(name)
        if mine is None:
            return (
                f"{name} has no mask of a simulated item yet: make a calibration set, label "
                "its spots in Annotate and save (Ctrl+S)."
            )

        def pct(v: float) -> str:
            return "n/a" if math.isnan(v) else f"{100 * v:.1f} %"

        bias = mine.boundary_bias
        side = "" if math.isnan(bias) else (" (drawn too large)" if bias > 0 else " (drawn tight)")
        return (
            f"{name} on {mine.items} simulated item(s):\n"
            f"pixel sensitivity {pct(mine.sensitivity)}, precision {pct(mine.precision)}\n"
            f"spots found {pct(mine.object_sensitivity)}, drawn that are spots "
            f"{pct(mine.object_precision)}\n"
            f"boundary bias {'n/a' if math.isnan(bias) else f'{bias:+.2f} px'}{side}"
        )

    def _show(self, report) -> None:
        self.last_text = self.text_for(report)
        if self.result_box is None:
            self.result_box = QMessageBox(self.window)
            self.result_box.setWindowTitle("Calibration against simulated truth")
        self.result_box.setText(self.last_text)
        self.result_box.show()


def install(window) -> CalibrationFlow:
    return CalibrationFlow(window)
