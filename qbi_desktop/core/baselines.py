"""Baselines: what a model that learns nothing scores, what nearest neighbours score, honestly.

One entry point, :func:`run_baseline`, is a job (a generator yielding
:class:`~qbi_desktop.core.jobs.Progress`, returning a :class:`BaselineResult`). It

1. checks the configuration and the data *before any work* and raises a
   :class:`~qbi_desktop.core.errors.UserFacingError` with a clear message for: one class, classes
   in the test set that the training set lacks, unlabeled items, images of different sizes (unless
   ``resize_to`` is chosen), k larger than the training set, NaN targets;
2. splits the data so the score cannot mislead: the dataset's own splits, a stratified random
   split with a seed, or k-fold cross-validation (mean +/- std); evaluating on the training data
   happens only when asked for (``eval="train"``) and then the result carries a warning;
3. fits the model, then predicts in chunks (sized to take ~``chunk_seconds`` each, so a GUI worker
   that closes the generator stops within one chunk), locally or on a dask.distributed cluster;
4. scores test *and* training data side by side (the training score on a seeded sample of at most
   ``train_score_max`` items, since kNN on the full training set would cost more than the test).

Features are the raw pixels flattened (as in the lecture), optionally block-mean downsampled by an
integer factor and standardised. Models are scikit-learn estimators; kNN classification computes
the neighbours with scikit-learn's brute-force search and takes the vote itself (same tie rule as
scikit-learn: the smallest class index wins), which lets one search serve several k.

Decision on unseen classes: a class that occurs in the test set but not in the training set is an
*error* by default (no model can predict it, the score would be silently capped); set
``unseen_classes="warn"`` to score anyway, those items then count as errors and a warning says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbi_desktop.core.chunk_sizer import ChunkSizer
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress

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
    chunks to take about ``chunk_seconds``. ``scheduler``: a dask.distributed address
    (``"tcp://host:8786"``) or a ``distributed.Client``; test chunks then run on the cluster.
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
    resize_to: tuple[int, int] | None = None
    split: str = "auto"
    test_fraction: float = 0.25
    folds: int = 5
    seed: int = 0
    eval: str = "test"
    train_size: int | None = None
    test_size: int | None = None
    test_on: str = "test"
    target: str | None = None
    drop_unlabeled: bool = False
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
        if self.resize_to is not None:
            out["resize_to"] = list(self.resize_to)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BaselineConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UserFacingError(f"unknown baseline parameters: {', '.join(unknown)}")
        values = dict(values)
        if values.get("resize_to") is not None:
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


# -- the run ----------------------------------------------------------------------------------


@dataclass
class _Fold:
    train: np.ndarray  # dataset indices
    test: np.ndarray
    train_scored: np.ndarray  # subset of train scored for the side-by-side training score


@dataclass
class _Plan:
    task: str
    config: BaselineConfig
    folds: list[_Fold]
    evaluation: str
    y: np.ndarray | None  # classification: class indices; regression: values (per dataset index)
    class_names: list[str]
    features: dict[int, np.ndarray] = field(default_factory=dict)  # dataset index -> row
    X: np.ndarray | None = None  # feature rows for `rows` (dataset indices, sorted)
    rows: np.ndarray | None = None
    images: Any = None  # segmentation: images and masks per dataset index
    masks: Any = None
    warnings: list[str] = field(default_factory=list)
    resolved: dict[str, Any] = field(default_factory=dict)

    def feature_rows(self, indices: np.ndarray) -> np.ndarray:
        """Feature rows of dataset ``indices`` (read-only use): a view when they are a run of
        consecutive rows (a dataset's train or test split usually is), else a blockwise copy."""
        assert self.X is not None and self.rows is not None
        return take_rows(self.X, np.searchsorted(self.rows, indices))


def _block_rows(row_bytes: int) -> int:
    return max(1, GIL_BLOCK_BYTES // max(1, row_bytes))


def take_rows(array: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``array[positions]`` along the first axis without holding the GIL for long: a view for
    consecutive positions, otherwise a copy gathered block by block."""
    positions = np.asarray(positions, dtype=np.int64)
    n = positions.size
    if n and positions[-1] - positions[0] == n - 1 and np.all(np.diff(positions) == 1):
        return array[positions[0] : positions[0] + n]
    out = np.empty((n, *array.shape[1:]), dtype=array.dtype)
    step = _block_rows(int(np.prod(array.shape[1:], dtype=np.int64)) * array.itemsize)
    for s in range(0, n, step):
        np.take(array, positions[s : s + step], axis=0, out=out[s : s + step])
    return out


def run_baseline(config: BaselineConfig, dataset: Any) -> Job[BaselineResult]:
    """Run one baseline as a job: check everything, fit, predict in chunks, score.

    All bad-input errors are raised at the first ``next()`` before any progress is yielded.
    Closing the generator (what a GUI worker does on cancel) stops it at the next chunk.
    """
    started = time.perf_counter()
    plan = _plan(config, dataset)
    source = str(getattr(dataset, "source", "") or type(dataset).__name__)
    if plan.task == "segmentation":
        result = yield from _run_segmentation(plan, source)
    else:
        result = yield from _run_supervised(plan, source)
    result.duration = time.perf_counter() - started
    return result


def check_baseline(config: BaselineConfig, dataset: Any) -> list[str]:
    """Only the checks of :func:`run_baseline` (raising the same errors); returns its warnings."""
    return _plan(config, dataset).warnings


# -- planning and validation --------------------------------------------------------------------


def _validate_config(c: BaselineConfig) -> None:
    if c.task not in ("auto", *MODELS):
        raise UserFacingError(f"task: {c.task!r} is not one of auto, {', '.join(MODELS)}")
    all_models = sorted({m for ms in MODELS.values() for m in ms})
    if c.model not in all_models:
        raise UserFacingError(f"model: {c.model!r} is not one of {', '.join(all_models)}")
    if c.metric not in KNN_METRICS:
        raise UserFacingError(f"metric: {c.metric!r} is not one of {', '.join(KNN_METRICS)}")
    if c.model == "centroid" and c.metric not in ("l1", "l2"):
        raise UserFacingError("metric: nearest centroid supports l1 and l2 only")
    if c.weights not in ("uniform", "distance"):
        raise UserFacingError(f"weights: {c.weights!r} is not uniform or distance")
    if c.k < 1:
        raise UserFacingError(f"k: must be at least 1, not {c.k}")
    if c.split not in SPLITS:
        raise UserFacingError(f"split: {c.split!r} is not one of {', '.join(SPLITS)}")
    if c.eval not in ("test", "train"):
        raise UserFacingError(f"eval: {c.eval!r} is not test or train")
    if c.test_on not in ("test", "rest-of-train"):
        raise UserFacingError(f"test_on: {c.test_on!r} is not test or rest-of-train")
    if c.test_on == "rest-of-train" and c.train_size is None:
        raise UserFacingError("test_on rest-of-train needs a train size (the first N items)")
    if c.test_on == "rest-of-train" and c.eval == "train":
        raise UserFacingError("choose either eval on train or test on the rest of the training set")
    if not 0 < c.test_fraction < 1:
        raise UserFacingError(f"test fraction: must be between 0 and 1, not {c.test_fraction}")
    if c.split == "kfold" and c.folds < 2:
        raise UserFacingError(
            f"folds: k-fold cross-validation needs at least 2 folds, not {c.folds}"
        )
    if c.split == "kfold" and (c.test_on != "test" or c.eval == "train"):
        raise UserFacingError("k-fold cross-validation tests on each fold in turn; no test_on/eval")
    for name in ("train_size", "test_size"):
        value = getattr(c, name)
        if value is not None and value < 1:
            raise UserFacingError(f"{name.replace('_', ' ')}: must be at least 1, not {value}")
    if c.downsample < 1:
        raise UserFacingError(f"downsample: must be a whole factor >= 1, not {c.downsample}")
    if c.unseen_classes not in ("error", "warn"):
        raise UserFacingError("unseen_classes: use error or warn")
    if c.resize_to is not None and (len(c.resize_to) != 2 or min(c.resize_to) < 1):
        raise UserFacingError(f"resize to: need (height, width), got {c.resize_to}")
    if c.chunk_rows is not None and c.chunk_rows < 1:
        raise UserFacingError("chunk rows: must be at least 1")
    if c.C <= 0 or c.max_iter < 1:
        raise UserFacingError("logistic regression: C must be > 0 and max_iter >= 1")


def _infer_task(config: BaselineConfig, dataset: Any) -> str:
    if config.task != "auto":
        task = config.task
    elif config.model in MODELS["segmentation"]:
        task = "segmentation"
    else:
        task = getattr(dataset, "task", None)
        if task not in MODELS:
            targets = dataset.targets()
            if targets is None:
                task = "segmentation" if getattr(dataset, "masks", None) else "classification"
            elif getattr(dataset, "class_names", None) is not None:
                task = "classification"
            else:
                task = "regression" if np.asarray(targets).dtype.kind == "f" else "classification"
    if config.model not in MODELS[task]:
        raise UserFacingError(
            f"model: {config.model!r} does not do {task}; choose one of {', '.join(MODELS[task])}"
        )
    strategies = DUMMY_STRATEGIES.get(task, ())
    if (
        config.model == "dummy"
        and config.strategy is not None
        and config.strategy not in strategies
    ):
        raise UserFacingError(
            f"strategy: {config.strategy!r} is not a {task} dummy strategy "
            f"({', '.join(strategies)})"
        )
    return task


def _class_targets(dataset: Any, task: str, config: BaselineConfig) -> tuple[np.ndarray, list[str]]:
    """Per-item class indices (-1 unlabeled) and class names, whatever the dataset gave."""
    raw = dataset.targets()
    n = len(dataset)
    if raw is None:
        raise UserFacingError(
            f"{_name(dataset)}: the dataset has no labels; label the items before a {task} run"
        )
    raw = np.asarray(raw)
    if len(raw) != n:
        raise UserFacingError(f"{_name(dataset)}: {len(raw)} targets for {n} items")
    if raw.ndim != 1:
        raise UserFacingError(f"{_name(dataset)}: class labels must be one per item")
    names = getattr(dataset, "class_names", None)
    if raw.dtype.kind == "f":
        nan = np.isnan(raw)
        if nan.any():
            raise UserFacingError(
                f"{_name(dataset)}: {int(nan.sum())} labels are NaN (first at item "
                f"{int(np.flatnonzero(nan)[0])}); a label must be a class"
            )
    if raw.dtype.kind in "iuf" and names is not None:
        return raw.astype(np.int64), [str(c) for c in names]
    # Arbitrary labels (e.g. strings from a catalog): encode; None/"" are unlabeled.
    keys = [None if v is None or v == "" else str(v) for v in raw.tolist()]
    classes = sorted({k for k in keys if k is not None})
    if names is not None and set(classes) <= {str(c) for c in names}:
        classes = [str(c) for c in names]
    lookup = {c: i for i, c in enumerate(classes)}
    return np.asarray([-1 if k is None else lookup[k] for k in keys], np.int64), classes


def _regression_targets(dataset: Any, config: BaselineConfig) -> np.ndarray:
    raw = dataset.targets()
    if raw is None:
        raise UserFacingError(f"{_name(dataset)}: the dataset has no regression targets")
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UserFacingError(f"{_name(dataset)}: regression targets must be numbers") from exc
    names = list(getattr(dataset, "target_names", None) or [])
    if values.ndim == 2:
        if config.target is not None:
            if config.target not in names:
                raise UserFacingError(f"target: {config.target!r} is not one of {names}")
            values = values[:, names.index(config.target)]
        elif values.shape[1] == 1:
            values = values[:, 0]
        else:
            raise UserFacingError(f"target: choose which target to predict, one of {names}")
    elif values.ndim != 1:
        raise UserFacingError(f"{_name(dataset)}: regression targets must be (N,) or (N, T)")
    return values


def _name(dataset: Any) -> str:
    return str(getattr(dataset, "source", "") or "dataset")


def _plan(config: BaselineConfig, dataset: Any) -> _Plan:
    _validate_config(config)
    n = len(dataset)
    if n == 0:
        raise UserFacingError(f"{_name(dataset)}: the dataset is empty")
    task = _infer_task(config, dataset)
    # The result records the configuration with its defaults resolved, so it reproduces exactly.
    strategy = config.strategy
    if config.model == "dummy" and strategy is None:
        strategy = DUMMY_STRATEGIES[task][0]
    config = dataclasses.replace(
        config, task=task, strategy=strategy, standardize=_standardize(config)
    )
    plan = _Plan(task, config, [], "", None, [])
    labelled = np.ones(n, bool)
    if task == "classification":
        y, names = _class_targets(dataset, task, config)
        plan.y, plan.class_names = y, names
        labelled = y >= 0
    elif task == "regression":
        y = _regression_targets(dataset, config)
        plan.y = y
        labelled = ~np.isnan(y)
    else:
        plan.masks = _masks(dataset)
        labelled = np.asarray([m is not None for m in plan.masks])

    train_pool, test_pool, how = _pools(config, dataset, plan, n)
    # Unlabeled items among those used: refuse (or drop when asked) before anything else.
    used = np.union1d(train_pool, test_pool) if test_pool is not None else train_pool
    unlabeled = used[~labelled[used]]
    if unlabeled.size:
        what = {"classification": "no class label", "segmentation": "no mask"}.get(
            task, "no target value (NaN)"
        )
        if task == "regression" or not config.drop_unlabeled:
            first = ", ".join(str(int(i)) for i in unlabeled[:5])
            fix = (
                "give every item a value"
                if task == "regression"
                else "label them, or choose to leave unlabeled items out"
            )
            raise UserFacingError(
                f"{_name(dataset)}: {unlabeled.size} of {used.size} items have {what} "
                f"(items {first}{', ...' if unlabeled.size > 5 else ''}); {fix}"
            )
        plan.warnings.append(f"{unlabeled.size} unlabeled items were left out")
        train_pool = train_pool[labelled[train_pool]]
        test_pool = test_pool[labelled[test_pool]] if test_pool is not None else None

    plan.folds, plan.evaluation = _folds(config, plan, train_pool, test_pool, how)
    for fold in plan.folds:
        _check_fold(config, plan, fold, dataset)
    if config.eval == "train":
        plan.warnings.append(TRAIN_EVAL_WARNING)
    _load_inputs(config, dataset, plan)
    plan.resolved = {
        "task": task,
        "standardize": _standardize(config),
        "n_items": n,
        "evaluation": plan.evaluation,
    }
    return plan


def _pools(
    config: BaselineConfig, dataset: Any, plan: _Plan, n: int
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Training pool and test pool (None = to be split) as dataset indices, and how."""
    splits = dataset.splits() if config.split in ("auto", "dataset") else None
    if splits is not None:
        splits = np.asarray([str(s).lower() for s in splits])
        if not np.any(splits == "train"):
            splits = None
    if config.split == "dataset" and splits is None:
        raise UserFacingError(
            f"{_name(dataset)}: the dataset has no train/test splits; choose a random split or "
            "k-fold cross-validation"
        )
    if splits is None:
        how = "kfold" if config.split == "kfold" else "random"
        return np.arange(n), None, how
    train = np.flatnonzero(splits == "train")
    test = np.flatnonzero(splits == "test")
    name = "test"
    if test.size == 0:
        test = np.flatnonzero(np.isin(splits, ("val", "valid", "validation")))
        name = "validation"
    if config.test_on != "test" or config.eval == "train":
        test = test[:0]  # the test split is not used: it needs no labels either
    elif test.size == 0:
        raise UserFacingError(
            f"{_name(dataset)}: the dataset's splits have no test (or validation) items"
        )
    unassigned = int(np.sum(~np.isin(splits, ("train", "test", "val", "valid", "validation"))))
    if unassigned:
        plan.warnings.append(f"{unassigned} items without a train/test split were not used")
    return train, test, f"dataset splits (train / {name})"


def _folds(
    config: BaselineConfig,
    plan: _Plan,
    train_pool: np.ndarray,
    test_pool: np.ndarray | None,
    how: str,
) -> tuple[list[_Fold], str]:
    # Imported only where needed: importing scikit-learn's model_selection (scipy.stats & co)
    # holds the GIL for ~80 ms, a visible stall of the GUI thread while a run starts; a run on
    # the dataset's own splits (MNIST) needs none of it.
    classification = plan.task == "classification"
    if how == "kfold":
        from sklearn.model_selection import KFold, StratifiedKFold

        pool = train_pool[: config.train_size] if config.train_size else train_pool
        if pool.size < config.folds:
            raise UserFacingError(
                f"folds: {config.folds}-fold cross-validation needs at least {config.folds} "
                f"items, there are {pool.size}"
            )
        strat = classification and np.bincount(plan.y[pool]).max() >= config.folds
        if classification and not strat:
            plan.warnings.append("too few items per class to stratify the folds; plain k-fold")
        splitter = (StratifiedKFold if strat else KFold)(
            config.folds, shuffle=True, random_state=config.seed
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "least populated class has only n members"
            pairs = list(splitter.split(pool, plan.y[pool] if strat else None))
        folds = [_Fold(pool[a], pool[b], _score_sample(config, pool[a])) for a, b in pairs]
        return folds, f"{config.folds}-fold cross-validation (seed {config.seed})"

    if test_pool is None:
        from sklearn.model_selection import train_test_split

        # A random split of everything, stratified by class where possible.
        pool = train_pool
        strat = None
        if classification:
            counts = np.bincount(plan.y[pool][plan.y[pool] >= 0])
            if counts.size and counts[counts > 0].min() >= 2:
                strat = plan.y[pool]
            else:
                plan.warnings.append(
                    "a class has a single item: the random split is not stratified"
                )
        try:
            train, test = train_test_split(
                pool, test_size=config.test_fraction, random_state=config.seed, stratify=strat
            )
        except ValueError as exc:
            raise UserFacingError(f"cannot split {pool.size} items: {exc}") from exc
        train, test = np.sort(train), np.sort(test)
        how = (
            f"{'stratified ' if strat is not None else ''}random split, "
            f"{config.test_fraction:.0%} test (seed {config.seed})"
        )
    else:
        train, test = train_pool, test_pool

    if config.train_size is not None:
        if config.train_size > train.size:
            raise UserFacingError(
                f"train size: {config.train_size} requested, the training set has {train.size}"
            )
        rest = train[config.train_size :]
        train = train[: config.train_size]
        how += f", first {train.size} training items"
        if config.test_on == "rest-of-train":
            if rest.size == 0:
                raise UserFacingError("test on rest of train: no training items are left over")
            test = rest
            how += ", tested on the remaining training items"
    if config.eval == "train":
        test = train
        how += ", EVALUATED ON THE TRAINING DATA"
    if config.test_size is not None:
        test = test[: config.test_size]
    if test.size == 0:
        raise UserFacingError("the test set is empty")
    scored = train if config.eval == "train" else _score_sample(config, train)
    return [_Fold(train, test, scored)], how


def _score_sample(config: BaselineConfig, train: np.ndarray) -> np.ndarray:
    limit = config.train_score_max
    if limit is None or train.size <= limit:
        return train
    if limit <= 0:
        return train[:0]
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(train, limit, replace=False))


def _check_fold(config: BaselineConfig, plan: _Plan, fold: _Fold, dataset: Any) -> None:
    if fold.train.size == 0:
        raise UserFacingError("the training set is empty")
    if config.model == "knn" and config.k > fold.train.size:
        raise UserFacingError(
            f"k: {config.k} neighbours requested but the training set has only "
            f"{fold.train.size} items"
        )
    if plan.task != "classification":
        return
    train_classes = np.unique(plan.y[fold.train])
    if train_classes.size < 2:
        only = plan.class_names[int(train_classes[0])] if train_classes.size else "none"
        raise UserFacingError(
            f"{_name(dataset)}: the training set has a single class ({only!r}); a classifier "
            "needs at least two"
        )
    unseen = np.setdiff1d(np.unique(plan.y[fold.test]), train_classes)
    if unseen.size:
        counts = {plan.class_names[c]: int(np.sum(plan.y[fold.test] == c)) for c in unseen}
        listed = ", ".join(f"{name!r} ({k} items)" for name, k in counts.items())
        message = (
            f"classes in the test set but not in the training set: {listed}; no model can "
            "predict them"
        )
        if config.unseen_classes == "error":
            raise UserFacingError(
                f"{_name(dataset)}: {message}. Choose a split that puts them in training, or "
                "allow unseen classes to score them as errors"
            )
        if message not in plan.warnings:
            plan.warnings.append(message + " (they count as errors)")


def _standardize(config: BaselineConfig) -> bool:
    return config.model == "logreg" if config.standardize is None else bool(config.standardize)


def _masks(dataset: Any) -> list[np.ndarray | None]:
    getter = getattr(dataset, "masks", None)
    masks = getter() if callable(getter) else None
    if masks is None:
        masks = [dataset.item(i).mask for i in range(len(dataset))]
    return list(masks)


def _load_inputs(config: BaselineConfig, dataset: Any, plan: _Plan) -> None:
    rows = np.unique(np.concatenate([np.concatenate([f.train, f.test]) for f in plan.folds]))
    if plan.task == "segmentation":
        plan.rows = rows
        plan.images = {int(i): np.asarray(dataset.item(int(i)).image) for i in rows}
        for i in rows:
            img, mask = plan.images[int(i)], np.asarray(plan.masks[int(i)])
            if img.shape[:2] != mask.shape[:2]:
                raise UserFacingError(
                    f"{_name(dataset)}: item {int(i)} has a {mask.shape[:2]} mask for a "
                    f"{img.shape[:2]} image"
                )
        return
    images = _images(config, dataset, rows)
    plan.rows = rows
    plan.X, note = image_features(images, config.downsample)
    if images.dtype.kind in "fc":
        bad = ~np.isfinite(plan.X).all(axis=1)
        if bad.any():
            first = ", ".join(str(int(i)) for i in rows[bad][:5])
            raise UserFacingError(
                f"{_name(dataset)}: {int(bad.sum())} images contain NaN or infinite pixel values "
                f"(items {first}); fix or exclude them"
            )
    if note:
        plan.warnings.append(note)


def _images(config: BaselineConfig, dataset: Any, rows: np.ndarray) -> np.ndarray:
    if config.resize_to is None:
        try:
            images = dataset.images()
        except UserFacingError as exc:
            raise UserFacingError(
                f"{exc}. Choose a size to resize to (resize_to=(h, w), --resize HxW)"
            ) from exc
        images = np.asarray(images)
        if images.dtype == object or images.ndim < 3:
            raise UserFacingError(
                f"{_name(dataset)}: images have different sizes; choose a size to resize to"
            )
        return take_rows(images, rows)
    from skimage.transform import resize

    h, w = config.resize_to
    out = []
    for i in rows:
        img = np.asarray(dataset.item(int(i)).image, dtype=np.float32)
        if img.shape[:2] != (h, w):
            img = resize(
                img, (h, w, *img.shape[2:]), order=1, preserve_range=True, anti_aliasing=True
            ).astype(np.float32)
        out.append(img)
    shapes = {im.shape for im in out}
    if len(shapes) > 1:
        raise UserFacingError(
            f"{_name(dataset)}: images differ in channels after resizing ({sorted(shapes)})"
        )
    return np.stack(out)


def image_features(images: np.ndarray, downsample: int = 1) -> tuple[np.ndarray, str]:
    """Raw pixels as float32 feature rows, block-mean downsampled by an integer factor.

    Returns the features and a note when downsampling had to crop a remainder. Pixel values are
    kept as they are (no /255): integer pixels then give exact distances, so kNN ties resolve
    the same way in any chunking.
    """
    images = np.asarray(images)
    note = ""
    n = len(images)
    if images.ndim < 2:
        raise UserFacingError(f"features: expected images (N, H, W), got shape {images.shape}")
    h, w = images.shape[1], images.shape[2] if images.ndim >= 3 else 1
    if downsample > 1:
        hh, ww = h // downsample, w // downsample
        if hh == 0 or ww == 0:
            raise UserFacingError(
                f"downsample: factor {downsample} is larger than the {h}x{w} images"
            )
        if (hh * downsample, ww * downsample) != (h, w):
            note = (
                f"downsampling {h}x{w} images by {downsample} drops the last "
                f"{h - hh * downsample} rows and {w - ww * downsample} columns"
            )
    else:
        hh, ww = h, w
    channels = int(np.prod(images.shape[3:], dtype=np.int64))
    out = np.empty((n, hh * ww * channels), dtype=np.float32)
    # Block by block (see GIL_BLOCK_BYTES): the cast to float32 of a whole dataset at once
    # would hold the GIL for tens of milliseconds.
    step = _block_rows(h * w * channels * 4)
    for s in range(0, n, step):
        block = images[s : s + step]
        if downsample > 1:
            cropped = block[:, : hh * downsample, : ww * downsample].astype(np.float32)
            shape = (len(block), hh, downsample, ww, downsample, *images.shape[3:])
            block = cropped.reshape(shape).mean(axis=(2, 4))
        out[s : s + step] = block.reshape(len(block), -1)
    return out, note


# -- models -----------------------------------------------------------------------------------


class L2Neighbors:
    """Exact Euclidean k-nearest-neighbour search, fast: float32 GEMM, float64 verification.

    The squared distances ``|y|^2 - 2 x.y`` (``|x|^2`` is the same along a row) are computed for a
    chunk of queries against all training rows with one float32 matrix product (twice the speed
    of float64, what makes us faster than scikit-learn's brute force). Float32 rounds, so every
    training row whose approximate distance lies within a rigorous error bound of the k-th
    smallest is kept as a candidate, and the candidates (a handful per query) are re-ranked with
    exact float64 arithmetic. The result equals an exact search, ties going to the smallest
    training index. Error bound: a float32 dot product of length d errs by at most
    ``d * u * sum|x_i y_i| <= d * u * |x| |y|`` (u = 2^-24); the norms add a few ulps.
    """

    def __init__(self, Y: np.ndarray):
        self.Y = np.ascontiguousarray(Y, dtype=np.float32)
        # Exact float64 squared norms, a block at a time (no float64 copy of the whole set).
        self.norms = np.empty(len(self.Y))
        step = _block_rows(4 * self.Y.shape[1] if self.Y.ndim == 2 else 4)
        for s in range(0, len(self.Y), step):
            block = self.Y[s : s + step]
            self.norms[s : s + step] = np.einsum("ij,ij->i", block, block, dtype=np.float64)
        self.norms32 = self.norms.astype(np.float32)
        self.max_norm = float(np.sqrt(self.norms.max())) if len(Y) else 0.0

    def kneighbors(self, X: np.ndarray, n_neighbors: int, return_distance: bool = True) -> Any:
        k = n_neighbors
        X = np.ascontiguousarray(X, dtype=np.float32)
        m, d = X.shape
        n = len(self.Y)
        approx = X @ self.Y.T
        approx *= -2.0
        approx += self.norms32
        # float64 accumulation of float32 products (which are exact in float64).
        xnorm = np.einsum("ij,ij->i", X, X, dtype=np.float64)
        u = float(np.finfo(np.float32).eps) / 2
        err = 2 * (d + 2) * u * np.sqrt(xnorm) * self.max_norm + 8 * u * float(self.norms.max())
        if k == 1:
            # Usually the minimum is alone within the error bound: check with a second minimum
            # instead of scanning for candidates, and scan only the rows with a near tie.
            every = np.arange(m)
            best = approx.argmin(axis=1)
            limit = self._limit(approx[every, best], err)
            approx[every, best] = np.inf
            tied = np.flatnonzero(approx.min(axis=1) <= limit)
            t_rows, t_cols = np.nonzero(approx[tied] <= limit[tied, None])
            rows = np.concatenate([every, tied[t_rows]])
            cols = np.concatenate([best, t_cols])
        else:
            # An upper bound of the k-th smallest without sorting the row: split the columns
            # into g >= k groups; the k smallest group minima are k distinct entries, so the k-th
            # smallest entry is at most the k-th smallest group minimum (exact when g = n).
            groups = min(n, max(8 * k, 32))
            starts = np.linspace(0, n, groups + 1).astype(np.int64)[:-1]
            minima = np.minimum.reduceat(approx, starts, axis=1)
            kth = np.partition(minima, k - 1, axis=1)[:, k - 1]
            limit = self._limit(kth, err)
            rows, cols = np.nonzero(approx <= limit[:, None])
        del approx
        exact = self.norms[cols] - 2 * np.einsum(
            "ij,ij->i", X[rows], self.Y[cols], dtype=np.float64
        )
        order = np.lexsort((cols, exact, rows))
        rows, cols, exact = rows[order], cols[order], exact[order]
        first = np.searchsorted(rows, np.arange(m))
        counts = np.diff(np.append(first, len(rows)))
        if np.any(counts < k):  # only with non-finite features, refused earlier
            raise UserFacingError("features contain NaN or infinite values")
        pick = (first[:, None] + np.arange(k)).ravel()
        ind = cols[pick].reshape(m, k)
        if not return_distance:
            return ind
        dist = np.sqrt(np.maximum(exact[pick].reshape(m, k) + xnorm[:, None], 0.0))
        return dist, ind

    @staticmethod
    def _limit(bound: np.ndarray, err: np.ndarray) -> np.ndarray:
        # Anything whose approximate distance is above this cannot beat the bound; rounded up
        # so the float32 comparison never excludes a true candidate.
        limit = (bound.astype(np.float64) + 2 * err + 1e-30).astype(np.float32)
        return np.nextafter(limit, np.float32(np.inf))


class KnnVoter:
    """kNN prediction from one neighbour search: the vote (or mean) of the k nearest.

    Picklable (it travels to dask workers). Ties in the vote go to the smallest class index,
    as in scikit-learn; distance weights are 1/d, and an exact match (d = 0) takes all the
    weight, as in scikit-learn.
    """

    def __init__(self, nn: Any, y: np.ndarray, k: int, weights: str, n_classes: int | None):
        self.nn, self.y, self.k, self.weights, self.n_classes = nn, y, k, weights, n_classes

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.weights == "distance":
            dist, ind = self.nn.kneighbors(X, self.k, return_distance=True)
            with np.errstate(divide="ignore"):
                w = 1.0 / dist
            exact = dist == 0
            hit = exact.any(axis=1)
            w[hit] = exact[hit]
        else:
            ind = self.nn.kneighbors(X, self.k, return_distance=False)
            w = None
        values = self.y[ind]
        if self.n_classes is None:  # regression
            if w is None:
                return values.mean(axis=1)
            return (values * w).sum(axis=1) / w.sum(axis=1)
        if self.k == 1:
            return values[:, 0]
        votes = np.zeros((len(X), self.n_classes))
        rows = np.arange(len(X))
        for j in range(self.k):
            votes[rows, values[:, j]] += 1.0 if w is None else w[:, j]
        return votes.argmax(axis=1)


class EstimatorPredictor:
    """``predict`` of a fitted scikit-learn estimator, as a picklable callable."""

    def __init__(self, estimator: Any):
        self.estimator = estimator

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.estimator.predict(X)


class Standardized:
    """Apply the training set's mean/std before predicting (for dask: one picklable object)."""

    def __init__(
        self, inner: Callable[[np.ndarray], np.ndarray], mean: np.ndarray, std: np.ndarray
    ):
        self.inner, self.mean, self.std = inner, mean, std

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.inner((X - self.mean) / self.std)


def _fit(
    plan: _Plan, X: np.ndarray, y: np.ndarray, counter: _Counter
) -> Job[tuple[Callable, bool]]:
    """Fit the configured model; returns (predictor, chunkable)."""
    c = plan.config
    regression = plan.task == "regression"
    if c.model == "dummy":
        from sklearn.dummy import DummyClassifier, DummyRegressor

        if regression:
            est = DummyRegressor(strategy=c.strategy or "mean")
        else:
            est = DummyClassifier(strategy=c.strategy or "most_frequent", random_state=c.seed)
        est.fit(X[:, :1], y)  # a dummy ignores the features
        # One chunk: a seeded random dummy would repeat its sequence in every chunk.
        return _DummyPredictor(est), False
    if c.model == "knn":
        if c.metric == "l2":
            nn: Any = L2Neighbors(X)
        else:
            from sklearn.neighbors import NearestNeighbors

            metric, p = KNN_METRICS[c.metric]
            nn = NearestNeighbors(n_neighbors=c.k, algorithm="brute", metric=metric, p=p or 2)
            nn.fit(X)
        n_classes = None if regression else len(plan.class_names)
        return KnnVoter(nn, y, c.k, c.weights, n_classes), True
    if c.model == "centroid":
        from sklearn.neighbors import NearestCentroid

        est = NearestCentroid(metric="manhattan" if c.metric == "l1" else "euclidean")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "zero standard deviation": harmless
            est.fit(X, y)
        return EstimatorPredictor(est), True
    if c.model == "logreg":
        est = yield from _fit_logreg(plan, X, y, counter)
        return EstimatorPredictor(est), True
    raise UserFacingError(f"model: {c.model!r} cannot be fitted")


class _DummyPredictor:
    def __init__(self, estimator: Any):
        self.estimator = estimator

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.estimator.predict(X[:, :1])


def _fit_logreg(plan: _Plan, X: np.ndarray, y: np.ndarray, counter: _Counter) -> Job[Any]:
    """Logistic regression fitted a few L-BFGS iterations at a time (warm start), so a long fit
    shows progress and can be cancelled between steps."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    c = plan.config
    step = 10
    est = LogisticRegression(C=c.C, max_iter=step, warm_start=True)
    done = 0
    while done < c.max_iter:
        est.max_iter = min(step, c.max_iter - done)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        ran = int(np.max(est.n_iter_))
        done += est.max_iter
        yield Progress(
            counter.done, counter.total, f"fitting logistic regression: {done} iterations"
        )
        if ran < est.max_iter:
            return est
    plan.warnings.append(
        f"logistic regression stopped after {c.max_iter} iterations without converging; "
        "its score may improve with more"
    )
    return est


# -- chunked prediction -------------------------------------------------------------------------


class _Counter:
    """Progress over all the rows a run predicts (test and training-score rows of all folds)."""

    def __init__(self, total: int):
        self.done, self.total = 0, total


# Chunked prediction: no chunk below this many rows (each pays a fixed cost: kNN reads the whole
# training set), none meant to take longer than this (a cancel waits for the running chunk), and
# the memory a chunk's scores may take.
CHUNK_FLOOR_ROWS = 256
CHUNK_MAX_SECONDS = 0.4
CHUNK_MEMORY_BYTES = 512 * 2**20


def _initial_rows(plan: _Plan, n_train: int, n_features: int) -> int:
    c = plan.config
    if c.chunk_rows is not None:
        return c.chunk_rows
    if c.model != "knn":
        return 4096
    # Brute-force L2 runs through BLAS at ~1e10 multiply-adds/s on a laptop core; other metrics
    # are ~10x slower. The first chunk only needs to be about right: later ones adapt.
    rate = 2e10 if c.metric in ("l2", "cosine") else 2e9
    return int(np.clip(c.chunk_seconds * rate / max(1, n_train * n_features), 16, 4096))


def _predict(
    plan: _Plan,
    predictor: Callable[[np.ndarray], np.ndarray],
    chunkable: bool,
    X: np.ndarray,
    counter: _Counter,
    label: str,
    n_train: int,
    client: Any,
) -> Job[np.ndarray]:
    n = len(X)
    if n == 0:
        return np.zeros(0)
    if client is not None and chunkable:
        return (yield from _predict_remote(plan, predictor, X, counter, label, client))
    rows = n if not chunkable else _initial_rows(plan, n_train, X.shape[1])
    sizer = None
    if chunkable and plan.config.chunk_rows is None:
        # Each chunk's scores against the whole training set are held at once (float32, and
        # about as much again while ranking them): cap a chunk's rows by that memory.
        ceiling = max(8, min(65536, CHUNK_MEMORY_BYTES // max(1, 8 * n_train)))
        sizer = ChunkSizer(
            rows,
            target_seconds=plan.config.chunk_seconds,
            max_seconds=max(plan.config.chunk_seconds, CHUNK_MAX_SECONDS),
            floor=min(CHUNK_FLOOR_ROWS, n),
            ceiling=ceiling,
        )
        rows = sizer.rows
    out = []
    start = 0
    while start < n:
        t0 = time.perf_counter()
        out.append(predictor(X[start : start + rows]))
        elapsed = time.perf_counter() - t0
        took = min(rows, n - start)
        start += took
        counter.done += took
        yield Progress(counter.done, counter.total, f"{label}: {start}/{n}")
        if sizer is not None:
            # a + b * rows fitted on the recent chunks: the fixed cost (reading the whole
            # training set) is not mistaken for per-row work, and sizes recover with the load
            rows = sizer.observe(took, elapsed)
    return np.concatenate(out)


def _remote_apply(predictor: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> np.ndarray:
    return predictor(X)


def _predict_remote(
    plan: _Plan,
    predictor: Callable,
    X: np.ndarray,
    counter: _Counter,
    label: str,
    client: Any,
) -> Job[np.ndarray]:
    from distributed import as_completed

    rows = plan.config.chunk_rows or 1000
    starts = list(range(0, len(X), rows))
    model = client.scatter(predictor, broadcast=True, hash=False)
    chunks = client.scatter([X[s : s + rows] for s in starts], hash=False)
    futures = [client.submit(_remote_apply, model, ch, pure=False) for ch in chunks]
    order = {f.key: i for i, f in enumerate(futures)}
    parts: list[np.ndarray | None] = [None] * len(futures)
    try:
        finished = 0
        for fut in as_completed(futures, loop=client.loop):
            i = order[fut.key]
            parts[i] = fut.result()
            finished += len(parts[i])
            counter.done += len(parts[i])
            yield Progress(
                counter.done, counter.total, f"{label} on the cluster: {finished}/{len(X)}"
            )
    finally:
        # Cancelled or failed: free the cluster's work and memory.
        client.cancel([*futures, *chunks, model])
    return np.concatenate(parts)


@contextlib.contextmanager
def _client(scheduler: Any):
    if scheduler is None:
        yield None
        return
    if not isinstance(scheduler, str):
        yield scheduler  # the caller's Client: not ours to close
        return
    try:
        from distributed import Client
    except ImportError as exc:
        raise UserFacingError(
            'scheduler: dask.distributed is not installed (pip install "dask[distributed]")'
        ) from exc
    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UserFacingError(f"scheduler: cannot reach {scheduler} ({exc})") from exc
    try:
        yield client
    finally:
        client.close()


# -- supervised runs ----------------------------------------------------------------------------


def _run_supervised(plan: _Plan, source: str) -> Job[BaselineResult]:
    c = plan.config
    assert plan.y is not None and plan.X is not None
    total = sum(f.test.size + (0 if c.eval == "train" else f.train_scored.size) for f in plan.folds)
    counter = _Counter(total)
    yield Progress(0, total, f"{len(plan.folds)} fold(s), {c.describe()}")
    test_idx, y_true, y_pred, fold_scores = [], [], [], []
    train_true, train_pred = [], []
    with _client(c.scheduler) as client:
        for k, fold in enumerate(plan.folds):
            tag = f"fold {k + 1}/{len(plan.folds)} " if len(plan.folds) > 1 else ""
            X_train = plan.feature_rows(fold.train)
            y_train = plan.y[fold.train]
            mean = std = None
            if _standardize(c):
                mean = X_train.mean(axis=0)
                std = X_train.std(axis=0)
                std[std == 0] = 1.0
                X_train = (X_train - mean) / std
            yield Progress(counter.done, total, f"{tag}fitting {c.describe()}")
            predictor, chunkable = yield from _fit(plan, X_train, y_train, counter)
            del X_train
            if mean is not None:
                predictor = Standardized(predictor, mean, std)
            pred = yield from _predict(
                plan,
                predictor,
                chunkable,
                plan.feature_rows(fold.test),
                counter,
                f"{tag}predicting test items",
                fold.train.size,
                client,
            )
            if c.eval == "train":
                tr_pred = pred
            else:
                tr_pred = yield from _predict(
                    plan,
                    predictor,
                    chunkable,
                    plan.feature_rows(fold.train_scored),
                    counter,
                    f"{tag}predicting training items (for the train score)",
                    fold.train.size,
                    client,
                )
            test_idx.append(fold.test)
            y_true.append(plan.y[fold.test])
            y_pred.append(pred)
            train_true.append(plan.y[fold.train_scored])
            train_pred.append(tr_pred)
            if len(plan.folds) > 1:
                fold_scores.append(_scores(plan, plan.y[fold.test], pred, y_train))
    return _supervised_result(
        plan,
        source,
        np.concatenate(test_idx),
        np.concatenate(y_true),
        np.concatenate(y_pred),
        np.concatenate(train_true),
        np.concatenate(train_pred),
        fold_scores,
    )


def _scores(plan: _Plan, y_true: np.ndarray, y_pred: np.ndarray, y_train: np.ndarray) -> dict:
    if plan.task == "regression":
        return regression_scores(y_true, y_pred)
    majority = int(np.bincount(y_train).argmax())  # same tie rule as DummyClassifier
    scores = classification_scores(y_true, y_pred)
    scores["majority_rate"] = float(np.mean(y_true == majority)) if y_true.size else math.nan
    return scores


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy (mean recall over classes present in ``y_true``), macro F1."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return {"accuracy": math.nan, "balanced_accuracy": math.nan, "macro_f1": math.nan}
    labels = np.union1d(y_true, y_pred)
    cm = _confusion(y_true, y_pred, labels)
    table = _per_class(cm)
    present = cm.sum(axis=1) > 0
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "balanced_accuracy": float(np.mean(table["recall"][present])),
        "macro_f1": float(np.mean(table["f1"][present])),
    }


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R^2 (R^2 is NaN for fewer than two items or constant truth)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if y_true.size == 0:
        return {"mae": math.nan, "rmse": math.nan, "r2": math.nan}
    err = y_pred - y_true
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    r2 = 1.0 - float(np.sum(err**2)) / ss_tot if y_true.size > 1 and ss_tot > 0 else math.nan
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": r2,
    }


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    pos = {int(v): i for i, v in enumerate(labels)}
    t = np.fromiter((pos[int(v)] for v in y_true), np.int64, len(y_true))
    p = np.fromiter((pos[int(v)] for v in y_pred), np.int64, len(y_pred))
    n = len(labels)
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)


def _per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def _supervised_result(
    plan: _Plan,
    source: str,
    test_idx: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    train_true: np.ndarray,
    train_pred: np.ndarray,
    fold_scores: list[dict],
) -> BaselineResult:
    c = plan.config
    all_train = np.unique(np.concatenate([f.train for f in plan.folds]))
    result = BaselineResult(
        config=c,
        task=plan.task,
        source=source,
        evaluation=plan.evaluation,
        scores={},
        train_scores={},
        n_train=int(np.mean([f.train.size for f in plan.folds]).round()),
        n_test=int(test_idx.size),
        n_train_scored=int(train_true.size // max(1, len(plan.folds))),
        duration=0.0,
        test_indices=test_idx,
        fold_scores=fold_scores,
        warnings=list(plan.warnings),
        resolved=dict(plan.resolved),
    )
    if plan.task == "regression":
        result.scores = regression_scores(y_true, y_pred)
        result.train_scores = regression_scores(train_true, train_pred)
        result.y_true, result.y_pred = y_true.astype(float), y_pred.astype(float)
    else:
        y_pred = y_pred.astype(np.int64)
        majority_train = plan.y[all_train] if len(plan.folds) > 1 else plan.y[plan.folds[0].train]
        result.scores = _scores(plan, y_true, y_pred, majority_train)
        result.train_scores = classification_scores(train_true, train_pred.astype(np.int64))
        present = np.union1d(np.union1d(y_true, y_pred), np.unique(plan.y[all_train]))
        cm = _confusion(y_true, y_pred, present)
        table = _per_class(cm)
        result.labels = [plan.class_names[int(i)] for i in present]
        result.confusion = cm
        result.per_class = [
            {
                "class": name,
                "precision": float(table["precision"][j]),
                "recall": float(table["recall"][j]),
                "f1": float(table["f1"][j]),
                "support": int(table["support"][j]),
            }
            for j, name in enumerate(result.labels)
        ]
        pos = np.searchsorted(present, y_true), np.searchsorted(present, y_pred)
        result.y_true, result.y_pred = pos[0], pos[1]
        wrong = np.flatnonzero(y_true != y_pred)
        result.misclassified = [
            {
                "index": int(test_idx[j]),
                "true": plan.class_names[int(y_true[j])],
                "pred": plan.class_names[int(y_pred[j])],
            }
            for j in wrong
        ]
    if fold_scores:
        for key in fold_scores[0]:
            values = np.asarray([f[key] for f in fold_scores], float)
            result.scores[key] = float(np.mean(values))
            result.scores[f"{key}_std"] = float(np.std(values))
    return result


# -- segmentation -------------------------------------------------------------------------------


def _segment(model: str, image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3:
        img = img.mean(axis=2)
    if model == "otsu":
        from skimage.filters import threshold_otsu

        if img.min() == img.max():
            return np.zeros(img.shape, bool)
        return img > threshold_otsu(img)
    try:
        from qbi_desktop.core.spots import detect_spots
    except ImportError as exc:
        raise UserFacingError("model spots: the spot detector is not available") from exc
    found = detect_spots(img)
    for attr in ("mask", "labels", "spot_mask"):
        if hasattr(found, attr):
            found = getattr(found, attr)
            break
    return np.asarray(found) > 0


def segmentation_scores(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Dice, IoU and object counts for one binary mask pair (both empty -> Dice = IoU = 1)."""
    t, p = np.asarray(true) > 0, np.asarray(pred) > 0
    inter = int(np.sum(t & p))
    a, b = int(t.sum()), int(p.sum())
    union = a + b - inter
    tp, n_true, n_pred = object_matches(t, p)
    return {
        "dice": 1.0 if a + b == 0 else 2 * inter / (a + b),
        "iou": 1.0 if union == 0 else inter / union,
        "intersection": inter,
        "true_pixels": a,
        "pred_pixels": b,
        "objects_matched": tp,
        "objects_true": n_true,
        "objects_pred": n_pred,
    }


def object_matches(true: np.ndarray, pred: np.ndarray) -> tuple[int, int, int]:
    """One-to-one matching of connected objects (8-connected) by overlap.

    A predicted object matches a true object when they share at least one pixel; pairs are
    taken greedily by overlap size, each object used once. Returns (matched, n_true, n_pred).
    """
    from scipy import ndimage

    structure = np.ones((3, 3), bool)
    lt, n_true = ndimage.label(true, structure)
    lp, n_pred = ndimage.label(pred, structure)
    if n_true == 0 or n_pred == 0:
        return 0, n_true, n_pred
    both = (lt > 0) & (lp > 0)
    pairs, overlap = np.unique(np.stack([lt[both], lp[both]]), axis=1, return_counts=True)
    used_t, used_p, matched = set(), set(), 0
    for j in np.argsort(-overlap, kind="stable"):
        a, b = int(pairs[0, j]), int(pairs[1, j])
        if a not in used_t and b not in used_p:
            used_t.add(a)
            used_p.add(b)
            matched += 1
    return matched, n_true, n_pred


def _pooled_segmentation(rows: list[dict]) -> dict[str, float]:
    if not rows:
        return {"dice": math.nan, "iou": math.nan, "object_f1": math.nan}
    inter = sum(r["intersection"] for r in rows)
    a = sum(r["true_pixels"] for r in rows)
    b = sum(r["pred_pixels"] for r in rows)
    tp = sum(r["objects_matched"] for r in rows)
    nt = sum(r["objects_true"] for r in rows)
    npred = sum(r["objects_pred"] for r in rows)
    precision = tp / npred if npred else (1.0 if nt == 0 else 0.0)
    recall = tp / nt if nt else 1.0
    return {
        "dice": 1.0 if a + b == 0 else 2 * inter / (a + b),
        "iou": 1.0 if a + b - inter == 0 else inter / (a + b - inter),
        "mean_image_dice": float(np.mean([r["dice"] for r in rows])),
        "mean_image_iou": float(np.mean([r["iou"] for r in rows])),
        "object_precision": precision,
        "object_recall": recall,
        "object_f1": 0.0
        if precision + recall == 0
        else 2 * precision * recall / (precision + recall),
    }


def _run_segmentation(plan: _Plan, source: str) -> Job[BaselineResult]:
    c = plan.config
    fold = plan.folds[0] if len(plan.folds) == 1 else None
    tests = np.concatenate([f.test for f in plan.folds])
    scored = (
        np.setdiff1d(np.concatenate([f.train_scored for f in plan.folds]), tests)
        if c.eval != "train"
        else np.zeros(0, np.int64)
    )
    total = tests.size + scored.size
    done = 0
    yield Progress(0, total, c.describe())
    per_item: list[dict] = []
    train_rows: list[dict] = []
    for group, sink in ((tests, per_item), (scored, train_rows)):
        for i in group:
            pred = _segment(c.model, plan.images[int(i)])
            row = segmentation_scores(plan.masks[int(i)], pred)
            row["index"] = int(i)
            sink.append(row)
            done += 1
            yield Progress(done, total, f"{c.describe()}: image {done}/{total}")
    result = BaselineResult(
        config=c,
        task="segmentation",
        source=source,
        evaluation=plan.evaluation,
        scores=_pooled_segmentation(per_item),
        train_scores=_pooled_segmentation(train_rows) if train_rows else {},
        n_train=int(fold.train.size if fold is not None else plan.folds[0].train.size),
        n_test=int(tests.size),
        n_train_scored=len(train_rows),
        duration=0.0,
        test_indices=tests,
        per_item=per_item,
        warnings=list(plan.warnings),
        resolved=dict(plan.resolved),
    )
    return result
