"""Dataset > Agreement…: how far the project's annotators agree, with pictures, and their
consensus written as the items' annotation on request.

The report is :func:`qbi_desktop.core.quality.agreement_report.agreement_job` plus the
calibration on simulated truth, the same jobs as ``qbi-desktop agreement``; they run on a
worker with their own connection and change nothing. "Write consensus" runs
:func:`~qbi_desktop.core.quality.consensus.build_consensus_job` (majority vote, mean/median,
STAPLE) and refreshes the report.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.jobs import Job
from qbi_desktop.core.quality.agreement_report import AgreementReport, agreement_job
from qbi_desktop.core.quality.calibration import CalibrationReport, calibration_job
from qbi_desktop.core.quality.consensus import ConsensusResult, build_consensus_job

PAIR_COLUMNS = ("Kind", "Annotators", "Items", "Agreement", "Figure")
ITEM_COLUMNS = ("Item", "Kind", "Disagreement", "Annotators", "What they said")
CALIBRATION_COLUMNS = (
    "Annotator",
    "Items",
    "Sensitivity",
    "Precision",
    "Spots found",
    "Spots real",
    "Boundary bias (px)",
)


def install(window) -> AgreementAction:
    return AgreementAction(window)


def project_agreement_job(root: Path) -> Job[tuple[AgreementReport, CalibrationReport]]:
    project = open_project(root)
    try:
        report = yield from agreement_job(project)
        calibration = yield from calibration_job(project)
        return report, calibration
    finally:
        project.close()


def project_consensus_job(root: Path, target_method: str, mask_method: str) -> Job[Any]:
    project = open_project(root)
    try:
        return (
            yield from build_consensus_job(
                project, target_method=target_method, mask_method=mask_method
            )
        )
    finally:
        project.close()


class AgreementAction:
    """The Dataset menu's Agreement… entry and the window it opens."""

    def __init__(self, window):
        self.window = window
        self.task = None
        self.dialog: AgreementDialog | None = None
        menu = window.add_menu("dataset", "&Dataset")
        self.action = window.add_action(
            "A&greement…",
            self.start,
            None,
            menu,
            "How far the annotators agree (kappa, ICC, Dice, F1), the items they disagree on "
            "most, their calibration on simulated truth; write their consensus",
        )
        window.needs_project(self.action)

    def project_root(self) -> Path | None:
        browser = getattr(self.window, "panels", {}).get("browser")
        project = getattr(browser, "project", None)
        return None if project is None else project.root

    def start(self) -> Any:
        root = self.project_root()
        if root is None:
            self.window.report_error("Agreement: open a project first (Dataset > Open Project…)")
            return None
        if self.task is not None and not self.task.finished:
            return self.task
        self.task = self.window.tasks.submit(
            f"Agreement of {root.name}",
            lambda: project_agreement_job(root),
            on_result=self.show,
            on_error=lambda message: self.window.report_error(f"Agreement: {message}"),
        )
        return self.task

    def show(self, result: tuple[AgreementReport, CalibrationReport]) -> None:
        report, calibration = result
        if self.dialog is not None:
            self.dialog.set_report(report, calibration)
            self.dialog.show()
            return
        self.dialog = AgreementDialog(report, calibration, self, self.window)
        self.dialog.show()

    def write_consensus(self, target_method: str, mask_method: str) -> Any:
        root = self.project_root()
        if root is None:
            return None
        return self.window.tasks.submit(
            f"Consensus of {root.name}",
            lambda: project_consensus_job(root, target_method, mask_method),
            on_result=self._consensus_done,
            on_error=lambda message: self.window.report_error(f"Consensus: {message}"),
        )

    def _consensus_done(self, result: ConsensusResult) -> None:
        if self.dialog is not None:
            self.dialog.consensus_written(result)
        browser = getattr(self.window, "panels", {}).get("browser")
        if browser is not None and getattr(browser, "project", None) is not None:
            browser.model.reload()
        self.start()


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _pair_rows(sections: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    rows = []
    for kind, section in sections.items():
        for pair, f in section.get("pairs", {}).items():
            if kind == "label":
                agree, figure = f["percent_agreement"], f"Cohen's kappa {_fmt(f['cohen_kappa'])}"
                if f["cohen_kappa"] is None:  # undefined (nan in the report)
                    figure += " (both gave every item one and the same class)"
            elif kind.startswith("target:"):
                agree = f["icc2_1"]
                figure = f"bias {_fmt(f['bias'])}, limits {_fmt(f['limits_of_agreement'][0])}"
                figure += f" .. {_fmt(f['limits_of_agreement'][1])}"
            elif kind == "mask":
                agree = f["dice"]
                figure = ", ".join(
                    f"{c}: Dice {_fmt(v['dice'])}, IoU {_fmt(v['iou'])}, "
                    f"object F1 {_fmt(v['objects']['f1'])}"
                    for c, v in f["per_class"].items()
                )
            else:
                agree = f["f1"]
                figure = f"F1 at IoU 0.5, mean IoU of matches {_fmt(f['mean_iou_of_matches'])}"
            items = str(f.get("items", ""))
            rows.append((kind, pair.replace(" | ", " & "), items, _fmt(agree), figure))
    return rows


def _summary_lines(report: AgreementReport) -> list[str]:
    if not report.sections:
        return [
            "No item has annotations by two or more named annotators yet: nothing to compare. "
            "Each person sets their name (status bar) and annotates; their work is kept apart."
        ]
    lines = [f"Annotators: {', '.join(report.annotators)}."]
    for kind, s in report.sections.items():
        head = f"{kind}: {s['items_with_two_or_more']} items by two or more"
        if kind == "label":
            head += (
                f", agreement {_fmt(s['percent_agreement'])}, Fleiss' kappa "
                f"{_fmt(s['fleiss_kappa'])} ({s['fleiss_items']} items with "
                f"{s['fleiss_annotators_per_item']} annotators each)"
            )
        elif kind.startswith("target:"):
            head += (
                f", ICC(2,1) {_fmt(s['icc2_1_absolute_agreement'])}, ICC(3,1) "
                f"{_fmt(s['icc3_1_consistency'])}"
            )
        lines.append(head + ".")
    for kind, items in report.single.items():
        lines.append(f"{len(items)} item(s) have a {kind} by one annotator only (not compared).")
    lines += report.problems[:5]
    return lines


class AgreementDialog(QDialog):
    """Summary, pairs, most disagreeing items, pictures and calibration, one tab each."""

    def __init__(self, report, calibration, action: AgreementAction, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Agreement between annotators")
        self.action = action
        layout = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        self.tabs = QTabWidget()
        self.pairs = self._table(PAIR_COLUMNS)
        self.items = self._table(ITEM_COLUMNS)
        self.items.doubleClicked.connect(self._show_item)
        self.calibration = self._table(CALIBRATION_COLUMNS)
        pictures = QWidget()
        pl = QVBoxLayout(pictures)
        self.picture_choice = QComboBox()
        self.picture_choice.currentIndexChanged.connect(self._show_picture)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture_scroll = QScrollArea()
        self.picture_scroll.setWidget(self.picture)
        self.picture_scroll.setWidgetResizable(True)
        pl.addWidget(self.picture_choice)
        pl.addWidget(self.picture_scroll)
        self.tabs.addTab(self.pairs, "Pairs")
        self.tabs.addTab(self.items, "Disagreements")
        self.tabs.addTab(pictures, "Pictures")
        self.tabs.addTab(self.calibration, "Calibration")
        layout.addWidget(self.tabs)
        row = QHBoxLayout()
        row.addWidget(QLabel("Consensus: targets by"))
        self.target_method = QComboBox()
        self.target_method.addItems(["mean", "median"])
        row.addWidget(self.target_method)
        row.addWidget(QLabel("masks by"))
        self.mask_method = QComboBox()
        self.mask_method.addItem("STAPLE", "staple")
        self.mask_method.addItem("majority vote", "majority")
        row.addWidget(self.mask_method)
        self.consensus_button = QPushButton("Write consensus")
        self.consensus_button.setToolTip(
            "Majority vote for classes (ties left alone), mean/median for targets, STAPLE or "
            "majority for masks, written as the items' annotation with its provenance; each "
            "annotator's own work is kept"
        )
        self.consensus_button.clicked.connect(self._write_consensus)
        row.addWidget(self.consensus_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.consensus_note = QLabel()
        layout.addWidget(self.consensus_note)
        self._pictures: list[tuple[str, bytes]] = []
        self.set_report(report, calibration)
        self.resize(980, 680)

    @staticmethod
    def _table(columns: tuple[str, ...]) -> QTableWidget:
        table = QTableWidget(0, len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    @staticmethod
    def _fill(table: QTableWidget, rows: list[tuple[str, ...]]) -> None:
        table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                table.setItem(r, c, QTableWidgetItem(value))

    def set_report(self, report: AgreementReport, calibration: CalibrationReport) -> None:
        self.report = report
        self.summary.setText("\n".join(_summary_lines(report)))
        self._fill(self.pairs, _pair_rows(report.to_dict()["sections"]))
        self._fill(
            self.items,
            [
                (
                    f"{d.name} (#{d.item})",
                    d.kind,
                    f"{d.score:.3f}",
                    ", ".join(d.annotators),
                    d.detail,
                )
                for d in report.items[:2000]
            ],
        )
        self._fill(
            self.calibration,
            [
                (
                    a,
                    str(c.items),
                    _fmt(c.sensitivity),
                    _fmt(c.precision),
                    str(c.found_objects),
                    str(c.truth_objects),
                    _fmt(c.boundary_bias),
                )
                for a, c in sorted(calibration.per_annotator.items())
            ],
        )
        self._pictures = self._render_pictures(report)
        self.picture_choice.blockSignals(True)
        self.picture_choice.clear()
        self.picture_choice.addItems([name for name, _ in self._pictures])
        self.picture_choice.blockSignals(False)
        self._show_picture(0)

    @staticmethod
    def _render_pictures(report: AgreementReport) -> list[tuple[str, bytes]]:
        from qbi_desktop.core.quality.agreement_pictures import (
            bland_altman_image,
            pair_confusion_image,
        )
        from qbi_desktop.core.report import _png

        out = []
        for (a, b), (labels, cm) in report.confusions.items():
            out.append((f"Classes: {a} against {b}", _png(pair_confusion_image(cm, labels, a, b))))
        for (target, a, b), (mean, diff) in report.differences.items():
            title = f"{target}: {a} minus {b} ({mean.size} items)"
            out.append(
                (
                    f"Bland–Altman {target}: {a} − {b}",
                    _png(bland_altman_image(mean, diff, title=title)),
                )
            )
        return out

    def _show_picture(self, index: int) -> None:
        if not 0 <= index < len(self._pictures):
            self.picture.setPixmap(QPixmap())
            self.picture.setText(
                "No pictures: no two annotators labelled or measured the same items."
            )
            return
        pixmap = QPixmap()
        pixmap.loadFromData(self._pictures[index][1], "PNG")
        room = self.picture_scroll.viewport().size()
        if pixmap.width() > room.width() or pixmap.height() > room.height():
            pixmap = pixmap.scaled(
                room,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        self.picture.setPixmap(pixmap)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt)
        super().resizeEvent(event)
        self._show_picture(self.picture_choice.currentIndex())

    def _show_item(self, index) -> None:
        d = self.report.items[index.row()]
        browser = getattr(self.action.window, "panels", {}).get("browser")
        if browser is not None and getattr(browser, "project", None) is not None:
            browser.show_ids([d.item])

    def _write_consensus(self) -> None:
        self.consensus_note.setText("Writing the consensus…")
        self.action.write_consensus(
            self.target_method.currentText(), self.mask_method.currentData()
        )

    def consensus_written(self, result: ConsensusResult) -> None:
        self.consensus_note.setText(
            f"Consensus written: {result.labels_written} labels ({len(result.ties)} tied votes "
            f"left alone), {result.targets_written} targets, {result.masks_written} masks."
        )
