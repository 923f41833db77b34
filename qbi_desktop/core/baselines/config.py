"""Configuration and result of a baseline run, and the names the CLI and GUI offer."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbi_desktop.core.errors import UserFacingError

# Neighbours that vote when k is not given, in the CLI, the GUI and the API alike: the lecture's
# toy uses 3-NN (and 3-NN beats 1-NN on MNIST, 2.95 % vs 3.09 % test error).
DEFAULT_KNN_K = 3

MODELS: dict[str, tuple[str, ...]] = {
    "classification": ("dummy", "knn", "centroid", "logreg"),
    "regression": ("dummy", "knn"),
    "segmentation": ("otsu", "spots"),
}
DUMMY_STRATEGIES = {
    "classification": ("most_frequent", "prior", "stratified", "uniform"),
    "regression": ("mean", "median"),
}
# Our metric names -> scikit-learn's (metric, p).
KNN_METRICS: dict[str, tuple[str, int | None]] = {
    "l1": ("minkowski", 1),
    "l2": ("euclidean", None),
    "l3": ("minkowski", 3),
    "cosine": ("cosine", None),
}
SPLITS = ("auto", "dataset", "random", "kfold")
# Big copies, casts and gathers are done this many bytes at a time: numpy holds the GIL during
# them (unlike BLAS), so one 200 MB gather would freeze a GUI thread for ~80 ms; 8 MB blocks
# keep every single call to a few ms.
GIL_BLOCK_BYTES = 8 << 20
SCHEDULER_TIMEOUT_S = 10  # how long to try to reach a dask scheduler given by address

# resize_to="auto": images that share a size stay as they are; images of different sizes are
# resized to the size the Browser's suggestions use (features.auto_size). The result's config
# holds the size that was used instead (None or (h, w)), so its params reproduce the run.
AUTO_RESIZE = "auto"
# How to choose a size, after "images have different sizes (...); choose a common size to resize
# to" (the GUI shows its own control in place of this text).
RESIZE_HINT = "(resize_to=(h, w) or 'auto'; on the command line --resize HxW or --resize auto)"

TRAIN_EVAL_WARNING = (
    "Evaluated on the training data: every training image is in the model's memory. 1-NN finds "
    "each image itself at distance 0 and so scores 100 % here, whatever it learned; other models "
    "are flattered too. This score says nothing about new images: use a held-out test split."
)


@dataclass(frozen=True)
class BaselineConfig:
    """Everything that defines a baseline run (and goes into ``params.json`` to reproduce it).

    ``split``: ``"auto"`` (the dataset's splits when it has them, else a stratified random split),
    ``"dataset"``, ``"random"`` (``test_fraction``, ``seed``) or ``"kfold"`` (``folds``, ``seed``).
    ``train_size``: keep the FIRST n training items (the lecture's toy); ``test_on="rest-of-train"``
    tests on the remaining training items instead of the test split. ``test_size``: keep the
    first n test items. ``eval="train"`` scores on the training data itself (flagged by a
    warning). ``standardize=None`` means "for logreg only". ``chunk_rows=None`` sizes prediction
    chunks to take about ``chunk_seconds``. ``resize_to``: ``(height, width)`` every image is
    resized to, ``"auto"`` (see :data:`AUTO_RESIZE`) or None (images must share a size).
    ``scheduler``: a dask.distributed address (``"tcp://host:8786"``) or a
    ``distributed.Client``; test chunks then run on the cluster. ``drop_unlabeled`` (default):
    items without the task's target (a class label, a value of the regression target, a mask)
    are left out and a warning says how many; False refuses them. ``target``: the regression
    target to predict (naming one makes an "auto" task a regression).
    """

    model: str = "knn"
    task: str = "auto"
    k: int = DEFAULT_KNN_K
    metric: str = "l2"
    weights: str = "uniform"
    strategy: str | None = None
    C: float = 1.0
    max_iter: int = 100
    downsample: int = 1
    standardize: bool | None = None
    resize_to: tuple[int, int] | str | None = None
    split: str = "auto"
    test_fraction: float = 0.25
    folds: int = 5
    seed: int = 0
    eval: str = "test"
    train_size: int | None = None
    test_size: int | None = None
    test_on: str = "test"
    target: str | None = None
    drop_unlabeled: bool = True
    unseen_classes: str = "error"
    train_score_max: int | None = 1000
    chunk_rows: int | None = None
    chunk_seconds: float = 0.2
    scheduler: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters; a Client scheduler is recorded by its address."""
        out = dataclasses.asdict(self)
        if self.scheduler is not None and not isinstance(self.scheduler, str):
            out["scheduler"] = getattr(self.scheduler, "scheduler_address", None) or repr(
                self.scheduler
            )
        if self.resize_to is not None and self.resize_to != AUTO_RESIZE:
            out["resize_to"] = list(self.resize_to)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BaselineConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UserFacingError(f"unknown baseline parameters: {', '.join(unknown)}")
        values = dict(values)
        if values.get("resize_to") is not None and values["resize_to"] != AUTO_RESIZE:
            values["resize_to"] = tuple(values["resize_to"])
        return cls(**values)

    def describe(self) -> str:
        """A short name for history tables: ``kNN k=3 L2 uniform``."""
        if self.model == "knn":
            return f"kNN k={self.k} {self.metric.upper()} {self.weights}"
        if self.model == "dummy":
            return f"dummy {self.strategy or '(default strategy)'}"
        if self.model == "centroid":
            return f"nearest centroid {self.metric.upper()}"
        if self.model == "logreg":
            return f"logistic regression C={self.C:g}"
        return {"otsu": "Otsu threshold", "spots": "spot detector"}.get(self.model, self.model)


@dataclass
class BaselineResult:
    """The outcome of one run: plain data for tables, heatmaps, galleries and reports.

    For classification ``labels`` are the class names in confusion-matrix order, ``y_true`` and
    ``y_pred`` are positions into ``labels`` for the test items ``test_indices`` (dataset
    indices), so cell (r, c) of ``confusion`` holds the items with ``y_true == r`` and
    ``y_pred == c`` (:meth:`cell_indices`). For regression ``y_true``/``y_pred`` are the values
    (the scatter plot), for segmentation ``per_item`` holds per-image Dice/IoU.
    ``scores`` are on the test data, ``train_scores`` on (a sample of) the training data.
    """

    config: BaselineConfig
    task: str
    source: str
    evaluation: str
    scores: dict[str, float]
    train_scores: dict[str, float]
    n_train: int
    n_test: int
    n_train_scored: int
    duration: float
    labels: list[str] = field(default_factory=list)
    confusion: np.ndarray | None = None
    per_class: list[dict[str, Any]] = field(default_factory=list)
    misclassified: list[dict[str, Any]] = field(default_factory=list)
    test_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    y_true: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y_pred: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fold_scores: list[dict[str, float]] = field(default_factory=list)
    per_item: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    resolved: dict[str, Any] = field(default_factory=dict)

    def cell_indices(self, true_label: str, pred_label: str) -> np.ndarray:
        """Dataset indices of the test items behind one confusion-matrix cell (for the gallery)."""
        r, c = self.labels.index(true_label), self.labels.index(pred_label)
        return self.test_indices[(self.y_true == r) & (self.y_pred == c)]

    def to_metrics_dict(self) -> dict[str, Any]:
        """JSON-ready metrics (``metrics.json``)."""
        out: dict[str, Any] = {
            "task": self.task,
            "model": self.config.describe(),
            "source": self.source,
            "evaluation": self.evaluation,
            **{k: _jsonable(v) for k, v in self.scores.items()},
            "train": {k: _jsonable(v) for k, v in self.train_scores.items()},
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_train_scored": self.n_train_scored,
            "duration_s": round(self.duration, 3),
            "warnings": list(self.warnings),
        }
        if self.task == "classification":
            out["labels"] = list(self.labels)
            out["confusion_matrix"] = self.confusion.tolist() if self.confusion is not None else []
            out["per_class"] = [{k: _jsonable(v) for k, v in row.items()} for row in self.per_class]
            out["n_misclassified"] = len(self.misclassified)
        if self.fold_scores:
            out["folds"] = [{k: _jsonable(v) for k, v in f.items()} for f in self.fold_scores]
        return out

    def summary(self) -> str:
        """A few lines for a terminal or a status bar."""
        s, t = self.scores, self.train_scores
        pm = "+/-"
        lines = [f"{self.config.describe()} on {self.source}: {self.evaluation}"]
        if self.task == "classification":
            acc = _pct(s["accuracy"]) + (
                f" {pm} {_pct(s['accuracy_std'])}" if "accuracy_std" in s else ""
            )
            on = "TRAINING-DATA" if self.config.eval == "train" else "test"
            lines.append(
                f"{on} accuracy {acc}, balanced accuracy {_pct(s['balanced_accuracy'])}, "
                f"majority-class rate {_pct(s['majority_rate'])}"
            )
            if t:
                lines.append(
                    f"train accuracy {_pct(t['accuracy'])} "
                    f"(on {self.n_train_scored} of {self.n_train} training items)"
                )
        elif self.task == "regression":
            lines.append(
                f"test MAE {s['mae']:.4g}, RMSE {s['rmse']:.4g}, R^2 {s['r2']:.3f}"
                + (f"; train MAE {t['mae']:.4g}, R^2 {t['r2']:.3f}" if t else "")
            )
        else:
            lines.append(
                f"test Dice {s['dice']:.3f}, IoU {s['iou']:.3f}, object F1 {s['object_f1']:.3f}"
            )
        lines.append(f"{self.n_train} train / {self.n_test} test items, {self.duration:.1f} s")
        lines.extend(f"WARNING: {w}" for w in self.warnings)
        return "\n".join(lines)


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f} %"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _name(dataset: Any) -> str:
    return str(getattr(dataset, "source", "") or "dataset")


def _item_names(dataset: Any, positions: Any) -> str:
    """Items as a person finds them: by name and catalog id, as the Browser shows them
    (``dc.tif (id 1)``), else by position (``items 2, 5``). Only for messages: reads each item."""
    named, numbers = [], []
    for i in positions:
        meta: dict[str, Any] = {}
        try:
            meta = dict(dataset.item(int(i)).metadata or {})
        except (UserFacingError, OSError, ValueError, IndexError):
            pass  # a damaged item is still named by its position
        item_id, name = meta.get("item_id"), meta.get("name")
        numbers.append(str(int(i)))
        if item_id is not None:
            named.append(f"{name} (id {item_id})" if name else f"id {item_id}")
        else:
            named.append(f"{name} (item {int(i)})" if name else f"item {int(i)}")
    if named == [f"item {n}" for n in numbers]:  # nothing better than positions
        return f"item{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"
    return ", ".join(named)
