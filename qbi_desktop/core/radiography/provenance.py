"""TIFF outputs that say where they came from: the references and parameters as JSON in the
ImageDescription tag, written atomically (a reader never sees half a file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop import __version__
from qbi_desktop.core.atomic import atomic_write_with

#: key of the provenance record inside the ImageDescription JSON
KEY = "qbi_desktop"


def write_tiff(path: str | Path, array: np.ndarray, provenance: dict[str, Any]) -> Path:
    """Write ``array`` as a TIFF at ``path`` (atomically) with ``provenance`` in its
    ImageDescription as ``{"qbi_desktop": {...}}``; the array's dtype is kept."""
    import tifffile

    path = Path(path)
    record = {KEY: {"version": __version__, **provenance}}
    text = json.dumps(record, default=str)

    def writer(stream) -> None:
        # metadata=None: tifffile writes our description as it is (no shaped-JSON of its own)
        tifffile.imwrite(stream, np.ascontiguousarray(array), description=text, metadata=None)

    atomic_write_with(path, writer)
    return path


def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance record of a TIFF written by :func:`write_tiff`, or None."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            text = tif.pages[0].description
    except Exception:  # noqa: BLE001 - not ours or not readable: no record
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value.get(KEY) if isinstance(value, dict) else None
