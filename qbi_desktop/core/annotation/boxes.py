"""Detection boxes made by hand: geometry, copy-forward proposals, class colours and storage.

Coordinates are the catalog's (:class:`~qbi_desktop.core.catalog.Box`): pixel edges, top-left
``(x, y)``, width ``w``, height ``h``; an image of width W spans x in [0, W]. COCO's
``[x, y, w, h]`` is the same convention, so export needs no conversion.

* Geometry: a box is always clipped to its image; one with nothing left (zero width or height,
  or lying wholly outside) is refused with a :class:`BoxError` that says why.
* Hit-testing: eight handles (corners and edge midpoints) resize, the inside moves.
* Copy-forward: the previous item's boxes become *proposals* for this one (clipped to this
  image); the user accepts, adjusts or rejects each, nothing is copied silently.
* Storage: a project item's boxes live in the catalog (:class:`ItemBoxStore`, each edit one
  transaction). A loose image (not a project item) keeps its boxes in a small JSON file per
  image plane in the user's data folder, beside the default masks folder
  (:class:`FileBoxStore`, written atomically), never in the raw-data folder.

No Qt here.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qbi_desktop.core.atomic import atomic_write_text
from qbi_desktop.core.catalog import row_checks
from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.catalog.project import Box, Project
from qbi_desktop.core.errors import UserFacingError

#: The eight resize handles, clockwise from the top-left corner.
HANDLES = ("nw", "n", "ne", "e", "se", "s", "sw", "w")
MAX_LOOSE_BYTES = 8 * 1024**2  # a boxes file larger than this is not ours
MAX_BOXES = 100_000  # per image: more is not a hand-made annotation file

# Colour-blind-safe palette (Okabe-Ito, then Tol's bright) for class names.
PALETTE = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (238, 102, 119),
    (34, 136, 51),
    (170, 51, 119),
    (102, 204, 238),
    (204, 187, 68),
)


class BoxError(UserFacingError):
    """A box that cannot be kept (nothing left inside the image, not a number, ...)."""


@dataclass(frozen=True)
class Hit:
    """What a point touches: box ``index`` and ``part`` (a handle name or ``"inside"``)."""

    index: int
    part: str


# -- geometry ------------------------------------------------------------------------------------


def from_corners(
    x0: float, y0: float, x1: float, y1: float, label: str, annotator: str | None = None
) -> Box:
    """The box spanned by two opposite corners, in any order."""
    return Box(label, min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0), annotator)


def clip(box: Box, width: int, height: int) -> Box:
    """``box`` cut to the image ``[0, width] x [0, height]``; :class:`BoxError` if nothing is
    left or a coordinate is not a finite number."""
    values = (box.x, box.y, box.w, box.h)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise BoxError(f"box {_describe(box)}: coordinates must be finite numbers")
    x0, y0 = max(0.0, float(box.x)), max(0.0, float(box.y))
    x1 = min(float(width), float(box.x) + max(0.0, float(box.w)))
    y1 = min(float(height), float(box.y) + max(0.0, float(box.h)))
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        if box.w <= 0 or box.h <= 0:
            why = "it has zero area"
        else:
            why = f"it lies outside the {width}x{height} image"
        raise BoxError(f"box {_describe(box)} not kept: {why}")
    return replace(box, x=x0, y=y0, w=x1 - x0, h=y1 - y0)


def _describe(box: Box) -> str:
    return f"'{box.label}' at x={box.x:g}, y={box.y:g}, {box.w:g}x{box.h:g}"


def handle_points(box: Box) -> list[tuple[str, float, float]]:
    """(handle, x, y) of the eight handles."""
    x0, y0, x1, y1 = box.x, box.y, box.x + box.w, box.y + box.h
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    return [
        ("nw", x0, y0),
        ("n", xm, y0),
        ("ne", x1, y0),
        ("e", x1, ym),
        ("se", x1, y1),
        ("s", xm, y1),
        ("sw", x0, y1),
        ("w", x0, ym),
    ]


def hit_test(
    boxes: Sequence[Box], x: float, y: float, tolerance: float, selected: int | None = None
) -> Hit | None:
    """The box part under (x, y): the selected box's handles first (within ``tolerance``
    image pixels), then any box's handles, then the inside of the smallest box containing the
    point (so a small box inside a large one stays reachable)."""
    order = list(range(len(boxes)))
    if selected is not None and 0 <= selected < len(boxes):
        order.remove(selected)
        order.insert(0, selected)
    best: tuple[float, Hit] | None = None
    for i in order:
        for name, hx, hy in handle_points(boxes[i]):
            d = max(abs(hx - x), abs(hy - y))
            if d <= tolerance and (best is None or d < best[0]):
                best = (d, Hit(i, name))
        if best is not None and i == selected:
            return best[1]
    if best is not None:
        return best[1]
    inside = [
        (b.w * b.h, i)
        for i, b in enumerate(boxes)
        if b.x <= x <= b.x + b.w and b.y <= y <= b.y + b.h
    ]
    return Hit(min(inside)[1], "inside") if inside else None


def resize(box: Box, handle: str, x: float, y: float) -> Box:
    """``box`` with the edges that ``handle`` names moved to (x, y); dragging an edge past the
    opposite one flips the box instead of making it negative."""
    if handle not in HANDLES:
        raise ValueError(f"unknown handle {handle!r}")
    x0, y0, x1, y1 = box.x, box.y, box.x + box.w, box.y + box.h
    if "w" in handle:
        x0 = x
    if "e" in handle:
        x1 = x
    if handle.startswith("n"):
        y0 = y
    if handle.startswith("s"):
        y1 = y
    return from_corners(x0, y0, x1, y1, box.label, box.annotator)


def move(box: Box, dx: float, dy: float, width: int, height: int) -> Box:
    """``box`` shifted by (dx, dy), stopped at the image's edges (its size is kept)."""
    x = min(max(0.0, box.x + dx), max(0.0, width - box.w))
    y = min(max(0.0, box.y + dy), max(0.0, height - box.h))
    return replace(box, x=x, y=y)


def copy_forward(previous: Sequence[Box], width: int, height: int) -> tuple[list[Box], int]:
    """Proposals for an image of ``width`` x ``height`` from the previous item's boxes:
    clipped to this image; (proposals, how many fell outside it and were left out)."""
    out, dropped = [], 0
    for box in previous:
        try:
            out.append(clip(box, width, height))
        except BoxError:
            dropped += 1
    return out, dropped


def class_colour(name: str) -> tuple[int, int, int]:
    """A stable colour for a class name (the same on the canvas, thumbnails and montage)."""
    return PALETTE[zlib.crc32(name.encode("utf-8")) % len(PALETTE)]


def size_text(box: Box) -> str:
    return f"{box.w:.0f}×{box.h:.0f}"


def as_corner_array(boxes: Sequence[Box], scale: float = 1.0) -> tuple[np.ndarray, list[str]]:
    """(N, 5) ``x0, y0, x1, y1, class index`` (the augment engine's box layout) at ``scale``,
    and the class names the indexes refer to."""
    names = list(dict.fromkeys(b.label for b in boxes))
    rows = [
        (b.x * scale, b.y * scale, (b.x + b.w) * scale, (b.y + b.h) * scale, names.index(b.label))
        for b in boxes
    ]
    return np.array(rows, dtype=np.float64).reshape(-1, 5), names


def draw_outlines(rgb: np.ndarray, corners: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """``rgb`` (H, W, 3 uint8) with one-pixel outlines of ``corners`` (rows ``x0, y0, x1, y1,
    class index``) in their class colours, drawn in place (and returned)."""
    h, w = rgb.shape[:2]
    for x0, y0, x1, y1, k in np.asarray(corners, dtype=np.float64).reshape(-1, 5):
        c0, c1 = int(np.clip(np.floor(x0), 0, w - 1)), int(np.clip(np.ceil(x1) - 1, 0, w - 1))
        r0, r1 = int(np.clip(np.floor(y0), 0, h - 1)), int(np.clip(np.ceil(y1) - 1, 0, h - 1))
        if c1 < c0 or r1 < r0:
            continue
        colour = class_colour(names[int(k)]) if 0 <= int(k) < len(names) else (255, 255, 0)
        rgb[r0, c0 : c1 + 1] = colour
        rgb[r1, c0 : c1 + 1] = colour
        rgb[r0 : r1 + 1, c0] = colour
        rgb[r0 : r1 + 1, c1] = colour
    return rgb


# -- storage ---------------------------------------------------------------------------------------


class ItemBoxStore:
    """The boxes of catalog item ``item_id``: every write is one transaction (crash-safe once
    it returns: SQLite has committed) and returns the catalog's
    :class:`~qbi_desktop.core.catalog.edits.Change`, which :meth:`revert` takes back."""

    def __init__(self, project: Project, item_id: int, annotator: str | None, blind: bool = False):
        self.project = project
        self.item_id = int(item_id)
        self.annotator = annotator
        self.blind = blind and bool(annotator)  # show only the annotator's own boxes

    def describe(self) -> str:
        return f"item {self.item_id} of project {self.project.root.name}"

    def load(self) -> list[Box]:
        if self.blind:
            from qbi_desktop.core.annotation.own_view import own_boxes

            return own_boxes(self.project, self.item_id, str(self.annotator))
        return self.project.boxes(self.item_id)

    def write(self, boxes: Sequence[Box], what: str = "") -> Change:
        change = self.project.set_boxes(self.item_id, list(boxes), self.annotator, what)
        if not change.ids:
            raise BoxError(f"{self.describe()}: the item was removed; boxes not saved")
        return change

    def revert(self, change: Change) -> tuple[Change, str | None]:
        """Take ``change`` back; (the change that redoes it, a note if the item was edited
        elsewhere since and so left alone)."""
        done = self.project.revert(change, self.annotator)
        note = None
        if done.skipped:
            note = f"boxes of {self.describe()} were changed elsewhere since: left as they are"
        return done.change, note


def boxes_of(project: Project, ids: Sequence[int]) -> dict[int, list[Box]]:
    """The boxes of many items in a few queries (items without boxes are absent)."""
    out: dict[int, list[Box]] = {}
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = project.db.execute(
            "SELECT item_id, label, x, y, w, h, annotator, id FROM boxes "
            f"WHERE item_id IN ({marks}) ORDER BY id",
            chunk,
        ).fetchall()
        sizes = dict.fromkeys(chunk, (None, None))
        sizes.update(
            (r[0], (r[1], r[2]))
            for r in project.db.execute(
                f"SELECT id, width, height FROM items WHERE id IN ({marks})", chunk
            )
        )
        row_checks.check_box_columns(project.db_path, rows, sizes)  # a catalog is input too
        for item_id, *values, _box_id in rows:
            out.setdefault(int(item_id), []).append(Box(*values))
    return out


def parse_box(text: str, annotator: str | None = None) -> Box:
    """``"label,x,y,w,h"`` (the command line's box) as a Box; a message if it is not one."""
    parts = [p.strip() for p in str(text).rsplit(",", 4)]
    if len(parts) != 5 or not parts[0]:
        raise BoxError(f"box {text!r}: give label,x,y,w,h (e.g. cell,10,20,30,40)")
    from qbi_desktop.core.decimal_text import decimal_number

    values = []
    for key, part in zip("xywh", parts[1:], strict=True):
        try:  # plain decimals, as in every file we read: not "1_0", "inf" or "1e999"
            values.append(decimal_number(part))
        except ValueError as exc:
            raise BoxError(f"box {text!r}: {key} {part!r} is {exc}") from None
    return Box(parts[0], *values, annotator)


def item_size(project: Project, item_id: int) -> tuple[int, int]:
    """(width, height) of an item: from the catalog, else from its pixels."""
    row = project.db.execute(
        "SELECT width, height FROM items WHERE id = ?", (int(item_id),)
    ).fetchone()
    if row is None:
        raise BoxError(f"{project.root}: item {item_id} is not in the project")
    if row[0] and row[1]:
        return int(row[0]), int(row[1])
    shape = np.shape(project.image(int(item_id)))
    return int(shape[1]), int(shape[0])


def edit_boxes(
    project: Project,
    item_id: int,
    add: Sequence[Box] = (),
    clear: bool = False,
    annotator: str | None = None,
) -> tuple[Change, list[str]]:
    """Add boxes to an item, after removing its boxes with ``clear``: one transaction. A box
    is refused (nothing is written) as the importers refuse it: a coordinate that is not a
    finite number, a negative or zero size, or a box sticking out of the image by more than
    ``formats.common.BOX_TOLERANCE``; one out by less (rounding) is clipped, with a note.
    Returns the catalog Change and the notes."""
    width, height = item_size(project, item_id)
    notes, kept = [], []
    for box in add:
        refuse_outside(box, width, height)
        clipped = clip(box, width, height)
        if clipped != box:
            notes.append(f"box {_describe(box)} clipped to the {width}x{height} image")
        kept.append(replace(clipped, annotator=box.annotator or annotator))
    boxes = ([] if clear else project.boxes(item_id)) + kept
    what = f"boxes ({len(boxes)})"
    return project.set_boxes(item_id, boxes, annotator, what), notes


def refuse_outside(box: Box, width: int, height: int) -> None:
    """:class:`BoxError` for a box the importers refuse: a coordinate that is not a finite
    number, no area, or lying outside the ``width`` x ``height`` image by more than the
    importers' tolerance (``formats.common.box_outside``)."""
    from qbi_desktop.core.formats.common import box_problem

    why = box_problem(box.x, box.y, box.w, box.h, width, height)
    if why is not None:
        raise BoxError(f"box {_describe(box)} not kept: {why}")


def loose_boxes_path(
    image_path: str | Path, index: int, folder: Path | None = None, dataset: str | None = None
) -> Path:
    """Where the boxes of plane ``index`` of a loose image file are kept: a file named after the
    image (plus a short hash of its full path, so two ``img.tif`` in different folders do not
    share one) in ``<user data>/boxes``. ``dataset``: the HDF5/NeXus dataset the plane is of
    (slice 3 of ``/entry/data/data`` and of ``/entry/dark`` are different images)."""
    if folder is None:
        from qbi_desktop.core.paths import user_dir

        folder = user_dir("data") / "boxes"
    image_path = Path(image_path)
    key = f"{image_path.resolve()}\0{int(index)}"
    if dataset:
        key += f"\0{dataset}"
    tag = hashlib.blake2b(key.encode(), digest_size=6).hexdigest()
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in image_path.stem) or "image"
    return Path(folder) / f"{stem}-{tag}.boxes.json"


def parse_boxes(data: object, where: str) -> list[Box]:
    """Typed boxes from parsed JSON (``{"boxes": [{"label", "x", "y", "w", "h"}, ...]}``);
    :class:`BoxError` names the file, the record and the field that is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("boxes"), list):
        raise BoxError(f"{where}: not a boxes file (no 'boxes' list)")
    records = data["boxes"]
    if len(records) > MAX_BOXES:
        raise BoxError(f"{where}: {len(records)} boxes, more than the {MAX_BOXES} allowed")
    out = []
    for n, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise BoxError(f"{where}: box {n} is not an object")
        label = rec.get("label")
        if not isinstance(label, str) or not label.strip():
            raise BoxError(f"{where}: box {n}: 'label' must be a non-empty text")
        values = []
        for key in ("x", "y", "w", "h"):
            v = rec.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise BoxError(f"{where}: box {n}: {key!r} must be a finite number, not {v!r}")
            values.append(float(v))
        if values[2] < 0 or values[3] < 0:
            raise BoxError(f"{where}: box {n}: width and height must not be negative")
        annotator = rec.get("annotator")
        out.append(Box(label, *values, annotator if isinstance(annotator, str) else None))
    return out


def boxes_json(boxes: Sequence[Box], **about: object) -> str:
    records = [
        {"label": b.label, "x": b.x, "y": b.y, "w": b.w, "h": b.h, "annotator": b.annotator}
        for b in boxes
    ]
    return json.dumps({**about, "boxes": records}, indent=1)


class FileBoxStore:
    """The boxes of one plane of a loose image, in a JSON file (see :func:`loose_boxes_path`)."""

    def __init__(
        self,
        image_path: str | Path,
        index: int,
        annotator: str | None,
        folder=None,
        dataset: str | None = None,
    ):
        self.image_path = Path(image_path)
        self.index = int(index)
        self.annotator = annotator
        self.dataset = dataset
        self.path = loose_boxes_path(image_path, index, folder, dataset)

    def describe(self) -> str:
        return f"{self.image_path.name} (boxes in {self.path})"

    def load(self) -> list[Box]:
        path = self.path
        if not path.exists() and not path.is_symlink():
            return []
        if path.is_symlink() or not path.is_file():
            raise BoxError(f"{path}: not a regular file; boxes not read")
        size = path.stat().st_size
        if size > MAX_LOOSE_BYTES:
            raise BoxError(f"{path}: {size} bytes is too large for a boxes file; not read")
        from qbi_desktop.core.jsonfile import parse_json

        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BoxError(f"{path}: cannot read boxes ({exc})") from exc
        return parse_boxes(parse_json(text, str(path)), str(path))

    def write(self, boxes: Sequence[Box], what: str = "") -> tuple[list[Box], list[Box]]:
        before = self.load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = boxes_json(boxes, image=str(self.image_path.resolve()), plane=self.index)
        atomic_write_text(self.path, text)
        return before, list(boxes)

    def revert(self, change: tuple[list[Box], list[Box]]) -> tuple[tuple, str | None]:
        before, after = change
        return self.write(before), None
