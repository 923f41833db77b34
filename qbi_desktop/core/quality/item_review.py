"""One disagreeing item as the review shows it, and mask decisions that can be taken back.

:func:`item_versions` reads what the disagreement view draws: the item's image (with display
levels from a strided sample), every annotator's mask or boxes, and the agreement of each pair
on this item (Dice and IoU of masks; matched-box F1 and the mean IoU of the matches).

:func:`set_item_mask` writes a decided mask as the item's mask and returns a :class:`MaskChange`
that :func:`revert_mask` takes back (and the change it returns puts it back again: redo). Masks
are not item columns, so :mod:`qbi_desktop.core.catalog.edits` cannot hold them: the change keeps
the replaced mask as its compressed TIFF bytes (a few kB for a typical mask) instead of the file,
which the catalog deletes after the commit. An item whose mask changed again since the decision
is left alone, as a catalog revert does.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.catalog import opinions
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.levels import percentile_levels, sample
from qbi_desktop.core.quality import agreement as ag

if TYPE_CHECKING:
    from qbi_desktop.core.catalog.project import Project

KINDS = ("mask", "boxes")


@dataclass
class PairFigure:
    """Agreement of two annotators on this item: ``first``/``second`` are Dice and IoU for
    masks, F1 and the mean IoU of matched boxes for boxes."""

    a: str
    b: str
    first: float
    second: float

    def text(self, kind: str) -> str:
        if kind == "mask":
            return f"{self.a} | {self.b}: Dice {self.first:.3f}, IoU {self.second:.3f}"
        iou = "–" if np.isnan(self.second) else f"{self.second:.3f}"
        return f"{self.a} | {self.b}: F1 {self.first:.3f}, mean IoU {iou}"


@dataclass
class ItemVersions:
    item: int
    name: str
    kind: str  # "mask", "boxes", "label" or "target:<name>"
    image: np.ndarray
    levels: tuple[float, float]
    annotators: list[str]
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    boxes: dict[str, list[tuple[str, float, float, float, float]]] = field(default_factory=dict)
    instances: bool = False
    figures: list[PairFigure] = field(default_factory=list)
    #: each annotator's class or target value (kind "label" or "target:<name>")
    values: dict[str, str] = field(default_factory=dict)
    #: the item's own annotation when it is a consensus already (a mask or box tuples), and
    #: who it is written as ("consensus of A, B by STAPLE"); None / "" otherwise
    consensus: Any = None
    consensus_by: str = ""


def is_value_kind(kind: str) -> bool:
    """A class label or a regression target: shown as values beside the item's image."""
    return kind == "label" or kind.startswith("target:")


def display_plane(image: np.ndarray) -> np.ndarray:
    """A 2-D (or RGB) plane to show: the first plane of a stack."""
    array = np.asarray(image)
    while array.ndim > 3 or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        array = array[0]
    return array


def item_versions(project: Project, item_id: int, kind: str) -> ItemVersions:
    """Everything the view shows of ``kind`` for one item (a UserFacingError names the item and
    the problem: no second annotator, masks of different shapes, unreadable files)."""
    from qbi_desktop.core.quality.agreement_report import mask_classes, read_masks

    if kind not in KINDS and not is_value_kind(kind):
        raise UserFacingError(
            f"item {item_id}: the review view shows labels, targets, masks or boxes, not {kind}"
        )
    row = project.db.execute("SELECT name FROM items WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        raise UserFacingError(f"item {item_id} is not in the project")
    name = str(row[0])
    try:
        stored = opinions.for_item(project.db, item_id)
    except ValueError as exc:  # a damaged JSON value in the catalog: named, not a traceback
        raise UserFacingError(
            f"item {item_id} ({name}): an annotator's stored annotation is not valid JSON ({exc})"
        ) from None
    if kind.startswith("target:"):  # each one's targets are kept together, by name
        target = kind.split(":", 1)[1]
        mine = {
            a: v["targets"][target]
            for a, v in stored.items()
            if isinstance(v.get("targets"), dict) and target in v["targets"]
        }
    else:
        mine = {a: v[kind] for a, v in stored.items() if kind in v}
    people = sorted(mine)
    if len(people) < 2:
        raise UserFacingError(
            f"item {item_id} ({name}): {kind} by {', '.join(people) or 'nobody'} only; "
            "there is nothing to compare"
        )
    image = display_plane(project.image(item_id))
    gray = image if image.ndim == 2 else image[..., :3].mean(axis=-1)
    levels = percentile_levels(sample(gray))
    out = ItemVersions(item_id, name, kind, image, levels, people)
    if is_value_kind(kind):  # a class or a target: the image to judge by, each one's value
        out.values = {a: str(mine[a]) for a in people}
        return out
    if kind == "mask":
        _classes, out.instances = mask_classes(project.db)
        # as drawn (an instance mask keeps its object numbers, which taking it must keep)
        masks = read_masks(project, mine, item_id, name, False)
        shape = next(iter(masks.values())).shape
        for person, m in masks.items():  # a file another program wrote: fractions, signs
            if m.dtype.kind not in "uib" or (m.size and m.dtype.kind == "i" and m.min() < 0):
                raise UserFacingError(
                    f"item {item_id} ({name}): the mask by {person!r} holds {m.dtype} values, "
                    "not class numbers 0..65535"
                )
        if shape != image.shape[:2]:
            raise UserFacingError(
                f"item {item_id} ({name}): the masks are {shape[0]}x{shape[1]}, the image "
                f"{image.shape[0]}x{image.shape[1]}; they cannot be shown over it"
            )
        out.masks = {a: masks[a] for a in people}
        path, by = _current(project, project.db, item_id)
        if path is not None and opinions.is_consensus(by):
            out.consensus = opinions.load_mask(project, path, item_id, str(by), shape)
            out.consensus_by = str(by)
        for a, b in itertools.combinations(people, 2):
            ma, mb = masks[a], masks[b]
            if out.instances:  # objects, not classes: compared as foreground, as the report does
                ma, mb = (ma != 0).astype(np.uint8), (mb != 0).astype(np.uint8)
            per_class = ag.overlap_per_class(ma, mb)
            if per_class:
                dice = float(np.mean([d for d, _ in per_class.values()]))
                iou = float(np.mean([i for _, i in per_class.values()]))
            else:  # neither marked anything
                dice = iou = 1.0
            out.figures.append(PairFigure(a, b, dice, iou))
    else:
        out.boxes = {a: [_box(b, item_id, a) for b in mine[a]] for a in people}
        for a, b in itertools.combinations(people, 2):
            m = ag.match_boxes(out.boxes[a], out.boxes[b])
            out.figures.append(PairFigure(a, b, m.f1, m.mean_iou))
        boxes = project.boxes(item_id)
        if boxes and all(opinions.is_consensus(b.annotator) for b in boxes):
            out.consensus = [(b.label, b.x, b.y, b.w, b.h) for b in boxes]
            out.consensus_by = str(boxes[0].annotator)
    return out


def _box(value: Any, item_id: int, annotator: str) -> tuple[str, float, float, float, float]:
    try:
        label, x, y, w, h = value
        box = str(label), float(x), float(y), float(w), float(h)
    except (TypeError, ValueError) as exc:
        raise UserFacingError(
            f"item {item_id}: a box by {annotator!r} is not [label, x, y, w, h]: {value!r}"
        ) from exc
    # NaN or infinite corners, or a negative size, would match nothing and vanish in a merge
    if not (np.isfinite(box[1:]).all() and box[3] >= 0 and box[4] >= 0):
        raise UserFacingError(
            f"item {item_id}: a box by {annotator!r} has corners that are not finite or a "
            f"negative size: {value!r}"
        )
    return box


# -- mask decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskChange:
    """An item's mask before and after a decision, as TIFF bytes (None: no mask)."""

    item: int
    what: str
    before: bytes | None
    before_by: str | None
    after: bytes | None
    after_by: str | None
    path: str | None  # the mask file the item held right after the change


def _current(project: Project, db: Any, item_id: int) -> tuple[str | None, str | None]:
    row = db.execute("SELECT path, annotator FROM masks WHERE item_id = ?", (item_id,)).fetchone()
    return (None, None) if row is None else (row[0], row[1])


def _read(project: Project, stored: str | None, item_id: int) -> bytes | None:
    from qbi_desktop.core.safefile import not_regular

    if stored is None:
        return None
    path = project.resolve(stored)
    problem = not_regular(path)
    if problem:
        raise UserFacingError(f"{path}: mask of item {item_id}: {problem}")
    return path.read_bytes()


def _decode(data: bytes) -> np.ndarray:
    import tifffile

    return tifffile.imread(io.BytesIO(data))


def _same(a: bytes | None, b: bytes | None) -> bool:
    """Whether two stored masks (TIFF bytes, None: no mask) hold the same labels."""
    if a is None or b is None or a == b:
        return a == b
    return bool(np.array_equal(_decode(a), _decode(b)))


def set_item_mask(
    project: Project, item_id: int, mask: np.ndarray | None, who: str, what: str
) -> MaskChange:
    """Write ``mask`` as the item's mask by ``who`` (one transaction, in the item's history);
    an empty mask removes it. A consensus name (``consensus of ...``) changes no person's own
    mask."""
    if mask is not None and not np.any(mask):
        mask = None
    with project.transaction() as tx:
        if tx.db.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is None:
            raise UserFacingError(f"item {item_id} is not in the project")
        old_path, old_by = _current(project, tx.db, item_id)
        before = _read(project, old_path, item_id)
        tx.set_mask(item_id, mask, who)
        new_path, new_by = _current(project, tx.db, item_id)
        after = _read(project, new_path, item_id)
    return MaskChange(item_id, what, before, old_by, after, new_by, new_path)


def revert_mask(project: Project, change: MaskChange, annotator: str | None) -> MaskChange | None:
    """Put back the mask ``change`` replaced, unless the item's mask changed again since
    (then None: left alone). Logged in the item's history as a restore by ``annotator``. The
    change returned reverts this again (redo)."""
    from qbi_desktop.core.catalog.project import now

    with project.transaction() as tx:
        path, by = _current(project, tx.db, change.item)
        after = _read(project, path, change.item)
        # An undo of a later decision put this change's result back as a new file: the same
        # mask by the same name is not a change made since (two Ctrl+Z in a row undo both).
        if path != change.path and not (by == change.after_by and _same(after, change.after)):
            return None
        mask = None if change.before is None else _decode(change.before)
        # the catalog's own writer, without a new opinion: the person's own version is theirs
        tx.set_mask(change.item, mask, change.before_by, log=False)
        new_path, new_by = _current(project, tx.db, change.item)
        tx.db.execute(
            "INSERT INTO annotation_log(item_id, what, value, annotator, at) VALUES (?,?,?,?,?)",
            (change.item, "mask", "restored" if mask is not None else None, annotator, now()),
        )
    return MaskChange(
        change.item, change.what, after, change.after_by, change.before, new_by, new_path
    )
