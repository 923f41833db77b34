"""Folder-per-class (the ImageFolder convention): ``root/<class>/<image>``, optionally with a
split level on top: ``root/train/<class>/<image>``, ``root/test/<class>/<image>``.

Import reads what torchvision's ``ImageFolder`` reads: files with its ``IMG_EXTENSIONS``
(``.gif`` is not one, ``.ppm`` is), hidden files too, any depth below the class folder; a
folder with no sub-folders at all gives its images as unlabelled items. Hidden
folders are not classes (torchvision would make ``.ipynb_checkpoints`` one; the note says so).
A root holding ``train/``, ``val/`` (or ``valid/``), ``test/`` folders is read as splits.

A label that a file system cannot hold as a folder name (``T1/T2``, ``ratio 1:2``, ``.hidden``,
``CON``) is percent-encoded on export (``T1%2FT2``; ``urllib.parse.unquote`` gives it back) and
decoded on import; the export report lists them. Import references the files where they are
(never copies or changes them); export copies file items byte for byte and writes container
items (MNIST rows, ...) as PNG/TIFF.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.classes import class_name_problem, nfc
from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import NewItem, Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.classnames import StoredNames
from qbi_desktop.core.formats.common import (
    SPLIT_DIRS,
    UNASSIGNED_DIR,
    ExportFolder,
    ExportReport,
    ImportReport,
    existing_paths,
    file_item,
    mask_bytes,
    not_kept,
    project_metadata,
    put_image,
    quote_cell,
    read_item_mask,
    reject_if,
    run_export,
    scan_image,
    split_dir,
)
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.safefile import resolve_inside

UNLABELLED_DIR = "unlabelled"
#: torchvision.datasets.folder.IMG_EXTENSIONS (0.28): the files its ImageFolder takes.
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: Folder names read as a split level (Roboflow writes ``valid``).
SPLIT_NAMES = {**{s: s for s in SPLIT_DIRS}, "valid": "val", "validation": "val"}

# Characters no folder name may hold on some OS (Windows' set includes Linux's "/"), the
# escape character itself, and control characters.
_UNSAFE = re.compile(r'[%\\/:*?"<>|\x00-\x1f\x7f]')
_WINDOWS_DEVICES = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)
_ESCAPE = re.compile(r"%([0-7][0-9A-Fa-f])")
#: Longest folder name, in UTF-8 bytes, on common file systems.
MAX_NAME_BYTES = 255


def _escape(char: str) -> str:
    return f"%{ord(char):02X}"


def encode_label(label: str) -> str:
    """A folder name for ``label`` that every OS can hold and :func:`decode_label` turns back
    into ``label``: unsafe characters, a leading ``.`` or space, a trailing ``.`` or space, a
    Windows device name and our own ``unlabelled`` folder name are percent-encoded."""
    name = _UNSAFE.sub(lambda m: _escape(m.group(0)), label)
    if name[:1] in (".", " ") or _WINDOWS_DEVICES.fullmatch(name) or name == UNLABELLED_DIR:
        name = _escape(name[0]) + name[1:]
    if name[-1:] in (".", " "):
        name = name[:-1] + _escape(name[-1])
    return name


def decode_label(name: str) -> str:
    """The label of a class folder: percent-escapes of ASCII characters decoded (what
    :func:`encode_label` writes; other ``%`` signs are left alone)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name)


def _takes(path: Path) -> bool:
    """A file torchvision's ImageFolder would load (by extension, as it decides)."""
    return path.name.lower().endswith(IMG_EXTENSIONS) and path.is_file()


def import_job(
    project: Project,
    sources: Sequence[str | Path],
    *,
    annotator: str | None = None,
    within: str | Path | None = None,
    **_: Any,
) -> Job[ImportReport]:
    """Import every image below ``root/<class>/`` (or ``root/<split>/<class>/``); a folder
    without sub-folders gives its images without a class."""
    if len(sources) != 1:
        raise UserFacingError(Named("{kind} import takes one folder", kind="imagefolder"))
    root = Path(sources[0])
    from qbi_desktop.core.outfolder import is_dir  # a name too long is named, not a traceback

    if not is_dir(root):
        raise UserFacingError(f"{root}: not a folder")
    report = ImportReport("imagefolder", str(root))
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    hidden = [p.name for p in folders if p.name.startswith(".")]
    top = [p for p in folders if not p.name.startswith(".")]
    split_folders = [p for p in top if p.name.lower() in SPLIT_NAMES]
    split_layout = bool(split_folders)
    if split_layout:
        others = [p.name for p in top if p not in split_folders and p.name != UNASSIGNED_DIR]
        if others:
            raise UserFacingError(
                f"{root}: holds split folders ({', '.join(p.name for p in split_folders)}) "
                f"and other folders ({', '.join(others[:5])}): is that a split or a class? "
                "Import each split folder on its own, or move the others into a split"
            )
        report.warnings.append(
            f"{', '.join(p.name + '/' for p in split_folders)} read as splits, not classes"
        )
    other = _other_layout(root, split_folders if split_layout else [root]) if top else None
    if other:
        what, advice = other
        raise UserFacingError(
            f"{root}: looks like {what}, not class folders (its images would take the "
            f"folders' names as classes): {advice}"
        )
    entries: list[tuple[Path, str | None, str | None]] = []  # file, label, split
    stray, skipped_kinds, decoded = 0, set(), set()
    beside: list[Path] = []  # files next to the class folders (in no class)
    bad: list[Problem] = []  # class folders whose names are no class names (classes.py)
    names = StoredNames()  # macOS delivers folder names in NFD: stored in NFC
    inside = _Inside(root, within)  # symbolic links leading out are refused, as YOLO does
    if not top:
        # A plain folder of images (what a lab has before anyone labelled anything): the
        # images come in without a class, as if they were in unlabelled/.
        for path in sorted(root.iterdir()):
            if _takes(path) and (why := inside(path)) is not None:
                bad.append(Problem(str(path), why))
            elif _takes(path):
                entries.append((path, None, None))
            elif path.is_file():
                stray += 1
                skipped_kinds.add(path.suffix.lower() or path.name)
        if entries:
            report.warnings.append(
                f"{len(entries)} image(s) directly in the folder, no class folders: imported "
                f"without a class (an ImageFolder export writes them to {UNLABELLED_DIR}/)"
            )
    for split_folder in top if split_layout else ([root] if top else []):
        split = SPLIT_NAMES.get(split_folder.name.lower()) if split_layout else None
        for class_dir in sorted(p for p in split_folder.iterdir() if p.is_dir()):
            if class_dir.name.startswith("."):
                if split_layout:
                    hidden.append(f"{split_folder.name}/{class_dir.name}")
                continue
            label = None if class_dir.name == UNLABELLED_DIR else decode_label(class_dir.name)
            if (why := inside(class_dir)) is not None:
                bad.append(Problem(str(class_dir), f"class folder: {why}"))
                continue
            label = names(label)
            if label is not None and (why := class_name_problem(label)) is not None:
                bad.append(Problem(str(class_dir), f"class folder: {why}"))
                continue
            if label is not None and label != nfc(class_dir.name):
                decoded.add(class_dir.name)
            for path in sorted(class_dir.rglob("*")):
                if _takes(path) and (why := inside(path)) is not None:
                    bad.append(Problem(str(path), why))
                elif _takes(path):
                    entries.append((path, label, split))
                elif path.is_file():
                    stray += 1
                    skipped_kinds.add(path.suffix.lower() or path.name)
        beside += [p for p in sorted(split_folder.iterdir()) if p.is_file()]
    if hidden:
        report.warnings.append(
            f"hidden folder(s) {', '.join(sorted(hidden)[:5])} are not classes: skipped "
            "(torchvision's ImageFolder would count them as classes)"
        )
    if decoded:
        report.warnings.append(
            f"{len(decoded)} class folder name(s) percent-decoded, e.g. "
            f"{sorted(decoded)[0]!r} -> {decode_label(sorted(decoded)[0])!r}"
        )
    if beside:
        shown = ", ".join(p.relative_to(root).as_posix() for p in beside[:5])
        more = f" and {len(beside) - 5} more" if len(beside) > 5 else ""
        report.warnings.append(
            f"{len(beside)} file(s) beside the class folders, not in one, skipped (as "
            f"torchvision skips them): {shown}{more}"
        )
    if names.note():
        report.warnings.append(names.note())
    if stray:
        kinds = ", ".join(sorted(skipped_kinds)[:8])
        report.warnings.append(
            f"{stray} file(s) not of torchvision's image kinds ({kinds}): ignored"
        )
    reject_if(root, bad)
    if not entries:
        raise UserFacingError(
            f"{root}: no images ({' '.join(IMG_EXTENSIONS)}) found in it or in class sub-folders"
        )
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
        report.already = len(entries) - len(items)  # said in the report's first line
        yield Progress(len(entries), len(entries), "writing catalog")
        with project.transaction(db) as tx:
            report.ids = tx.add_items(items)
        report.added = len(items)
        return report
    finally:
        db.close()


class _Inside:
    """Why a class folder or image of the import leads outside the folder imported (or the
    extracted archive ``within``) through a symbolic link, naming the link, or None."""

    def __init__(self, root: Path, within: str | Path | None) -> None:
        self.root, self.within = root, Path(within) if within is not None else root

    def __call__(self, path: Path) -> str | None:
        if not path.is_symlink():
            return None  # what is below a class folder not linked out stays inside it
        found = resolve_inside(self.root, path.relative_to(self.root).as_posix(), self.within)
        if isinstance(found, str):
            return f"symbolic link: {found}"
        return None


#: Folders of YOLO label files beside ``images/``: ultralytics and Roboflow (``labels``), Roboflow's
#: oriented boxes (``labelTxt``, as DOTA)
YOLO_LABEL_DIRS = ("labels", "labelTxt")
#: Files that describe a YOLO dataset (ultralytics/Roboflow, darknet)
YOLO_FILES = ("data.yaml", "obj.data", "obj.names")
YOLO_ADVICE = (
    "import it as a YOLO dataset instead (qbi-desktop import --kind yolo, or the import "
    "dialog's YOLO kind): its label files become boxes"
)
#: Pascal VOC's folders beside JPEGImages/ (labelme2voc writes the same)
VOC_DIRS = ("Annotations", "SegmentationClass", "SegmentationObject", "ImageSets")


def _other_layout(root: Path, groups: list[Path]) -> tuple[str, str] | None:
    """Which other convention ``root`` follows (YOLO, Pascal VOC) and what to do, or None.
    ``groups``: the folders whose sub-folders would be classes (the root, or each split
    folder). torchvision refuses these layouts too (a ``labels`` or ``Annotations`` folder
    is a class without images); we name why."""
    for group in groups:
        subs = {p.name: p for p in group.iterdir() if p.is_dir()}
        for name in YOLO_LABEL_DIRS:
            labels, images = subs.get(name), subs.get("images")
            if labels is not None and images is not None and any(labels.rglob("*.txt")):
                where = labels.relative_to(root).as_posix()
                return (
                    f"a YOLO dataset ({where}/ holds .txt label files beside "
                    f"{where.rsplit(name, 1)[0]}images/)",
                    YOLO_ADVICE,
                )
        voc = [name for name in VOC_DIRS if name in subs]
        if "JPEGImages" in subs and voc:
            return (
                f"a Pascal VOC dataset ({', '.join(voc)} beside JPEGImages/)",
                "its boxes (Annotations/*.xml) are not read here; import SegmentationClass/ "
                "with JPEGImages/ as masks, or JPEGImages/ as a plain folder (unlabelled)",
            )
    found = [name for name in YOLO_FILES if (root / name).is_file()]
    if found:
        return f"a YOLO dataset ({', '.join(found)} beside the folders)", YOLO_ADVICE
    return None


def export_job(
    project: Project,
    out: str | Path,
    *,
    filters: Any = None,
    datapackage: bool = False,
    **_: Any,
) -> Job[ExportReport]:
    """Write ``out/<split>/<class>/<image>`` (no split level when no item has a split)."""

    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[list[str]]:
        yield from write_tree(project, db, folder, rows, "")
        notes = label_notes(rows) + unlabelled_notes(rows, "")
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


def write_tree(
    project: Project, db: Any, folder: ExportFolder, rows: list[dict], prefix: str
) -> Job[dict[int, str]]:
    """Images into ``prefix<split>/<class>/``; item id -> relative path written."""
    with_splits = any(r["split"] for r in rows)
    written: dict[int, str] = {}
    for n, row in enumerate(rows):
        label = encode_label(row["label"]) if row["label"] else UNLABELLED_DIR
        if len(label.encode()) > MAX_NAME_BYTES:
            raise UserFacingError(
                f"{folder.out}: export refused, nothing was written: item {row['id']} "
                f"({row['name']}) has the label {row['label'][:40]!r}..., longer than the "
                f"{MAX_NAME_BYTES} bytes a folder name may have; shorten the label"
            )
        rel_dir = f"{split_dir(row['split'])}/{label}" if with_splits else label
        written[row["id"]] = put_image(folder, project, db, row, prefix + rel_dir)
        if n % 200 == 0:
            yield Progress(n, len(rows), "writing images")
    return written


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


def unlabelled_notes(rows: list[dict], prefix: str) -> list[str]:
    """The export report's note of the items without a class in ``unlabelled/`` folders, which
    folder-per-class readers take for one more class."""
    count = sum(1 for r in rows if not r["label"])
    if not count:
        return []
    return [
        Named(
            f"{count} item(s) without a class are in {Named.escape(prefix)}[<split>/]"
            f"{UNLABELLED_DIR}/: torchvision's ImageFolder and Keras' "
            f"image_dataset_from_directory read '{UNLABELLED_DIR}' as one more class (QBI's "
            "{kind} import reads them back without a class); leave them out of a training "
            "set ({option})",
            kind="imagefolder",
            option="--leave-out-unlabelled",
        )
    ]


def export_package_job(
    project: Project, out: str | Path, *, filters: Any = None, **_: Any
) -> Job[ExportReport]:
    """The whole dataset as a Frictionless Data Package: images in ``data/<split>/<class>/``,
    masks in ``masks/``, one row per item in ``items.csv`` (labels, splits, targets, boxes,
    review, provenance) and ``datapackage.json`` with checksums of every file."""
    import csv
    import io

    from qbi_desktop.core.formats.datapackage import write_datapackage
    from qbi_desktop.core.formats.datapackage_project import range_notes

    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[list[str]]:
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
        return unlabelled_notes(rows, "data/") + range_notes(rows, project_metadata(db))

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
