"""The Import dialog's check boxes for the command line's import options: ``--update-originals``
(any kind whose files carry annotations: core.formats.returning) and ``--edited-table`` (the
Data Package kind: core.formats.datapackage_files)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from qbi_desktop.core.formats.returning import CARRIES
from qbi_desktop.gui.docks.browser_kinds import EDITED_TABLE_TEXT, UPDATE_ORIGINALS_TEXT


class ImportOptions(QWidget):
    """The two check boxes; :meth:`set_kind` shows those the chosen kind has."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.update_originals = QCheckBox(UPDATE_ORIGINALS_TEXT)
        self.update_originals.setToolTip(
            "For files that are copies (the same pixels) of items already in the project, e.g. "
            "an export edited in another tool: their classes, boxes, masks and targets go onto "
            "those items, and the copies are not added. Ctrl+Z in the Browser takes it back."
        )
        self.edited_table = QCheckBox(EDITED_TABLE_TEXT)
        self.edited_table.setToolTip(
            "Import an items.csv changed since the export (its checksum no longer matches "
            "datapackage.json): read as it is, with a note that it was not verified. A table "
            "cut short is still refused."
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.update_originals)
        layout.addWidget(self.edited_table)

    def set_kind(self, kind: str) -> None:
        carries = kind in CARRIES  # a numbered series or a NeXus stack brings no annotations
        self.update_originals.setEnabled(carries)
        if not carries:
            self.update_originals.setChecked(False)
        self.edited_table.setVisible(kind == "datapackage")

    def values(self, kind: str) -> dict[str, Any]:
        """The import job's options the boxes set (nothing for a box left unticked)."""
        options: dict[str, Any] = {}
        if self.update_originals.isEnabled() and self.update_originals.isChecked():
            options["update_originals"] = True
        if kind == "datapackage" and self.edited_table.isChecked():
            options["edited_table"] = True
        return options
