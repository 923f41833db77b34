"""The "ignore" region of a label mask: pixels a loss or a metric must skip (unsure, occluded,
crowds), a notion every segmentation convention has under its own name: labelme's label
``__ignore__``, the value 255 of PASCAL VOC masks, COCO's ``iscrowd: 1``.

A project keeps it as one mask value, named in its metadata: ``mask_ignore`` (the value) and
``mask_classes[str(value)] = "__ignore__"`` (so every reader of the class table sees the name).
Importers that meet an ignore region call :func:`ignore_value` for the value to paint; class
values they hand out skip it (:func:`next_class_value`); exporters write the value back in
their format's own way.
"""

from __future__ import annotations

import json
import sqlite3

#: labelme's (and labelme2voc's) name of the ignore label
IGNORE_NAME = "__ignore__"
#: PASCAL VOC's ignore value in its 8-bit masks
VOC_IGNORE = 255
#: the ignore value when 255 is taken by a class (or the masks are instance masks)
WIDE_IGNORE = 65535
#: PASCAL VOC's colour for index 255 (its colour map's last entry): a palette mask with this
#: colour at 255 follows VOC, and 255 there means "ignore"
VOC_IGNORE_COLOUR = (224, 224, 192)


def mask_ignore(db: sqlite3.Connection) -> int | None:
    """The project's ignore value, or None when its masks have no ignore region."""
    row = db.execute("SELECT value FROM meta WHERE key = 'mask_ignore'").fetchone()
    value = json.loads(row[0]) if row else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ignore_value(current: int | None, classes: dict[str, int], instances: bool) -> int:
    """The value an ignore region is painted with: the project's (``current``), else 255 for
    class masks when no class holds it, else 65535."""
    if current is not None:
        return current
    taken = {v for name, v in classes.items() if name != IGNORE_NAME}
    return VOC_IGNORE if not instances and VOC_IGNORE not in taken else WIDE_IGNORE


def next_class_value(classes: dict[str, int], ignore: int | None) -> int:
    """The value a new class gets: one past the largest class value, never the ignore value
    (a class after 254 with 255 as ignore gets 256)."""
    values = [v for v in classes.values() if v != ignore]
    value = max(values, default=0) + 1
    return value + 1 if value == ignore else value
