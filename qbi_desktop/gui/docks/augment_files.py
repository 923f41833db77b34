"""The Augment dock's pipeline in and out: the pipeline the controls describe, showing a
pipeline in them, loading and saving pipeline JSON files, and remembering the last pipeline and
sample count in the settings (a mixin of the panel)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from qbi_desktop.core.augment import Pipeline
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.settings import read_setting

SETTINGS_GROUP = "augment"


class PipelineFilesMixin:
    """Needs the panel's ``form``, ``keras``, ``seed``, ``profile``, ``n_samples``, ``grid``,
    ``window`` and its profile and preview methods."""

    def pipeline(self) -> Pipeline:
        """The pipeline the controls describe (raises UserFacingError naming a bad field)."""
        return Pipeline(
            options=self.form.options(),
            keras_compat=self.keras.isChecked(),
            seed=int(self.seed.value()),
            profile=self.profile.currentData(),
        )

    def set_pipeline(self, pipeline: Pipeline) -> None:
        """Show a pipeline in the controls (its profile, mode, seed and options)."""
        if pipeline.profile is not None and pipeline.profile not in self._profiles:
            self._reload_profiles()
        self.notice = ""
        for w in (self.profile, self.keras, self.seed):
            w.blockSignals(True)
        try:
            if pipeline.profile is not None:
                self.set_profile(pipeline.profile)
            else:
                self.profile.setCurrentIndex(0)
            self.keras.setChecked(pipeline.keras_compat)
            self.seed.setValue(min(pipeline.seed, self.seed.maximum()))
        finally:
            for w in (self.profile, self.keras, self.seed):
                w.blockSignals(False)
        self.form.set_options(pipeline.options)
        self._apply_profile()
        self._keras_toggled(pipeline.keras_compat, schedule=False)
        self.schedule()

    def load_pipeline(self, path: str | Path) -> Pipeline | None:
        """Load a pipeline JSON into the controls; problems go to ``window.report_error``."""
        try:
            pipeline = Pipeline.load(path)
            pipeline.check()
            self.set_pipeline(pipeline)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return None
        self.window.settings.setValue(f"{SETTINGS_GROUP}/last_dir", str(Path(path).parent))
        return pipeline

    def save_pipeline(self, path: str | Path) -> bool:
        try:
            self.pipeline().save(path)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return False
        except OSError as exc:
            self.window.report_error(f"{path}: cannot save the pipeline ({exc.strerror or exc})")
            return False
        self.window.settings.setValue(f"{SETTINGS_GROUP}/last_dir", str(Path(path).parent))
        return True

    def _last_dir(self) -> str:
        return str(self.window.settings.value(f"{SETTINGS_GROUP}/last_dir", str(Path.home())))

    def load_pipeline_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load pipeline", self._last_dir(), "Pipelines (*.json);;All files (*)"
        )
        if path:
            self.load_pipeline(path)

    def save_pipeline_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save pipeline",
            str(Path(self._last_dir()) / "pipeline.json"),
            "Pipelines (*.json)",
        )
        if path:
            self.save_pipeline(path)

    def _remember(self, pipeline: Pipeline) -> None:
        s = self.window.settings
        s.setValue(f"{SETTINGS_GROUP}/pipeline", json.dumps(pipeline.to_json()))
        s.setValue(f"{SETTINGS_GROUP}/samples", self.n_samples.value())

    def _restore(self) -> None:
        s = self.window.settings
        n = read_setting(s, f"{SETTINGS_GROUP}/samples", 8, 1, 16)  # 1..16, else 8
        self.n_samples.blockSignals(True)
        self.n_samples.setValue(n)
        self.n_samples.blockSignals(False)
        self.grid.set_count(self.n_samples.value())
        for tile in self.grid.tiles:
            tile.double_clicked.connect(self._open_difference)
        text = read_setting(s, f"{SETTINGS_GROUP}/pipeline", "")
        if text:
            try:
                self.set_pipeline(Pipeline.from_json(json.loads(text), "saved pipeline"))
            except (UserFacingError, ValueError):
                pass  # a stale setting from another version: start from the defaults
