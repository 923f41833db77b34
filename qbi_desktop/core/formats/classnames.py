"""One class name, one mask value: how an import's mask classes join the project's.

A file brings its own numbering (COCO category ids, a Data Package's ``mask_classes``), the
project has its own (labelme gave "car" the value 2). Joined by value, the project would hold
"car" twice (2 and 7) and a COCO export would list two categories "car"; joined by name, the
file's masks are renumbered to the project's values before they are written, and the import
report says which values moved.

Every importer checks the class names a file brings with :func:`class_name_problem` (COCO
category names, YOLO class lists, NPZ ``class_names`` and string labels, box labels of a Data
Package): a name is refused if it is empty or only spaces, holds a control character (NUL, tab,
line breaks, escape sequences: shown blank or acted on by a terminal) or a line/paragraph
separator, or is longer than ``MAX_CLASS_NAME`` (200) characters, the limit the class rename
in the GUI and on the command line (``classes``) keeps.

The catalog stores every class name in Unicode's composed form (NFC, ``catalog.classes.nfc``):
"café" typed on a Mac or read from a macOS folder name is decomposed (NFD, "e" + combining
accent), looks the same and would be another class. Every import that brings class names
collects them with one :class:`StoredNames` and puts its :meth:`StoredNames.note` in its
report, naming each name as written and as stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.classes import MAX_CLASS_NAME, class_name_problem, nfc  # noqa: F401

#: names shown in one note at most (the rest are counted)
SHOWN_NAMES = 5


class StoredNames:
    """An import's class names as the catalog stores them: ``names(label)`` gives ``label`` in
    NFC (anything not text as it is) and remembers each name it changed; :meth:`see` takes
    names that go in as they are (the catalog's writes make them NFC); :meth:`note` is the
    import report's note. One note wording for every import."""

    def __init__(self) -> None:
        self.changed: dict[str, str] = {}

    def __call__(self, name: Any) -> Any:
        out = nfc(name)
        if isinstance(name, str) and out != name:
            self.changed.setdefault(name, out)
        return out

    def see(self, names: Iterable[Any]) -> None:
        """Remember the names of ``names`` (None and repeats allowed) that are stored otherwise."""
        for name in names:
            self(name)

    def note(self, where: str | None = None) -> str | None:
        """The report's note (``where``: the file, put in front), or None when every name
        is stored as written."""
        if not self.changed:
            return None
        pairs = list(self.changed.items())
        shown = ", ".join(
            f"{ascii(old)} as written, {new!r} as stored ({len(old)} -> {len(new)} code points)"
            for old, new in pairs[:SHOWN_NAMES]
        )
        more = f" and {len(pairs) - SHOWN_NAMES} more" if len(pairs) > SHOWN_NAMES else ""
        spaced = any(old.strip() != old for old, _ in pairs)
        how = (
            "stored without their surrounding spaces (and composed, NFC)"
            if spaced
            else "written in decomposed Unicode (NFD, as macOS disks deliver folder names) "
            "stored composed (NFC)"
        )
        text = f"{len(pairs)} class name(s) {how}, so each is the class it looks like: "
        text += f"{shown}{more}"
        return f"{where}: {text}" if where else text


@dataclass
class ClassMerge:
    """The project's mask classes after an import (value as text -> name), the file's values
    that move (file value -> project value) and the notes for the import report."""

    classes: dict[str, str]
    renumber: dict[int, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def value(self, file_value: int) -> int:
        """The project's value for a value of the file."""
        return self.renumber.get(file_value, file_value)

    def apply(self, mask: Any) -> Any:
        """``mask`` with the file's values renumbered (all at once: 7->2 and 2->8 do not chain);
        a mask with nothing to move is given back as it is (a PackedMask stays packed)."""
        if not self.renumber or mask is None:
            return mask
        from qbi_desktop.core.formats.packed import PackedMask

        packed = isinstance(mask, PackedMask)
        array = np.asarray(mask)
        present = {int(v) for v in np.unique(array)} & set(self.renumber)
        if not present:
            return mask
        widest = max(self.renumber[v] for v in present)
        out = array.astype(np.promote_types(array.dtype, np.min_scalar_type(widest)))
        for old in present:
            out[array == old] = self.renumber[old]
        return PackedMask(out) if packed else out


def merge_classes(have: dict[str, str], new: dict[str, str], where: str = "the file") -> ClassMerge:
    """Join the file's classes ``new`` (value as text -> name) to the project's ``have``
    (the file's names in NFC, the form the catalog stores class names in).

    A name the project has keeps the project's value (the lowest, if an older project holds
    it twice); a new name keeps the file's value unless the project uses that value for
    another class, then it takes the next free value. Two values of the file with one name
    become one value.
    """
    have, new = _values(have), {k: nfc(v) for k, v in _values(new).items()}
    by_name: dict[str, int] = {}
    for key, name in sorted(have.items(), key=lambda kv: int(kv[0])):
        by_name.setdefault(name, int(key))
    taken = {int(k) for k in have}
    # the file's values that keep their number, so a fresh value never lands on one of them
    keep = {int(k) for k, name in new.items() if name not in by_name and int(k) not in taken}
    used = taken | keep | {int(k) for k in new}
    merged = dict(have)
    renumber: dict[int, int] = {}
    notes: list[str] = []
    for key, name in sorted(new.items(), key=lambda kv: int(kv[0])):
        value = int(key)
        if name in by_name:
            target = by_name[name]
        elif value in taken:
            target = max(used | {0}) + 1
            used.add(target)
        else:
            target = value
        by_name.setdefault(name, target)
        taken.add(target)
        merged[str(target)] = name
        if target != value:
            renumber[value] = target
    for value, target in sorted(renumber.items()):
        name = merged[str(target)]
        why = (
            f"the project's value of {name!r}"
            if str(target) in have
            else f"value {value} is {have[str(value)]!r} in the project"
            if str(value) in have
            else f"one value per class name {name!r}"
        )
        notes.append(f"{where}: class {name!r} mask value {value} renumbered to {target} ({why})")
    return ClassMerge(merged, renumber, notes)


def _values(classes: dict[str, str]) -> dict[str, str]:
    """Only entries whose key is one label value (``"1..m"`` of old catalogs names none)."""
    return {str(k): str(v) for k, v in classes.items() if str(k).strip().isdigit()}
