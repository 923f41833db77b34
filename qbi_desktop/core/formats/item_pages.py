"""An item's image for an export that declares one 2-D image per annotation file (COCO's
``images[]``, labelme's ``imageHeight``/``imageWidth``, a mask folder's image beside its mask).

An item made from a multi-page TIFF (a stack imported as one item: the catalog keeps the file's
path, the item is its first page, and its mask and boxes are that page's) must not be copied
whole: readers that open TIFFs with tifffile (labelme) get the whole stack as one 3-D array,
(pages, height, width), and refuse it ("imageHeight mismatch") or read it as a colour image.
Such an item is written as the page it stands for, a single-page TIFF of the same name (values
never rescaled): a TIFF, not a PNG, as labelme opens only 8-bit PNGs (a 16-bit one is refused
as "not displayable") while it reads TIFFs with tifffile. Every other item is written as
``common.put_image`` writes it (its own file byte for byte, or its encoded pixels).

Exports call :func:`put_page` instead of ``put_image`` and say in their notes how many stack
items were written as a page (:func:`pages_note`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.images import TIFF_SUFFIXES, hash_file, tiff_bytes
from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.formats.common import (
    ExportFolder,
    item_pixels,
    item_stem,
    put_image,
)
from qbi_desktop.core.safefile import not_regular


def tiff_pages(path: Path) -> int:
    """The number of pages (IFDs) of a TIFF file, reading its IFD chain only (no pixels, no
    metadata series); 0 when it cannot be read (the export's copy then names the problem)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return len(tif.pages)
    except Exception:  # any decoder failure: the item's file is copied as before
        return 0


def is_stack_file(project: Project, row: dict[str, Any]) -> bool:
    """Whether the export row's image file holds more than the one page the item is."""
    if row["path"] is None:
        return False
    path = project.resolve(row["path"])
    if path.suffix.lower() not in TIFF_SUFFIXES or not_regular(path) is not None:
        return False
    return tiff_pages(path) > 1


def put_page(
    folder: ExportFolder,
    project: Project,
    db: sqlite3.Connection,
    row: dict[str, Any],
    rel_dir: str,
) -> tuple[str, bool]:
    """Write an item's image into ``rel_dir`` as one 2-D image: the relative path used, and
    whether it was written as a page of a stack (see the module docstring)."""
    if not is_stack_file(project, row):
        return put_image(folder, project, db, row, rel_dir), False
    path = project.resolve(row["path"])
    if row.get("hash") and hash_file(path) != row["hash"]:  # as copy_file checks a copy
        folder.problems.append(f"{path}: changed since it was imported (content differs)")
    data, ext = tiff_bytes(item_pixels(project, db, row)), path.suffix.lower()
    rel = f"{rel_dir}/{item_stem(row)}{ext}" if rel_dir else f"{item_stem(row)}{ext}"
    return folder.write_bytes(rel, data), True


def pages_note(names: list[str]) -> list[str]:
    """The export report's note on stack items written as their page (``names``: the items)."""
    if not names:
        return []
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return [
        f"{len(names)} stack item(s) (multi-page TIFF files) written as the one page each item "
        f"is, a single-page TIFF of its own, not the whole stack: {shown}"
    ]
