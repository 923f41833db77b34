"""Typing regression targets in the Browser, and the project's target definitions.

F2, a double-click on the Targets cell, or Enter on the Targets column opens an editor for the
target chosen beside the class list; Enter checks the typed value against the target's
definition (``core/catalog/targets.py``): a value that is not a number or is out of range is
refused right there (the editor stays open, red, with the reason), a good one is written on the
whole selection as one undoable catalog transaction, and the editor moves on to the next item,
so a column of values is typed as digits + Enter per item. The Balance tab's histogram takes the
new values at once and marks the value being typed.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QStyledItemDelegate,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.annotator import may_edit
from qbi_desktop.gui.docks.browser_model import COL_TARGETS

BAD_STYLE = "QLineEdit { background: #ffd9d9; border: 1px solid #c33; }"
FAMILY_TEXT = {
    "crop_zoom": "shift, zoom, crop, shear, elastic (counts, sizes)",
    "rotation_flip": "rotation and flips (orientations)",
    "intensity": "brightness, contrast, noise, blur (measured intensities)",
}


class TargetEditor(QLineEdit):
    """The cell editor: keeps every plain key for itself (the table's 0-9, A, R, ... shortcuts
    must not fire while a value is typed)."""

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            if mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
                event.accept()
                return True
        return super().event(event)


class TargetDelegate(QStyledItemDelegate):
    """Edits the active target of the Targets column; Enter commits through the panel."""

    def __init__(self, panel):
        super().__init__(panel.table)
        self.panel = panel
        self.editor: TargetEditor | None = None
        # Escape, focus out or Enter: the editor is gone for us now (Qt deletes it later)
        self.closeEditor.connect(lambda editor, _hint=None: self._gone(editor))

    def createEditor(self, parent, _option, _index):  # noqa: N802 (Qt API)
        editor = TargetEditor(parent)
        editor.setAccessibleName("Target value")
        editor.textEdited.connect(self.panel._target_typed)
        self.editor = editor
        editor.destroyed.connect(lambda _o=None: self._gone(editor))
        return editor

    def _gone(self, editor) -> None:
        if self.editor is editor:
            self.editor = None

    def setEditorData(self, editor, index) -> None:  # noqa: N802 (Qt API)
        editor.setText(self.panel._target_text(index.row()))
        editor.selectAll()
        name = self.panel.active_target()
        d = self.panel.target_definition(name)
        editor.setPlaceholderText(f"{d.title()}: {d.range_text()}" if d else "")
        # the row's thumbnail and name may be scrolled out of a narrow dock: the item by name
        item = self.panel.model.item(index.row())
        editor.setToolTip(f"{name} of {item['name']} (id {item['id']})")

    def setModelData(self, editor, model, index) -> None:  # noqa: N802 (Qt API)
        pass  # only Enter writes (the panel); leaving the cell discards what was typed

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if (
            isinstance(obj, TargetEditor)
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            self.panel.commit_typed_target(obj)
            return True
        return super().eventFilter(obj, event)

    def close(self) -> None:
        if self.editor is not None:
            editor = self.editor
            self.editor = None
            self.closeEditor.emit(editor, QStyledItemDelegate.EndEditHint.NoHint)


class BrowserTargets:
    """Mixed into BrowserPanel: the active target, typed values, definitions."""

    last_target_message = ""  # the last refusal said where the value was typed

    def _install_targets(self) -> None:
        self.target_choice = QComboBox()
        self.target_choice.setToolTip("The regression target F2 / Enter on the Targets column edit")
        self.target_choice.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.target_choice.setMinimumContentsLength(8)
        self.target_choice.currentTextChanged.connect(lambda _t: self._target_chosen())
        self.define_target_button = QPushButton("Define…")
        self.define_target_button.setToolTip("Name, unit, allowed range and decimals of a target")
        self.define_target_button.clicked.connect(self.target_definition_dialog)
        self.target_row = QWidget()
        row = QHBoxLayout(self.target_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Target"))
        row.addWidget(self.target_choice, 1)
        row.addWidget(self.define_target_button)
        self._target_defs: dict[str, T.TargetDef] = {}
        self.target_delegate = TargetDelegate(self)
        self.table.setItemDelegateForColumn(COL_TARGETS, self.target_delegate)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )

    # -- definitions -----------------------------------------------------------------------------
    def _load_targets(self) -> None:
        """The project's targets into the chooser (defined ones first)."""
        current = self.target_choice.currentText()
        names: list[str] = []
        self._target_defs = {}
        if self.project is not None:
            try:
                self._target_defs = T.definitions(self.project)
            except UserFacingError as exc:
                self.window.report_error(str(exc))
            names = list(self._target_defs)
            present = self.project.distinct("targets")
            names += [n for n in present if n not in names]
        self.model.target_defs = self._target_defs
        self.target_choice.blockSignals(True)
        self.target_choice.clear()
        self.target_choice.addItems(names)
        if current in names:
            self.target_choice.setCurrentText(current)
        self.target_choice.blockSignals(False)
        self.target_row.setVisible(bool(names))  # Dataset > Regression Target… makes the first
        self.fit_filters()  # the filters' share of the panel follows
        self._target_chosen()

    def _target_chosen(self) -> None:
        self.model.active_target = self.active_target()

    def active_target(self) -> str | None:
        return self.target_choice.currentText() or None

    def target_definition(self, name: str | None) -> T.TargetDef | None:
        if not name:
            return None
        found = self._target_defs.get(name)
        if found is not None:
            return found
        try:
            return T.TargetDef(name)
        except UserFacingError:
            return None

    def define_target(self, definition: T.TargetDef) -> bool:
        """Store a definition (Define… dialog, or a script); says so, and about values already
        stored outside its range."""
        if self.project is None:
            return False
        try:
            outside = T.define(self.project, definition)
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return False
        self._load_targets()
        self.target_choice.setCurrentText(definition.name)
        text = f"target {definition.title()}: {definition.range_text()}"
        if outside:
            text += f"; {len(outside)} item(s) hold values outside it (kept): ids {outside[:10]}"
        self.window.statusBar().showMessage(text, 8000)
        self.model.refresh_items([self.model.item_id(r) for r in self._visible_rows()])
        return True

    def target_definition_dialog(self) -> TargetDefinitionDialog | None:
        if self.project is None:
            return None
        dialog = TargetDefinitionDialog(self._target_defs, self.active_target(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._definition_entered(dialog))
        dialog.finished.connect(lambda _r: (self.window.activateWindow(), self.table.setFocus()))
        self.target_dialog = dialog
        dialog.open()
        return dialog

    def _definition_entered(self, dialog: TargetDefinitionDialog) -> None:
        try:
            definition = dialog.definition()
        except UserFacingError as exc:
            self.window.report_error(str(exc))
            return
        self.define_target(definition)

    # -- typing values ---------------------------------------------------------------------------
    def _visible_rows(self) -> list[int]:
        top = self.table.rowAt(0)
        bottom = self.table.rowAt(self.table.viewport().height() - 1)
        if top < 0:
            return []
        bottom = bottom if bottom >= 0 else self.model.rowCount() - 1
        return list(range(top, bottom + 1))

    def _target_text(self, row: int) -> str:
        name = self.active_target()
        if name is None or self.project is None:
            return ""
        value = self.model.item(row)["targets"].get(name)
        return T.format_value(value, self.target_definition(name))

    def edit_target(self) -> bool:
        """Open the editor on the Targets cell of the current row (the selection stays)."""
        if self.project is None:
            return False
        if self.active_target() is None:
            self.window.statusBar().showMessage(
                "no regression target yet: define one (name, unit, range) first", 6000
            )
            self.target_definition_dialog()
            return False
        row = self.table.currentIndex().row()
        if row < 0 or not may_edit(self.window):  # a shared project: the name before typing
            return False
        index = self.model.index(row, COL_TARGETS)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.NoUpdate
        )
        self.table.scrollTo(index)
        self._reveal(index)
        self.table.edit(index)
        if self.target_delegate.editor is None:
            return False
        # the table scrolls sideways to the cell in a narrow dock, and the thumbnail and the
        # name go out of view: which item gets the value is said here
        item = self.model.item(row)
        self.window.statusBar().showMessage(
            f"{self.active_target()} of {item['name']} (id {item['id']}): Enter stores, Esc ends",
            8000,
        )
        return True

    def _target_typed(self, text: str) -> None:
        """Show at once whether the value being typed will be taken (and where it falls)."""
        editor = self.target_delegate.editor
        name = self.active_target()
        d = self.target_definition(name)
        value = None
        ok = True
        if d is not None:
            try:
                value = T.parse_value(text, d)
            except T.TargetValueError:
                ok = False
        if editor is not None:
            editor.setStyleSheet("" if ok else BAD_STYLE)
        self.balance.show_typed(name, value)

    def commit_typed_target(self, editor: TargetEditor) -> bool:
        """Enter in the editor: write the value on the selection and go to the next item, or
        refuse it where it was typed."""
        name = self.active_target()
        if self.project is None or name is None:
            return False
        rows = self._target_rows()
        ids = [self.model.item_id(r) for r in rows]
        text = editor.text()
        if not may_edit(self.window):  # a shared project: the name first
            return False
        try:
            change = T.set_value(self.project, ids, name, text, self.annotator)
        except UserFacingError as exc:  # TargetValueError, or the catalog refused
            self.last_target_message = str(exc)
            editor.setStyleSheet(BAD_STYLE)
            editor.selectAll()
            QToolTip.showText(editor.mapToGlobal(editor.rect().bottomLeft()), str(exc), editor)
            self.window.statusBar().showMessage(str(exc), 8000)
            return False
        self.last_target_message = ""
        self._record(change)
        self._target_written(name, change, rows)
        self.target_delegate.close()
        self.balance.show_typed(name, None)
        # by name: the row's thumbnail and name may be scrolled out of view while typing
        who = self.model.item(rows[0])["name"] if len(rows) == 1 else f"{len(change.ids)} items"
        said = f"{who}: {change.what}"
        last = rows[-1]
        if last + 1 < self.model.rowCount():
            self._advance(last)
            self.edit_target()  # next item, ready for its value
            said += f"; next: {self.model.item(last + 1)['name']}"
        self.window.statusBar().showMessage(said, 4000)
        return True

    def _target_written(self, name: str, change, rows: list[int]) -> None:
        """Rows and the Balance histogram follow a written target (no recount when avoidable)."""
        splits = {self.model.item_id(r): self.model.item(r)["split"] for r in rows}
        removed = [
            (old[0], splits.get(i))
            for i, old in zip(change.ids, change.before, strict=True)
            if old[0] is not None
        ]
        added = [
            (new[0], splits.get(i))
            for i, new in zip(change.ids, change.after, strict=True)
            if new[0] is not None
        ]
        self.model.refresh_items(list(change.ids))
        if self.target_choice.findText(name) < 0:
            self._load_targets()
        if not self.balance.apply_target_change(name, removed, added):
            self.balance_dirty = True
            if self.tabs.currentWidget() is self.balance_page:
                self.refresh_balance()


class TargetDefinitionDialog(QDialog):
    """Name, unit, allowed range, decimals and what augmentation changes a target."""

    def __init__(self, defs: dict[str, T.TargetDef], current: str | None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Regression target")
        self.defs = defs
        self.name = QComboBox()
        self.name.setEditable(True)
        self.name.addItems(list(defs) or ([current] if current else []))
        self.unit = QLineEdit()
        self.unit.setPlaceholderText("e.g. cells, mm, Gy")
        self.low = QLineEdit()
        self.low.setPlaceholderText("no lower limit")
        self.high = QLineEdit()
        self.high.setPlaceholderText("no upper limit")
        self.decimals = QSpinBox(minimum=-1, maximum=T.MAX_DECIMALS, value=-1)
        self.decimals.setSpecialValueText("as typed")
        self.changes: dict[str, QCheckBox] = {}
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Unit", self.unit)
        form.addRow("Lowest allowed", self.low)
        form.addRow("Highest allowed", self.high)
        form.addRow("Decimals", self.decimals)
        changes = QVBoxLayout()
        for family, text in FAMILY_TEXT.items():
            box = QCheckBox(text)
            self.changes[family] = box
            changes.addWidget(box)
        form.addRow("Changed by", changes)
        note = QLabel(
            "Augmented copies keep this target only when their pipeline uses none of the "
            "transformations ticked under 'Changed by'."
        )
        note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #c33")
        self.problem.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.name.currentTextChanged.connect(self._fill)
        if current:
            self.name.setCurrentText(current)
        self._fill(self.name.currentText())

    def _fill(self, name: str) -> None:
        d = self.defs.get(name)
        self.unit.setText(d.unit if d else "")
        self.low.setText("" if d is None or d.low is None else f"{d.low:g}")
        self.high.setText("" if d is None or d.high is None else f"{d.high:g}")
        self.decimals.setValue(-1 if d is None or d.decimals is None else d.decimals)
        families = d.changes_with if d else ("crop_zoom",)
        for family, box in self.changes.items():
            box.setChecked(family in families)

    def definition(self) -> T.TargetDef:
        def number(edit: QLineEdit, what: str) -> float | None:
            text = edit.text().strip().replace(",", ".")
            if not text:
                return None
            try:
                value = float(text)
            except ValueError:
                raise UserFacingError(f"{what}: {edit.text()!r} is not a number") from None
            if not math.isfinite(value):
                raise UserFacingError(f"{what}: {edit.text()!r} is not a finite number")
            return value

        return T.TargetDef(
            self.name.currentText().strip(),
            self.unit.text().strip(),
            number(self.low, "lowest allowed"),
            number(self.high, "highest allowed"),
            None if self.decimals.value() < 0 else self.decimals.value(),
            tuple(f for f, box in self.changes.items() if box.isChecked()),
        )

    def _accept(self) -> None:
        try:
            self.definition()
        except UserFacingError as exc:
            self.problem.setText(str(exc))  # said in the dialog; it stays open
            return
        self.accept()
