"""Folder-per-class (the ImageFolder convention): ``root/<class>/<image>``, optionally with a
split level on top: ``root/train/<class>/<image>``, ``root/test/<class>/<image>``.

Import references the files where they are (never copies or changes them); export copies file
items byte for byte and writes container items (MNIST rows, ...) as PNG/TIFF.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import NewItem, Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.common import (
    SPLIT_DIRS,
    UNASSIGNED_DIR,
    ExportFolder,
    ExportReport,
    ImportReport,
    existing_paths,
    file_item,
    is_image,
    mask_bytes,
    project_metadata,
    put_image,
    quote_cell,
    read_item_mask,
    reject_if,
    run_export,
    safe_component,
    scan_image,
    split_dir,
)
from qbi_desktop.core.jobs import Job, Progress

UNLABELLED_DIR = "unlabelled"


def import_job(
    project: Project, sources: Sequence[str | Path], *, annotator: str | None = None, **_: Any
) -> Job[ImportReport]:
    """Import every image below ``root/<class>/`` (or ``root/<split>/<class>/``)."""
    if len(sources) != 1:
        raise UserFacingError("imagefolder import takes one folder")
    root = Path(sources[0])
    if not root.is_dir():
        raise UserFacingError(f"{root}: not a folder")
    report = ImportReport("imagefolder", str(root))
    top = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_layout = bool(top) and all(p.name in (*SPLIT_DIRS, UNASSIGNED_DIR) for p in top)
    entries: list[tuple[Path, str | None, str | None]] = []  # file, label, split
    stray = 0
    for split_folder in top if split_layout else [root]:
        split = split_folder.name if split_layout and split_folder.name in SPLIT_DIRS else None
        for class_dir in sorted(p for p in split_folder.iterdir() if p.is_dir()):
            if class_dir.name.startswith("."):
                continue
            label = None if class_dir.name == UNLABELLED_DIR else class_dir.name
            for path in sorted(class_dir.rglob("*")):
                if is_image(path):
                    entries.append((path, label, split))
                elif path.is_file():
                    stray += 1
        stray += sum(1 for p in split_folder.iterdir() if p.is_file())
    if stray:
        report.warnings.append(f"{stray} file(s) outside class folders or not images: ignored")
    if not entries:
        raise UserFacingError(f"{root}: no images found in class sub-folders")
    db = project.connect()
    try:
        known = existing_paths(project, db)
        problems: list[Problem] = []
        items: list[NewItem] = []
        for n, (path, label, split) in enumerate(entries):
            if project.store_path(path) in known:
                continue
            info = scan_image(path)
            if isinstance(info, str):
                problems.append(Problem(str(path), info))
                continue
            items.append(
                file_item(
                    path,
                    info,
                    label=label,
                    split=split,
                    annotator=annotator,
                    provenance={"source": "imagefolder", "imported_from": str(root)},
                )
            )
            if n % 200 == 0:
                yield Progress(n, len(entries), "reading images")
        reject_if(root, problems)
        skipped = len(entries) - len(items)
        if skipped:
            report.warnings.append(f"{skipped} image(s) already in the project: left as they are")
        yield Progress(len(entries), len(entries), "writing catalog")
        with project.transaction(db) as tx:
            report.ids = tx.add_items(items)
        report.added = len(items)
        return report
    finally:
        db.close()


def export_job(
    project: Project,
    out: str | Path,
    *,
    filters: Any = None,
    datapackage: bool = False,
    **_: Any,
) -> Job[ExportReport]:
    """Write ``out/<split>/<class>/<image>`` (no split level when no item has a split)."""

    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[None]:
        yield from write_tree(project, db, folder, rows, "")

    return run_export(project, "imagefolder", out, write, filters=filters, datapackage=datapackage)


def write_tree(
    project: Project, db: Any, folder: ExportFolder, rows: list[dict], prefix: str
) -> Job[dict[int, str]]:
    """Images into ``prefix<split>/<class>/``; item id -> relative path written."""
    with_splits = any(r["split"] for r in rows)
    written: dict[int, str] = {}
    for n, row in enumerate(rows):
        label = safe_component(row["label"]) if row["label"] is not None else UNLABELLED_DIR
        rel_dir = f"{split_dir(row['split'])}/{label}" if with_splits else label
        written[row["id"]] = put_image(folder, project, db, row, prefix + rel_dir)
        if n % 200 == 0:
            yield Progress(n, len(rows), "writing images")
    return written


def export_package_job(
    project: Project, out: str | Path, *, filters: Any = None, **_: Any
) -> Job[ExportReport]:
    """The whole dataset as a Frictionless Data Package: images in ``data/<split>/<class>/``,
    masks in ``masks/``, one row per item in ``items.csv`` (labels, splits, targets, boxes,
    review, provenance) and ``datapackage.json`` with checksums of every file."""
    import csv
    import io

    from qbi_desktop.core.formats.datapackage import write_datapackage

    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[None]:
        target_names = sorted({t for r in rows for t in r["targets"]})
        paths = yield from write_tree(project, db, folder, rows, "data/")
        masks: dict[int, str] = {}
        for row in rows:
            if row["mask"]:
                data, ext = mask_bytes(read_item_mask(project, row))
                rel = f"masks/{split_dir(row['split'])}/{Path(paths[row['id']]).stem}{ext}"
                masks[row["id"]] = folder.write_bytes(rel, data)
        fields = [
            ("id", "integer"),
            ("name", "string"),
            ("path", "string"),
            ("label", "string"),
            ("split", "string"),
            ("mask", "string"),
            ("boxes", "array"),
            ("review", "string"),
            ("notes", "string"),
            ("annotator", "string"),
            ("provenance_kind", "string"),
            ("provenance", "object"),
            ("metadata", "object"),
            ("content_hash", "string"),
        ] + [(f"target:{t}", "number") for t in target_names]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([f for f, _ in fields])
        for row in rows:
            boxes = [
                {"label": b[0], "x": b[1], "y": b[2], "w": b[3], "h": b[4], "annotator": b[5]}
                for b in row["boxes"]
            ]
            writer.writerow(
                [
                    row["id"],
                    quote_cell(row["name"]),
                    quote_cell(paths[row["id"]]),
                    quote_cell(row["label"] or ""),
                    row["split"] or "",
                    quote_cell(masks.get(row["id"], "")),
                    _boxes_json(boxes, row),
                    row["review"],
                    quote_cell(row["notes"]),
                    quote_cell(row["annotator"] or ""),
                    row["provenance_kind"],
                    row["provenance"],
                    row["metadata"],
                    row["hash"],
                ]
                + [_num(row["targets"].get(t)) for t in target_names]
            )
        folder.write_bytes("items.csv", buffer.getvalue().encode("utf-8"))
        schema = [{"name": f, "type": t} for f, t in fields]
        write_datapackage(folder, project_metadata(db), {"items.csv": schema})

    # write_datapackage is not an ExportFolder file: count datapackage.json here.
    report = yield from run_export(project, "datapackage", out, write, filters=filters)
    report.files += 1
    return report


def _boxes_json(boxes: list[dict], row: dict) -> str:
    """Strict JSON (never ``NaN``/``Infinity``, which no other reader accepts)."""
    try:
        return json.dumps(boxes, allow_nan=False)
    except ValueError:
        raise UserFacingError(
            f"item {row['id']} ({row['name']}): a box has a NaN or infinite coordinate; "
            "fix or delete it before exporting"
        ) from None


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))
