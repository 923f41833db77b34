"""What goes into a project: the records an import or the app hands to the catalog (a new item,
a box), the dataset-level metadata fields and their types, and the checks of choice values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.errors import UserFacingError

#: Dataset-level metadata for FAIR reuse, with the type each value must have.
METADATA_FIELDS: dict[str, type | tuple[type, ...]] = {
    "title": str,
    "description": str,
    "creators": list,  # [{"name": ..., "email": ..., "orcid": ...}] or ["Name", ...]
    "license": str,  # SPDX identifier, e.g. "CC-BY-4.0"
    "keywords": list,
    "instrument": str,
    "modality": str,  # e.g. "neutron radiography"
    "pixel_size": (int, float),
    "pixel_unit": str,  # e.g. "um"
    "acquisition_dates": list,  # ISO dates or {"start": ..., "end": ...}
    "version": str,
    "mask_classes": dict,  # {"1": "spot"}: what each mask value means (class masks)
    # "object": masks are instance masks, each non-zero value one object of this class
    "mask_instances": str,
    # the mask value of "ignore" regions (labelme __ignore__, VOC 255): see formats.ignore
    "mask_ignore": int,
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)  # slots: an import holds one per annotation (millions)
class Box:
    """A labelled rectangle in pixel coordinates: top-left (x, y), width w, height h."""

    label: str
    x: float
    y: float
    w: float
    h: float
    annotator: str | None = None


@dataclass
class NewItem:
    """One item to add. Give ``path`` (an image file) or ``container`` + ``index``."""

    name: str
    hash: str
    path: str | Path | None = None
    container: int | None = None
    index: int | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    label: str | None = None
    split: str | None = None
    annotator: str | None = None
    provenance_kind: str = "acquired"
    provenance: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)
    mask: np.ndarray | None = None
    boxes: list[Box] = field(default_factory=list)


def _check_choice(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise UserFacingError(f"{what} {value!r} is not one of {', '.join(allowed)}")
