"""The NPZ export (Keras style: ``x_<split>``/``y_<split>``; its import is in arrays.py).

``y`` of class labels is the class index and ``class_names[y]`` its name: when every class is
named by a whole number ("0".."9", MNIST's digits) and the project gives them no other order,
the index is that number, as in the MNIST export and Keras' own digit sets (``class_names``
then covers 0..max, a number no item has included); otherwise the position in the project's
class order (``classes --order``; classes without items keep their place). An item without a
class gets
``y = -1`` (scikit-learn's semi-supervised "unlabelled"; our import reads it back as no
class). Regression targets (when no item has a class): float ``y``, NaN where an item has no
value, and what they are (unit, range, decimals) in the member ``target_definitions`` (JSON
text, see :mod:`.target_defs`), which our import reads back. The member ``y_note`` and the
export report say which of these the file holds.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.formats import target_defs
from qbi_desktop.core.formats.array_export import groups_of, stack
from qbi_desktop.core.formats.arrays import MAX_IDX_LABEL, NO_CLASS
from qbi_desktop.core.formats.common import ExportFolder, ExportReport, not_kept, run_export
from qbi_desktop.core.formats.selection import class_order
from qbi_desktop.core.jobs import Job, Progress

#: The member of an NPZ export that says how ``y`` is to be read (one line of text).
NOTE_MEMBER = "y_note"


def class_indices(
    labels: set[str], order: list[str] | None = None
) -> tuple[list[str], dict[str, int], bool]:
    """``class_names`` and the class index of each label: when every label is a whole number
    0..MAX_IDX_LABEL written as such ("0".."9", MNIST's digits) and ``order`` (the project's
    class order) puts them in numeric order, the index is that number and ``class_names``
    covers 0..max (a digit nobody has still has its place); otherwise the position in
    ``order`` (labels it lacks follow, sorted). The bool says which."""
    order = list(dict.fromkeys(order or []))
    names = order + sorted(c for c in labels if c not in order)

    def whole(c: str) -> bool:
        return c.isascii() and c.isdigit() and str(int(c)) == c

    if names and all(whole(c) for c in names) and order == sorted(order, key=int):
        top = max(int(c) for c in names)
        if top <= MAX_IDX_LABEL:
            return [str(i) for i in range(top + 1)], {c: int(c) for c in names}, True
    return names, {c: i for i, c in enumerate(names)}, False


def export_npz_job(
    project: Project, out: str | Path, *, filters: Any = None, datapackage: bool = False, **_: Any
) -> Job[ExportReport]:
    """``dataset.npz`` with ``x_<split>``/``y_<split>`` (+ ``class_names`` or ``target_names``,
    and ``y_note``, a line saying how ``y`` reads). Class labels: ``y`` is the class index,
    ``class_names[y]`` its name; classes named by whole numbers get their number as index (as
    the MNIST export and Keras' digit sets do); an item without a class gets ``y = -1``
    (:data:`NO_CLASS`)."""

    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[list[str]]:
        labels = {r["label"] for r in rows if r["label"] is not None}
        order = class_order(project, labels) if labels else []
        class_names, lookup, numeric = class_indices(labels, order)
        target_names = sorted({t for r in rows for t in r["targets"]})
        arrays: dict[str, np.ndarray] = {}
        groups = groups_of(rows)
        for n, (split, group) in enumerate(groups.items()):
            yield Progress(n, len(groups), f"stacking {split or 'all'}")
            suffix = f"_{split}" if split else ""
            arrays["x" + suffix] = stack(project, db, group, "NPZ", split, groups)
            if labels:
                arrays["y" + suffix] = np.asarray(
                    [lookup.get(r["label"], NO_CLASS) for r in group], dtype=np.int64
                )
            elif target_names:
                values = np.asarray(
                    [[r["targets"].get(t, np.nan) for t in target_names] for r in group]
                )
                arrays["y" + suffix] = values[:, 0] if len(target_names) == 1 else values
        notes = []
        if labels:
            arrays["class_names"] = np.asarray(class_names, dtype=str)
            if numeric:
                meaning = "y is the class number (class_names[y] is its name)"
            else:
                shown = ", ".join(f"{i}={c}" for i, c in enumerate(class_names[:10]))
                more = f", ... ({len(class_names)} classes)" if len(class_names) > 10 else ""
                meaning = (
                    f"y is the position in class_names (the project's class order): {shown}{more}"
                )
            unlabelled = sum(1 for r in rows if r["label"] is None)
            if unlabelled:
                meaning += (
                    f"; y = {NO_CLASS}: no class ({unlabelled} item(s); scikit-learn's "
                    "semi-supervised convention: leave them out before one-hot encoding, "
                    "QBI's NPZ import reads them as unlabelled)"
                )
            notes.append(meaning)
        elif target_names:
            arrays["target_names"] = np.asarray(target_names, dtype=str)
            # what the targets are (unit, range, decimals): JSON that numpy.load reads as text
            defs = target_defs.exported(db, target_names)
            if defs:
                arrays[target_defs.NPZ_MEMBER] = target_defs.npz_member(defs)
                notes.append(
                    f"y columns: {target_defs.units_text(target_names, defs)} (definitions: "
                    f"json.loads(str(npz[{target_defs.NPZ_MEMBER!r}])))"
                )
            missing = sum(1 for r in rows for t in target_names if t not in r["targets"])
            if missing:
                notes.append(
                    f"y is NaN where an item has no value of a target ({missing} value(s))"
                )
        if notes:
            arrays[NOTE_MEMBER] = np.asarray("; ".join(notes), dtype=str)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        folder.write_bytes("dataset.npz", buffer.getvalue())
        # y holds the class labels, or the targets when no item has a label
        kept = {"labels", "splits"} | (set() if labels else {"targets"})
        return [f"dataset.npz: {note}" for note in notes] + not_kept(rows, "npz", kept)

    return run_export(project, "npz", out, write, filters=filters, datapackage=datapackage)
