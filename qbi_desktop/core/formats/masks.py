"""A folder of masks matched to images by name: ``cell_01.png`` <- ``cell_01.png``,
``cell_01_mask.png``, ``cell_01-label.tif``, ...

Import with ``images_dir``: the images of that folder are imported with their masks. Without it,
the masks are attached to items already in the project with the same name stem. Each mask must
be a single-channel integer label image of the image's height and width.
The value 255 of a PASCAL VOC mask (a palette PNG with VOC's colour at 255, as VOC and
labelme2voc write them) is the ignore region, and so is the value our own exports name as
ignore (see formats.ignore): the project then keeps it as its ignore value. The class table our
exports write into each file joins the project's classes by name (classnames.py); masks that
name no class take their names from a ``class_names.txt`` beside the masks folder (labelme2voc's:
line n names value n), and a folder
``<split>/masks`` (or ``train_masks``, ...) gives new items that split.

Export: ``out/<split>/images/<name>`` and ``out/<split>/masks/<stem>.png`` for masks whose labels
fit 8 bits (greyscale PNG: every reader, PIL, OpenCV, torchvision, Fiji, gets the label values
as they are), ``<stem>.tif`` as an ImageJ TIFF for labels up to 65535 (Fiji opens it as a 16-bit
label image), and as a plain 32-bit (or 64-bit) integer TIFF for labels beyond that or below 0
(a COCO category id 70000): never narrowed, and the export report names those files and why.
An item whose file is a multi-page TIFF gets its first page in ``images/`` (a 2-D TIFF: the
image its mask belongs to), not the whole stack; 16-bit and float images are copied unchanged,
and the report says that PIL-based loaders convert them to 8 bits (:mod:`.reader_notes`).
All carry the class table and the ignore value as JSON (PNG text chunk ``qbi-desktop``, ImageJ
``Info``, the plain TIFF's JSON description), which other tools pass over.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.classnames import StoredNames, merge_classes
from qbi_desktop.core.formats.common import (
    ExportFolder,
    ExportReport,
    ImportReport,
    existing_paths,
    file_item,
    is_image,
    mask_classes,
    mask_instances,
    not_kept,
    read_item_mask,
    read_mask_file,
    reject_if,
    run_export,
    scan_image,
    split_dir,
    split_from_name,
)
from qbi_desktop.core.formats.ignore import (
    IGNORE_NAME,
    VOC_IGNORE,
    VOC_IGNORE_COLOUR,
    mask_ignore,
)
from qbi_desktop.core.formats.item_pages import put_page
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.formats.packed import PackedMask
from qbi_desktop.core.formats.reader_notes import STACK_PAGE, ImageKinds
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.maskio import encode_tiff_bytes, tiff_info
from qbi_desktop.core.safefile import is_regular_file

#: PNG text chunk our exports describe their masks in (maskio reads the same key)
INFO_KEY = "qbi-desktop"
#: The ``format`` of that description
MASK_FORMAT = "qbi-desktop label mask"

#: Name endings that tie a mask file to its image (``cell_01_mask.png`` -> ``cell_01.png``), in
#: order of preference when one image has several: the usual ones, then those our own commands
#: write (detect-spots, clean-spots and simulate ``<stem>_spots.tif``, simulate
#: ``<stem>_objects.tif`` beside it, the viewer's ``<stem>.mask.tif``).
MASK_SUFFIXES = (
    "mask",
    "masks",
    "label",
    "labels",
    "seg",
    "segmentation",
    "gt",
    "spots",
    "objects",
)
_SUFFIX = re.compile(r"[_.-](" + "|".join(MASK_SUFFIXES) + r")$", re.IGNORECASE)
#: Suffixes that rank alike (two files of one image with these are a conflict).
_RANK = {name: 0 for name in MASK_SUFFIXES[:7]} | {"spots": 1, "objects": 2}
#: How mask files pair with images, for messages.
PAIRING = (
    "a mask pairs with the image of the same name stem, or of its stem without one of the "
    f"endings {', '.join('_' + s for s in MASK_SUFFIXES)} (or with '-' or '.' instead of '_')"
)
#: The folder layouts a masks import reads, for messages.
LAYOUTS = (
    "mask images in the folder itself, a masks/ folder (beside images/), or "
    "<split>/masks with <split>/images as the masks export writes them"
)


def mask_key(stem: str) -> str:
    """The image stem a mask file name refers to."""
    return _SUFFIX.sub("", stem)


def _rank(stem: str) -> int:
    found = _SUFFIX.search(stem)
    return _RANK[found.group(1).lower()] if found else 0


@dataclass
class _Group:
    """One masks folder to import, its images folder (or None: the project's items) and the
    split its new items get."""

    masks: Path | None
    images: Path | None
    split: str | None
    mask_files: list[Path] = field(default_factory=list)
    image_files: list[Path] = field(default_factory=list)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image(p))


def _groups(masks_dir: Path, images_dir: Path | None) -> list[_Group]:
    """The folders of a masks import: ``masks_dir`` itself, its ``masks/`` (with ``images/``),
    or each ``<split>/masks`` with ``<split>/images`` (a masks export with splits)."""
    if not masks_dir.is_dir():
        raise UserFacingError(f"{masks_dir}: not a folder")
    if images_dir is not None and not images_dir.is_dir():
        raise UserFacingError(f"{images_dir}: not a folder")
    split = split_from_name(masks_dir.name) or split_from_name(masks_dir.parent.name)
    if _images(masks_dir):
        groups = [_Group(masks_dir, images_dir, split)]
    elif (masks_dir / "masks").is_dir():
        # A folder holding masks/ (and images/), as the masks export writes and an archive of
        # it extracts: use those two.
        if images_dir is None and (masks_dir / "images").is_dir():
            images_dir = masks_dir / "images"
        groups = [_Group(masks_dir / "masks", images_dir, split_from_name(masks_dir.name))]
    else:
        subs = sorted(
            d
            for d in masks_dir.iterdir()
            if d.is_dir() and ((d / "masks").is_dir() or (d / "images").is_dir())
        )
        if not any((d / "masks").is_dir() for d in subs):
            raise UserFacingError(f"{masks_dir}: no mask images found; expected {LAYOUTS}")
        if images_dir is not None:
            raise UserFacingError(
                f"{masks_dir}: holds a masks export with splits ({', '.join(d.name for d in subs)}"
                "); give only this folder: each split's images are in its images/ folder"
            )
        groups = [
            _Group(
                d / "masks" if (d / "masks").is_dir() else None,
                d / "images" if (d / "images").is_dir() else None,
                split_from_name(d.name),
            )
            for d in subs
        ]
    for group in groups:
        files = _images(group.masks) if group.masks is not None else []
        same = group.images is not None and group.masks is not None
        if same and group.images.resolve() == group.masks.resolve():
            # images and masks in one folder (simulate writes sim_0000.tif, sim_0000_spots.tif)
            group.mask_files = [f for f in files if _SUFFIX.search(f.stem)]
            group.image_files = [f for f in files if not _SUFFIX.search(f.stem)]
        else:
            group.mask_files = files
            group.image_files = _images(group.images) if group.images is not None else []
    if not any(group.mask_files for group in groups):
        where = groups[0].masks if len(groups) == 1 else masks_dir
        raise UserFacingError(f"{where}: no mask images found; expected {LAYOUTS}")
    return groups


def _by_key(group: _Group, problems: list[Problem], notes: list[str]) -> dict[str, Path]:
    """The mask file of each image stem of ``group``: of several, the one whose ending ranks
    first (``_mask`` before ``_spots`` before ``_objects``; the others are said in ``notes``);
    two of one rank are a problem."""
    by_key: dict[str, Path] = {}
    passed: list[Path] = []
    for m in group.mask_files:
        key = mask_key(m.stem)
        other = by_key.get(key)
        if other is None:
            by_key[key] = m
        elif _rank(m.stem) == _rank(other.stem):
            problems.append(Problem(str(m), f"second mask for {key!r} (also {other.name})"))
        elif _rank(m.stem) < _rank(other.stem):
            passed.append(other)
            by_key[key] = m
        else:
            passed.append(m)
    if passed:
        shown = ", ".join(p.name for p in passed[:3]) + (" ..." if len(passed) > 3 else "")
        notes.append(
            f"{len(passed)} mask file(s) left out for another mask of the same image ({shown}; "
            "_mask/_label/... before _spots before _objects): import them from a folder of "
            "their own to use them"
        )
    return by_key


def import_job(
    project: Project,
    sources: Sequence[str | Path],
    *,
    images_dir: str | Path | None = None,
    annotator: str | None = None,
    **_: Any,
) -> Job[ImportReport]:
    """``sources``: the masks folder (and optionally the images folder as second source); a
    masks export with splits (``<split>/masks``, ``<split>/images``) comes in split by split."""
    if not sources or len(sources) > 2:
        raise UserFacingError(
            Named("{kind} import takes the masks folder (and the images folder)", kind="masks")
        )
    masks_dir = Path(sources[0])
    if len(sources) == 2:
        images_dir = sources[1]
    groups = _groups(masks_dir, None if images_dir is None else Path(images_dir))
    first = groups[0].masks if len(groups) == 1 else masks_dir
    report = ImportReport("masks", str(first))
    problems: list[Problem] = []
    keyed = [(group, _by_key(group, problems, report.warnings)) for group in groups]
    total = sum(len(by_key) for _g, by_key in keyed)
    db = project.connect()
    try:
        # per group: image stem -> (item id or None, image file or None, shape or None)
        Target = tuple[int | None, Path | None, tuple[int, int] | None]
        items: dict[str, Target] = {}
        if any(group.images is None for group in groups):
            for item_id, name, w, h in db.execute("SELECT id, name, width, height FROM items"):
                stem = Path(name).stem
                if stem in items:
                    problems.append(
                        Problem(name, f"two project items are named {stem!r}: mask is ambiguous")
                    )
                items[stem] = (item_id, None, (h, w) if w else None)
        known = existing_paths(project, db)
        file_classes: dict[str, str] = {}  # value -> name, as the mask files describe them
        plan: list[tuple[int | None, Path | None, Any, Any, str | None]] = []
        rest: list[tuple[Path, str | None]] = []  # images without a mask, with their split
        n = 0
        for group, by_key in keyed:
            targets: dict[str, Target] = items
            if group.images is not None:
                targets = {
                    image.stem: (known.get(project.store_path(image)), image, None)
                    for image in group.image_files
                }
            matched: set[str] = set()
            for key, mfile in sorted(by_key.items()):
                n += 1
                if key not in targets:
                    problems.append(
                        Problem(str(mfile), f"no image named {key!r} to match ({PAIRING})")
                    )
                    continue
                item_id, image, shape = targets[key]
                mask = read_mask_file(mfile)
                if isinstance(mask, str):
                    problems.append(Problem(str(mfile), mask))
                    continue
                table = described(mfile, mask)
                clash = next((v for v, c in table.items() if file_classes.get(v, c) != c), None)
                if clash is not None:
                    problems.append(
                        Problem(
                            str(mfile),
                            f"names value {clash} {table[clash]!r}, another mask file of the "
                            f"folder names it {file_classes[clash]!r}",
                        )
                    )
                    continue
                file_classes.update(table)
                info = None
                if image is not None and item_id is None:
                    info = scan_image(image)
                    if isinstance(info, str):
                        problems.append(Problem(str(image), info))
                        continue
                    shape = (info.height, info.width)
                elif shape is None and item_id is not None:
                    shape = project._pixels(db, *_where(db, item_id)).shape[:2]
                if shape is not None and tuple(mask.shape) != tuple(shape):
                    problems.append(
                        Problem(
                            str(mfile),
                            f"mask is {mask.shape[1]}x{mask.shape[0]}, "
                            f"image is {shape[1]}x{shape[0]}",
                        )
                    )
                    continue
                matched.add(key)
                # compressed until written
                plan.append((item_id, image, PackedMask(mask), info, group.split))
                if n % 100 == 0:
                    yield Progress(n, total, "reading masks")
            if group.images is not None:
                unmatched = [t for k, t in sorted(targets.items()) if k not in matched]
                rest += [
                    (image, group.split) for item_id, image, _s in unmatched if item_id is None
                ]
                if unmatched:
                    where = f"{group.images.parent.name}/" if len(groups) > 1 else ""
                    report.warnings.append(f"{where}{len(unmatched)} image(s) have no mask")
        if not [name for name in file_classes.values() if name != IGNORE_NAME]:
            listed = _class_names(groups[0].masks or masks_dir, problems)
            if listed:
                file_classes.update(listed[1])
                report.warnings.append(
                    f"class names from {listed[0].name} (line n names mask value n): "
                    f"{len(listed[1])} classes"
                )
        stored = StoredNames()  # the mask classes' names are stored in NFC (merge_classes)
        stored.see(file_classes.values())
        report.warnings += [stored.note()] if stored.note() else []
        # One name, one value: the files' classes join the project's by name (classnames.py)
        merge = None
        if file_classes and mask_instances(db) is None:
            merge = merge_classes(mask_classes(db), file_classes, str(first))
            report.warnings += merge.notes
            plan = [(i, image, merge.apply(m), info, sp) for i, image, m, info, sp in plan]
        ignore = None
        if merge is not None:
            file_ignore = [int(v) for v, name in file_classes.items() if name == IGNORE_NAME]
            if file_ignore and mask_ignore(db) is None:
                ignore = merge.value(file_ignore[0])
        reject_if(first, problems)
        with project.transaction(db) as tx:
            if merge is not None:
                tx.set_metadata(mask_classes=merge.classes)
            if ignore is not None:
                tx.set_metadata(mask_ignore=ignore)
            new = [
                file_item(
                    image,
                    info,
                    annotator=annotator,
                    mask=mask,
                    split=split,
                    provenance={"source": "masks", "imported_from": str(first)},
                )
                for item_id, image, mask, info, split in plan
                if item_id is None
            ]
            report.ids = tx.add_items(new)
            for item_id, _image, mask, _info, _split in plan:
                if item_id is not None:
                    tx.set_mask(item_id, mask, annotator)
                    report.updated += 1
            # Images without masks are part of the set too.
            others = []
            for image, split in rest:
                info = scan_image(image)
                if isinstance(info, str):
                    raise UserFacingError(f"{image}: {info}")
                others.append(
                    file_item(
                        image,
                        info,
                        annotator=annotator,
                        split=split,
                        provenance={"source": "masks", "imported_from": str(first)},
                    )
                )
            report.ids += tx.add_items(others)
        report.added = len(new) + len(others)
        if len(groups) > 1:
            splits = sorted({str(g.split or "unassigned") for g in groups})
            report.warnings.append(f"splits read from the folders: {', '.join(splits)}")
        return report
    finally:
        db.close()


#: labelme2voc's class list beside SegmentationClass/: line n names mask value n
CLASS_NAMES_FILE = "class_names.txt"


def _class_names(masks_dir: Path, problems: list[Problem]) -> tuple[Path, dict[str, str]] | None:
    """The class names of ``class_names.txt`` beside the masks folder (labelme2voc's), value
    as text -> name; line 0 (the background) names no class. None when there is no such file."""
    path = masks_dir.parent / CLASS_NAMES_FILE
    if not is_regular_file(path):
        return None
    if path.stat().st_size > 1 << 20:
        problems.append(Problem(str(path), "larger than 1 MiB: not a list of class names"))
        return None
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), f"cannot be read as UTF-8 text ({exc})"))
        return None
    names = {}
    # value 0 is the masks' background (labelme2voc's _background_); 255 stays VOC's ignore
    for value, line in enumerate(lines[:65536]):
        name = line.strip()
        if value not in (0, VOC_IGNORE) and name and name != IGNORE_NAME:
            names[str(value)] = name
    return path, names


def described(path: Path, mask: np.ndarray) -> dict[str, str]:
    """The classes a mask file names (value as text -> name, the ignore value as
    ``__ignore__``): the table our exports write (PNG text / ImageJ Info), else for a PASCAL
    VOC palette PNG (VOC's colour at index 255) holding 255, the ignore region; else none."""
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                # ImageJ Info (8/16-bit masks), or the JSON description of a wider one
                info = tiff_info(tif) if tif.is_imagej else _shaped_info(tif)
        else:
            from PIL import Image

            with Image.open(path) as img:
                text = getattr(img, "text", None) or {}
                info = json.loads(text[INFO_KEY]) if INFO_KEY in text else {}
                if not info and img.mode == "P" and np.any(mask == VOC_IGNORE):
                    palette = img.getpalette() or []
                    if tuple(palette[3 * VOC_IGNORE : 3 * VOC_IGNORE + 3]) == VOC_IGNORE_COLOUR:
                        return {str(VOC_IGNORE): IGNORE_NAME}
    except Exception:  # the pixels were read already; an unreadable description names nothing
        return {}
    if not isinstance(info, dict):
        return {}
    table = info.get("mask_classes")
    table = (
        {str(k): str(v) for k, v in table.items() if str(k).isdigit()}
        if isinstance(table, dict)
        else {}
    )
    ignore = info.get("mask_ignore")
    if isinstance(ignore, int) and not isinstance(ignore, bool):
        table[str(ignore)] = IGNORE_NAME
    return table


def _shaped_info(tif: Any) -> dict[str, Any]:
    """The description our 32/64-bit mask TIFFs carry (tifffile's JSON "shaped" metadata)."""
    meta = tif.shaped_metadata if tif.is_shaped else None
    info = meta[0] if meta else {}
    return info if isinstance(info, dict) and info.get("format") == MASK_FORMAT else {}


#: What the masks export's notes call the tools that read its images/ with PIL.
MASK_READERS = "most segmentation data loaders (e.g. torchvision's and Keras' examples)"


def _where(db: Any, item_id: int) -> tuple:
    return db.execute(
        "SELECT path, container_id, idx FROM items WHERE id = ?", (item_id,)
    ).fetchone()


def export_job(
    project: Project,
    out: str | Path,
    *,
    filters: Any = None,
    datapackage: bool = False,
    **_: Any,
) -> Job[ExportReport]:
    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[list[str]]:
        with_splits = any(r["split"] for r in rows)
        info = {"mask_classes": mask_classes(db)}
        ignore = mask_ignore(db)
        if ignore is not None:
            info["mask_ignore"] = ignore
        wide: list[str] = []  # masks written as 32/64-bit TIFFs, with why
        kinds = ImageKinds(project, db)  # 16-bit/float images and stacks, for the notes
        for n, row in enumerate(rows):
            base = f"{split_dir(row['split'])}/" if with_splits else ""
            rel, _ = put_page(folder, project, db, row, base + "images")  # a stack: its page
            kinds.see(row, rel)
            if row["mask"]:
                mask = read_item_mask(project, row)
                data, ext = mask_file(mask, info)
                written = folder.write_bytes(f"{base}masks/{Path(rel).stem}{ext}", data)
                if (reason := wide_mask_reason(mask)) is not None:
                    wide.append(f"{written} ({reason})")
            if n % 200 == 0:
                yield Progress(n, len(rows), "writing images and masks")
        notes = []
        if wide:
            shown = "; ".join(wide[:5]) + (f"; and {len(wide) - 5} more" if len(wide) > 5 else "")
            notes.append(
                f"{len(wide)} mask(s) hold label values outside 0..65535, written unchanged as "
                f"32/64-bit integer TIFFs, not ImageJ 16-bit label images (Fiji opens them as "
                f"32-bit images; tifffile, and QBI's masks import, read the values exactly): "
                f"{shown}"
            )
        notes += kinds.notes(MASK_READERS, STACK_PAGE, first_page=True)
        return notes + not_kept(rows, "masks", {"splits", "masks"})

    return run_export(project, "masks", out, write, filters=filters, datapackage=datapackage)


def mask_file(mask: np.ndarray, info: dict[str, Any]) -> tuple[bytes, str]:
    """A label mask as the export writes it: greyscale PNG when its labels fit 8 bits, ImageJ
    TIFF when they fit 16 bits, else a plain 32/64-bit integer TIFF (ImageJ's label images are
    8 or 16 bits; see :func:`wide_mask_reason`); never narrowed. ``info`` (class table, ignore
    value) rides along as JSON: PNG text, ImageJ ``Info``, or the plain TIFF's JSON
    description (tifffile's shaped metadata)."""
    described = {"format": MASK_FORMAT, "version": 1, **info}
    lo, hi = (int(mask.min()), int(mask.max())) if mask.size else (0, 0)
    if lo >= 0 and hi < 256:
        from PIL import Image, PngImagePlugin

        text = PngImagePlugin.PngInfo()
        text.add_text(INFO_KEY, json.dumps(described))
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).save(
            buffer, format="PNG", pnginfo=text, compress_level=6
        )
        return buffer.getvalue(), ".png"
    if lo >= 0 and hi < 65536:
        return encode_tiff_bytes(mask.astype(np.uint16), info=described), ".tif"
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer, mask.astype(wide_dtype(lo, hi)), compression="zlib", metadata=described
    )
    return buffer.getvalue(), ".tif"


def wide_dtype(lo: int, hi: int) -> np.dtype:
    """The narrowest integer type holding every value of ``lo..hi`` exactly (32 bits at least:
    for masks that do not fit ImageJ's 16 bits)."""
    for dtype in (np.uint32, np.int32, np.uint64, np.int64):
        limits = np.iinfo(dtype)
        if limits.min <= lo and hi <= limits.max:
            return np.dtype(dtype)
    raise UserFacingError(f"mask values {lo}..{hi} do not fit a 64-bit integer")


def wide_mask_reason(mask: np.ndarray) -> str | None:
    """Why a mask is not written as an 8-bit PNG or ImageJ 16-bit TIFF (its values, named),
    or None when it is one of those."""
    if mask.size == 0:
        return None
    lo, hi = int(mask.min()), int(mask.max())
    if lo >= 0 and hi < 65536:
        return None
    values = np.unique(mask)
    wide = values[(values < 0) | (values > 65535)]
    shown = ", ".join(str(int(v)) for v in wide[:5]) + (" ..." if len(wide) > 5 else "")
    return f"values {shown} do not fit 16 bits: {wide_dtype(lo, hi).name}"
