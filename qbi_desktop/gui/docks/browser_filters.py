"""The Browser's filters: label, split, review and origin combos, the name search, duplicates
only, and "show these items" (a group of duplicates); all fold out under the Filters button,
whose text says how many are on (mixed into the Browser panel)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from qbi_desktop.core.catalog import NONE, PROVENANCE_KINDS, REVIEW_STATES, SPLITS, Filters
from qbi_desktop.core.catalog.classes import sorted_classes

ALL = "\x00all"  # "no filter" marker in the filter combos


class BrowserFilters:
    """Mixed into BrowserPanel: the filter widgets' values, and the table they choose."""

    def show_filters(self, on: bool = True) -> None:
        """Fold the filters, name search and class list out under the tab row (or back)."""
        if self.filters_button.isChecked() != on:
            self.filters_button.setChecked(on)  # comes back here through toggled
            return
        self.filter_box.setVisible(on)
        self.filter_area.setVisible(on)
        if on:
            self.fit_filters()  # as tall as the panel can spare beside the table's rows
        self.filters_button.setArrowType(Qt.ArrowType.UpArrow if on else Qt.ArrowType.DownArrow)

    def _show_filter_state(self) -> None:
        """The Filters button says how many filters are on, its tooltip the project and counts."""
        f = self.current_filters()
        on = sum(
            v is not None for v in (f.label, f.split, f.review, f.provenance, f.name, f.duplicates)
        ) + (f.ids is not None)
        self.filters_button.setText(f"Filters ({on})" if on else "Filters")
        p = self.project
        tip = "Filters, name search and the class list (keys 0-9)"
        if p is not None:
            tip = f"{p.root}\n{self.count_label.text()}\n{tip}"
        self.filters_button.setToolTip(tip)

    def _fill_filter_combos(self) -> None:
        p = self.project
        labels = sorted_classes(p.distinct("label")) if p else []
        specs = (
            (self.label_filter, "All labels", [("(unlabelled)", NONE)] + [(v, v) for v in labels]),
            (self.split_filter, "All splits", [(s, s) for s in SPLITS] + [("(unassigned)", NONE)]),
            (self.review_filter, "All reviews", [(s.replace("_", " "), s) for s in REVIEW_STATES]),
            (self.provenance_filter, "All origins", [(s, s) for s in PROVENANCE_KINDS]),
        )
        for combo, all_text, entries in specs:
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(all_text, ALL)
            for text, value in entries:
                combo.addItem(text, value)
            index = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(0, index))
            combo.blockSignals(False)

    def _clear_filters(self) -> None:
        """Another project: no filter of the last one stays (a stale name would hide items
        without a visible reason, or arrive late from the typing timer)."""
        self._name_timer.stop()
        self._ids_filter = None
        combos = (self.label_filter, self.split_filter, self.review_filter, self.provenance_filter)
        for widget in (self.name_filter, self.duplicates_only, *combos):
            widget.blockSignals(True)
        self.name_filter.clear()
        self.duplicates_only.setChecked(False)
        for combo in combos:
            combo.setCurrentIndex(0)
        for widget in (self.name_filter, self.duplicates_only, *combos):
            widget.blockSignals(False)

    def current_filters(self) -> Filters:
        def value(combo: QComboBox):
            data = combo.currentData()
            return None if data is None or data == ALL else data

        return Filters(
            label=value(self.label_filter),
            split=value(self.split_filter),
            review=value(self.review_filter),
            provenance=value(self.provenance_filter),
            name=self.name_filter.text().strip() or None,
            duplicates=True if self.duplicates_only.isChecked() else None,
            ids=self._ids_filter,
        )

    def _filters_changed(self, *_args) -> None:
        if self.sender() is not None and self.sender() is not self._name_timer:
            self._ids_filter = None  # a filter choice replaces "show these items"
        self._name_timer.stop()
        if self.project is not None:
            self.model.set_filters(self.current_filters())

    def set_filter(self, **values: Any) -> None:
        """Choose filter values through the widgets (label=, split=, review=, provenance=,
        name=, duplicates=), as a user would."""
        combos = {
            "label": self.label_filter,
            "split": self.split_filter,
            "review": self.review_filter,
            "provenance": self.provenance_filter,
        }
        for key, v in values.items():
            if key in combos:
                combo = combos[key]
                combo.setCurrentIndex(0 if v is None else max(0, combo.findData(v)))
            elif key == "name":
                self.name_filter.setText(v or "")
                self._filters_changed()
            elif key == "duplicates":
                self.duplicates_only.setChecked(bool(v))

    def show_ids(self, ids: list[int]) -> None:
        """Show exactly these items (e.g. a group of duplicates) in the table."""
        self._ids_filter = list(ids)
        self.tabs.setCurrentIndex(0)
        if self.project is not None:
            self.model.set_filters(self.current_filters())
