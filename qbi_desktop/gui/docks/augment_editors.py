"""The editors behind the Augment dock's option controls: one small QObject per option kind
(number, float text, check box, choice, range slider or two spin boxes, zoom, record of fields,
an optional step with its "on" switch, JSON for options the table does not describe yet), each
with ``value()``/``set_value()`` and a ``changed`` signal. :func:`make_editor` builds one from an
editor hint (see ``EDITOR_HINTS`` in :mod:`.augment_controls`, which lays them out).

An editor keeps the exact value it was given (a Keras shift given as an int or a list, say) until
the user edits it, so loading and saving a pipeline round-trips unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QWidget,
)
from superqt import QLabeledDoubleRangeSlider

# Spin boxes size themselves for their largest value (1e12 is 17 characters): in a docked panel
# they may shrink to this width; the values people type are short.
SPIN_MIN_WIDTH = 80
SUB_INDENT = 14  # px: the settings of an optional step, indented under its switch


# Names whose plain spelling is too long for a docked panel's label column, or mis-cased.
SHORT_NAMES = {
    "featurewise_std_normalization": "Featurewise std norm.",
    "samplewise_std_normalization": "Samplewise std norm.",
    "zca_whitening": "ZCA whitening",
    "zca_epsilon": "ZCA epsilon",
}


def pretty(name: str) -> str:
    """``width_shift_range`` -> ``Width shift range`` (or the short name from ``SHORT_NAMES``)."""
    return SHORT_NAMES.get(name) or name.replace("_", " ").capitalize()


def _option_names() -> re.Pattern[str]:
    from qbi_desktop.core.augment.options import SPEC_BY_NAME

    names = sorted((n for n in SPEC_BY_NAME if "_" in n), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")


_OPTION_NAME = _option_names()


def in_dock_words(text: str) -> str:
    """A core message as the dock says it: each option's name as the pipeline JSON and the
    command line spell it (``rotation_range``) becomes the label the dock shows ("Rotation
    range")."""
    return _OPTION_NAME.sub(lambda m: pretty(m.group(0)), text)


def shrinkable(spin: QAbstractSpinBox, width: int = SPIN_MIN_WIDTH) -> QAbstractSpinBox:
    """Let a spin box shrink to ``width`` (its size hint stays that of its largest value)."""
    spin.setMinimumWidth(min(width, spin.minimumSizeHint().width()))
    return spin


class Editor(QObject):
    """One option's control: ``widget`` to place, ``value()``/``set_value()``, ``changed``.

    ``sub_rows()`` are extra (label, field) rows the form places, indented, under the editor's
    own row; ``set_enabled``/``set_tooltip`` reach all of the editor's widgets."""

    changed = Signal()
    widget: QWidget

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def sub_rows(self) -> list[tuple[QLabel, QWidget]]:
        return []

    def set_enabled(self, enabled: bool) -> None:
        self.widget.setEnabled(enabled)

    def set_tooltip(self, tip: str) -> None:
        self.widget.setToolTip(tip)
        for label, field in self.sub_rows():
            label.setToolTip(tip)
            field.setToolTip(tip)

    def _quiet(self, widgets: list[QWidget], fn: Callable[[], None]) -> None:
        for w in widgets:
            w.blockSignals(True)
        try:
            fn()
        finally:
            for w in widgets:
                w.blockSignals(False)


class NumberEditor(Editor):
    def __init__(self, lo, hi, step, decimals, default=None):
        super().__init__()
        self.spin = QDoubleSpinBox()
        self.spin.setRange(lo, hi)
        self.spin.setSingleStep(step)
        self.spin.setDecimals(decimals)
        self.spin.setKeyboardTracking(False)
        shrinkable(self.spin)
        self.widget = self.spin
        self._raw: Any = None  # a value the spin box cannot show exactly (int/list shifts)
        self._default = default
        if default is not None:
            self.spin.setValue(default)
        self.spin.valueChanged.connect(self._edited)

    def _edited(self, _v) -> None:
        self._raw = None
        self.changed.emit()

    def value(self) -> Any:
        if self._raw is not None:
            return self._raw
        v = self.spin.value()
        return int(v) if self.spin.decimals() == 0 else float(v)

    def set_value(self, value: Any) -> None:
        if value is None:
            value = self._default if self._default is not None else self.spin.minimum()
        shown = value
        if isinstance(value, list):
            shown = max(value) if value else 0
        self._quiet([self.spin], lambda: self.spin.setValue(float(shown)))
        exact = isinstance(value, float) and abs(self.spin.value() - value) < 1e-12
        self._raw = None if exact else value
        if isinstance(value, list):
            self.spin.setToolTip(f"loaded as the list {value}: one of these is drawn")


class FloatTextEditor(Editor):
    """A float typed as text (tiny values such as ZCA's epsilon read better as 1e-06)."""

    def __init__(self):
        super().__init__()
        self.edit = QLineEdit()
        self.edit.setValidator(QDoubleValidator(1e-300, 1e300, 20))
        self.edit.editingFinished.connect(self.changed)
        self.widget = self.edit

    def value(self) -> Any:
        try:
            return float(self.edit.text())
        except ValueError:
            return self.edit.text()  # the pipeline's validation names the field

    def set_value(self, value: Any) -> None:
        self._quiet([self.edit], lambda: self.edit.setText(f"{value:g}"))


class BoolEditor(Editor):
    def __init__(self, text: str = ""):
        super().__init__()
        self.box = QCheckBox(text)
        self.box.toggled.connect(lambda _on: self.changed.emit())
        self.widget = self.box

    def value(self) -> bool:
        return self.box.isChecked()

    def set_value(self, value: Any) -> None:
        self._quiet([self.box], lambda: self.box.setChecked(bool(value)))


class ChoiceEditor(Editor):
    def __init__(self, choices):
        super().__init__()
        self.choices = list(choices)
        self.combo = QComboBox()
        self.combo.addItems([str(c) for c in self.choices])
        self.combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.widget = self.combo

    def value(self) -> Any:
        return self.choices[self.combo.currentIndex()]

    def set_value(self, value: Any) -> None:
        if value in self.choices:
            idx = self.choices.index(value)
            self._quiet([self.combo], lambda: self.combo.setCurrentIndex(idx))

    def disable_choice(self, value: Any, why: str) -> None:
        """Grey out one choice (it stays listed, with ``why`` as its tooltip)."""
        self.set_choice_enabled(value, False, why)

    def set_choice_enabled(self, value: Any, enabled: bool, why: str = "") -> None:
        """Grey out (with ``why`` as the item's tooltip) or re-enable one choice."""
        idx = self.choices.index(value)
        self.combo.model().item(idx).setEnabled(enabled)
        self.combo.setItemData(idx, None if enabled else why, Qt.ItemDataRole.ToolTipRole)

    def choice_enabled(self, value: Any) -> bool:
        return self.combo.model().item(self.choices.index(value)).isEnabled()


class PairEditor(Editor):
    """[low, high] on a labelled two-handle slider."""

    def __init__(self, lo, hi, default, decimals):
        super().__init__()
        self.slider = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal)
        self.slider.setDecimals(decimals)
        self.slider.setRange(lo, hi)
        self.slider.setSingleStep(10**-decimals)
        self.slider.setValue(tuple(default))
        self.default = list(default)
        self.slider.valueChanged.connect(lambda _v: self.changed.emit())
        self.widget = self.slider

    def value(self) -> list[float]:
        lo, hi = self.slider.value()
        return [round(float(lo), 6), round(float(hi), 6)]

    def set_value(self, value: Any) -> None:
        pair = self.default if value is None else list(value)
        lo, hi = self.slider.minimum(), self.slider.maximum()
        if pair[0] < lo or pair[1] > hi:  # a loaded value outside the slider: widen it
            self.slider.setRange(min(lo, pair[0]), max(hi, pair[1]))
        self._quiet([self.slider], lambda: self.slider.setValue((pair[0], pair[1])))


class PairSpinsEditor(Editor):
    """[low, high] in the image's own units (no natural slider range): two spin boxes."""

    def __init__(self, lo, hi, default, decimals):
        super().__init__()
        self.low = QDoubleSpinBox()
        self.high = QDoubleSpinBox()
        for spin, v in ((self.low, default[0]), (self.high, default[1])):
            spin.setRange(lo, hi)
            spin.setDecimals(decimals)
            spin.setKeyboardTracking(False)
            shrinkable(spin)
            spin.setValue(v)
            spin.valueChanged.connect(self._edited)
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.low)
        row.addWidget(QLabel("to"))
        row.addWidget(self.high)

    def _edited(self, _v) -> None:
        if self.high.value() < self.low.value():
            self._quiet([self.high], lambda: self.high.setValue(self.low.value()))
        self.changed.emit()

    def value(self) -> list[float]:
        return [self.low.value(), self.high.value()]

    def set_value(self, value: Any) -> None:
        if value is None:
            return
        self._quiet(
            [self.low, self.high],
            lambda: (self.low.setValue(float(value[0])), self.high.setValue(float(value[1]))),
        )


class ZoomEditor(PairEditor):
    """Keras' zoom: a scalar z means [1-z, 1+z]; [1, 1] (no zoom) is saved as 0."""

    def __init__(self, lo, hi, decimals):
        super().__init__(lo, hi, (1.0, 1.0), decimals)

    def value(self) -> Any:
        lo, hi = super().value()
        if lo == 1.0 and hi == 1.0:
            return 0.0
        if abs((1 - lo) - (hi - 1)) < 1e-9 and lo < 1:
            return round(1 - lo, 6)  # symmetric: the Keras scalar form
        return [lo, hi]

    def set_value(self, value: Any) -> None:
        if isinstance(value, list):
            super().set_value(value)
        else:
            z = float(value or 0.0)
            super().set_value([1 - z, 1 + z])


class RecordEditor(Editor):
    """Named fields. Inside an optional step its fields become rows of the step (``fields``);
    on its own it is a small form (``widget``, built when first asked for)."""

    def __init__(self, fields: dict[str, Editor]):
        super().__init__()
        self.fields = fields
        self._widget: QWidget | None = None
        for editor in fields.values():
            editor.changed.connect(self.changed)

    @property
    def widget(self) -> QWidget:  # type: ignore[override]
        if self._widget is None:
            self._widget = QWidget()
            form = QFormLayout(self._widget)
            form.setContentsMargins(0, 0, 0, 0)
            for name, editor in self.fields.items():
                form.addRow(pretty(name), editor.widget)
        return self._widget

    def value(self) -> dict[str, Any]:
        return {name: e.value() for name, e in self.fields.items()}

    def set_value(self, value: Any) -> None:
        for name, e in self.fields.items():
            if isinstance(value, dict) and name in value:
                e.set_value(value[name])


class OptionalEditor(Editor):
    """An option that is off (``None``) until switched on; then its inner editor's value.

    A single inner control (a range, a number) sits beside the "on" switch; the fields of a
    record (random crop's scale and ratio ranges, say) get rows of their own under it, so the
    step fits a docked panel's width."""

    def __init__(self, inner: Editor, default: Any = None):
        super().__init__()
        self.inner = inner
        self.on = QCheckBox("on")
        self._allowed = True  # False while a modality profile forbids the option
        self._sub: list[tuple[QLabel, QWidget]] = []
        if isinstance(inner, RecordEditor):
            self.widget = self.on
            for name, field in inner.fields.items():
                label = QLabel(pretty(name))
                label.setContentsMargins(SUB_INDENT, 0, 0, 0)
                label.setBuddy(field.widget)
                self._sub.append((label, field.widget))
            self._inner_widgets = [w for pair in self._sub for w in pair]
        else:
            self.widget = QWidget()
            row = QHBoxLayout(self.widget)
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(self.on, 0, Qt.AlignmentFlag.AlignTop)
            row.addWidget(inner.widget, 1)
            self._inner_widgets = [inner.widget]
        if default is not None:
            inner.set_value(default)
        self._sync_enabled()
        self.on.toggled.connect(self._toggled)
        inner.changed.connect(self._inner_changed)

    def sub_rows(self) -> list[tuple[QLabel, QWidget]]:
        return list(self._sub)

    def set_enabled(self, enabled: bool) -> None:
        self._allowed = enabled
        self.widget.setEnabled(enabled)
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        inner_on = self._allowed and self.on.isChecked()
        for w in self._inner_widgets:
            w.setEnabled(inner_on)

    def _toggled(self, _on: bool) -> None:
        self._sync_enabled()
        self.changed.emit()

    def _inner_changed(self) -> None:
        if self.on.isChecked():
            self.changed.emit()

    def value(self) -> Any:
        return self.inner.value() if self.on.isChecked() else None

    def set_value(self, value: Any) -> None:
        if value is not None:
            self.inner.set_value(value)
        self._quiet([self.on], lambda: self.on.setChecked(value is not None))
        self._sync_enabled()


class JsonEditor(Editor):
    """Fallback for an option without a hint: its JSON value as text."""

    def __init__(self):
        super().__init__()
        self.edit = QLineEdit()
        self.edit.editingFinished.connect(self.changed)
        self.widget = self.edit

    def value(self) -> Any:
        try:
            return json.loads(self.edit.text())
        except json.JSONDecodeError:
            return self.edit.text()

    def set_value(self, value: Any) -> None:
        self._quiet([self.edit], lambda: self.edit.setText(json.dumps(value)))


def make_editor(hint: tuple | None, default: Any = None) -> Editor:
    if hint is None:
        return JsonEditor()
    kind = hint[0]
    if kind == "number":
        return NumberEditor(*hint[1:5], default=hint[5] if len(hint) > 5 else None)
    if kind == "float_text":
        return FloatTextEditor()
    if kind == "bool":
        return BoolEditor()
    if kind == "choice":
        return ChoiceEditor(hint[1])
    if kind == "pair":
        return PairEditor(*hint[1:5])
    if kind == "pair_spins":
        return PairSpinsEditor(*hint[1:5])
    if kind == "zoom":
        return ZoomEditor(*hint[1:4])
    if kind == "record":
        return RecordEditor({name: make_editor(h) for name, h in hint[1].items()})
    if kind == "optional":
        return OptionalEditor(make_editor(hint[1]), hint[2] if len(hint) > 2 else None)
    return JsonEditor()
