"""The Baselines dock's result views: one run (headline scores, warnings, pictures) and a
side-by-side comparison of two runs.

The headline puts accuracy next to balanced accuracy and the majority-class rate, and the test
score next to the training score, so a dummy's 99 % on imbalanced data, or a 100 % measured on
the training data, is recognised for what it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.baselines import TRAIN_EVAL_WARNING, BaselineResult
from qbi_desktop.gui.docks.baselines_history import (
    RunRecord,
    model_text,
    params_text,
    short_source,
    split_text,
)
from qbi_desktop.gui.docks.baselines_plots import (
    ConfusionHeatmap,
    Gallery,
    PerClassBars,
    RegressionScatter,
    SegmentationTable,
)

# Accuracy less than this far above the majority-class rate "barely beats" answering the
# most frequent class every time.
BARELY_ABOVE = 0.05


def _pct(x: Any) -> str:
    return "–" if x is None or not math.isfinite(float(x)) else f"{100 * float(x):.2f} %"


def _capitalised(warning: str) -> str:
    rest = warning.split(": ", 1)[-1]
    return rest[:1].upper() + rest[1:]


def majority_note(scores: dict[str, float]) -> str:
    """A note when accuracy is no better, or barely better, than the majority-class rate."""
    acc, maj = scores.get("accuracy", math.nan), scores.get("majority_rate", math.nan)
    if not (math.isfinite(acc) and math.isfinite(maj)):
        return ""
    if acc <= maj:
        return (
            f"Accuracy {_pct(acc)} is not above the majority-class rate {_pct(maj)}: always "
            "answering the most frequent class scores as well. Look at balanced accuracy."
        )
    if acc - maj < BARELY_ABOVE:
        return (
            f"Accuracy is only {100 * (acc - maj):.1f} points above the majority-class rate "
            f"({_pct(maj)}): this model barely beats always answering the most frequent class. "
            "Look at balanced accuracy."
        )
    return ""


def headline_html(result: BaselineResult) -> str:
    """The big line of scores for one run."""
    s, t = result.scores, result.train_scores
    on_train = result.config.eval == "train"
    if result.task == "classification":
        std = f" ± {_pct(s['accuracy_std'])}" if "accuracy_std" in s else ""
        what = "Accuracy on the TRAINING data" if on_train else "Accuracy"
        main = (
            f"<span style='font-size:15pt'>{what} <b>{_pct(s.get('accuracy'))}</b>{std}</span>"
            f" &nbsp;&nbsp; balanced accuracy <b>{_pct(s.get('balanced_accuracy'))}</b>"
            f" &nbsp;&nbsp; majority-class rate <b>{_pct(s.get('majority_rate'))}</b>"
        )
        if t and not on_train:
            main += (
                f"<br>test {_pct(s.get('accuracy'))} &nbsp;vs&nbsp; train "
                f"{_pct(t.get('accuracy'))} <span style='color:gray'>(train score on "
                f"{result.n_train_scored} of {result.n_train} training items)</span>"
            )
    elif result.task == "regression":

        def g(d: dict, k: str) -> str:
            v = d.get(k, math.nan)
            return "–" if v is None or not math.isfinite(v) else f"{v:.4g}"

        main = (
            f"<span style='font-size:15pt'>MAE <b>{g(s, 'mae')}</b></span> &nbsp; RMSE "
            f"<b>{g(s, 'rmse')}</b> &nbsp; R² <b>{g(s, 'r2')}</b>"
        )
        if t and not on_train:
            main += (
                f"<br>test MAE {g(s, 'mae')}, R² {g(s, 'r2')} &nbsp;vs&nbsp; train MAE "
                f"{g(t, 'mae')}, R² {g(t, 'r2')}"
            )
    else:

        def g3(d: dict, k: str) -> str:
            v = d.get(k, math.nan)
            return "–" if v is None or not math.isfinite(v) else f"{v:.3f}"

        main = (
            f"<span style='font-size:15pt'>Dice <b>{g3(s, 'dice')}</b></span> &nbsp; IoU "
            f"<b>{g3(s, 'iou')}</b> &nbsp; object F1 <b>{g3(s, 'object_f1')}</b>"
        )
    foot = (
        f"<br><span style='color:gray'>{result.config.describe()} on "
        f"{short_source(result.source)} · {result.evaluation} · {result.n_train} train / "
        f"{result.n_test} test items · {result.duration:.1f} s</span>"
    )
    return main + foot


def matrix_title(result: BaselineResult) -> str:
    if result.config.eval == "train":
        return f"Confusion matrix on the {result.n_test} TRAINING items (not a test!)"
    return f"Confusion matrix, {result.n_test} test items"


class ResultView(QWidget):
    """One run: headline, warning banners, and the task's pictures."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.record: RunRecord | None = None
        self.headline = QLabel("Run a baseline to see its scores here.")
        self.headline.setWordWrap(True)
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.train_banner = QLabel(
            f"<b>⚠ Evaluated on the training data.</b> {_capitalised(TRAIN_EVAL_WARNING)}"
        )
        self.train_banner.setWordWrap(True)
        self.train_banner.setStyleSheet(
            "QLabel { background: #c92a2a; color: white; padding: 6px; border-radius: 3px; }"
        )
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet(
            "QLabel { background: #fff3bf; color: #5c3c00; padding: 4px; border-radius: 3px; }"
        )
        self.train_banner.hide()
        self.note.hide()

        self.heatmap = ConfusionHeatmap()
        self.bars = PerClassBars()
        self.gallery = Gallery()
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.bars)
        right.addWidget(self.gallery)
        # the cell's images get the larger share: they are what a click on the matrix is for
        right.setStretchFactor(0, 2)
        right.setStretchFactor(1, 3)
        right.setChildrenCollapsible(False)  # neither the chart nor a row of images vanishes
        self.class_page = QSplitter(Qt.Orientation.Horizontal)
        self.class_page.addWidget(self.heatmap)
        self.class_page.addWidget(right)
        self.class_page.setStretchFactor(0, 3)
        self.class_page.setStretchFactor(1, 2)
        self.scatter = RegressionScatter()
        self.seg_table = SegmentationTable()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.pages = QStackedWidget()
        for page in (self.message, self.class_page, self.scatter, self.seg_table):
            self.pages.addWidget(page)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.headline)
        layout.addWidget(self.train_banner)
        layout.addWidget(self.note)
        layout.addWidget(self.pages, 1)

    def show_record(self, record: RunRecord | None) -> None:
        self.record = record
        result = record.get_result() if record is not None else None
        self.gallery.show_message("Click a cell of the confusion matrix to see its images.")
        if result is None:
            self.train_banner.hide()
            self.note.hide()
            if record is None:
                self.headline.setText("Run a baseline to see its scores here.")
                self.message.setText("")
            else:
                self.headline.setText(
                    f"Run {record.id} ({model_text(record.config)} on "
                    f"{short_source(record.source)}): <b>{record.state}</b>"
                )
                self.message.setText(record.error or "")
            self.pages.setCurrentWidget(self.message)
            return
        self.headline.setText(headline_html(result))
        self.train_banner.setVisible(result.config.eval == "train")
        notes = []
        if result.task == "classification":
            notes.append(majority_note(result.scores))
        notes += [w for w in result.warnings if w != TRAIN_EVAL_WARNING]
        notes = [n for n in notes if n]
        self.note.setText("<br>".join(f"⚠ {n}" for n in notes))
        self.note.setVisible(bool(notes))
        if result.task == "classification":
            self.heatmap.set_matrix(result.confusion, result.labels, matrix_title(result))
            self.bars.set_rows(result.per_class)
            self.pages.setCurrentWidget(self.class_page)
        elif result.task == "regression":
            self.scatter.set_data(result.y_true, result.y_pred, result.scores)
            self.pages.setCurrentWidget(self.scatter)
        else:
            self.seg_table.set_result(result.scores, result.per_item)
            self.pages.setCurrentWidget(self.seg_table)

    def drawing_steps(self, record: RunRecord) -> list[Callable[[], None]]:
        """The pictures :meth:`show_record` would draw for ``record`` (the heatmap, the bars), as
        steps a finished run takes one per event before it is shown; showing it then finds them
        drawn (the plots do not draw again what they show)."""
        result = record.get_result()
        if result is None or result.task != "classification":
            return []
        return [
            lambda: self.heatmap.set_matrix(result.confusion, result.labels, matrix_title(result)),
            lambda: self.bars.set_rows(result.per_class),
        ]

    @property
    def banner_visible(self) -> bool:
        return not self.train_banner.isHidden()


# -- comparison -------------------------------------------------------------------------------


def _name(key: str) -> str:
    return {
        "accuracy": "accuracy",
        "balanced_accuracy": "balanced",
        "majority_rate": "majority",
        "macro_f1": "macro F1",
        "r2": "R²",
        "mae": "MAE",
        "rmse": "RMSE",
        "iou": "IoU",
    }.get(key, key.replace("_", " "))


def describe_run(record: RunRecord) -> str:
    """One line naming a run: model, parameters, data, split, seed."""
    c = record.config
    split = split_text(c, str((record.metrics or {}).get("evaluation", "")))
    return (
        f"run {record.id}: {model_text(c)} ({params_text(c)}) on {short_source(record.source)}, "
        f"{split}, seed {c.get('seed', '')}"
    )


def compare_columns(a: RunRecord, b: RunRecord) -> list[tuple[str, str, str, str]]:
    """(metric, run A, run B, B - A) for the comparison table, scores first."""
    ra, rb = a.get_result(), b.get_result()
    cols: list[tuple[str, str, str, str]] = []
    if ra is None or rb is None:
        return cols
    both = [k for k in ra.scores if k in rb.scores and not k.endswith("_std")]
    order = ["accuracy", "balanced_accuracy", "majority_rate", "macro_f1"]
    keys = [k for k in order if k in both] + [k for k in both if k not in order]
    percent = {"accuracy", "balanced_accuracy", "majority_rate", "macro_f1"}

    def fmt(k: str, v: float) -> str:
        if v is None or not math.isfinite(v):
            return "–"
        return f"{100 * v:.2f} %" if k in percent else f"{v:.4g}"

    def diff(k: str, x: float, y: float) -> str:
        if not (math.isfinite(x) and math.isfinite(y)):
            return ""
        d = y - x
        return f"{100 * d:+.2f} pts" if k in percent else f"{d:+.4g}"

    for k in keys:
        x, y = ra.scores[k], rb.scores[k]
        cols.append((f"test\n{_name(k)}", fmt(k, x), fmt(k, y), diff(k, x, y)))
    for k in [k for k in ra.train_scores if k in rb.train_scores]:
        if k not in ("accuracy", "r2", "mae", "dice"):
            continue  # the headline train score only: the table stays readable
        x, y = ra.train_scores[k], rb.train_scores[k]
        cols.append((f"train\n{_name(k)}", fmt(k, x), fmt(k, y), diff(k, x, y)))
    for name, x, y in (
        ("training\nitems", ra.n_train, rb.n_train),
        ("test\nitems", ra.n_test, rb.n_test),
        ("mis-\nclassified", len(ra.misclassified), len(rb.misclassified)),
    ):
        if name.startswith("mis") and ra.task != "classification":
            continue
        cols.append((name, str(x), str(y), f"{y - x:+d}"))
    cols.append(
        (
            "duration",
            f"{ra.duration:.2f} s",
            f"{rb.duration:.2f} s",
            f"{rb.duration - ra.duration:+.2f} s",
        )
    )
    return cols


class CompareView(QWidget):
    """Two runs side by side: what they were, a metrics table (runs as rows, so it stays short),
    and both confusion matrices (or scatter plots) next to each other."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.records: tuple[RunRecord, RunRecord] | None = None
        self.title = QLabel("Select two runs in the history (Ctrl+click) and press Compare.")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setMinimumSectionSize(64)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.heatmaps = (ConfusionHeatmap(toggles=False), ConfusionHeatmap(toggles=False))
        self.scatters = (RegressionScatter(), RegressionScatter())
        self.pictures = QStackedWidget()
        heat_row, scatter_row = QWidget(), QWidget()
        for row, widgets in ((heat_row, self.heatmaps), (scatter_row, self.scatters)):
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            for w in widgets:
                lay.addWidget(w, 1)
        self.empty = QLabel("")
        for w in (self.empty, heat_row, scatter_row):
            self.pictures.addWidget(w)
        self.heat_row, self.scatter_row = heat_row, scatter_row
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.table)
        layout.addWidget(self.pictures, 1)

    def compare(self, a: RunRecord, b: RunRecord) -> None:
        self.records = (a, b)
        warn = ""
        if "train" in (a.config.get("eval"), b.config.get("eval")):
            warn = (
                "<br><span style='color:#c92a2a'><b>⚠ A run was evaluated on its training "
                "data: its score is not comparable.</b></span>"
            )
        self.title.setText(
            f"<b>A</b> &nbsp;{describe_run(a)}<br><b>B</b> &nbsp;{describe_run(b)}{warn}"
        )
        cols = compare_columns(a, b)
        self.table.clear()
        self.table.setColumnCount(len(cols))
        self.table.setRowCount(3)
        self.table.setHorizontalHeaderLabels([c[0] for c in cols])
        self.table.setVerticalHeaderLabels([f"A (run {a.id})", f"B (run {b.id})", "B − A"])
        for c, (name, va, vb, d) in enumerate(cols):
            for r, text in enumerate((va, vb, d)):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if r == 2 and "pts" in text and "majority" not in name:
                    better = text.startswith("+")
                    item.setForeground(
                        QBrush(QColor(43, 138, 62) if better else QColor(201, 42, 42))
                    )
                self.table.setItem(r, c, item)
        header_h = self.table.horizontalHeader().sizeHint().height()
        self.table.horizontalHeader().setFixedHeight(max(header_h, 2 * header_h - 6))
        self.table.setFixedHeight(
            self.table.horizontalHeader().height() + 3 * self.table.rowHeight(0) + 6
        )
        results = (a.get_result(), b.get_result())
        if all(r is not None and r.task == "classification" for r in results):
            # Counts compare directly on the same test set; otherwise compare shares.
            normalised = results[0].n_test != results[1].n_test
            for heat, name, rec, res in zip(self.heatmaps, "AB", (a, b), results, strict=True):
                heat.set_matrix(
                    res.confusion,
                    res.labels,
                    f"<b>{name}</b>: run {rec.id}, accuracy {_pct(res.scores.get('accuracy'))}"
                    + (" (row %)" if normalised else ""),
                )
                heat.set_normalised(normalised)
            self.pictures.setCurrentWidget(self.heat_row)
        elif all(r is not None and r.task == "regression" for r in results):
            for sc, res in zip(self.scatters, results, strict=True):
                sc.set_data(res.y_true, res.y_pred, res.scores)
            self.pictures.setCurrentWidget(self.scatter_row)
        else:
            self.empty.setText("No pictures to compare: a run has no result or the tasks differ.")
            self.pictures.setCurrentWidget(self.empty)

    def table_columns(self) -> dict[str, list[str]]:
        """{metric: [A, B, B - A]} as shown (for tests and copying)."""
        out = {}
        for c in range(self.table.columnCount()):
            name = self.table.horizontalHeaderItem(c).text().replace("\n", " ")
            out[name] = [self.table.item(r, c).text() for r in range(3)]
        return out
