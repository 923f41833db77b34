"""Dialogs of the Dataset menu: import, export, FAIR metadata, split, and a problems report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.catalog import Problem
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.docks.browser_import_options import ImportOptions
from qbi_desktop.gui.docks.browser_kinds import (  # noqa: F401 (their home before)
    ARCHIVE_PATTERNS,
    EXPORT_KINDS,
    EXPORT_NAMES,
    EXPORT_WORDS,
    IMPORT_FILES,
    IMPORT_KINDS,
    IMPORT_NAMES,
    IMPORT_WORDS,
    UNANNOTATED_TEXT,
)

LICENSES = ["", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "CC-BY-NC-4.0", "ODbL-1.0", "MIT"]


def present(box: QWidget) -> None:
    """Show a non-modal box in front with the keyboard focus, so Enter answers the box and does
    not open the item under the Browser's cursor behind it."""
    box.show()
    box.raise_()
    box.activateWindow()
    button = getattr(box, "defaultButton", lambda: None)() or box.focusWidget()
    (button or box).setFocus(Qt.FocusReason.ActiveWindowFocusReason)


def _refusal() -> QLabel:
    """Where a dialog says why it cannot go ahead yet; it stays open with what was chosen
    (closing it on the error made the user choose everything again)."""
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet("color: #c0392b")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def _refuse(label: QLabel, text: str) -> None:
    label.setText(text)
    label.show()


def _buttons(dialog: QDialog, ok_text: str = "OK") -> QDialogButtonBox:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


class ImportDialog(QDialog):
    """Kind, sources (files or a folder), optional images folder and annotator."""

    def __init__(self, parent: QWidget | None = None, start_dir: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Import into project")
        self.start_dir = start_dir
        self.kind = QComboBox()
        for key, (text, _pick, _img) in IMPORT_KINDS.items():
            self.kind.addItem(text, key)
        self.sources = QListWidget()
        self.sources.setMinimumHeight(90)
        add_files = QPushButton("Add files…")
        add_folder = QPushButton("Add folder…")
        clear = QPushButton("Clear")
        add_files.clicked.connect(self._add_files)
        add_folder.clicked.connect(self._add_folder)
        clear.clicked.connect(self.sources.clear)
        self.images_dir = QLineEdit()
        self.images_dir.setPlaceholderText("default: beside the sheet / JSON")
        browse = QPushButton("…")
        browse.clicked.connect(self._pick_images_dir)
        self.annotator = QLineEdit()
        self.annotator.setPlaceholderText("stored with every label, mask and box")
        # A sheet's text layout: detected unless chosen (when detection cannot tell, it says so)
        self.sheet_fields: dict[str, QComboBox] = {}
        sheet_row = QHBoxLayout()
        for name, choices in (
            ("encoding", [("detect", None), ("UTF-8", "utf-8"), ("Windows-1252", "windows-1252")]),
            ("separator", [("detect", None), ("comma", ","), ("semicolon", ";"), ("tab", "tab")]),
            ("decimal", [("detect", None), ("point", "."), ("comma", ",")]),
        ):
            combo = QComboBox()
            combo.setAccessibleName(name.capitalize())
            for text, value in choices:
                combo.addItem(text, value)
            self.sheet_fields[name] = combo
            sheet_row.addWidget(QLabel(name.capitalize()))
            sheet_row.addWidget(combo)
        sheet_row.addStretch(1)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(mid)")

        buttons_row = QHBoxLayout()
        for b in (add_files, add_folder, clear):
            buttons_row.addWidget(b)
        buttons_row.addStretch(1)
        images_row = QHBoxLayout()
        images_row.addWidget(self.images_dir, 1)
        images_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Kind", self.kind)
        form.addRow("Sources", self.sources)
        form.addRow("", buttons_row)
        self.images_label = QLabel("Images folder")
        form.addRow(self.images_label, images_row)
        self.images_widgets = (self.images_label, self.images_dir, browse)
        self.sheet_label = QLabel("Sheet")
        form.addRow(self.sheet_label, sheet_row)
        self.sheet_widgets = [self.sheet_label]
        for i in range(sheet_row.count()):
            if sheet_row.itemAt(i).widget() is not None:
                self.sheet_widgets.append(sheet_row.itemAt(i).widget())
        # NeXus: the image dataset inside the file (empty: the NXdata signal)
        self.dataset = QLineEdit()
        self.dataset.setPlaceholderText("default: the NXdata signal, e.g. /entry/data/data")
        self.dataset_label = QLabel("Dataset")
        form.addRow(self.dataset_label, self.dataset)
        form.addRow("Annotator", self.annotator)
        self.options = ImportOptions()  # the command line's --update-originals, --edited-table
        form.addRow("", self.options)
        self.refusal = _refusal()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.hint)
        layout.addWidget(self.refusal)
        layout.addWidget(_buttons(self, "Import"))
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()
        self.resize(560, 360)

    def _kind_changed(self) -> None:
        key = self.kind.currentData()
        _text, pick, images = IMPORT_KINDS[key]
        for w in self.images_widgets:
            w.setVisible(images)
        for w in self.sheet_widgets:
            w.setVisible(key == "sheet")
        for w in (self.dataset_label, self.dataset):
            w.setVisible(key == "nexus")
        self.options.set_kind(key)
        self.hint.setText(
            f"Pick the {'folder' if pick == 'folder' else 'file(s)'} to import, or an archive "
            "of it (.zip, .tar.gz, ...; extracted into the project's sources folder). Nothing "
            "is written unless the whole input is valid; problems are listed per row and file."
        )

    def file_filter(self) -> str:
        """The file dialog's name filters for the chosen kind: its files or archives first."""
        what, patterns = IMPORT_FILES[self.kind.currentData()]
        first = (
            f"{what} or archives ({patterns} {ARCHIVE_PATTERNS})"
            if patterns
            else f"{what} ({ARCHIVE_PATTERNS})"
        )
        return ";;".join([first, f"Archives ({ARCHIVE_PATTERNS})", "All files (*)"])

    def _add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Files to import", self.start_dir, self.file_filter()
        )
        for p in paths:
            self.sources.addItem(p)
        if paths:  # the next pick starts where this one ended
            self.start_dir = str(Path(paths[0]).parent)

    def _add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder to import", self.start_dir)
        if path:
            self.sources.addItem(path)
            self.start_dir = path

    def _pick_images_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Images folder", self.start_dir)
        if path:
            self.images_dir.setText(path)

    def accept(self) -> None:
        if not self.sources.count():
            _refuse(
                self.refusal,
                "Choose at least one file or folder to import (Add files… or Add folder…).",
            )
            return
        super().accept()

    def values(self) -> tuple[str, list[str], dict[str, Any]]:
        kind = self.kind.currentData()
        sources = [self.sources.item(i).text() for i in range(self.sources.count())]
        options: dict[str, Any] = {"annotator": self.annotator.text().strip() or None}
        if IMPORT_KINDS[kind][2] and self.images_dir.text().strip():
            options["images_dir"] = self.images_dir.text().strip()
        if kind == "sheet":
            options.update(
                {k: c.currentData() for k, c in self.sheet_fields.items() if c.currentData()}
            )
        if kind == "nexus" and self.dataset.text().strip():
            options["dataset"] = self.dataset.text().strip()
        options.update(self.options.values(kind))
        return kind, sources, options


class NewProjectDialog(QDialog):
    """Where a new project goes: a folder typed in (a new name is created; a bare name goes into
    the last folder used) or picked with the folder dialog."""

    def __init__(self, start_dir: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.start_dir = start_dir
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("a new folder name, or an empty folder")
        self.folder.setToolTip(f"A name without a folder goes into {start_dir}")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick)
        self.where = QLabel()
        self.where.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Project folder", row)
        form.addRow("", self.where)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.button_box = _buttons(self, "Create")
        layout.addWidget(self.button_box)
        self.folder.textChanged.connect(self._changed)
        self._changed()
        self.resize(560, 140)

    def _pick(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the project", self.start_dir)
        if path:
            self.folder.setText(path)

    def path(self) -> Path | None:
        text = self.folder.text().strip()
        if not text:
            return None
        path = Path(text).expanduser()
        return path if path.is_absolute() else Path(self.start_dir) / path

    def _changed(self) -> None:
        path = self.path()
        ok = self.button_box.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(path is not None)
        if path is None:
            self.where.setText("")
        elif path.exists():
            self.where.setText(f"{path} (exists: the project is made in it)")
        else:
            self.where.setText(f"{path} (a new folder)")


class ExportDialog(QDialog):
    def __init__(
        self,
        parent: QWidget | None = None,
        start_dir: str = "",
        shown: int = 0,
        rejected: int = 0,
        total: int = 0,
        annotations: str = "item",
        unlabelled: int = 0,
        unannotated: dict[str, int] | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Export project")
        self.kind = QComboBox()
        for key, text in EXPORT_KINDS.items():
            self.kind.addItem(text, key)
        self.out = QLineEdit()
        self.out.setPlaceholderText("a new or empty folder")
        browse = QPushButton("…")
        self.start_dir = start_dir
        browse.clicked.connect(self._pick)
        self.datapackage = QCheckBox("Also write a checksummed datapackage.json")
        self.datapackage.setChecked(True)
        # the real count, also when the browser shows everything (then there is no choice)
        self.only_shown = QCheckBox(f"Only the {shown:,} item(s) the browser shows (of {total:,})")
        self.only_shown.setEnabled(0 < shown < total)
        self.leave_out_rejected = QCheckBox(f"Leave out the {rejected} rejected item(s)")
        self.leave_out_rejected.setChecked(rejected > 0)
        self.leave_out_rejected.setEnabled(rejected > 0)
        # the core option of `export --leave-out-unlabelled`: ImageFolder and Data Package
        # exports put such items in unlabelled/, which torchvision's ImageFolder takes for a class
        self.leave_out_unlabelled = QCheckBox(
            f"Leave out the {unlabelled:,} item(s) without a class"
        )
        self.leave_out_unlabelled.setEnabled(unlabelled > 0)
        self.leave_out_unlabelled.setToolTip(
            "Items without a class go to an unlabelled/ folder beside the split folders "
            "(ImageFolder, Data Package), where no class-folder reader takes them for a class; "
            "leave them out of a training set. The export's note counts them either way."
        )
        # the core option of `export --leave-out-unannotated` (core.formats.selection): for the
        # kinds whose annotations are boxes or masks; the count is the chosen kind's
        self.unannotated = dict(unannotated or {})
        self.leave_out_unannotated = QCheckBox()
        self.leave_out_unannotated.setToolTip(
            "COCO, labelme and masks exports write an item without boxes or a mask as an "
            "image with no objects, which those tools read as a confirmed background image, "
            "not as 'not annotated yet'; leave such items out unless they are true negatives."
        )
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()
        # the core option of `export --annotations item|every` (core.catalog.opinions)
        self.annotations = QComboBox()
        self.annotations.addItem("The item's (latest edit, or the consensus)", "item")
        self.annotations.addItem("Also every annotator's own (in annotators/)", "every")
        self.annotations.setCurrentIndex(max(0, self.annotations.findData(annotations)))
        self.annotations.setToolTip(
            "The item's annotation is what the format holds: the consensus once one is built, "
            "else the latest edit. Every annotator's own labels, targets, boxes and masks can "
            "go along in annotators/ (annotations.csv and one mask folder per person)."
        )
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Kind", self.kind)
        form.addRow("Folder", row)
        form.addRow("Annotations", self.annotations)
        form.addRow("", self.datapackage)
        form.addRow("", self.only_shown)
        form.addRow("", self.leave_out_rejected)
        form.addRow("", self.leave_out_unlabelled)
        form.addRow("", self.leave_out_unannotated)
        self.refusal = _refusal()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.refusal)
        layout.addWidget(_buttons(self, "Export"))
        self.resize(520, 200)

    def accept(self) -> None:
        from qbi_desktop.core.formats.export_folder import check_export_folder

        text = self.out.text().strip()
        if not text:
            _refuse(self.refusal, "Choose a folder for the export (a new or empty one).")
            return
        try:  # the export's own test, asked before the dialog and its choices are gone
            check_export_folder(Path(text).expanduser())
        except UserFacingError as exc:
            _refuse(self.refusal, str(exc))
            return
        super().accept()

    def _kind_changed(self) -> None:
        """The unannotated check box names the chosen kind's count, and only the kinds whose
        annotations are boxes or masks offer it."""
        kind = self.kind.currentData()
        what = UNANNOTATED_TEXT.get(kind, UNANNOTATED_TEXT["coco"])
        count = self.unannotated.get(kind, 0) if kind in UNANNOTATED_TEXT else 0
        self.leave_out_unannotated.setText(f"Leave out the {count:,} item(s) {what}")
        self.leave_out_unannotated.setEnabled(count > 0)
        if count == 0:
            self.leave_out_unannotated.setChecked(False)

    def _pick(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export folder", self.start_dir)
        if path:
            self.out.setText(path)

    def values(self) -> tuple[str, str, bool, bool, bool]:
        return (
            self.kind.currentData(),
            self.out.text().strip(),
            self.datapackage.isChecked(),
            self.only_shown.isChecked(),
            self.leave_out_rejected.isChecked(),
        )


def _split_list(text: str, sep: str = ",") -> list[str]:
    return [part.strip() for part in text.split(sep) if part.strip()]


class MetadataDialog(QDialog):
    """The dataset-level FAIR fields of the project."""

    def __init__(self, metadata: dict[str, Any], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Project metadata (FAIR)")
        m = metadata
        self.title = QLineEdit(m.get("title", ""))
        self.description = QPlainTextEdit(m.get("description", ""))
        self.description.setMaximumHeight(90)
        creators = [c if isinstance(c, str) else c.get("name", "") for c in m.get("creators", [])]
        self.creators = QLineEdit("; ".join(creators))
        self.creators.setPlaceholderText("Name; Name; ...")
        self.license = QComboBox()
        self.license.setEditable(True)
        self.license.addItems(LICENSES)
        self.license.setCurrentText(m.get("license", ""))
        self.keywords = QLineEdit(", ".join(m.get("keywords", [])))
        self.keywords.setPlaceholderText("neutron imaging, spots, ...")
        self.instrument = QLineEdit(m.get("instrument", ""))
        self.modality = QLineEdit(m.get("modality", ""))
        self.modality.setPlaceholderText("e.g. neutron radiography")
        self.pixel_size = QDoubleSpinBox(decimals=4, minimum=0.0, maximum=1e6)
        self.pixel_size.setSpecialValueText("not set")
        self.pixel_size.setValue(float(m.get("pixel_size", 0.0) or 0.0))
        self.pixel_unit = QComboBox()
        self.pixel_unit.setEditable(True)
        self.pixel_unit.addItems(["um", "mm", "nm"])
        self.pixel_unit.setCurrentText(m.get("pixel_unit", "um"))
        dates = m.get("acquisition_dates", [])
        self.dates = QLineEdit(", ".join(d if isinstance(d, str) else str(d) for d in dates))
        self.dates.setPlaceholderText("2024-05-01, 2024-05-02")
        self.version = QLineEdit(m.get("version", ""))
        size_row = QHBoxLayout()
        size_row.addWidget(self.pixel_size, 1)
        size_row.addWidget(self.pixel_unit)
        form = QFormLayout()
        form.addRow("Title", self.title)
        form.addRow("Description", self.description)
        form.addRow("Creators", self.creators)
        form.addRow("License (SPDX)", self.license)
        form.addRow("Keywords", self.keywords)
        form.addRow("Instrument", self.instrument)
        form.addRow("Modality", self.modality)
        form.addRow("Pixel size", size_row)
        form.addRow("Acquisition dates", self.dates)
        form.addRow("Version", self.version)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(_buttons(self, "Save"))
        self.resize(520, 440)

    def values(self) -> dict[str, Any]:
        """Fields for Project.set_metadata; empty ones are None (removed)."""

        def text(v: str) -> str | None:
            return v.strip() or None

        return {
            "title": text(self.title.text()),
            "description": text(self.description.toPlainText()),
            "creators": _split_list(self.creators.text(), ";") or None,
            "license": text(self.license.currentText()),
            "keywords": _split_list(self.keywords.text()) or None,
            "instrument": text(self.instrument.text()),
            "modality": text(self.modality.text()),
            "pixel_size": self.pixel_size.value() or None,
            "pixel_unit": text(self.pixel_unit.currentText()) if self.pixel_size.value() else None,
            "acquisition_dates": _split_list(self.dates.text()) or None,
            "version": text(self.version.text()),
        }


class SplitDialog(QDialog):
    """Stratified split by fractions and seed, or group-aware by a metadata key."""

    def __init__(self, group_keys: list[str], filtered: int, total: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Split into train / val / test")
        self.stratified = QRadioButton("Stratified by class (each class split by the fractions)")
        self.grouped = QRadioButton("By group: items sharing this metadata value stay together")
        self.stratified.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.stratified)
        group.addButton(self.grouped)
        self.group_key = QComboBox()
        self.group_key.setEditable(True)
        self.group_key.addItems(group_keys)
        self.group_key.setToolTip("e.g. specimen or session: never in train and test at once")
        self.fractions = {}
        frac_row = QHBoxLayout()
        for name, value in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
            box = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=1.0, singleStep=0.05)
            box.setValue(value)
            self.fractions[name] = box
            frac_row.addWidget(QLabel(name))
            frac_row.addWidget(box)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.only_shown = QCheckBox(f"Only the {filtered} item(s) the browser shows (of {total})")
        self.only_shown.setEnabled(filtered < total)
        self.sum_label = QLabel()
        for box in self.fractions.values():
            box.valueChanged.connect(self._check_sum)
        group_row = QHBoxLayout()
        group_row.addSpacing(24)
        group_row.addWidget(QLabel("Group key"))
        group_row.addWidget(self.group_key, 1)
        form = QFormLayout()
        form.addRow("Fractions", frac_row)
        form.addRow("", self.sum_label)
        form.addRow("Seed", self.seed)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stratified)
        layout.addWidget(self.grouped)
        layout.addLayout(group_row)
        layout.addLayout(form)
        layout.addWidget(self.only_shown)
        self.button_box = _buttons(self, "Split")
        layout.addWidget(self.button_box)
        self._check_sum()
        self.resize(520, 260)

    def _check_sum(self) -> None:
        total = sum(b.value() for b in self.fractions.values())
        ok = abs(total - 1.0) < 1e-6
        self.sum_label.setText("" if ok else f"fractions add up to {total:.2f}, not 1")
        self.sum_label.setStyleSheet("" if ok else "color: #c04040")
        self.button_box.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def values(self) -> dict[str, Any]:
        return {
            "mode": "group" if self.grouped.isChecked() else "stratified",
            "group_key": self.group_key.currentText().strip(),
            "fractions": {k: b.value() for k, b in self.fractions.items()},
            "seed": self.seed.value(),
            "only_shown": self.only_shown.isChecked(),
        }


class ProblemsDialog(QDialog):
    """A readable report of problems: one table row per problem (row, file, reason)."""

    def __init__(self, title: str, summary: str, problems: list[Problem], parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        head = QLabel(summary)
        head.setWordWrap(True)
        self.table = QTableWidget(len(problems), 4)
        self.table.setHorizontalHeaderLabels(["File", "Row", "Item", "Reason"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        for n, p in enumerate(problems):
            cells = [
                Path(p.file).name if p.file else "",
                "" if p.row is None else str(p.row),
                "" if p.item_id is None else str(p.item_id),
                p.reason,
            ]
            for c, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setToolTip(p.file if c == 0 else text)
                self.table.setItem(n, c, cell)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(head)
        layout.addWidget(self.table, 1)
        layout.addWidget(close)
        self.resize(760, 420)
