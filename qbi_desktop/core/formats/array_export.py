"""Exports into arrays (the MNIST IDX export here, the NPZ export in :mod:`.npz_export`): the
items of each split stacked into one array, which needs one size and pixel type per split.

When a split mixes sizes or types, or an MNIST export meets an item whose class is no number
0-255, the refusal names the split, each size and type with its count and a few items, the
classes and items that break the rule, and what avoids it (choosing splits, ``--split``;
leaving out the items without a class; the NPZ export, which keeps class names).
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.arrays import MNIST_PREFIX
from qbi_desktop.core.formats.common import (
    ExportFolder,
    ExportReport,
    item_pixels,
    item_shape,
    not_kept,
    run_export,
)
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.jobs import Job, Progress


def _item(row: dict[str, Any]) -> str:
    return f"{row['id']} ({row['name']})"


def _items(rows: list[dict[str, Any]], limit: int = 3) -> str:
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(_item(r) for r in rows[:limit]) + more


def _split_name(split: str | None) -> str:
    return f"split {split!r}" if split else "split 'unassigned' (items without a split)"


def _kind(shape: tuple[int, ...], dtype: str) -> str:
    return f"{' x '.join(str(n) for n in shape)} {np.dtype(dtype).name}"


def stack(
    project: Project,
    db: Any,
    rows: list[dict],
    what: str,
    split: str | None = None,
    groups: dict[str | None, list[dict]] | None = None,
) -> np.ndarray:
    """The pixels of ``rows`` (the items of ``split``) as one array; the export ``what`` is
    refused, naming the sizes and types with their items, when they differ. ``groups`` (every
    split's rows) lets the message name the splits whose images are of one size."""
    arrays = [item_pixels(project, db, r) for r in rows]
    for row, array in zip(rows, arrays, strict=True):
        if array.ndim < 2 or 0 in array.shape[:2]:
            raise UserFacingError(
                f"{what} export: item {_item(row)} is an image of "
                f"{' x '.join(str(n) for n in array.shape)} pixels (a zero height or width); "
                "remove it from the project or leave it out of the export"
            )
    kinds: dict[tuple, list[dict]] = {}
    for row, array in zip(rows, arrays, strict=True):
        kinds.setdefault((array.shape, array.dtype.str), []).append(row)
    if len(kinds) > 1:
        raise UserFacingError(_mixed(kinds, what, split, groups or {}))
    return np.stack(arrays)


def _mixed(
    kinds: dict[tuple, list[dict]],
    what: str,
    split: str | None,
    groups: dict[str | None, list[dict]],
) -> Named:
    ordered = sorted(kinds.items(), key=lambda kv: -len(kv[1]))
    shown = "; ".join(
        f"{_kind(shape, dtype)}: {len(rows)} item(s) ({_items(rows)})"
        for (shape, dtype), rows in ordered[:5]
    )
    more = f"; and {len(ordered) - 5} more sizes" if len(ordered) > 5 else ""
    # the splits whose items the catalog records as of one size (the type is not recorded)
    order = ["train", "val", "test"]
    uniform = [
        s or "unassigned"
        for s, rows in sorted(groups.items(), key=lambda kv: (order + [kv[0]]).index(kv[0]))
        if s != split and len({(r.get("width"), r.get("height")) for r in rows}) == 1
    ]
    hint = (
        f"; the splits {', '.join(repr(s) for s in uniform)} hold images of one size"
        if uniform
        else ""
    )
    return Named(
        f"{what} export needs images of one size and type in each split; "
        f"{Named.escape(_split_name(split))} holds {len(kinds)} sizes/types: "
        f"{Named.escape(shown + more)}. Export only the splits whose images agree "
        f"({{option}}){Named.escape(hint)}, or leave out the items of the other sizes",
        option="--split",
    )


def groups_of(rows: list[dict]) -> dict[str | None, list[dict]]:
    """The rows by split (None: no split), in the order they first occur."""
    groups: dict[str | None, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["split"], []).append(r)
    return groups


def mnist_label_problem(rows: list[dict]) -> Named | None:
    """Why the items cannot be written as MNIST labels (each an integer class 0-255), naming
    the items without a class and the classes that are not such numbers, or None."""
    missing = [r for r in rows if r["label"] is None]
    bad: dict[str, list[dict]] = {}
    for r in rows:
        label = r["label"]
        if label is None:
            continue
        try:
            ok = 0 <= int(label) <= 255
        except ValueError:
            ok = False
        if not ok:
            bad.setdefault(label, []).append(r)
    if not missing and not bad:
        return None
    parts, fields = [], {}
    if missing:
        parts.append(
            f"{len(missing)} item(s) have no class ({Named.escape(_items(missing))}; leave "
            "them out with {option})"
        )
        fields["option"] = "--leave-out-unlabelled"
    if bad:
        counts = Counter({label: len(rs) for label, rs in bad.items()})
        named = "; ".join(
            f"class {label!r}: {n} item(s), e.g. {_items(bad[label], 2)}"
            for label, n in counts.most_common(5)
        )
        more = f"; and {len(bad) - 5} more classes" if len(bad) > 5 else ""
        parts.append(
            f"{len(bad)} class(es) are not whole numbers 0-255 ({Named.escape(named + more)}; "
            "rename them, or export {npz}, which keeps class names)"
        )
        fields["npz"] = "npz"
    return Named(
        "MNIST export needs an integer class label 0-255 on every item: " + "; ".join(parts),
        **fields,
    )


def export_mnist_job(
    project: Project, out: str | Path, *, filters: Any = None, datapackage: bool = False, **_: Any
) -> Job[ExportReport]:
    """``<prefix>-images-idx3-ubyte.gz`` + labels per split (train, t10k, val)."""

    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[list[str]]:
        problem = mnist_label_problem(rows)
        if problem is not None:
            raise UserFacingError(problem)
        groups = groups_of(rows)
        for n, (split, group) in enumerate(groups.items()):
            yield Progress(n, len(groups), f"writing {split or 'unassigned'}")
            images = stack(project, db, group, "MNIST", split, groups)
            if images.dtype != np.uint8:
                shape = item_shape(project, db, group[0])
                raise UserFacingError(
                    Named(
                        "MNIST export needs 8-bit (uint8) images; "
                        + Named.escape(
                            f"{_split_name(split)} holds {_kind(shape, images.dtype.str)} "
                            f"images ({_items(group)})"
                        )
                        + ": export them as {npz}, which keeps any pixel type",
                        npz="npz",
                    )
                )
            labels = np.asarray([int(r["label"]) for r in group])
            prefix = MNIST_PREFIX[split]
            folder.write_bytes(f"{prefix}-images-idx3-ubyte.gz", _idx_bytes(images))
            folder.write_bytes(
                f"{prefix}-labels-idx1-ubyte.gz", _idx_bytes(labels.astype(np.uint8))
            )
        return not_kept(rows, "mnist", {"labels", "splits"})

    return run_export(project, "mnist", out, write, filters=filters, datapackage=datapackage)


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return gzip.compress(header + np.ascontiguousarray(array).tobytes(), compresslevel=6)
