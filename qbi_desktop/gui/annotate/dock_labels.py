"""The Annotate dock's label list: add, rename, recolour, pick the active label (1-9)."""

from __future__ import annotations

import copy
import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QInputDialog,
    QListWidgetItem,
)

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.labels import LabelTable

log = logging.getLogger("qbi_desktop")


def _swatch(colour) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(QColor(*colour))
    return QIcon(pix)


class LabelsMixin:
    """Part of :class:`~qbi_desktop.gui.docks.annotate.AnnotatePanel`: its label table."""

    # -- labels -----------------------------------------------------------------------------------
    @property
    def labels(self) -> LabelTable:
        return self.session.labels if self.session is not None else self.labels_template

    def _refresh_labels(self) -> None:
        lst = self.label_list
        lst.blockSignals(True)
        lst.clear()
        active_row = 0
        for row, label in enumerate(self.labels):
            item = QListWidgetItem(_swatch(label.colour), f"{row + 1}  {label.name}")
            item.setData(Qt.ItemDataRole.UserRole, label.value)
            lst.addItem(item)
            if label.value == self.controller.label:
                active_row = row
        if lst.count():
            lst.setCurrentRow(active_row)
            self.controller.label = int(lst.item(active_row).data(Qt.ItemDataRole.UserRole))
        lst.blockSignals(False)

    def _label_row_changed(self, row: int) -> None:
        item = self.label_list.item(row)
        if item is not None:
            self.controller.label = int(item.data(Qt.ItemDataRole.UserRole))

    def select_label_index(self, index: int) -> None:
        """Number keys: the n-th label in the list becomes the active one."""
        if 0 <= index < self.label_list.count():
            self.label_list.setCurrentRow(index)

    def _label_item_edited(self, item) -> None:
        pass

    def add_label(self, name: str, colour=None) -> int:
        label = self.labels.add(name, colour)
        self._labels_changed()
        self.controller.label = label.value
        self._refresh_labels()
        return label.value

    def rename_label(self, value: int, name: str) -> None:
        self.labels.rename(value, name)
        self._labels_changed()
        self._update_status()  # a project item's renamed label is an unsaved change

    def recolour_label(self, value: int, colour) -> None:
        self.labels.recolour(value, colour)
        self._labels_changed()

    def _labels_changed(self) -> None:
        if self.session is not None:
            self.session.labels_changed()
            self.labels_template = copy.deepcopy(self.session.labels)
        self.overlay.set_labels(self.labels)
        self._refresh_labels()

    def _add_label_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "Add label", "Name of the new label:")
        if ok and name.strip():
            try:
                self.add_label(name)
            except UserFacingError as e:
                self.window.report_error(str(e))

    def _rename_label_dialog(self) -> None:
        value = self.controller.label
        if value not in self.labels:
            return
        name, ok = QInputDialog.getText(
            self, "Rename label", "New name:", text=self.labels[value].name
        )
        if ok:
            try:
                self.rename_label(value, name)
            except UserFacingError as e:
                self.window.report_error(str(e))

    def _recolour_dialog(self) -> None:
        value = self.controller.label
        if value not in self.labels:
            return
        colour = QColorDialog.getColor(QColor(*self.labels[value].colour), self, "Label colour")
        if colour.isValid():
            self.recolour_label(value, (colour.red(), colour.green(), colour.blue()))
