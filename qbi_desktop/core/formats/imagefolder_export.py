"""The folder-per-class exports: ImageFolder (``out/<split>/<class>/<image>``) and the Data
Package (the same tree under ``data/``, plus ``masks/``, ``items.csv`` and
``datapackage.json``); their import is :mod:`.imagefolder` and :mod:`.datapackage_import`.

Laid out so that torchvision's ``ImageFolder`` (and Keras' ``image_dataset_from_directory``)
number the classes alike in every split:

- every split folder holds a folder for every class, empty ones included (torchvision then
  needs ``ImageFolder(root, allow_empty=True)``; the report names the empty ones);
- items without a class go to ``unlabelled/[<split>/]`` beside the split folders, never inside
  one, where a class-folder reader would take ``unlabelled`` for one more class; when no item
  has a split but some have no class, the classes go into ``unassigned/<class>/`` so that
  ``unlabelled/`` is outside them too;
- ``classes.txt`` lists the classes in the project's order (``classes --order``) and
  ``class_to_idx.json`` the index torchvision gives each class folder (sorted folder names):
  the report says when the two orders differ.

Item files are copied byte for byte (values are never rescaled): the report says which are
16-bit or floating point, which PIL-based loaders convert to 8-bit, and which are multi-page
TIFFs, copied whole (see :mod:`.reader_notes`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.common import (
    SPLIT_DIRS,
    UNASSIGNED_DIR,
    ExportFolder,
    ExportReport,
    mask_bytes,
    not_kept,
    project_metadata,
    put_image,
    quote_cell,
    read_item_mask,
    run_export,
    split_dir,
)
from qbi_desktop.core.formats.imagefolder import (
    IMG_EXTENSIONS,
    MAX_NAME_BYTES,
    UNLABELLED_DIR,
    encode_label,
)
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.formats.reader_notes import STACK_COPIED, ImageKinds
from qbi_desktop.core.formats.selection import class_order
from qbi_desktop.core.jobs import Job, Progress

#: The class list files the export writes beside the split (or class) folders.
CLASSES_FILE = "classes.txt"
CLASS_INDEX_FILE = "class_to_idx.json"
#: What the notes call the reader the folder layout is for.
READER = "torchvision's ImageFolder and Keras' image_dataset_from_directory"


def export_job(
    project: Project,
    out: str | Path,
    *,
    filters: Any = None,
    datapackage: bool = False,
    **_: Any,
) -> Job[ExportReport]:
    """Write ``out/<split>/<class>/<image>`` (no split level when no item has a split and every
    item has a class), ``unlabelled/``, ``classes.txt`` and ``class_to_idx.json``."""

    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[list[str]]:
        _paths, notes = yield from write_tree(project, db, folder, rows, "")
        notes = label_notes(rows) + notes
        notes += not_kept(rows, "imagefolder", {"labels", "splits"})
        others = sorted(
            {
                Path(r["path"]).suffix.lower()
                for r in rows
                if r["path"] and not r["path"].lower().endswith(IMG_EXTENSIONS)
            }
        )
        if others:
            notes.append(
                f"item files of kinds torchvision's ImageFolder skips ({', '.join(others)}) "
                "copied as they are"
            )
        return notes

    return run_export(project, "imagefolder", out, write, filters=filters, datapackage=datapackage)


def _split_key(name: str) -> tuple[int, str]:
    order = [*SPLIT_DIRS, UNASSIGNED_DIR]
    return (order.index(name) if name in order else len(order), name)


def write_tree(
    project: Project, db: Any, folder: ExportFolder, rows: list[dict], prefix: str
) -> Job[tuple[dict[int, str], list[str]]]:
    """Images into ``prefix<split>/<class>/`` (every class folder in every split) and
    ``prefix unlabelled/[<split>/]``, with ``classes.txt`` and ``class_to_idx.json``; item id
    -> relative path written, and the report's notes."""
    labelled = [r for r in rows if r["label"]]
    unlabelled = [r for r in rows if not r["label"]]
    with_splits = any(r["split"] for r in rows)
    split_level = with_splits or bool(labelled and unlabelled)
    classes = class_order(project, {r["label"] for r in labelled}) if labelled else []
    for label in classes:
        if len(encode_label(label).encode()) > MAX_NAME_BYTES:
            item = next((r for r in labelled if r["label"] == label), None)
            whose = f"item {item['id']} ({item['name']}) has" if item else "the project has"
            raise UserFacingError(
                f"{folder.out}: export refused, nothing was written: {whose} the label "
                f"{label[:40]!r}..., longer than the {MAX_NAME_BYTES} bytes a folder name may "
                "have; shorten the label"
            )
    splits = sorted({split_dir(r["split"]) for r in labelled}, key=_split_key)
    tops = [f"{prefix}{s}/" for s in splits] if split_level else [prefix]
    made: dict[tuple[str, str], str] = {}  # (split folder, class) -> folder written
    for top in tops if labelled else []:
        for label in classes:
            made[(top, label)] = folder.make_dir(top + encode_label(label))
    written: dict[int, str] = {}
    kinds = ImageKinds(project, db)
    for n, row in enumerate(rows):
        if row["label"]:
            top = f"{prefix}{split_dir(row['split'])}/" if split_level else prefix
            rel_dir = top + encode_label(row["label"])  # the folder made: made[(top, label)]
        else:
            rel_dir = f"{prefix}{UNLABELLED_DIR}" + (
                f"/{split_dir(row['split'])}" if with_splits else ""
            )
        written[row["id"]] = put_image(folder, project, db, row, rel_dir)
        kinds.see(row, written[row["id"]])
        if n % 200 == 0:
            yield Progress(n, len(rows), "writing images")
    notes = []
    if labelled:
        notes += _class_files(folder, prefix, tops, classes, made)
        notes += _empty_notes(labelled, tops, classes, made, prefix, split_level)
    notes += unlabelled_notes(rows, prefix, with_splits)
    notes += kinds.notes(READER, STACK_COPIED)
    return written, notes


def _class_files(
    folder: ExportFolder,
    prefix: str,
    tops: list[str],
    classes: list[str],
    made: dict[tuple[str, str], str],
) -> list[str]:
    """Write ``classes.txt`` (project order) and ``class_to_idx.json`` (torchvision's index of
    each class folder: sorted names); the note saying where they are and if they differ."""
    names = {label: made[(tops[0], label)].rsplit("/", 1)[-1] for label in classes}
    index = {name: i for i, name in enumerate(sorted(names.values()))}
    folder.write_bytes(prefix + CLASSES_FILE, "".join(f"{c}\n" for c in classes).encode())
    folder.write_json(prefix + CLASS_INDEX_FILE, index)
    where = f"{prefix}{CLASSES_FILE} and {prefix}{CLASS_INDEX_FILE}"
    project_order = [names[c] for c in classes]
    if project_order == sorted(project_order):
        return [
            f"{len(classes)} class(es) listed in {where} (the project's order is torchvision's "
            "sorted order of the class folders)"
        ]
    shown = ", ".join(f"{c!r}={index[names[c]]}" for c in classes[:10])
    more = f", ... ({len(classes)} classes)" if len(classes) > 10 else ""
    return [
        f"torchvision's ImageFolder numbers the classes by sorted folder name ({shown}{more}; "
        f"{prefix}{CLASS_INDEX_FILE}), not in the project's class order ({prefix}{CLASSES_FILE}"
        "): to train with the project's order, map each target through both files"
    ]


def _empty_notes(
    labelled: list[dict],
    tops: list[str],
    classes: list[str],
    made: dict[tuple[str, str], str],
    prefix: str,
    split_level: bool,
) -> list[str]:
    """The note naming the class folders written empty (a split without items of a class)."""
    have = {
        (f"{prefix}{split_dir(r['split'])}/" if split_level else prefix, r["label"])
        for r in labelled
    }
    empty = [made[(top, c)] for top in tops for c in classes if (top, c) not in have]
    if not empty:
        return []
    shown = ", ".join(f"{e}/" for e in empty[:8])
    more = f" and {len(empty) - 8} more" if len(empty) > 8 else ""
    return [
        f"{len(empty)} class folder(s) are empty, written so that every split holds every class "
        f"and torchvision gives each class the same index in every split: {shown}{more}; "
        "torchvision's ImageFolder refuses an empty class folder unless it is opened with "
        "ImageFolder(root, allow_empty=True)"
    ]


def label_notes(rows: list[dict]) -> list[str]:
    """The export report's note of the labels written percent-encoded."""
    changed = sorted(
        {r["label"] for r in rows if r["label"] and encode_label(r["label"]) != r["label"]}
    )
    if not changed:
        return []
    shown = ", ".join(f"{label!r} -> {encode_label(label)!r}" for label in changed[:5])
    more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
    return [
        f"{len(changed)} label(s) a file system cannot hold as folder names are "
        f"percent-encoded: {shown}{more} (urllib.parse.unquote gives them back; QBI's "
        "imagefolder import decodes them)"
    ]


def unlabelled_notes(rows: list[dict], prefix: str, with_splits: bool) -> list[str]:
    """The export report's note of the items without a class, in ``unlabelled/`` beside the
    split (or class) folders."""
    count = sum(1 for r in rows if not r["label"])
    if not count:
        return []
    where = f"{prefix}{UNLABELLED_DIR}/" + ("<split>/" if with_splits else "")
    if len(rows) == count:
        return [
            Named(
                f"{count} item(s) without a class (every item) are in {Named.escape(where)}: "
                "a class-folder reader opening the export's folder takes "
                f"'{UNLABELLED_DIR}' for a class (QBI's {{kind}} import reads them back "
                "without a class)",
                kind="imagefolder",
            )
        ]
    classes = "" if with_splits else f" (the class folders are in {prefix}{UNASSIGNED_DIR}/)"
    return [
        Named(
            f"{count} item(s) without a class are in {Named.escape(where)}, beside the split "
            f"folders{Named.escape(classes)}, not in one: no class-folder reader opening a "
            "split takes them for a class (QBI's {kind} import reads them back without a "
            "class); leave them out of the export with {option}",
            kind="imagefolder",
            option="--leave-out-unlabelled",
        )
    ]


def export_package_job(
    project: Project, out: str | Path, *, filters: Any = None, **_: Any
) -> Job[ExportReport]:
    """The whole dataset as a Frictionless Data Package: images in ``data/<split>/<class>/``
    (laid out as the ImageFolder export), masks in ``masks/``, one row per item in
    ``items.csv`` (labels, splits, targets, boxes, review, provenance) and
    ``datapackage.json`` with checksums of every file."""
    import csv
    import io

    from qbi_desktop.core.formats.datapackage import write_datapackage
    from qbi_desktop.core.formats.datapackage_project import range_notes

    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[list[str]]:
        target_names = sorted({t for r in rows for t in r["targets"]})
        paths, notes = yield from write_tree(project, db, folder, rows, "data/")
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
        return notes + range_notes(rows, project_metadata(db))

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
