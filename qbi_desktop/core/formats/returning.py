"""A dataset coming back: imported files that are copies of items already in the project.

Exporting a project, editing the annotations in another tool (labelme, a COCO editor, a sheet)
and importing the result back gives files at other paths with the same pixels: every import
matches existing items by stored path, so each copy became a second item, flagged only as a
duplicate in the catalog. This module is the one place every import kind passes through
(:func:`qbi_desktop.core.formats.import_job` wraps each importer's job with :func:`noticing`):

* by default, after the import, the added items whose content hash equals that of an item that
  was in the project before are counted and a few pairs named in the report, with the way to
  bring the edits onto the originals instead;
* with ``update_originals=True`` ("update the items these files are copies of"), each such copy
  gives its annotations to the one item it is a copy of and is not kept: the class (when the
  copy has one), the box list and the mask (when the kind carries them: a file that lists no
  box or region means they were deleted) and the targets the copy has. An ambiguous match
  (two items of the project with those pixels, or two files that are copies of one item) is
  refused, naming them, and the import is taken back. The changes are kept in
  :class:`Returned` (catalog Changes and the masks before and after), which :func:`take_back`
  reverts: undoable like any other catalog edit (the Browser puts it on its undo stack).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.common import ImportReport
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.jobs import Job

#: The option's command-line name (the Import dialog names it its own way: see Named).
OPTION = "--update-originals"

#: What each import kind carries from the files onto an item (what a copy can bring back).
CARRIES: dict[str, frozenset[str]] = {
    "labelme": frozenset({"label", "boxes", "mask"}),
    "coco": frozenset({"boxes", "mask"}),
    "yolo": frozenset({"boxes"}),
    "sheet": frozenset({"label", "targets"}),
    "imagefolder": frozenset({"label"}),
    "masks": frozenset({"mask"}),
    "datapackage": frozenset({"label", "boxes", "mask", "targets"}),
    "mnist": frozenset({"label"}),
    "npz": frozenset({"label"}),
}

_SHOWN = 3  # pairs named in a note
_CHUNK = 500  # ids per "IN (...)" query


@dataclass
class Returned:
    """What bringing copies onto their originals changed: the catalog Changes (class, boxes,
    targets) and each mask's (item, before, after); :func:`take_back` reverts them."""

    changes: list[Change] = field(default_factory=list)
    masks: list[tuple[int, np.ndarray | None, np.ndarray | None]] = field(default_factory=list)
    what: str = "update originals"

    def __bool__(self) -> bool:
        return bool(self.changes or self.masks)


@dataclass
class ReturnedReport(ImportReport):
    """An import report that also holds what ``update_originals`` changed (for undo)."""

    returned: Returned | None = None


@dataclass(frozen=True)
class _Pair:
    copy: int
    copy_name: str
    original: int
    original_name: str


def noticing(
    project: Project,
    kind: str,
    job: Job[ImportReport],
    update_originals: bool = False,
    annotator: str | None = None,
    folders: Sequence[Path] = (),
) -> Job[ImportReport]:
    """Run an import job; then find the added items that are copies (same content hash) of
    items the project had before, and say so or, with ``update_originals``, apply them.

    With ``update_originals``, the copies an earlier import without it added from these files
    (items under ``folders``, the sources' folders, with the pixels of an older item) are
    taken in too: the import just gave them the files' annotations by path, so they go onto
    the older items and the copies are removed. "Import again with the option" thus mends an
    import that added copies."""
    had_items = len(project) > 0
    report = yield from job
    if not had_items:
        return report
    earlier = _earlier_copies(project, folders) if update_originals else []
    if not report.ids and not earlier:
        return report
    pairs, ambiguous = _copies(project, report.ids, earlier)
    if not update_originals:
        if pairs or ambiguous:
            report.warnings.append(_note(report, pairs, ambiguous))
        return report
    if ambiguous:
        _take_back_added(project, report.ids)
        raise UserFacingError(_refusal(report, ambiguous))
    if not pairs:
        return report
    try:
        returned, counts = _apply(project, kind, pairs, annotator)
    except BaseException:
        _take_back_added(project, report.ids)
        raise
    gone = {p.copy for p in pairs}
    came = len(gone & set(report.ids))
    values = {f.name: getattr(report, f.name) for f in fields(ImportReport)}
    out = ReturnedReport(**values, returned=returned)
    out.ids = [i for i in report.ids if i not in gone]
    out.added = max(0, report.added - came)
    out.updated = max(0, report.updated - (len(gone) - came)) + counts["changed"]
    out.already += len(pairs) - counts["changed"]
    out.warnings.append(_applied_note(kind, pairs, counts))
    return out


def take_back(project: Project, returned: Returned) -> int:
    """Revert what ``update_originals`` changed (newest first); items edited again since are
    left as they are. Returns how many items got their earlier annotation back."""
    restored = 0
    for change in reversed(returned.changes):
        restored += project.revert(change).restored
    with project.transaction() as tx:
        for item, before, after in returned.masks:
            now = project.mask(item)
            if not _same(now, after):
                continue  # edited again since: not ours to overwrite
            tx.set_mask(item, before, None)
            restored += 1
    return restored


def _earlier_copies(project: Project, folders: Sequence[Path]) -> list[int]:
    """Items already in the project whose file lies in one of ``folders`` and whose pixels
    another item has too (the copies an earlier import of these files added)."""
    roots = [Path(os.path.abspath(f)) for f in folders]
    if not roots:
        return []
    found = []
    for item, stored in project.db.execute(
        "SELECT id, path FROM items WHERE is_dup = 1 AND path IS NOT NULL"
    ):
        path = Path(os.path.abspath(project.resolve(stored)))
        if any(path.is_relative_to(root) for root in roots):
            found.append(item)
    return found


def _copies(
    project: Project, added: list[int], earlier: Sequence[int] = ()
) -> tuple[list[_Pair], list[str]]:
    """The added items (and ``earlier`` copies) with the pixels of exactly one older item
    (as pairs), and a text for each ambiguous one (several older items, or several copies of
    one item)."""
    db = project.db
    new = set(added) | set(earlier)
    found: dict[int, list[tuple[int, str]]] = defaultdict(list)
    names: dict[int, str] = {}
    ids = sorted(new)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            "SELECT a.id, COALESCE(a.path, a.name), o.id, COALESCE(o.path, o.name) "
            "FROM items a JOIN items o ON o.hash = a.hash AND o.id < a.id "
            f"WHERE a.id IN ({marks}) ORDER BY a.id, o.id",
            chunk,
        ).fetchall()
        for copy, copy_name, other, other_name in rows:
            names[copy] = copy_name
            if other not in new:
                found[copy].append((other, other_name))
    pairs, ambiguous = [], []
    by_original: dict[int, list[int]] = defaultdict(list)
    for copy, originals in sorted(found.items()):
        if len(originals) > 1:
            shown = " and ".join(f"{n!r} (item {i})" for i, n in originals[:_SHOWN])
            more = f" and {len(originals) - _SHOWN} more" if len(originals) > _SHOWN else ""
            ambiguous.append(
                f"{names[copy]!r} has the same pixels as {len(originals)} items of the "
                f"project: {shown}{more}"
            )
            continue
        original, original_name = originals[0]
        by_original[original].append(copy)
        pairs.append(_Pair(copy, names[copy], original, original_name))
    for original, copies in by_original.items():
        if len(copies) > 1:
            shown = " and ".join(repr(names[c]) for c in copies[:_SHOWN])
            ambiguous.append(
                f"{len(copies)} files are copies of the one item {_name(pairs, original)!r} "
                f"(item {original}): {shown}"
            )
    if ambiguous:
        twice = {c for cs in by_original.values() if len(cs) > 1 for c in cs}
        pairs = [p for p in pairs if p.copy not in twice]
    return pairs, ambiguous


def _name(pairs: list[_Pair], original: int) -> str:
    return next(p.original_name for p in pairs if p.original == original)


def _some(pairs: list[_Pair]) -> str:
    shown = "; ".join(
        f"{p.copy_name!r} (item {p.copy}) = {p.original_name!r} (item {p.original})"
        for p in pairs[:_SHOWN]
    )
    return shown + (f"; and {len(pairs) - _SHOWN} more" if len(pairs) > _SHOWN else "")


def _note(report: ImportReport, pairs: list[_Pair], ambiguous: list[str]) -> str:
    count = len(pairs) + len(ambiguous)
    text = (
        f"{count} of the {report.added} item(s) added have the same pixels (content hash) as "
        "items already in the project: copies coming back, e.g. from an export edited in "
        "another tool?"
    )
    if pairs:
        text += f" {Named.escape(_some(pairs))}."
    if ambiguous:
        text += f" {Named.escape('; '.join(ambiguous[:_SHOWN]))}."
    text += (
        " They are in the project twice now. To put the files' labels, boxes, masks and "
        "targets onto the original items instead, import the same files again with {option}: "
        "the copies then give their annotations to the originals and are removed (undoable)"
    )
    return Named(text, option=OPTION)


def _refusal(report: ImportReport, ambiguous: list[str]) -> Named:
    shown = Named.escape("; ".join(ambiguous[:5]))
    more = f" (and {len(ambiguous) - 5} more)" if len(ambiguous) > 5 else ""
    kept = (
        f"; the {report.updated} item(s) it updated at their own paths keep their new annotations"
        if report.updated
        else ""
    )
    return Named(
        f"import of {Named.escape(report.source)} refused with {{option}}: which item a file "
        f"is a copy of cannot be told: {shown}{more}. Nothing was added{kept}. Remove the "
        "extra item(s) of the project (or the extra files) and import again, or import "
        "without {option}",
        option=OPTION,
    )


def _take_back_added(project: Project, ids: list[int]) -> None:
    with project.transaction() as tx:
        tx.remove_items(list(ids))


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _apply(
    project: Project, kind: str, pairs: list[_Pair], annotator: str | None
) -> tuple[Returned, dict[str, Any]]:
    """Give each original its copy's annotations (what ``kind`` carries) and remove the
    copies, in one transaction; what changed, for undo and for the report."""
    carries = CARRIES.get(kind, frozenset())
    labels: dict[str | None, list[int]] = defaultdict(list)
    targets: dict[tuple[str, float], list[int]] = defaultdict(list)
    boxes, masks = [], []
    changed: set[int] = set()
    counts: dict[str, Any] = defaultdict(int)
    for pair in pairs:
        copy, original = project.get(pair.copy), project.get(pair.original)
        if "label" in carries:
            if copy["label"] is None:
                counts["no class"] += 1 if original["label"] is not None else 0
            elif copy["label"] != original["label"]:
                labels[copy["label"]].append(pair.original)
        if "boxes" in carries and _box_rows(copy["boxes"]) != _box_rows(original["boxes"]):
            boxes.append((pair.original, copy["boxes"]))
        if "mask" in carries:
            new, old = project.mask(pair.copy), project.mask(pair.original)
            if not _same(new, old):
                masks.append((pair.original, old, new))
        if "targets" in carries:
            old_targets = project.targets(pair.original)
            for name, value in project.targets(pair.copy).items():
                if old_targets.get(name) != value:
                    targets[(name, value)].append(pair.original)
        if copy.get("split") != original.get("split"):
            counts["split"] += 1
    returned = Returned()
    with project.transaction() as tx:
        for label, ids in labels.items():
            returned.changes.append(tx.set_label(ids, label, annotator))
            counts["class"] += len(ids)
            changed.update(ids)
        for item, box_list in boxes:
            returned.changes.append(tx.set_boxes(item, box_list, annotator))
            counts["boxes"] += 1
            changed.add(item)
        for (name, value), ids in targets.items():
            returned.changes.append(tx.set_target(ids, name, value, annotator))
            counts["targets"] += len(ids)
            changed.update(ids)
        for item, old, new in masks:
            tx.set_mask(item, new, annotator)
            returned.masks.append((item, old, new))
            counts["mask"] += 1
            changed.add(item)
        tx.remove_items([p.copy for p in pairs])
    counts["changed"] = len(changed)
    return returned, counts


def _box_rows(boxes: list[Any]) -> list[tuple]:
    return sorted((b.label, b.x, b.y, b.w, b.h) for b in boxes)


def _applied_note(kind: str, pairs: list[_Pair], counts: dict[str, Any]) -> str:
    parts = [
        f"{counts[key]} {what}"
        for key, what in (
            ("class", "class(es)"),
            ("boxes", "box list(s)"),
            ("mask", "mask(s)"),
            ("targets", "target value(s)"),
        )
        if counts[key]
    ]
    done = ", ".join(parts) if parts else "nothing (they already agreed)"
    text = (
        f"{len(pairs)} file(s) are copies of items already in the project (same pixels): "
        f"their annotations went onto those items instead of adding copies ({_some(pairs)}); "
        f"changed: {done}"
    )
    if counts["no class"]:
        text += f"; {counts['no class']} copy(ies) without a class left the original's class"
    if counts["split"]:
        text += f"; {counts['split']} copy(ies) came from another split: the originals keep theirs"
    carried = sorted(CARRIES.get(kind, frozenset()))
    if not carried:
        text += f"; a {kind} import carries no annotations, so nothing was changed"
    return text


__all__ = ["CARRIES", "OPTION", "Returned", "ReturnedReport", "noticing", "take_back"]
