"""The label table: which classes a mask holds, their names and their display colours.

Label value 0 is always background and is not part of the table; the table lists labels
1..n. A mask value ``v`` means "the pixel belongs to the label with value ``v``". The table
round-trips through a plain dict (JSON) so projects, journals and mask files can carry it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from qbi_desktop.core.errors import UserFacingError

Colour = tuple[int, int, int]

#: Colours handed to new labels in turn: red first (the default "spot"), then well-separated hues.
DEFAULT_COLOURS: tuple[Colour, ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (255, 225, 25),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 190),
    (0, 128, 128),
    (170, 110, 40),
)

MAX_LABEL = 65535  # masks are at most uint16


class LabelTableError(UserFacingError):
    """A label table (or a dict meant to be one) is not valid; the message says which field."""


@dataclass
class Label:
    """One class: its mask value, a name people read, and an RGB colour for the overlay."""

    value: int
    name: str
    colour: Colour

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "name": self.name, "colour": list(self.colour)}


def _check_colour(colour: Any, where: str) -> Colour:
    try:
        rgb = tuple(int(c) for c in colour)
    except (TypeError, ValueError):
        raise LabelTableError(
            f"{where}: colour must be three integers 0-255, got {colour!r}"
        ) from None
    if len(rgb) != 3 or any(c < 0 or c > 255 for c in rgb):
        raise LabelTableError(f"{where}: colour must be three integers 0-255, got {colour!r}")
    return rgb  # type: ignore[return-value]


class LabelTable:
    """Ordered labels 1..n with unique values and names. Default: one label "spot", red."""

    def __init__(self, labels: list[Label] | None = None):
        self._labels: dict[int, Label] = {}
        if labels is None:
            labels = [Label(1, "spot", DEFAULT_COLOURS[0])]
        for label in labels:
            self._insert(label)

    # -- queries ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    def __iter__(self) -> Iterator[Label]:
        return iter(sorted(self._labels.values(), key=lambda lab: lab.value))

    def __contains__(self, value: object) -> bool:
        return value in self._labels

    def __getitem__(self, value: int) -> Label:
        try:
            return self._labels[value]
        except KeyError:
            raise LabelTableError(f"label {value}: no such label in the table") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelTable) and self.to_dict() == other.to_dict()

    @property
    def values(self) -> list[int]:
        return sorted(self._labels)

    @property
    def max_value(self) -> int:
        """The largest label value (0 for an empty table): a mask may hold 0..max_value."""
        return max(self._labels, default=0)

    @property
    def mask_dtype(self) -> np.dtype:
        """uint8 while every label fits in a byte, else uint16."""
        return np.dtype(np.uint8) if self.max_value <= 255 else np.dtype(np.uint16)

    def by_name(self, name: str) -> Label:
        for label in self._labels.values():
            if label.name == name:
                return label
        raise LabelTableError(f"label {name!r}: no such label in the table")

    # -- edits --------------------------------------------------------------------------------
    def _insert(self, label: Label) -> None:
        where = f"label {label.value}"
        if not isinstance(label.value, int | np.integer) or not 1 <= label.value <= MAX_LABEL:
            raise LabelTableError(f"{where}: value must be an integer 1..{MAX_LABEL}")
        if label.value in self._labels:
            raise LabelTableError(f"{where}: value used twice")
        name = str(label.name).strip()
        if not name:
            raise LabelTableError(f"{where}: name must not be empty")
        if any(other.name == name for other in self._labels.values()):
            raise LabelTableError(f"{where}: name {name!r} is already used by another label")
        self._labels[int(label.value)] = Label(
            int(label.value), name, _check_colour(label.colour, where)
        )

    def add(self, name: str, colour: Colour | None = None, value: int | None = None) -> Label:
        """Add a label; the value defaults to the next free one, the colour to the next default."""
        if value is None:
            value = self.max_value + 1
        if colour is None:
            colour = DEFAULT_COLOURS[(value - 1) % len(DEFAULT_COLOURS)]
        self._insert(Label(value, name, colour))
        return self._labels[value]

    def rename(self, value: int, name: str) -> None:
        label = self[value]
        name = str(name).strip()
        if not name:
            raise LabelTableError(f"label {value}: name must not be empty")
        if any(o.name == name and o.value != value for o in self._labels.values()):
            raise LabelTableError(f"label {value}: name {name!r} is already used by another label")
        label.name = name

    def recolour(self, value: int, colour: Colour) -> None:
        self[value].colour = _check_colour(colour, f"label {value}")

    def remove(self, value: int) -> None:
        """Drop a label from the table (the mask pixels holding it are the caller's business)."""
        self[value]
        del self._labels[value]

    def ensure(self, values: list[int] | np.ndarray) -> list[int]:
        """Add placeholder labels ("label N") for values not yet in the table; returns those added.

        Used when importing a mask with more labels than the table: the user is shown the extra
        values and may accept them this way.
        """
        added = []
        for v in sorted({int(v) for v in values} - {0} - set(self._labels)):
            name = f"label {v}"
            while any(o.name == name for o in self._labels.values()):
                name += "'"
            self.add(name, value=v)
            added.append(v)
        return added

    # -- rendering ----------------------------------------------------------------------------
    def lut(self, opacity: float = 0.5, size: int | None = None) -> np.ndarray:
        """RGBA lookup table (``size`` x 4 uint8): ``lut[mask]`` is the overlay of a mask region.

        Row 0 (background) is fully transparent. Rows without a label are transparent too, so a
        stray value never shows as a colour nobody chose. ``size`` defaults to 256 for uint8 masks
        and max_value + 1 otherwise.
        """
        if size is None:
            size = 256 if self.max_value <= 255 else self.max_value + 1
        alpha = int(round(255 * min(1.0, max(0.0, opacity))))
        table = np.zeros((size, 4), dtype=np.uint8)
        for label in self._labels.values():
            if label.value < size:
                table[label.value, :3] = label.colour
                table[label.value, 3] = alpha
        return table

    # -- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"labels": [label.to_dict() for label in self]}

    @classmethod
    def from_dict(cls, data: Any) -> LabelTable:
        """Build from :meth:`to_dict` output (e.g. loaded JSON); clear errors on bad fields."""
        if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
            raise LabelTableError("label table: expected an object with a 'labels' list")
        labels = []
        for i, item in enumerate(data["labels"]):
            if not isinstance(item, dict):
                raise LabelTableError(f"label table entry {i}: expected an object")
            missing = {"value", "name", "colour"} - set(item)
            if missing:
                raise LabelTableError(
                    f"label table entry {i}: missing {', '.join(sorted(missing))}"
                )
            value = item["value"]
            if isinstance(value, bool) or not isinstance(value, int):
                raise LabelTableError(f"label table entry {i}: value must be an integer")
            labels.append(Label(value, item["name"], _check_colour(item["colour"], f"entry {i}")))
        return cls(labels)
