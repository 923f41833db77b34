"""Info dock: what the open image is (file, shape, dtype, range, the TIFF tags that matter)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem


class InfoPanel(QTableWidget):
    def __init__(self, parent=None):
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["Property", "Value"])
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)

    def show_info(self, rows: list[tuple[str, Any]]) -> None:
        self.setRowCount(len(rows))
        for row, (key, value) in enumerate(rows):
            text = str(value)
            short = text if len(text) <= 300 else text[:300] + " …"
            key_item = QTableWidgetItem(key)
            value_item = QTableWidgetItem(short.replace("\n", " ⏎ "))
            value_item.setToolTip(text[:4000])
            self.setItem(row, 0, key_item)
            self.setItem(row, 1, value_item)

    def value(self, key: str) -> str | None:
        for row in range(self.rowCount()):
            if self.item(row, 0).text() == key:
                return self.item(row, 1).text()
        return None
