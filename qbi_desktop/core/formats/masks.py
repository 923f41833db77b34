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
as they are), ``<stem>.tif`` as an ImageJ TIFF for wider labels (Fiji opens it as a 16-bit
label image). Both carry the class table and the ignore value as JSON (PNG text chunk
``qbi-desktop``, ImageJ ``Info``), which other tools pass over.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.classnames import merge_classes
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
    put_image,
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
from qbi_desktop.core.formats.packed import PackedMask
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.maskio import encode_tiff_bytes, tiff_info
from qbi_desktop.core.safefile import is_regular_file

#: PNG text chunk our exports describe their masks in (maskio reads the same key)
INFO_KEY = "qbi-desktop"

_SUFFIX = re.compile(r"[_-](mask|masks|label|labels|seg|segmentation|gt)$", re.IGNORECASE)


def mask_key(stem: str) -> str:
    """The image stem a mask file name refers to."""
    return _SUFFIX.sub("", stem)


def import_job(
    project: Project,
    sources: Sequence[str | Path],
    *,
    images_dir: str | Path | None = None,
    annotator: str | None = None,
    **_: Any,
) -> Job[ImportReport]:
    """``sources``: the masks folder (and optionally the images folder as second source)."""
    if not sources or len(sources) > 2:
        raise UserFacingError("masks import takes the masks folder (and the images folder)")
    masks_dir = Path(sources[0])
    if len(sources) == 2:
        images_dir = sources[1]
    if not masks_dir.is_dir():
        raise UserFacingError(f"{masks_dir}: not a folder")
    mask_files = sorted(p for p in masks_dir.iterdir() if is_image(p))
    if not mask_files and (masks_dir / "masks").is_dir():
        # A folder holding masks/ (and images/), as the masks export writes and an archive of
        # it extracts: use those two.
        if images_dir is None and (masks_dir / "images").is_dir():
            images_dir = masks_dir / "images"
        masks_dir = masks_dir / "masks"
        mask_files = sorted(p for p in masks_dir.iterdir() if is_image(p))
    if not mask_files:
        raise UserFacingError(f"{masks_dir}: no mask images found")
    report = ImportReport("masks", str(masks_dir))
    problems: list[Problem] = []
    by_key: dict[str, Path] = {}
    for m in mask_files:
        key = mask_key(m.stem)
        if key in by_key:
            problems.append(Problem(str(m), f"second mask for {key!r} (also {by_key[key].name})"))
        by_key[key] = m
    db = project.connect()
    try:
        targets: dict[str, tuple[int | None, Path | None, tuple[int, int] | None]] = {}
        if images_dir is not None:
            images_dir = Path(images_dir)
            if not images_dir.is_dir():
                raise UserFacingError(f"{images_dir}: not a folder")
            known = existing_paths(project, db)
            for image in sorted(p for p in images_dir.iterdir() if is_image(p)):
                item_id = known.get(project.store_path(image))
                targets[image.stem] = (item_id, image, None)
        else:
            for item_id, name, w, h in db.execute("SELECT id, name, width, height FROM items"):
                stem = Path(name).stem
                if stem in targets:
                    problems.append(
                        Problem(name, f"two project items are named {stem!r}: mask is ambiguous")
                    )
                targets[stem] = (item_id, None, (h, w) if w else None)
        file_classes: dict[str, str] = {}  # value -> name, as the mask files describe them
        plan: list[tuple[int | None, Path | None, np.ndarray, Any]] = []
        for n, (key, mfile) in enumerate(sorted(by_key.items())):
            if key not in targets:
                problems.append(Problem(str(mfile), f"no image named {key!r} to match"))
                continue
            item_id, image, shape = targets[key]
            mask = read_mask_file(mfile)
            if isinstance(mask, str):
                problems.append(Problem(str(mfile), mask))
                continue
            table = described(mfile, mask)
            clash = next((v for v, n in table.items() if file_classes.get(v, n) != n), None)
            if clash is not None:
                problems.append(
                    Problem(
                        str(mfile),
                        f"names value {clash} {table[clash]!r}, another mask file of the folder "
                        f"names it {file_classes[clash]!r}",
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
                        f"mask is {mask.shape[1]}x{mask.shape[0]}, image is {shape[1]}x{shape[0]}",
                    )
                )
                continue
            plan.append((item_id, image, PackedMask(mask), info))  # compressed until written
            if n % 100 == 0:
                yield Progress(n, len(by_key), "reading masks")
        if not [name for name in file_classes.values() if name != IGNORE_NAME]:
            listed = _class_names(masks_dir, problems)
            if listed:
                file_classes.update(listed[1])
                report.warnings.append(
                    f"class names from {listed[0].name} (line n names mask value n): "
                    f"{len(listed[1])} classes"
                )
        # One name, one value: the files' classes join the project's by name (classnames.py)
        merge = None
        if file_classes and mask_instances(db) is None:
            merge = merge_classes(mask_classes(db), file_classes, str(masks_dir))
            report.warnings += merge.notes
            plan = [(i, image, merge.apply(mask), info) for i, image, mask, info in plan]
        ignore = None
        if merge is not None:
            file_ignore = [int(v) for v, name in file_classes.items() if name == IGNORE_NAME]
            if file_ignore and mask_ignore(db) is None:
                ignore = merge.value(file_ignore[0])
        reject_if(masks_dir, problems)
        unmatched = len(targets) - len(plan)
        if images_dir is not None and unmatched:
            report.warnings.append(f"{unmatched} image(s) have no mask")
        with project.transaction(db) as tx:
            if merge is not None:
                tx.set_metadata(mask_classes=merge.classes)
            if ignore is not None:
                tx.set_metadata(mask_ignore=ignore)
            provenance = {"source": "masks", "imported_from": str(masks_dir)}
            # out/<split>/masks, as the export writes it (or a folder named train_masks, ...)
            split = split_from_name(masks_dir.name) or split_from_name(masks_dir.parent.name)
            new = [
                file_item(
                    image, info, annotator=annotator, mask=mask, split=split, provenance=provenance
                )
                for item_id, image, mask, info in plan
                if item_id is None
            ]
            report.ids = tx.add_items(new)
            for item_id, _image, mask, _info in plan:
                if item_id is not None:
                    tx.set_mask(item_id, mask, annotator)
                    report.updated += 1
            if images_dir is not None:
                # Images without masks are part of the set too.
                have = {image for _i, image, _m, _f in plan}
                rest = []
                for item_id, image, _shape in targets.values():
                    if item_id is None and image not in have:
                        info = scan_image(image)
                        if isinstance(info, str):
                            raise UserFacingError(f"{image}: {info}")
                        rest.append(
                            file_item(
                                image, info, annotator=annotator, split=split, provenance=provenance
                            )
                        )
                report.ids += tx.add_items(rest)
                new += rest
        report.added = len(new)
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
                info = tiff_info(tif) if tif.is_imagej else {}
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
        for n, row in enumerate(rows):
            base = f"{split_dir(row['split'])}/" if with_splits else ""
            rel = put_image(folder, project, db, row, base + "images")
            if row["mask"]:
                data, ext = mask_file(read_item_mask(project, row), info)
                folder.write_bytes(f"{base}masks/{Path(rel).stem}{ext}", data)
            if n % 200 == 0:
                yield Progress(n, len(rows), "writing images and masks")
        return not_kept(rows, "masks", {"splits", "masks"})

    return run_export(project, "masks", out, write, filters=filters, datapackage=datapackage)


def mask_file(mask: np.ndarray, info: dict[str, Any]) -> tuple[bytes, str]:
    """A label mask as the export writes it: greyscale PNG when its labels fit 8 bits, ImageJ
    TIFF otherwise; ``info`` (class table, ignore value) rides along as JSON."""
    described = {"format": "qbi-desktop label mask", "version": 1, **info}
    if mask.size == 0 or (int(mask.min()) >= 0 and int(mask.max()) < 256):
        from PIL import Image, PngImagePlugin

        text = PngImagePlugin.PngInfo()
        text.add_text(INFO_KEY, json.dumps(described))
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).save(
            buffer, format="PNG", pnginfo=text, compress_level=6
        )
        return buffer.getvalue(), ".png"
    return encode_tiff_bytes(mask.astype(np.uint16), info=described), ".tif"
