"""The Baselines dock's settings form: data source, task, model, features, evaluation.

It turns what the user chose into a data-source spec (``digits``, ``mnist:DIR``, ``npz:FILE``,
``project:DIR``, the syntax of :func:`qbi_desktop.core.datasets.open_source`) and a
:class:`~qbi_desktop.core.baselines.BaselineConfig`, and remembers the choices in the window's
settings (group ``baselines``). Only the rows that matter for the chosen model are shown.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.baselines import (
    AUTO_RESIZE,
    DEFAULT_KNN_K,
    DUMMY_STRATEGIES,
    MODELS,
    BaselineConfig,
)
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui import settings_sync
from qbi_desktop.gui.docks.baselines_resize import ResizeRows
from qbi_desktop.gui.settings import read_setting

SETTINGS_GROUP = "baselines"
# Chunks of about this many seconds: Cancel takes effect within one chunk (target 0.5 s).
GUI_CHUNK_SECONDS = 0.1

SOURCES = (
    ("digits", "Digits (bundled, 8×8)"),
    ("mnist", "MNIST folder…"),
    ("npz", "NPZ file…"),
    ("project", "Project"),
)
MODEL_NAMES = {
    "dummy": "Dummy (learns nothing)",
    "knn": "k-nearest neighbours",
    "centroid": "Nearest centroid",
    "logreg": "Logistic regression",
    "otsu": "Otsu threshold",
    "spots": "Spot detector",
}
METRICS = (("l2", "L2 (Euclidean)"), ("l1", "L1 (Manhattan)"), ("l3", "L3"), ("cosine", "cosine"))
SPLIT_CHOICES = (
    ("auto", "Auto"),
    ("dataset", "Dataset splits"),
    ("random", "Random (stratified)"),
    ("kfold", "k-fold cross-validation"),
)


def _combo(items, tip: str = "") -> QComboBox:
    box = QComboBox()
    for key, text in items:
        box.addItem(text, key)
    box.setToolTip(tip)
    return box


def _select(box: QComboBox, key: Any) -> None:
    i = box.findData(key)
    if i >= 0:
        box.setCurrentIndex(i)


class BaselineForm(QWidget):
    """All the choices of a run. ``changed`` fires when any of them changes."""

    changed = Signal()

    def __init__(self, window, parent=None):
        super().__init__(parent)
        self.window = window
        self._saved: dict[str, str] = {}  # the settings as last read or saved, as text

        # -- data
        self.source = _combo(SOURCES, "Where the images and labels come from")
        self.path = QLineEdit()
        self.path.setPlaceholderText("folder or file")
        self.browse = QPushButton("…")
        self.browse.setFixedWidth(32)
        self.browse.setToolTip("Choose the folder or file")
        self.browse.clicked.connect(self._browse)
        self.project_note = QLabel("")
        self.project_note.setWordWrap(True)
        self.project_note.setStyleSheet("color: gray")
        path_row = QHBoxLayout()
        path_row.setContentsMargins(0, 0, 0, 0)
        path_row.addWidget(self.path, 1)
        path_row.addWidget(self.browse)
        self.path_widget = QWidget()
        self.path_widget.setLayout(path_row)
        data_box = QGroupBox("Data")
        data_form = QFormLayout(data_box)
        data_form.addRow("Source", self.source)
        data_form.addRow("Path", self.path_widget)
        data_form.addRow(self.project_note)
        # a project being labelled has unlabelled items: left out by default, and counted
        self.drop_unlabeled = QCheckBox("Leave unlabelled items out")
        self.drop_unlabeled.setChecked(True)
        self.drop_unlabeled.setToolTip(
            "Items without what the task predicts (a class label, a value of the regression "
            "target, a mask) are left out of training and testing, and the run says how many; "
            "unticked, a run refuses a dataset that has any"
        )
        data_form.addRow(self.drop_unlabeled)
        self.data_form = data_form

        # -- model
        self.task = _combo(
            [
                ("classification", "Classification"),
                ("regression", "Regression"),
                ("segmentation", "Segmentation"),
            ],
            "What the model predicts: a class, a number, or a mask",
        )
        self.model = QComboBox()
        # Regression on data with several targets (e.g. simulated projects: object_count and
        # spot_count) needs to know which one to predict.
        self.target = QComboBox()
        self.target.setEditable(True)
        self.target.setToolTip(
            "Which regression target to predict (the names of the project open in the Browser; "
            "type a name for other data). Empty: the dataset's only target"
        )
        self.target.lineEdit().setPlaceholderText("the only target")
        self.strategy = QComboBox()
        self.strategy.setToolTip("How the dummy answers without looking at the image")
        self.k = QSpinBox(minimum=1, maximum=10000, value=DEFAULT_KNN_K)
        self.k.setToolTip("Number of nearest neighbours that vote")
        self.weights = _combo(
            [("uniform", "uniform"), ("distance", "distance (1/d)")],
            "How the neighbours' votes count",
        )
        self.metric_box = _combo(METRICS, "Distance between images (raw pixels)")
        self.C = QDoubleSpinBox(decimals=4, minimum=0.0001, maximum=1e6, value=1.0)
        self.C.setToolTip("Inverse regularisation strength")
        self.max_iter = QSpinBox(minimum=1, maximum=100000, value=100)
        model_box = QGroupBox("Model")
        model_form = QFormLayout(model_box)
        model_form.addRow("Task", self.task)
        model_form.addRow("Model", self.model)
        model_form.addRow("Target", self.target)
        model_form.addRow("Strategy", self.strategy)
        model_form.addRow("k", self.k)
        model_form.addRow("Weights", self.weights)
        model_form.addRow("Metric", self.metric_box)
        model_form.addRow("C", self.C)
        model_form.addRow("Iterations", self.max_iter)
        self.model_form = model_form

        # -- features
        self.downsample = QSpinBox(minimum=1, maximum=16, value=1)
        self.downsample.setToolTip("Block-mean downsampling factor of the raw pixels (1 = none)")
        self.standardize = _combo(
            [(None, "auto (logreg only)"), (True, "yes"), (False, "no")],
            "Subtract the training mean and divide by the training std of each pixel",
        )
        # Images of different sizes (a radiography project) need one size for the features.
        self.resize_rows = ResizeRows()
        self.resize_choice = self.resize_rows.choice
        self.resize_size = self.resize_rows.size
        self.resize_h, self.resize_w = self.resize_rows.height, self.resize_rows.width
        feat_box = QGroupBox("Features: raw pixels")
        feat_form = QFormLayout(feat_box)
        feat_form.addRow("Resize to", self.resize_choice)
        feat_form.addRow("", self.resize_size)
        feat_form.addRow("Downsample", self.downsample)
        feat_form.addRow("Standardise", self.standardize)
        self.feat_form = feat_form

        # -- evaluation
        self.split = _combo(
            SPLIT_CHOICES,
            "How training and test items are chosen. Auto: the dataset's own train/test splits "
            "when it has them, else a stratified random split",
        )
        self.test_fraction = QDoubleSpinBox(
            decimals=2, minimum=0.05, maximum=0.95, singleStep=0.05, value=0.25
        )
        self.folds = QSpinBox(minimum=2, maximum=50, value=5)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.use_train_size = QCheckBox("only the first")
        self.train_size = QSpinBox(minimum=1, maximum=10**8, value=1000)
        self.train_size.setToolTip("How many of the first training items to train on")
        self.use_train_size.setToolTip(
            "Train on the FIRST N training items only (the lecture's toy)"
        )
        self.test_on_rest = QCheckBox("Test on the rest of the training items")
        self.test_on_rest.setToolTip("The lecture's toy: train on the first N, test on the rest")
        self.use_test_size = QCheckBox("only the first")
        self.test_size = QSpinBox(minimum=1, maximum=10**8, value=1000)
        self.test_size.setToolTip("How many of the first test items to test on (a quicker run)")
        self.eval_train = QCheckBox("Evaluate on training data (misleading)")
        self.eval_train.setToolTip(
            "Scores the model on the images it memorised. Allowed only as an explicit choice: "
            "the result is stamped with a warning (1-NN scores 100 % there)."
        )
        self.eval_train.setStyleSheet("QCheckBox { color: #c92a2a; }")
        train_row, test_row = QHBoxLayout(), QHBoxLayout()
        for row, box, spin in (
            (train_row, self.use_train_size, self.train_size),
            (test_row, self.use_test_size, self.test_size),
        ):
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(box)
            row.addWidget(spin, 1)
        self.train_row, self.test_row = QWidget(), QWidget()
        self.train_row.setLayout(train_row)
        self.test_row.setLayout(test_row)
        eval_box = QGroupBox("Evaluation")
        eval_form = QFormLayout(eval_box)
        eval_form.addRow("Split", self.split)
        eval_form.addRow("Test fraction", self.test_fraction)
        eval_form.addRow("Folds", self.folds)
        eval_form.addRow("Seed", self.seed)
        eval_form.addRow("Train size", self.train_row)
        eval_form.addRow(self.test_on_rest)
        eval_form.addRow("Test size", self.test_row)
        eval_form.addRow(self.eval_train)
        self.eval_form = eval_form

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for box in (data_box, model_box, feat_box, eval_box):
            layout.addWidget(box)
        layout.addStretch(1)
        # Combos may be narrower than their longest entry: the form must fit a narrow column.
        for box in self.findChildren(QComboBox):
            box.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            box.setMinimumContentsLength(10)

        self.source.currentIndexChanged.connect(self._update)
        self.task.currentIndexChanged.connect(self._task_changed)
        self.model.currentIndexChanged.connect(self._update)
        for box in (
            self.split,
            self.weights,
            self.metric_box,
            self.strategy,
            self.standardize,
            self.resize_choice,
        ):
            box.currentIndexChanged.connect(self._update)
        for check in (self.use_train_size, self.use_test_size, self.test_on_rest, self.eval_train):
            check.toggled.connect(self._update)
        for spin in (
            self.k,
            self.downsample,
            self.seed,
            self.folds,
            self.train_size,
            self.resize_h,
            self.resize_w,
        ):
            spin.valueChanged.connect(self.changed)
        self.path.textChanged.connect(self.changed)
        self.target.currentTextChanged.connect(self.changed)
        self._task_changed()
        self.restore()

    # -- dynamic rows ----------------------------------------------------------------------------
    def _task_changed(self) -> None:
        task = self.task.currentData()
        current = self.model.currentData()
        self.model.blockSignals(True)
        self.model.clear()
        for key in MODELS[task]:
            self.model.addItem(MODEL_NAMES[key], key)
        _select(self.model, current if current in MODELS[task] else "knn")
        self.model.blockSignals(False)
        self.strategy.clear()
        for key in DUMMY_STRATEGIES.get(task, ()):
            self.strategy.addItem(key.replace("_", " "), key)
        self._update()

    def _update(self) -> None:
        model = self.model.currentData()
        task = self.task.currentData()
        f = self.model_form
        f.setRowVisible(self.strategy, model == "dummy")
        f.setRowVisible(self.target, task == "regression")
        for w in (self.k, self.weights):
            f.setRowVisible(w, model == "knn")
        f.setRowVisible(self.metric_box, model in ("knn", "centroid"))
        for w in (self.C, self.max_iter):
            f.setRowVisible(w, model == "logreg")
        # Nearest centroid supports L1 and L2 only.
        for i in range(self.metric_box.count()):
            item = self.metric_box.model().item(i)
            item.setEnabled(model != "centroid" or self.metric_box.itemData(i) in ("l1", "l2"))
        if model == "centroid" and self.metric_box.currentData() not in ("l1", "l2"):
            _select(self.metric_box, "l2")
        split = self.split.currentData()
        e = self.eval_form
        e.setRowVisible(self.test_fraction, split in ("auto", "random"))
        e.setRowVisible(self.folds, split == "kfold")
        self.train_size.setEnabled(self.use_train_size.isChecked())
        self.test_size.setEnabled(self.use_test_size.isChecked())
        self.test_on_rest.setEnabled(
            self.use_train_size.isChecked() and split != "kfold" and not self.eval_train.isChecked()
        )
        self.eval_train.setEnabled(split != "kfold" and not self.test_on_rest.isChecked())
        e.setRowVisible(self.test_row, split != "kfold")
        source = self.source.currentData()
        self.data_form.setRowVisible(self.path_widget, source != "digits")
        project = self.open_project_root() if source == "project" else None
        self.path.setEnabled(project is None)
        self.browse.setEnabled(project is None)
        if source == "project":
            self.project_note.setText(
                f"The project open in the Dataset Browser: {project}"
                if project is not None
                else "No project open in the Dataset Browser: choose a project folder."
            )
            if project is not None:
                self.path.setText(str(project))
                self.set_target_names(self.open_project_targets())
        self.data_form.setRowVisible(self.project_note, source == "project")
        self.downsample.setEnabled(task != "segmentation")
        self.standardize.setEnabled(task != "segmentation")
        self.resize_choice.setEnabled(task != "segmentation")  # masks: at the image's size
        self.feat_form.setRowVisible(self.resize_size, self.resize_choice.currentData() == "size")
        self.changed.emit()

    def open_project_root(self) -> Path | None:
        """The folder of the project open in the Dataset Browser panel, if any."""
        browser = getattr(self.window, "panels", {}).get("browser")
        project = getattr(browser, "project", None)
        root = getattr(project, "root", None)
        return Path(root) if root is not None else None

    def open_project_targets(self) -> list[str]:
        """The regression target names of the project open in the Dataset Browser."""
        browser = getattr(self.window, "panels", {}).get("browser")
        project = getattr(browser, "project", None)
        if project is None:
            return []
        try:
            return [str(n) for n in project.distinct("targets")]
        except (UserFacingError, OSError, ValueError, sqlite3.Error):  # closing or damaged
            return []

    def set_target_names(self, names: list[str]) -> None:
        """Offer these targets; the chosen one stays if it is among them (else the first)."""
        current = self.chosen_target()
        if [self.target.itemText(i) for i in range(self.target.count())] == list(names):
            return
        self.target.blockSignals(True)
        self.target.clear()
        self.target.addItems(list(names))
        if current in names:
            self.target.setCurrentText(current)
        elif names:
            self.target.setCurrentIndex(0)
        else:
            self.target.setCurrentText(current or "")
        self.target.blockSignals(False)

    def chosen_target(self) -> str | None:
        text = self.target.currentText().strip()
        return text or None

    def refresh_project(self) -> None:
        """Re-read which project is open (the browser may have opened one since). A project
        opened while the source is the bundled digits becomes the source (the digits stayed the
        default with a project open); one picked again meanwhile stays picked."""
        root = self.open_project_root()
        if root is not None and root != getattr(self, "_seen_project", None):
            if self.source.currentData() == "digits":
                _select(self.source, "project")  # its signal updates the form
        self._seen_project = root
        if self.source.currentData() == "project":
            self._update()

    def _browse(self) -> None:
        source = self.source.currentData()
        start = self.path.text() or str(Path.home())
        if source == "npz":
            path, _ = QFileDialog.getOpenFileName(
                self, "NPZ file (x_train, y_train, x_test, y_test)", start, "NPZ (*.npz);;All (*)"
            )
        else:
            title = "MNIST folder (IDX files)" if source == "mnist" else "Project folder"
            path = QFileDialog.getExistingDirectory(self, title, start)
        if path:
            self.path.setText(path)

    # -- what to run -----------------------------------------------------------------------------
    def source_spec(self) -> str:
        """The data source as an ``open_source`` spec; a clear message if a path is missing."""
        source = self.source.currentData()
        if source == "digits":
            return "digits"
        if source == "project":
            root = self.open_project_root()
            if root is not None:
                return f"project:{root}"
        path = self.path.text().strip()
        if not path:
            what = {"mnist": "an MNIST folder", "npz": "an NPZ file", "project": "a project folder"}
            raise UserFacingError(f"Data: choose {what[source]} first (the … button)")
        return f"{source}:{path}"

    def config(self) -> BaselineConfig:
        """The configuration of the form (not yet checked against the data: the run does that)."""
        model = self.model.currentData()
        split = self.split.currentData()
        eval_train = self.eval_train.isChecked() and self.eval_train.isEnabled()
        train_size = self.train_size.value() if self.use_train_size.isChecked() else None
        rest = self.test_on_rest.isChecked() and self.test_on_rest.isEnabled()
        test_size = (
            self.test_size.value() if self.use_test_size.isChecked() and split != "kfold" else None
        )
        return BaselineConfig(
            model=model,
            task=self.task.currentData(),
            k=self.k.value(),
            metric=self.metric_box.currentData(),
            weights=self.weights.currentData(),
            strategy=self.strategy.currentData() if model == "dummy" else None,
            C=self.C.value(),
            max_iter=self.max_iter.value(),
            downsample=self.downsample.value(),
            standardize=self.standardize.currentData(),
            resize_to=self.resize_to(),
            split=split,
            test_fraction=self.test_fraction.value(),
            folds=self.folds.value(),
            seed=self.seed.value(),
            eval="train" if eval_train else "test",
            train_size=train_size,
            test_size=test_size,
            test_on="rest-of-train" if rest else "test",
            target=self.chosen_target() if self.task.currentData() == "regression" else None,
            chunk_seconds=GUI_CHUNK_SECONDS,
            drop_unlabeled=self.drop_unlabeled.isChecked(),
        )

    def resize_to(self) -> tuple[int, int] | str | None:
        """The chosen ``resize_to``: ``"auto"``, None (off) or (height, width)."""
        return self.resize_rows.value()

    def set_config(self, source: str, config: BaselineConfig) -> None:
        """Show a run's settings in the form (to re-run or vary it)."""
        kind, _, arg = source.partition(":")
        _select(self.source, kind)
        if arg:
            self.path.setText(arg)
        _select(self.task, config.task if config.task in MODELS else "classification")
        _select(self.model, config.model)
        if config.target:
            self.target.setCurrentText(config.target)
        if config.strategy:
            _select(self.strategy, config.strategy)
        self.k.setValue(config.k)
        _select(self.weights, config.weights)
        _select(self.metric_box, config.metric)
        self.C.setValue(config.C)
        self.max_iter.setValue(config.max_iter)
        self.downsample.setValue(config.downsample)
        _select(self.standardize, config.standardize)
        self.resize_rows.set_value(config.resize_to)
        _select(self.split, config.split)
        self.test_fraction.setValue(config.test_fraction)
        self.folds.setValue(config.folds)
        self.seed.setValue(config.seed)
        self.use_train_size.setChecked(config.train_size is not None)
        if config.train_size is not None:
            self.train_size.setValue(config.train_size)
        self.test_on_rest.setChecked(config.test_on == "rest-of-train")
        self.use_test_size.setChecked(config.test_size is not None)
        if config.test_size is not None:
            self.test_size.setValue(config.test_size)
        self.eval_train.setChecked(config.eval == "train")
        self.drop_unlabeled.setChecked(config.drop_unlabeled)
        self._update()

    # -- persistence -----------------------------------------------------------------------------
    def _values(self) -> dict[str, Any]:
        """What :meth:`save` keeps, by settings key."""
        return {
            "source": self.source.currentData(),
            "path": self.path.text(),
            "task": self.task.currentData(),
            "model": self.model.currentData(),
            "target": self.target.currentText(),
            "k": self.k.value(),
            "metric": self.metric_box.currentData(),
            "weights": self.weights.currentData(),
            "split": self.split.currentData(),
            "test_fraction": self.test_fraction.value(),
            "folds": self.folds.value(),
            "seed": self.seed.value(),
            "downsample": self.downsample.value(),
            "resize": self.resize_rows.text(),  # auto, off or HxW
            # a new key: the old one holds the old default (off) for everyone who ran once
            # "0"/"1": compared as text
            "leave_unlabelled_out": int(self.drop_unlabeled.isChecked()),
        }

    def save(self) -> None:
        """Remember the choices (each Run saves them). Only values that differ from what was
        read or saved last are handed over, and the file is written by another thread
        (gui/settings_sync.py: QSettings' own write, with two fdatasync calls, stalled the Run
        click by 30-80 ms on a busy disk). Compared with our own copy, not read back from the
        settings: that read would wait while the writer holds the file for a write."""
        changed = {
            f"{SETTINGS_GROUP}/{key}": value
            for key, value in self._values().items()
            if self._saved.get(key) != str(value)
        }
        self._saved.update((key.partition("/")[2], str(value)) for key, value in changed.items())
        settings_sync.set_values(self.window.settings, changed)

    def flush_settings(self) -> None:
        """Wait until the saved choices are on disk (closing the app, tests)."""
        settings_sync.flush(self.window.settings)

    def restore(self) -> None:
        s = self.window.settings
        settings_sync.start(s)  # the writer is ready before the first Run click
        s.beginGroup(SETTINGS_GROUP)
        try:
            # as stored (text), what save() compares with
            self._saved = {key: str(s.value(key)) for key in self._values()}
            _select(self.source, s.value("source", "digits"))
            self.path.setText(str(s.value("path", "") or ""))
            _select(self.task, s.value("task", "classification"))
            _select(self.model, s.value("model", "knn"))
            self.target.setCurrentText(str(s.value("target", "") or ""))
            self.k.setValue(read_setting(s, "k", DEFAULT_KNN_K))
            _select(self.metric_box, s.value("metric", "l2"))
            _select(self.weights, s.value("weights", "uniform"))
            _select(self.split, s.value("split", "auto"))
            self.test_fraction.setValue(read_setting(s, "test_fraction", 0.25))
            self.folds.setValue(read_setting(s, "folds", 5))
            self.seed.setValue(read_setting(s, "seed", 0))
            self.downsample.setValue(read_setting(s, "downsample", 1))
            self.drop_unlabeled.setChecked(read_setting(s, "leave_unlabelled_out", True))
            self.resize_rows.set_value(str(s.value("resize", AUTO_RESIZE) or AUTO_RESIZE))
        except (TypeError, ValueError):
            pass  # a damaged setting: keep the defaults
        finally:
            s.endGroup()
        self._update()
