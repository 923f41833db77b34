"""Resuming a whole-scan run: which outputs already in the folder are this run's own work.

Outputs are named by the frame's stem, so a folder can hold a file of the right name made from
something else: ``a/x.tif`` cleaned there last week and ``b/x.tif`` now, or frame 3 of
``/entry/data/data`` and frame 3 of ``/entry/instrument/detector/dark`` of one NeXus file. Taking
such a file as done would leave the new input uncleaned and say it was; overwriting it would
destroy the earlier work. Each output records its source and the run's request in its
provenance (:func:`record`); an existing output is done only when both match
(:func:`is_done`), and refused, naming both, when they don't.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.radiography.frames import Frame


def source_of(frame: Frame) -> dict[str, Any]:
    """Where a frame's pixels come from: the file's real path, and the dataset and slice."""
    return {
        "path": os.path.realpath(frame.path),
        "dataset": frame.dataset,
        "frame": frame.index,
    }


def request_of(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """What the run was asked to do, as it reads back from JSON."""
    return json.loads(json.dumps({"method": method, "parameters": params}, default=str))


def record(frame: Frame, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """The provenance entries that let a later run recognise this output."""
    return {"source": source_of(frame), "request": request_of(method, params)}


def is_done(
    frame: Frame,
    main: Path,
    method: str,
    params: dict[str, Any],
    provenance: dict[str, Any] | None,
) -> bool:
    """For outputs that exist: True when the ``provenance`` of the ``main`` one says it was made
    from ``frame`` with this request; an output made from another source or with another request
    is refused."""
    if provenance is None:
        raise UserFacingError(
            f"{main}: is in the output folder but was not written by this command (no record of "
            f"its source); {frame.describe()} would overwrite it: choose another output folder"
        )
    source = provenance.get("source")
    if source is None:  # an output of a version that recorded the input as text only
        mine = {frame.describe()}
        if frame.index is None:
            mine |= {str(frame.path), os.path.realpath(frame.path)}
        if str(provenance.get("input")) in mine:
            return True  # it recorded no request either: taken as done, as it was then
        raise UserFacingError(
            f"{main}: holds the result of {provenance.get('input')!s}, not of "
            f"{frame.describe()}; choose another output folder"
        )
    if source != source_of(frame):
        made_from = Frame(
            Path(str(source.get("path"))), source.get("frame"), source.get("dataset")
        ).describe()
        raise UserFacingError(
            f"{main}: holds the result of {made_from}, not of {frame.describe()} (both are "
            "named alike); choose another output folder"
        )
    asked = request_of(method, params)
    if provenance.get("request") != asked:
        before = provenance.get("request") or {}
        raise UserFacingError(
            f"{main}: was made with method {before.get('method')!s} and parameters "
            f"{before.get('parameters')!s}; this run asks for {method} and "
            f"{asked['parameters']}. Choose another output folder, or remove the old outputs "
            "to redo them"
        )
    return True
