"""Folder-per-class (the ImageFolder convention): ``root/<class>/<image>``, optionally with a
split level on top: ``root/train/<class>/<image>``, ``root/test/<class>/<image>``.

Import reads what torchvision's ``ImageFolder`` reads: files with its ``IMG_EXTENSIONS``
(``.gif`` is not one, ``.ppm`` is), hidden files too, any depth below the class folder; a
folder with no sub-folders at all gives its images as unlabelled items. Hidden
folders are not classes (torchvision would make ``.ipynb_checkpoints`` one; the note says so).
A root holding ``train/``, ``val/`` (or ``valid/``), ``test/`` folders is read as splits.
Our export's layout (:mod:`.imagefolder_export`) reads back as it was written: ``unlabelled/``
beside the split folders holds the items without a class (``unlabelled/<split>/`` their split),
``unassigned/`` beside it the classes of items without a split, and ``classes.txt`` gives the
project's class order (classes without items included); the older ``<split>/unlabelled/``
still reads as items without a class.

A label that a file system cannot hold as a folder name (``T1/T2``, ``ratio 1:2``, ``.hidden``,
``CON``) is percent-encoded on export (``T1%2FT2``; ``urllib.parse.unquote`` gives it back) and
decoded on import; the export report lists them. Import references the files where they are
(never copies or changes them); export copies file items byte for byte and writes container
items (MNIST rows, ...) as PNG/TIFF.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.classes import class_list, class_name_problem, nfc
from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import NewItem, Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.classnames import StoredNames
from qbi_desktop.core.formats.common import (
    SPLIT_DIRS,
    UNASSIGNED_DIR,
    ExportReport,
    ImportReport,
    existing_paths,
    file_item,
    reject_if,
    scan_image,
)
from qbi_desktop.core.formats.datapackage_project import apply_section
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.safefile import not_regular, resolve_inside

UNLABELLED_DIR = "unlabelled"
#: Files our exports write beside the class (or split) folders: not images, not said skipped.
EXPORT_FILES = ("classes.txt", "class_to_idx.json", "datapackage.json")
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
    # our export's layout: unlabelled/[<split>/] beside the split folders (or beside
    # unassigned/, the classes of an export without splits but with items without a class)
    split_layout = bool(split_folders) or {p.name for p in top} == {UNASSIGNED_DIR, UNLABELLED_DIR}
    unlabelled_top = next((p for p in top if p.name == UNLABELLED_DIR), None)
    if split_layout:
        others = [
            p.name
            for p in top
            if p not in split_folders and p.name not in (UNASSIGNED_DIR, UNLABELLED_DIR)
        ]
        if others:
            raise UserFacingError(
                f"{root}: holds split folders ({', '.join(p.name for p in split_folders)}) "
                f"and other folders ({', '.join(others[:5])}): is that a split or a class? "
                "Import each split folder on its own, or move the others into a split"
            )
        if split_folders:
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
    special: list[Path] = []  # entries that are no file to read: said, not passed over

    beside: list[Path] = []  # files next to the class folders (in no class)
    bad: list[Problem] = []  # class folders whose names are no class names (classes.py)
    names = StoredNames()  # macOS delivers folder names in NFD: stored in NFC
    inside = _Inside(root, within)  # symbolic links leading out are refused, as YOLO does

    def take(path: Path, label: str | None, split: str | None) -> None:
        """One entry of the folder: an image (or a link leading out), or what is skipped."""
        nonlocal stray
        if _takes(path) and (why := inside(path)) is not None:
            bad.append(Problem(str(path), why))
        elif _takes(path):
            entries.append((path, label, split))
        elif path.is_file():
            stray += 1
            skipped_kinds.add(path.suffix.lower() or path.name)
        elif not path.is_dir():  # a FIFO, socket, device link or broken link
            special.append(path)

    if not top:
        # A plain folder of images (what a lab has before anyone labelled anything): the
        # images come in without a class, as if they were in unlabelled/.
        for path in sorted(root.iterdir()):
            take(path, None, None)
        if entries:
            report.warnings.append(
                f"{len(entries)} image(s) directly in the folder, no class folders: imported "
                f"without a class (an ImageFolder export writes them to {UNLABELLED_DIR}/)"
            )
    groups = [p for p in top if p != unlabelled_top] if split_layout else [root] if top else []
    for split_folder in groups:
        split = SPLIT_NAMES.get(split_folder.name.lower()) if split_layout else None
        for class_dir in sorted(p for p in split_folder.iterdir() if p.is_dir()):
            if class_dir == unlabelled_top:
                continue  # read below, with the splits inside it
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
                take(path, label, split)
        beside += [
            p
            for p in sorted(split_folder.iterdir())
            if p.is_file() and not (split_folder == root and p.name in EXPORT_FILES)
        ]
    if unlabelled_top is not None and (why := inside(unlabelled_top)) is not None:
        bad.append(Problem(str(unlabelled_top), f"folder: {why}"))
    elif unlabelled_top is not None:
        for path in sorted(unlabelled_top.rglob("*")):
            parts = path.relative_to(unlabelled_top).parts
            # unlabelled/<split>/<image>: the split; unlabelled/<image>: no split
            split = SPLIT_NAMES.get(parts[0].lower()) if len(parts) > 1 else None
            take(path, None, split)
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
    if special:
        report.warnings.append(_special_note(root, special))
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
        order = _class_file(root, report.warnings)
        classes_before = class_list(project) if order else []
        with project.transaction(db) as tx:
            report.ids = tx.add_items(items)
            if order:  # the class order (and the classes without items) our export wrote
                report.warnings += apply_section(tx, {"classes": order}, classes_before)
        report.added = len(items)
        return report
    finally:
        db.close()


def _class_file(root: Path, notes: list[str]) -> list[str] | None:
    """The class list in ``root/classes.txt`` (our export's, one class per line, in the
    project's order), or None when there is none; a file that is no such list is passed
    over with a note."""
    path = root / EXPORT_FILES[0]
    if not path.is_file() or not_regular(path):
        return None
    try:
        if path.stat().st_size > 4 << 20:
            raise ValueError("larger than 4 MB")
        lines = path.read_bytes().decode("utf-8").splitlines()
    except (OSError, ValueError) as exc:
        notes.append(f"{path}: not read as the class list ({exc})")
        return None
    order = [nfc(line.strip()) for line in lines if line.strip()]
    bad = next((n for n in order if class_name_problem(n) is not None), None)
    if bad is not None:
        notes.append(f"{path}: not read as the class list ({class_name_problem(bad)})")
        return None
    return list(dict.fromkeys(order))


def _special_note(root: Path, special: list[Path]) -> str:
    """The note on entries of the folder that are no file to read, each said as what it is."""
    import os

    from qbi_desktop.core.safefile import kind_of

    def what(path: Path) -> str:
        try:
            return kind_of(os.stat(path).st_mode)
        except OSError as exc:  # a broken link, a link loop
            return "a broken link" if exc.errno == 2 else "a link that loops"

    shown = ", ".join(f"{p.relative_to(root).as_posix()} ({what(p)})" for p in special[:5])
    more = f" and {len(special) - 5} more" if len(special) > 5 else ""
    return f"{len(special)} entr(ies) are no file to read, skipped: {shown}{more}"


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


def export_job(project: Project, out: str | Path, **options: Any) -> Job[ExportReport]:
    """Write ``out/<split>/<class>/<image>`` (see :mod:`.imagefolder_export`)."""
    from qbi_desktop.core.formats.imagefolder_export import export_job as job

    return job(project, out, **options)


def export_package_job(project: Project, out: str | Path, **options: Any) -> Job[ExportReport]:
    """The whole dataset as a Frictionless Data Package (see :mod:`.imagefolder_export`)."""
    from qbi_desktop.core.formats.imagefolder_export import export_package_job as job

    return job(project, out, **options)
