"""The Augment dock's option controls, generated from the engine's option table (``SPECS``).

Every option in :data:`qbi_desktop.core.augment.SPECS` gets an editor, grouped by its kind
(geometry, intensity, noise, standardize, fill) with the option's help text as tooltip. How an
option is edited (spin box, range slider, check box, combo, an "on" switch for optional ones)
comes from :data:`EDITOR_HINTS`; an option the table does not know yet still gets a JSON text
field, so a new engine option is never invisible.

The form is laid out for a docked panel about 410 px wide: spin boxes with huge ranges may
shrink below the width of their largest value, range sliders shrink, and the settings of an
optional step (random crop's scale and ratio, say) sit on their own indented rows under its
"on" switch instead of beside it.

An editor keeps the exact value it was given (a Keras shift given as an int or a list, say) until
the user edits it, so loading and saving a pipeline round-trips unchanged.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.augment import DEFAULTS, SPECS, cvwarp
from qbi_desktop.core.augment.options import FILL_MODES, RESAMPLERS
from qbi_desktop.gui.docks.augment_editors import (
    ChoiceEditor,
    Editor,
    make_editor,
    pretty,
)

KIND_TITLES = {
    "geometry": "Geometry",
    "intensity": "Intensity",
    "noise": "Noise",
    "fill": "Resampling and fill",
    "standardize": "Standardize (model input only)",
}
# A line under a group's title, for what the title cannot say in a docked panel's width.
KIND_NOTES = {
    "standardize": "Applied to the model's input: not in the preview or the written files.",
}
KIND_ORDER = ("geometry", "intensity", "noise", "fill", "standardize")

# How each option is edited. number: (min, max, step, decimals); pair: slider (min, max, default
# when switched on, decimals); optional: an "on" switch around another hint; record: fields.
EDITOR_HINTS: dict[str, tuple] = {
    "rotation_range": ("number", 0, 180, 1, 1),
    "width_shift_range": ("number", 0, 100000, 0.01, 3),
    "height_shift_range": ("number", 0, 100000, 0.01, 3),
    "shear_range": ("number", 0, 89.9, 1, 1),
    "zoom_range": ("zoom", 0.2, 3.0, 2),
    "horizontal_flip": ("bool",),
    "vertical_flip": ("bool",),
    "fill_mode": ("choice", FILL_MODES),
    "cval": ("number", -1e12, 1e12, 1, 3),
    "interpolation_order": ("choice", (0, 1, 2, 3, 4, 5)),
    "resampler": ("choice", RESAMPLERS),
    "channel_shift_range": ("number", 0, 1e12, 10, 3),
    "brightness_range": ("optional", ("pair", 0.0, 3.0, (0.8, 1.2), 2)),
    "rescale": ("optional", ("number", -1e12, 1e12, 0.001, 6), 1 / 255),
    "featurewise_center": ("bool",),
    "samplewise_center": ("bool",),
    "featurewise_std_normalization": ("bool",),
    "samplewise_std_normalization": ("bool",),
    "zca_whitening": ("bool",),
    "zca_epsilon": ("float_text",),
    "gaussian_noise": (
        "optional",
        ("record", {"std_range": ("pair_spins", 0, 1e12, (0.0, 100.0), 3)}),
    ),
    "poisson_noise": (
        "optional",
        (
            "record",
            {
                "dose_range": ("pair", 0.01, 1.0, (0.3, 1.0), 2),
                "counts_per_unit": ("number", 1e-4, 1e9, 0.1, 4, 1.0),
            },
        ),
    ),
    "gaussian_blur": ("optional", ("record", {"sigma_range": ("pair", 0.0, 10.0, (0.5, 1.5), 2)})),
    "gamma_range": ("optional", ("pair", 0.1, 3.0, (0.8, 1.25), 2)),
    "contrast_range": ("optional", ("pair", 0.0, 3.0, (0.8, 1.2), 2)),
    "random_crop": (
        "optional",
        (
            "record",
            {
                "scale_range": ("pair", 0.05, 1.0, (0.6, 1.0), 2),
                "ratio_range": ("pair", 0.25, 4.0, (0.75, 1.33), 2),
            },
        ),
    ),
    "elastic": (
        "optional",
        (
            "record",
            {
                "alpha": ("number", 0, 10000, 1, 2, 10.0),
                "sigma": ("number", 0.01, 1000, 1, 2, 8.0),
            },
        ),
    ),
}


KERAS_BLOCKS_OPENCV = (
    "Not in Keras mode: Keras resamples with scipy, which only the exact resampler reproduces "
    "(options.resampler 'opencv' cannot be combined with keras_compat)"
)


class OptionsForm(QWidget):
    """All options, grouped by kind; ``changed`` fires on any edit by the user.

    Values a modality profile switched off are held (``held``) and come back when a profile that
    allows them again is chosen, unless the user has set that option by hand in the meantime."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.held: dict[str, Any] = {}  # option -> the value a profile switched off
        self._keras_mode = False
        self.editors: dict[str, Editor] = {}
        self.labels: dict[str, QLabel] = {}
        self.help: dict[str, str] = {}
        self.groups: dict[str, QGroupBox] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        forms: dict[str, QFormLayout] = {}
        kinds = [k for k in KIND_ORDER if any(s.kind == k for s in SPECS)]
        kinds += sorted({s.kind for s in SPECS} - set(kinds))
        for kind in kinds:
            box = QGroupBox(KIND_TITLES.get(kind, pretty(kind)))
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setContentsMargins(6, 4, 6, 4)
            # rows close together: the docked controls area of a laptop shows two more of them
            form.setVerticalSpacing(3)
            if kind in KIND_NOTES:
                note = QLabel(KIND_NOTES[kind])
                note.setWordWrap(True)
                note.setStyleSheet("color: gray;")
                form.addRow(note)
            layout.addWidget(box)
            self.groups[kind] = box
            forms[kind] = form
        for spec in SPECS:
            editor = make_editor(EDITOR_HINTS.get(spec.name), spec.default)
            editor.set_value(spec.default)
            label = QLabel(pretty(spec.name) + ("" if spec.keras else " *"))
            tip = spec.help + ("" if spec.keras else "  (* beyond Keras)")
            label.setToolTip(tip)
            label.setBuddy(editor.widget)
            forms[spec.kind].addRow(label, editor.widget)
            for sub_label, field in editor.sub_rows():
                forms[spec.kind].addRow(sub_label, field)
            editor.set_tooltip(tip)
            editor.changed.connect(self.changed)
            # set by hand: a value held for a later profile must not overwrite it
            editor.changed.connect(lambda name=spec.name: self.held.pop(name, None))
            self.editors[spec.name] = editor
            self.labels[spec.name] = label
            self.help[spec.name] = tip
        self._sync_resampler()
        layout.addStretch(1)

    def options(self) -> dict[str, Any]:
        return {name: e.value() for name, e in self.editors.items()}

    def set_options(self, options: dict[str, Any]) -> None:
        """Show ``options`` (missing ones take their defaults) without emitting ``changed``.

        A loaded pipeline replaces everything, so no value held from a profile comes back."""
        self.held.clear()
        for name, editor in self.editors.items():
            editor.set_value(options.get(name, DEFAULTS[name]))

    def opencv_blocked(self) -> str | None:
        """Why the OpenCV resampler cannot be chosen now (None: it can)."""
        if not cvwarp.available():
            return f"OpenCV is not installed; install it with: {cvwarp.INSTALL_HINT}"
        if self._keras_mode:
            return KERAS_BLOCKS_OPENCV
        return None

    def _sync_resampler(self) -> bool:
        """Grey out the OpenCV choice where it cannot be used; a chosen one falls back to
        'exact' (quietly: the caller says so). Returns True when it had to fall back."""
        editor = self.editors.get("resampler")
        if not isinstance(editor, ChoiceEditor) or "opencv" not in editor.choices:
            return False
        why = self.opencv_blocked()
        editor.set_choice_enabled("opencv", why is None, why or "")
        if why is not None and editor.value() == "opencv":
            editor.set_value("exact")
            return True
        return False

    def set_keras_mode(self, on: bool) -> bool:
        """Keras mode resamples exactly as Keras does, so the OpenCV resampler is greyed out
        while it is on. Returns True when a chosen OpenCV resampler was switched to 'exact'."""
        self._keras_mode = bool(on)
        return self._sync_resampler()

    def apply_profile(
        self, disabled: dict[str, str], profile_name: str | None
    ) -> tuple[list[str], list[str]]:
        """Grey out (and reset to their defaults) the options a profile disables, with the reason
        as tooltip; re-enable the others.

        A value switched off is held; when a later profile allows the option again, the held
        value comes back (unless the user has set the option by hand since). Returns
        ``(reset, restored)``: the options switched off now and those given back their value."""
        reset: list[str] = []
        restored: list[str] = []
        for name, editor in self.editors.items():
            why = disabled.get(name)
            label = self.labels[name]
            if why is None:
                if name in self.held:
                    value = self.held.pop(name)
                    if editor.value() == DEFAULTS[name]:  # untouched since it was switched off
                        editor.set_value(value)
                        restored.append(name)
                editor.set_enabled(True)
                label.setEnabled(True)
                editor.set_tooltip(self.help[name])
                label.setToolTip(self.help[name])
                font = label.font()
                font.setStrikeOut(False)
                label.setFont(font)
                continue
            if editor.value() != DEFAULTS[name]:
                reset.append(name)
                self.held[name] = editor.value()
            editor.set_value(DEFAULTS[name])
            editor.set_enabled(False)
            label.setEnabled(False)
            tip = f"Disabled by the '{profile_name}' profile: {why}"
            editor.set_tooltip(tip)
            label.setToolTip(tip)
            font = label.font()
            font.setStrikeOut(True)
            label.setFont(font)
        self._sync_resampler()  # a restored resampler still obeys Keras mode
        return reset, restored
