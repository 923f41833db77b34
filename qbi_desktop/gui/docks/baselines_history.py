"""The Baselines dock's run history: one record per run, its table model, and its JSON file.

A :class:`RunRecord` is what the history keeps of a run: the data source, the configuration,
its state, and once it has finished the metrics dictionary of the core
(:meth:`BaselineResult.to_metrics_dict`) plus the few per-item lists the pictures need
(misclassified items, regression predictions, per-image segmentation scores). That is plain
JSON: the history file holds no pickles and no models. A finished run read back from the file is
turned into a :class:`BaselineResult` again (:func:`result_from_record`), so the heatmap, bars,
comparison and export work the same for runs of this session and of earlier ones; only the
correctly classified items behind the diagonal cells are not kept (they would dominate the file).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from qbi_desktop.core.atomic import atomic_write_text
from qbi_desktop.core.baselines import TRAIN_EVAL_WARNING, BaselineConfig, BaselineResult
from qbi_desktop.core.paths import user_dir

log = logging.getLogger(__name__)

HISTORY_FILE = "baselines_history.json"
HISTORY_VERSION = 1
MAX_RECORDS = 200
MAX_STORED_POINTS = 20000  # regression predictions kept per run in the file
FINISHED = ("done", "failed", "cancelled")

# Keys of the metrics dict that are not scores (everything else at top level is a score).
_NON_SCORES = {
    "task",
    "model",
    "source",
    "evaluation",
    "train",
    "n_train",
    "n_test",
    "n_train_scored",
    "duration_s",
    "warnings",
    "labels",
    "confusion_matrix",
    "per_class",
    "n_misclassified",
    "folds",
}


@dataclass
class RunRecord:
    """One run in the history (queued, running or finished).

    ``config`` is the configuration as JSON (:meth:`BaselineConfig.to_dict`); after the run it
    is the *resolved* configuration of the result (defaults filled in), so it reproduces the run.
    ``result`` and ``dataset`` live only in memory; a record read from the history file gets its
    result rebuilt from ``metrics`` and ``extra`` on demand.
    """

    id: int
    source: str
    config: dict[str, Any]
    state: str = "queued"
    created: str = ""
    metrics: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration: float | None = None
    result: BaselineResult | None = None
    dataset: Any = None
    task: Any = None
    progress: float | None = None
    started: float | None = None  # perf_counter times of the worker run (this session only)
    ended: float | None = None
    pid: int | None = None  # the process the run computed in (this session only)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def config_obj(self) -> BaselineConfig:
        return config_from_json(self.config)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "config": self.config,
            "state": self.state,
            "created": self.created,
            "metrics": self.metrics,
            "extra": self.extra,
            "error": self.error,
            "duration": self.duration,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        return cls(
            id=int(data["id"]),
            source=str(data["source"]),
            config=dict(data.get("config") or {}),
            state=str(data.get("state", "done")),
            created=str(data.get("created", "")),
            metrics=data.get("metrics"),
            extra=dict(data.get("extra") or {}),
            error=data.get("error"),
            duration=data.get("duration"),
        )

    def set_result(self, result: BaselineResult, dataset: Any) -> None:
        """Keep a finished run's result, and its JSON summary for the history file."""
        self.result, self.dataset = result, dataset
        self.config = result.config.to_dict()
        self.metrics = result.to_metrics_dict()
        self.duration = result.duration
        self.extra = {}
        if result.task == "classification":
            self.extra["misclassified"] = list(result.misclassified)
        elif result.task == "regression":
            n = min(len(result.y_true), MAX_STORED_POINTS)
            self.extra["y_true"] = [_round(v) for v in result.y_true[:n].tolist()]
            self.extra["y_pred"] = [_round(v) for v in result.y_pred[:n].tolist()]
            self.extra["test_indices"] = result.test_indices[:n].tolist()
        else:
            self.extra["per_item"] = [
                {k: _jsonable(v) for k, v in row.items()} for row in result.per_item
            ]

    def get_result(self) -> BaselineResult | None:
        """The run's result: the one in memory, or rebuilt from the history file's JSON."""
        if self.result is None and self.state == "done" and self.metrics:
            try:
                self.result = result_from_record(self)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("history run %d cannot be shown: %s", self.id, exc)
                return None
        return self.result

    @property
    def complete(self) -> bool:
        """True when every test item's prediction is in memory (not a run read back from disk)."""
        return self.result is not None and not getattr(self.result, "_from_history", False)


def _round(v: float) -> float | None:
    return float(f"{v:.7g}") if math.isfinite(v) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def config_from_json(values: dict[str, Any]) -> BaselineConfig:
    """A configuration from its JSON form, ignoring parameters this version does not know."""
    names = {f.name for f in dataclasses.fields(BaselineConfig)}
    return BaselineConfig.from_dict({k: v for k, v in values.items() if k in names})


def result_from_record(record: RunRecord) -> BaselineResult:
    """Rebuild a :class:`BaselineResult` from a history record's JSON (metrics + extra).

    Classification: the test items kept are the misclassified ones, so every off-diagonal cell's
    items are exact; the diagonal cells' items are not available (``_from_history`` is set).
    """
    m = record.metrics or {}
    task = m["task"]
    result = BaselineResult(
        config=config_from_json(record.config),
        task=task,
        source=str(m.get("source", record.source)),
        evaluation=str(m.get("evaluation", "")),
        scores={k: _num(v) for k, v in m.items() if k not in _NON_SCORES},
        train_scores={k: _num(v) for k, v in (m.get("train") or {}).items()},
        n_train=int(m.get("n_train", 0)),
        n_test=int(m.get("n_test", 0)),
        n_train_scored=int(m.get("n_train_scored", 0)),
        duration=float(m.get("duration_s") or 0.0),
        fold_scores=[{k: _num(v) for k, v in f.items()} for f in m.get("folds", [])],
        warnings=list(m.get("warnings", [])),
    )
    if task == "classification":
        result.labels = [str(x) for x in m.get("labels", [])]
        result.confusion = np.asarray(m.get("confusion_matrix", []), dtype=np.int64).reshape(
            len(result.labels), len(result.labels)
        )
        result.per_class = list(m.get("per_class", []))
        wrong = list(record.extra.get("misclassified", []))
        result.misclassified = wrong
        pos = {name: i for i, name in enumerate(result.labels)}
        result.test_indices = np.asarray([w["index"] for w in wrong], dtype=np.int64)
        result.y_true = np.asarray([pos[str(w["true"])] for w in wrong], dtype=np.int64)
        result.y_pred = np.asarray([pos[str(w["pred"])] for w in wrong], dtype=np.int64)
    elif task == "regression":
        result.y_true = np.asarray([_num(v) for v in record.extra.get("y_true", [])])
        result.y_pred = np.asarray([_num(v) for v in record.extra.get("y_pred", [])])
        result.test_indices = np.asarray(record.extra.get("test_indices", []), dtype=np.int64)
    else:
        result.per_item = [
            {k: _num(v) if k not in ("index",) else v for k, v in row.items()}
            for row in record.extra.get("per_item", [])
        ]
    result._from_history = True  # type: ignore[attr-defined]
    return result


# -- the history file -------------------------------------------------------------------------


class HistoryStore:
    """Reads the history file, and writes it atomically off the GUI thread.

    ``save`` takes the records' JSON rows in the caller's thread (dicts of references: cheap)
    and hands them to a short-lived writer thread, which turns them into text and writes it
    (the text of a history with a few MNIST runs took 10-20 ms to make: a stall at every run's
    end). Writes are serialised and only the newest rows are written, so a burst of finished
    runs costs one write, and the GUI thread never waits on the disk.
    """

    def __init__(self, path: Path | None = None):
        self.path = path or user_dir("config") / HISTORY_FILE
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] | None = None
        self._writer: threading.Thread | None = None

    def load(self) -> list[RunRecord]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("baseline history %s unreadable (%s); starting a new one", self.path, exc)
            return []
        records = []
        for row in data.get("runs", []) if isinstance(data, dict) else []:
            try:
                records.append(RunRecord.from_json(row))
            except (KeyError, TypeError, ValueError):
                continue
        return records

    def save(self, records: list[RunRecord]) -> None:
        rows = [r.to_json() for r in records if r.finished][-MAX_RECORDS:]
        with self._lock:
            self._pending = rows
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, daemon=True)
                self._writer.start()

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                rows, self._pending = self._pending, None
                if rows is None:
                    return
            # A finished record's JSON parts are replaced, never changed in place
            # (RunRecord.set_result), so the rows can be read here while the GUI goes on.
            text = json.dumps({"version": HISTORY_VERSION, "runs": rows}, indent=1) + "\n"
            try:
                atomic_write_text(self.path, text)
            except OSError as exc:
                log.error("cannot write the baseline history %s: %s", self.path, exc)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until the newest history is on disk (tests, closing the app)."""
        writer = self._writer
        if writer is not None:
            writer.join(timeout)


def now_text() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


# -- the table ----------------------------------------------------------------------------------


def short_source(source: str) -> str:
    kind, _, arg = source.partition(":")
    if not arg:
        return source
    name = Path(arg.rstrip("/\\")).name or arg
    return {"mnist": f"MNIST {name}", "npz": f"NPZ {name}", "project": f"project {name}"}.get(
        kind, source
    )


def split_text(config: dict[str, Any], evaluation: str = "") -> str:
    """A short description of how the run was evaluated (the full one is in the tooltip);
    ``evaluation`` (the result's) tells what "auto" turned out to be."""
    split = config.get("split", "auto")
    if split == "auto" and evaluation:
        split = "dataset" if evaluation.startswith("dataset splits") else "random"
    if split == "kfold":
        text = f"{config.get('folds', 5)}-fold CV"
    elif split == "random":
        text = f"random {round(100 * float(config.get('test_fraction', 0.25)))} % test"
    elif split == "dataset":
        text = "dataset splits"
    else:
        text = "auto"
    if config.get("train_size"):
        text += f", first {config['train_size']}"
        if config.get("test_on") == "rest-of-train":
            text += ", test on rest"
    if config.get("test_size"):
        text += f", {config['test_size']} test"
    if config.get("eval") == "train":
        text += ", ON TRAINING DATA"
    return text


def params_text(config: dict[str, Any]) -> str:
    """The model's parameters and the feature settings, briefly."""
    model = config.get("model")
    parts: list[str] = []
    if model == "knn":
        parts += [f"k={config.get('k')}", str(config.get("metric", "")).upper()]
        parts.append(str(config.get("weights")))
    elif model == "dummy":
        parts.append(str(config.get("strategy") or "default"))
    elif model == "centroid":
        parts.append(str(config.get("metric", "")).upper())
    elif model == "logreg":
        parts += [f"C={config.get('C')}", f"{config.get('max_iter')} it."]
    resize = config.get("resize_to")
    if resize == "auto":
        parts.append("resize auto")
    elif isinstance(resize, (list, tuple)) and len(resize) == 2:
        parts.append(f"resized {resize[0]}x{resize[1]}")
    if int(config.get("downsample") or 1) > 1:
        parts.append(f"downsample {config['downsample']}")
    if config.get("standardize"):
        parts.append("standardised")
    return ", ".join(parts)


def model_text(config: dict[str, Any]) -> str:
    return {
        "knn": "kNN",
        "dummy": "dummy",
        "centroid": "nearest centroid",
        "logreg": "logistic regression",
        "otsu": "Otsu threshold",
        "spots": "spot detector",
    }.get(str(config.get("model")), str(config.get("model")))


def pct(x: Any) -> str:
    return "–" if x is None or not math.isfinite(float(x)) else f"{100 * float(x):.1f} %"


def score_pair(record: RunRecord) -> tuple[str, str]:
    """(test, train) headline score texts: accuracy, R^2 or Dice by task."""
    m = record.metrics
    if not m:
        return "", ""
    train = m.get("train") or {}
    task = m.get("task")
    if task == "classification":
        return pct(m.get("accuracy")), pct(train.get("accuracy"))
    if task == "regression":

        def r2(v: Any) -> str:
            return "–" if v is None else f"R² {float(v):.3f}"

        return r2(m.get("r2")), r2(train.get("r2"))

    def dice(v: Any) -> str:
        return "–" if v is None else f"Dice {float(v):.3f}"

    return dice(m.get("dice")), dice(train.get("dice"))


COLUMNS = (
    ("#", "run number"),
    ("State", "queued, running, done, failed or cancelled"),
    ("Model", "model"),
    ("Test", "score on the test items (accuracy, R² or Dice)"),
    ("Train", "the same score on (a sample of) the training items, for comparison"),
    ("Balanced", "balanced accuracy: mean recall over the classes"),
    ("Majority", "majority-class rate: the accuracy of always answering the most frequent class"),
    ("Parameters", "model parameters and features"),
    ("Data", "data source"),
    ("Split", "how the run was evaluated"),
    ("Seed", "random seed of the split / dummy"),
    ("Time", "duration of the run"),
)
STATE_COLUMN = [name for name, _tip in COLUMNS].index("State")
STATE_COLOURS = {
    "queued": QColor(110, 116, 124),
    "running": QColor(25, 113, 194),
    "done": QColor(43, 138, 62),
    "failed": QColor(201, 42, 42),
    "cancelled": QColor(230, 119, 0),
}


class HistoryModel(QAbstractTableModel):
    """The run history as a table, newest run at the bottom."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: list[RunRecord] = []

    def rowCount(self, parent=None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(self.records)

    def columnCount(self, parent=None) -> int:  # noqa: N802
        return 0 if parent is not None and parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][1]
        return None

    def set_records(self, records: list[RunRecord]) -> None:
        self.beginResetModel()
        self.records = records
        self.endResetModel()

    def add(self, record: RunRecord) -> int:
        row = len(self.records)
        self.beginInsertRows(QModelIndex(), row, row)
        self.records.append(record)
        self.endInsertRows()
        return row

    def remove(self, rows: list[int]) -> list[RunRecord]:
        removed = []
        for row in sorted(set(rows), reverse=True):
            if 0 <= row < len(self.records):
                self.beginRemoveRows(QModelIndex(), row, row)
                removed.append(self.records.pop(row))
                self.endRemoveRows()
        return removed

    def refresh(self, record: RunRecord) -> None:
        self._changed(record, 0, len(COLUMNS) - 1)

    def refresh_state(self, record: RunRecord) -> None:
        """Only the State cell ("running 43 %"): a running row's progress repaints one cell,
        not the whole row with a call into Python per column and role."""
        self._changed(record, STATE_COLUMN, STATE_COLUMN)

    def _changed(self, record: RunRecord, first: int, last: int) -> None:
        if record in self.records:
            row = self.records.index(record)
            self.dataChanged.emit(self.index(row, first), self.index(row, last))

    def row_of(self, record: RunRecord) -> int:
        return self.records.index(record)

    def cell_text(self, record: RunRecord, column: int) -> str:
        c, m = record.config, record.metrics or {}
        name = COLUMNS[column][0]
        if name == "#":
            return str(record.id)
        if name == "Data":
            return short_source(record.source)
        if name == "Split":
            return split_text(c, str(m.get("evaluation", "")))
        if name == "Model":
            return model_text(c)
        if name == "Parameters":
            return params_text(c)
        if name == "Seed":
            return str(c.get("seed", ""))
        if name == "Test":
            return score_pair(record)[0]
        if name == "Train":
            return score_pair(record)[1]
        if name == "Balanced":
            return pct(m["balanced_accuracy"]) if "balanced_accuracy" in m else ""
        if name == "Majority":
            return pct(m["majority_rate"]) if "majority_rate" in m else ""
        if name == "Time":
            return "" if record.duration is None else f"{record.duration:.1f} s"
        if name == "State":
            if record.state == "running" and record.progress is not None:
                return f"running {100 * record.progress:.0f} %"
            return record.state
        return ""

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record = self.records[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell_text(record, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(record)
        if role == Qt.ItemDataRole.ForegroundRole:
            if COLUMNS[column][0] == "State":
                return QBrush(STATE_COLOURS.get(record.state, QColor(0, 0, 0)))
            if COLUMNS[column][0] in ("Split", "Test") and record.config.get("eval") == "train":
                return QBrush(STATE_COLOURS["failed"])
        if role == Qt.ItemDataRole.FontRole and COLUMNS[column][0] == "Test":
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and COLUMNS[column][0] in (
            "#",
            "Seed",
            "Test",
            "Train",
            "Balanced",
            "Majority",
            "Time",
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _tooltip(self, record: RunRecord) -> str:
        lines = [f"run {record.id}: {record.source}"]
        if record.metrics:
            lines.append(str(record.metrics.get("evaluation", "")))
            lines.append(
                f"{record.metrics.get('n_train')} train / {record.metrics.get('n_test')} test"
            )
        if record.error:
            lines.append(record.error)
        if record.config.get("eval") == "train":
            lines.append(TRAIN_EVAL_WARNING)
        return "\n".join(line for line in lines if line)
