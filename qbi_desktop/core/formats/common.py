"""Shared pieces of the importers and exporters: reports, file scanning, the export folder.

Import pattern (every importer): scan and validate everything first, collecting a
:class:`Problem` per bad row/file/shape; any problem -> :class:`ImportRejected` before a single
write. Then one transaction writes all items (masks included), so a failure or a cancel leaves
the project as it was.

Export pattern: everything is written into a temporary folder beside the target, which is
renamed into place only when complete; a failed or cancelled export leaves no half folder
(:class:`~qbi_desktop.core.formats.export_folder.ExportFolder`, imported here for the exporters).
"""

from __future__ import annotations

import io
import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.images import (
    IMAGE_SUFFIXES,
    TIFF_SUFFIXES,
    hash_file,
    image_size,
    read_image_file,
    tiff_bytes,
)
from qbi_desktop.core.catalog.project import NewItem, Project

# BOX_TOLERANCE: pixels a box may stick out of its image and still be kept (rounding in other
# tools): one rule for every importer and for the catalog's own row checks
from qbi_desktop.core.catalog.row_checks import BOX_TOLERANCE  # noqa: F401 (re-exported)
from qbi_desktop.core.errors import UserFacingError, reason
from qbi_desktop.core.formats.export_folder import ExportFolder, ExportRefused  # noqa: F401
from qbi_desktop.core.formats.ignore import IGNORE_NAME
from qbi_desktop.core.formats.named import Named, named
from qbi_desktop.core.formats.selection import export_rows, select_rows  # noqa: F401
from qbi_desktop.core.imageheader import check_pixel_type
from qbi_desktop.core.jobs import Job
from qbi_desktop.core.maskio import store_range_problem
from qbi_desktop.core.safefile import not_regular

SPLIT_DIRS = ("train", "val", "test")
UNASSIGNED_DIR = "unassigned"


@dataclass
class ImportReport:
    """What an import did: items added, items updated (already in the project), notes."""

    kind: str
    source: str
    added: int = 0
    updated: int = 0
    ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: items found in the project already and left as they are (not added twice): said in the
    #: first line, which is all the status bar shows ("0 item(s) added" alone looked broken)
    already: int = 0

    def __str__(self) -> str:
        return self.text()

    def text(self, names: dict[str, str] | None = None) -> str:
        """The report; ``names`` gives the kinds the names a front end shows (see Named)."""
        kind = (names or {}).get(self.kind, self.kind)
        text = f"{kind} import of {self.source}: {self.added} item(s) added"
        if self.updated:
            text += f", {self.updated} updated"
        if self.already:
            text += f", {self.already} item(s) already in the project (left as they are)"
        return text + "".join(f"\n  note: {named(w, names)}" for w in self.warnings)


@dataclass
class ExportReport:
    kind: str
    out: str
    items: int = 0
    files: int = 0
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text()

    def text(self, names: dict[str, str] | None = None) -> str:
        kind = (names or {}).get(self.kind, self.kind)  # names: as ImportReport.text
        text = f"{kind} export to {self.out}: {self.items} item(s), {self.files} file(s)"
        return text + "".join(f"\n  note: {named(w, names)}" for w in self.warnings)


@dataclass
class FileInfo:
    hash: str
    size: int
    width: int | None
    height: int | None


def scan_image(path: Path) -> FileInfo | str:
    """Hash and size of an image file that decodes, or the reason it cannot be used.

    The image is decoded once here, so that a truncated or undecodable file is refused at
    import, naming it, rather than accepted and failing later (thumbnails, export). Only a
    regular file is read; its declared size is checked against the limits before decoding.
    """
    reason = not_regular(path)
    if reason is not None:
        return reason
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    if size == 0:
        return "file is empty"
    try:
        width, height = image_size(path)
        if width is None or height is None:
            read_image_file(path)  # the reader's own reason ("the TIFF contains no images")
            return "not a readable image"
        pixels = read_image_file(path)
        if path.suffix.lower() in TIFF_SUFFIXES:  # Pillow's 1-bit images open as 8-bit in both
            check_pixel_type(path, pixels.dtype)  # only what the viewer opens enters a project
    except UserFacingError as exc:
        return str(exc).removeprefix(f"{path}: ")
    except MemoryError:
        return "too large to decode in the memory available"
    try:
        digest = hash_file(path)
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    return FileInfo(digest, size, width, height)


def file_item(path: Path, info: FileInfo, **fields: Any) -> NewItem:
    """A new item for the image file ``path`` as :func:`scan_image` found it; ``fields`` are the
    format's own (label, split, annotator, mask, boxes, targets, provenance, ...)."""
    return NewItem(
        name=path.name,
        hash=info.hash,
        path=path,
        size=info.size,
        width=info.width,
        height=info.height,
        **fields,
    )


def is_image(path: Path) -> bool:
    return (
        path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    )


def existing_paths(project: Project, db: sqlite3.Connection) -> dict[str, int]:
    """Stored path -> item id of the file items already in the project."""
    return dict(db.execute("SELECT path, id FROM items WHERE path IS NOT NULL"))


def mask_classes(db: sqlite3.Connection) -> dict[str, str]:
    """The project's mask classes: label value (as text) -> class name.

    Only keys that are one label value: a range such as ``"1..m"`` (how catalogs before schema
    version 2 described instance masks; the migration turns it into ``mask_instances``) names
    no single value and is left out rather than breaking a reader.
    """
    meta = db.execute("SELECT value FROM meta WHERE key = 'mask_classes'").fetchone()
    stored = json.loads(meta[0]) if meta else {}
    if not isinstance(stored, dict):
        return {}
    return {str(k): str(v) for k, v in stored.items() if _label_value(k) is not None}


def _label_value(key: object) -> int | None:
    try:
        value = int(str(key).strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def mask_class_names(db: sqlite3.Connection) -> dict[int, str]:
    """The project's mask classes by label value, as exporters name a mask's regions."""
    return {int(k): v for k, v in mask_classes(db).items()}


def mask_instances(db: sqlite3.Connection) -> str | None:
    """The class of every object when the project's masks are instance masks, else None.

    Two ways a label mask can mean something, and a project uses one of them:
    class masks (``mask_classes``: value -> class, e.g. 1 = spot, 2 = crack; two touching
    spots are one region) and instance masks (``mask_instances``: each non-zero value is one
    object, all of that class; what a simulated "objects" mask is, and what COCO and labelme
    need to write one annotation per object).
    """
    meta = db.execute("SELECT value FROM meta WHERE key = 'mask_instances'").fetchone()
    value = json.loads(meta[0]) if meta else None
    return str(value) if isinstance(value, str) and value.strip() else None


def mask_kind_conflict(
    db: sqlite3.Connection, instances: str | None, classes: dict[str, str]
) -> str | None:
    """Why masks meaning ``instances`` (class of every object) or ``classes`` (value -> class)
    cannot join the project's masks, or None when they fit (or the project has no masks yet)."""
    have_instances, have_classes = mask_instances(db), mask_classes(db)
    # the ignore region goes with either kind of mask (ignore.py)
    have_classes = {k: v for k, v in have_classes.items() if v != IGNORE_NAME}
    if instances is not None:
        if have_classes:
            return (
                f"the file holds instance masks (one value per {instances!r} object) but the "
                f"project's masks are class masks ({_describe(have_classes)})"
            )
        if have_instances is not None and have_instances != instances:
            return (
                f"the file's objects are {instances!r}, the project's instance masks hold "
                f"{have_instances!r} objects"
            )
    elif classes and have_instances is not None:
        return (
            f"the file holds class masks ({_describe(classes)}) but the project's masks are "
            f"instance masks (one value per {have_instances!r} object)"
        )
    return None


def _describe(classes: dict[str, str]) -> str:
    ordered = sorted(classes.items(), key=lambda kv: _label_value(kv[0]) or 0)
    return ", ".join(f"{k} = {v}" for k, v in ordered)


def project_metadata(db: sqlite3.Connection) -> dict[str, Any]:
    """The project's metadata fields (title, licence, mask classes, ...) by name."""
    return {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}


def split_from_name(text: str) -> str | None:
    """train/val/test when a file or folder name says so (MNIST's t10k is the test set)."""
    lower = text.lower()
    for split, words in (
        ("train", ("train",)),
        ("val", ("val", "valid", "validation")),
        ("test", ("test", "t10k")),
    ):
        if any(re.search(rf"(^|[^a-z]){w}([^a-z]|$)", lower) for w in words):
            return split
    return None


def read_mask_file(path: Path) -> np.ndarray | str:
    """A label mask read from a file, or the reason it cannot be one."""
    try:
        mask = read_image_file(path)
    except UserFacingError as exc:
        return str(exc)
    if mask.ndim != 2:
        return f"mask must be a single-channel label image, has shape {mask.shape}"
    if not np.issubdtype(mask.dtype, np.integer) and mask.dtype != bool:
        if not (np.issubdtype(mask.dtype, np.floating) and np.all(mask == np.round(mask))):
            return f"mask must hold integer labels, has {mask.dtype}"
    problem = store_range_problem(mask)  # before any narrowing: 2**32 + 7 would become 7
    if problem is not None:
        return problem
    return mask.astype(np.int64) if mask.dtype.kind == "f" else mask


def parse_json_text(text: str) -> Any:
    """JSON text found inside a file (a cell of a table, a text chunk) parsed with the guard
    whole files get (:mod:`qbi_desktop.core.jsonfile`): nesting deeper than ``MAX_DEPTH`` is
    measured before parsing (no RecursionError), NaN/Infinity and integers Python will not
    convert are refused. Raises ValueError with the reason, to follow "<what> is": "not valid
    JSON (...)" or "nested too deeply (...)"; the caller names the file and the record."""
    from qbi_desktop.core.jsonfile import MAX_DEPTH, nesting_depth, unique_keys

    if nesting_depth(text.encode("utf-8", "surrogatepass")) > MAX_DEPTH:
        raise ValueError(
            f"nested too deeply (lists/objects more than {MAX_DEPTH} levels inside each other)"
        )
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    except RecursionError:  # not reached after the depth check; kept as the last guard
        raise ValueError("nested too deeply to read") from None
    except ValueError as exc:  # NaN tokens, integers of thousands of digits
        raise ValueError(f"not valid JSON ({reason(exc)})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (JSON has no NaN or Infinity)")


def box_outside(x: float, y: float, w: float, h: float, width: int, height: int) -> bool:
    """Whether a box ``[x, y, w, h]`` sticks out of a ``width`` x ``height`` image by more
    than :data:`BOX_TOLERANCE` (the COCO import's rule: such a box is refused, not clipped)."""
    t = BOX_TOLERANCE
    return x < -t or y < -t or x + w > width + t or y + h > height + t


def box_problem(x: float, y: float, w: float, h: float, width: int, height: int) -> str | None:
    """Why a box ``[x, y, w, h]`` cannot be kept on a ``width`` x ``height`` image, or None:
    the one rule of every entry (COCO, YOLO, labelme, Data Package imports, ``boxes --add``):
    finite numbers, a width and a height of more than 0, inside the image (see
    :func:`box_outside`). Each entry refuses such a box, naming its file and record."""
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (x, y, w, h)):
        return "coordinates must be finite numbers"
    if not (w > 0 and h > 0):
        return f"{w:g}x{h:g}: a box needs a width and a height of more than 0"
    if box_outside(x, y, w, h, width, height):
        return (
            f"at x={x:g}, y={y:g}, {w:g}x{h:g} lies outside the {width}x{height} image by more "
            f"than {BOX_TOLERANCE:g} pixel"
        )
    return None


def same_image_twice(plans: list[dict[str, Any]], where: str) -> list[Problem]:
    """A problem for each plan whose image file an earlier plan already uses (two annotation
    files, or two records, for one image: the catalog holds an image once). ``where`` is the
    key of a plan naming its annotation file."""
    seen: dict[Path, str] = {}
    problems = []
    for plan in plans:
        key = Path(plan["path"]).resolve()
        if key in seen:
            problems.append(
                Problem(
                    plan[where],
                    f"image {plan['path']} is also annotated by {seen[key]}; "
                    "merge the two or import them separately",
                )
            )
        else:
            seen[key] = plan[where]
    return problems


def reject_if(source: str | Path, problems: list[Problem]) -> None:
    from qbi_desktop.core.catalog.errors import ImportRejected

    if problems:
        raise ImportRejected(source, problems)


# -- export --------------------------------------------------------------------------------


#: What an item can carry, and how to tell that an export row carries it.
ITEM_FIELDS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "labels": lambda r: r["label"] is not None,
    "splits": lambda r: bool(r["split"]),
    "targets": lambda r: bool(r["targets"]),
    "masks": lambda r: r["mask"] is not None,
    "boxes": lambda r: bool(r["boxes"]),
    "review states": lambda r: r["review"] not in (None, "unreviewed"),
    "notes": lambda r: bool(r["notes"]),
}


def not_kept(rows: list[dict[str, Any]], kind: str, keeps: set[str]) -> list[str]:
    """The export report's note of what the items carry that the format ``kind`` cannot hold
    (``keeps`` names the :data:`ITEM_FIELDS` it does hold), with the export that keeps it."""
    lost = []
    for what, has in ITEM_FIELDS.items():
        if what not in keeps:
            count = sum(1 for r in rows if has(r))
            if count:
                lost.append(f"{what} of {count} item(s)")
    if not lost:
        return []
    return [
        Named(
            f"not in the {{kind}} export (the format cannot hold them): "
            f"{Named.escape(', '.join(lost))}; export '{{keeps}}' to keep everything",
            kind=kind,
            keeps="datapackage",
        )
    ]


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def quote_cell(value: Any) -> Any:
    """A text cell for an exported sheet: one that a spreadsheet would run as a formula gets a
    leading ``'`` (OWASP's advice); :func:`unquote_cell` takes it off again on import. Numbers
    and other values are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unquote_cell(text: str) -> str:
    """The inverse of :func:`quote_cell` for a cell read from a sheet we may have written."""
    if len(text) > 1 and text[0] == "'" and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def split_dir(split: str | None) -> str:
    return split or UNASSIGNED_DIR


def safe_component(text: str, fallback: str = "item") -> str:
    """A file/folder name that is safe on every OS and cannot climb out of its folder."""
    text = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", str(text)).strip().strip(".")
    return text[:120] or fallback


def encode_image(array: np.ndarray) -> tuple[bytes, str]:
    """PNG for 8/16-bit grey and 8-bit RGB(A) (lossless, everyone reads it), TIFF otherwise
    (float, 32-bit, stacks): values are never rescaled."""
    from PIL import Image

    array = np.asarray(array)
    png_ok = (array.ndim == 2 and array.dtype in (np.uint8, np.uint16)) or (
        array.ndim == 3 and array.shape[-1] in (3, 4) and array.dtype == np.uint8
    )
    if png_ok:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue(), ".png"
    return tiff_bytes(array), ".tif"


ExportWriter = Callable[[sqlite3.Connection, list[dict[str, Any]], ExportFolder], Job[Any]]


def run_export(
    project: Project,
    kind: str,
    out: str | Path,
    write: ExportWriter,
    *,
    filters: Any = None,
    datapackage: bool = False,
) -> Job[ExportReport]:
    """The frame of every export: the filtered rows, an :class:`ExportFolder` that appears only
    when complete, ``write(db, rows, folder)`` for the format's files (a Job: its progress is
    passed on; it may return notes for the report, e.g. what the format cannot hold), then
    ``datapackage.json`` when asked for."""
    db = project.connect()
    try:
        rows, selected = select_rows(project, db, kind, filters)  # refused when empty
        folder = ExportFolder(out)
        report = ExportReport(kind, str(folder.out), items=len(rows), warnings=selected)
        if folder.swept:
            report.warnings.append(str(folder.swept))
        with folder.guarded():
            from qbi_desktop.core.catalog import opinions

            if opinions.EXPORTING.get() == "every":  # first: a format's own package lists them
                report.warnings += opinions.export_opinions(project, db, rows, folder)
            report.warnings += (yield from write(db, rows, folder)) or []
            report.warnings += folder.notes()  # folders renamed: Dog/ and dog/ are one on Windows
            if folder.problems:
                raise ExportRefused(folder.out, folder.problems)
            if datapackage:
                from qbi_desktop.core.formats.datapackage import write_datapackage

                write_datapackage(folder, project_metadata(db))
        report.files = len(folder.files)
        return report
    finally:
        db.close()


def item_pixels(project: Project, db: sqlite3.Connection, row: dict[str, Any]) -> np.ndarray:
    """An export row's pixels, from its file or its container."""
    return project._pixels(db, row["path"], row["container"], row["index"])


def read_item_mask(project: Project, row: dict[str, Any]) -> np.ndarray:
    """The label mask stored for an export row (rows without one have ``row["mask"]`` None);
    a missing or unreadable mask file is a message naming it and the item."""
    import tifffile

    path = project.resolve(row["mask"])
    reason = not_regular(path)
    if reason is not None:
        raise UserFacingError(f"{path}: mask of item {row['id']} ({row['name']}): {reason}")
    try:
        mask = np.asarray(tifffile.imread(path))
    except Exception as exc:  # any decoder failure is a property of the file
        raise UserFacingError(
            f"{path}: mask of item {row['id']} ({row['name']}) cannot be read ({exc})"
        ) from exc
    if mask.ndim != 2:
        raise UserFacingError(
            f"{path}: mask of item {row['id']} ({row['name']}) is not a 2-D label image "
            f"(shape {mask.shape})"
        )
    return mask


def item_shape(project: Project, db: sqlite3.Connection, row: dict[str, Any]) -> tuple[int, int]:
    """(height, width) of an export row from the catalog (recorded at import), decoding the
    pixels only for an item that has no size recorded."""
    if row.get("width") and row.get("height"):
        return int(row["height"]), int(row["width"])
    return tuple(item_pixels(project, db, row).shape[:2])  # type: ignore[return-value]


def mask_regions(mask: np.ndarray) -> Iterator[tuple[int, np.ndarray, tuple[int, int, int, int]]]:
    """Each label of a label mask but the background 0: its value, its pixels (bool) and its
    bounding box ``(x0, y0, x1, y1)`` with both ends inclusive."""
    for value in np.unique(mask):
        if value == 0:
            continue
        region = mask == value
        ys, xs = np.nonzero(region)
        yield int(value), region, (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))


def item_image(
    project: Project, db: sqlite3.Connection, row: dict[str, Any]
) -> tuple[bytes | Path, str]:
    """An item's image for export: its own file (copied byte for byte) or encoded pixels."""
    if row["path"] is not None:
        path = project.resolve(row["path"])
        return path, path.suffix.lower()
    return encode_image(item_pixels(project, db, row))


def item_stem(row: dict[str, Any]) -> str:
    return safe_component(Path(row["name"]).stem, f"item{row['id']}")


def mask_bytes(mask: np.ndarray) -> tuple[bytes, str]:
    """PNG for 8-bit masks (the usual convention), TIFF for wider label ranges."""
    if mask.dtype == np.uint8 or (mask.size and 0 <= mask.min() and mask.max() < 256):
        return encode_image(mask.astype(np.uint8))
    return tiff_bytes(mask), ".tif"


def put_image(
    folder: ExportFolder,
    project: Project,
    db: sqlite3.Connection,
    row: dict[str, Any],
    rel_dir: str,
) -> str:
    """Write an item's image into ``rel_dir``; the relative path used."""
    source, ext = item_image(project, db, row)
    rel = f"{rel_dir}/{item_stem(row)}{ext}" if rel_dir else f"{item_stem(row)}{ext}"
    if isinstance(source, Path):
        reason = not_regular(source)
        if reason is not None:  # every missing file is reported at the end, not only the first
            folder.problems.append(f"{source}: image of item {row['id']}: {reason}")
            return folder.unique(rel)
        return folder.copy_file(rel, source, expect=row.get("hash"))
    return folder.write_bytes(rel, source)


def suffix_ok(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES | TIFF_SUFFIXES
