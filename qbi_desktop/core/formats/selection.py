"""Which items an export writes (the shared row selection of every exporter, see
:func:`~qbi_desktop.core.formats.common.run_export`): the catalog filters
(:class:`~qbi_desktop.core.catalog.queries.Filters`) plus the export's own choice for the
formats whose annotations are boxes or masks (COCO, labelme, masks): leave out the items with
no boxes and no mask (``--leave-out-unannotated``). Those formats write an item without
objects as an image with zero annotations, which their tools read as a confirmed background
(negative) image, not as "not annotated yet"; the export report counts them.

An export that would write no item is refused, naming the filter that left nothing: the
project's item count, then what each filter in turn leaves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from qbi_desktop.core.catalog import row_checks
from qbi_desktop.core.catalog.derived import provenance_sql
from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.catalog.queries import NONE, Filters, as_filters, where_clause
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.named import Named

#: The option (command line) that leaves out the items with no boxes and no mask.
UNANNOTATED_OPTION = "--leave-out-unannotated"
#: Export kinds whose annotations are boxes or masks -> what an item needs to be annotated.
ANNOTATION_KINDS: dict[str, str] = {
    "coco": "boxes or a mask",
    "labelme": "boxes or a mask",
    "masks": "a mask",
}


@dataclass
class ExportFilters(Filters):
    """:class:`Filters` plus ``leave_out_unannotated``: leave out the items with no boxes and
    no mask (for the :data:`ANNOTATION_KINDS`; a mask of only background is an annotation).
    ``dataclasses.replace`` keeps it, so the other export options narrow it as any filter."""

    leave_out_unannotated: bool = False


def export_filters(filters: Any = None, *, leave_out_unannotated: bool = False) -> ExportFilters:
    """``filters`` (a Filters, a mapping or None) as :class:`ExportFilters`."""
    base = as_filters(filters)
    values = {f.name: getattr(base, f.name) for f in fields(Filters)}
    if isinstance(base, ExportFilters):
        leave_out_unannotated = leave_out_unannotated or base.leave_out_unannotated
    return ExportFilters(**values, leave_out_unannotated=leave_out_unannotated)


def annotated(row: dict[str, Any], kind: str) -> bool:
    """Whether an export row has what the format ``kind`` writes as objects."""
    if kind == "masks":
        return row["mask"] is not None
    return row["mask"] is not None or bool(row["boxes"])


def export_rows(
    project: Project, db: sqlite3.Connection, filters: Any = None
) -> list[dict[str, Any]]:
    """Every item to export with what exporters need, in id order."""
    where, params = where_clause(filters)
    rows = db.execute(
        "SELECT items.id, items.name, items.label, items.split, items.path, items.container_id, "
        "items.idx, items.review, items.notes, items.label_by, items.provenance_kind, "
        f"{provenance_sql()}, items.metadata, items.hash, masks.path, items.width, "
        "items.height "
        "FROM items LEFT JOIN masks ON masks.item_id = items.id " + where + "ORDER BY items.id",
        params,
    ).fetchall()
    keys = (
        "id name label split path container index review notes annotator provenance_kind "
        "provenance metadata hash mask width height"
    ).split()
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    sizes = _checked_items(project, out)
    # a catalog is input too: every value an exporter reads is checked here, before it writes
    target_rows = db.execute("SELECT item_id, name, value FROM targets").fetchall()
    row_checks.check_target_columns(project.db_path, [r for r in target_rows if r[0] in sizes])
    targets: dict[int, dict[str, float]] = {}
    for item_id, name, value in target_rows:
        targets.setdefault(item_id, {})[name] = value
    boxes: dict[int, list[tuple]] = {}
    for item_id, *box in db.execute(
        "SELECT item_id, label, x, y, w, h, annotator FROM boxes ORDER BY id"
    ):
        boxes.setdefault(item_id, []).append(tuple(box))
    row_checks.check_item_boxes(project.db_path, boxes, sizes, _box_id(db))
    for row in out:
        row["targets"] = targets.get(row["id"], {})
        row["boxes"] = boxes.get(row["id"], [])
    return out


def _box_id(db: sqlite3.Connection) -> Callable[[int, int], Any]:
    """(item, k) -> the id of the item's ``k``-th box (asked of a bad box only)."""
    return lambda item, k: db.execute(
        "SELECT id FROM boxes WHERE item_id = ? ORDER BY id LIMIT 1 OFFSET ?", (item, k)
    ).fetchone()[0]


def _checked_items(project: Project, out: list[dict[str, Any]]) -> dict[int, tuple[Any, Any]]:
    """Item id -> (width, height) of the export's rows, each size and mask file name checked
    (:mod:`~qbi_desktop.core.catalog.row_checks`)."""
    sizes = {row["id"]: (row["width"], row["height"]) for row in out}
    kinds = {type(v) for pair in sizes.values() for v in pair}
    if not kinds <= {int, type(None)} or any(
        (w is not None and w < 0) or (h is not None and h < 0) for w, h in sizes.values()
    ):
        for item_id, (width, height) in sizes.items():
            row_checks.check_sizes(project.db_path, item_id, width, height)
    if {type(row["mask"]) for row in out} - {str, type(None)}:
        for row in out:
            if row["mask"] is not None:
                row_checks.check_mask_path(project.db_path, row["id"], row["mask"])
    for row in out:
        if row["mask"] is not None and not row["mask"].strip():
            row_checks.check_mask_path(project.db_path, row["id"], row["mask"])
    return sizes


def class_order(project: Project, labels: Iterable[str]) -> list[str]:
    """The classes an export numbers, in the project's order (``classes --order``): its stored
    class list, then the item labels it lacks (in key order, as the class list shows them).
    ``labels`` (those of the rows exported) are always among them; a class of the stored list
    that only boxes have is not a class of items and is left out."""
    from qbi_desktop.core.catalog.classes import (
        box_counts,
        class_counts,
        sorted_classes,
        stored_list,
    )

    stored = list(dict.fromkeys(stored_list(project.db)))
    items = set(class_counts(project)) | set(labels)
    boxes_only = set(box_counts(project)) - items
    ordered = [c for c in stored if c not in boxes_only]
    return ordered + sorted_classes(c for c in items if c not in ordered)


def select_rows(
    project: Project, db: sqlite3.Connection, kind: str, filters: Any = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows the export ``kind`` writes and the report's notes about the selection; an
    empty selection is refused (:func:`nothing_left`)."""
    selection = as_filters(filters)
    leave_out = bool(getattr(selection, "leave_out_unannotated", False))
    if leave_out and kind not in ANNOTATION_KINDS:
        raise UserFacingError(
            Named(
                "{option} applies to the exports whose annotations are boxes or masks ("
                + ", ".join(f"{{k{n}}}" for n in range(len(ANNOTATION_KINDS)))
                + "), not to {kind}: its items carry classes, targets or splits",
                option=UNANNOTATED_OPTION,
                kind=kind,
                **{f"k{n}": k for n, k in enumerate(ANNOTATION_KINDS)},
            )
        )
    rows = export_rows(project, db, selection)
    notes: list[str] = []
    if kind in ANNOTATION_KINDS:
        bare = [r for r in rows if not annotated(r, kind)]
        if leave_out:
            rows = [r for r in rows if annotated(r, kind)]
        if bare and rows:
            notes.append(_bare_note(bare, kind, leave_out))
    if not rows:
        raise UserFacingError(nothing_left(project, selection, kind, leave_out))
    return rows, notes


def _bare_note(bare: list[dict[str, Any]], kind: str, left_out: bool) -> Named:
    needs = ANNOTATION_KINDS[kind]
    shown = ", ".join(f"{r['id']} ({r['name']})" for r in bare[:5])
    more = f" and {len(bare) - 5} more" if len(bare) > 5 else ""
    if left_out:
        return Named(
            f"{len(bare)} item(s) without {needs} left out ({{option}}): "
            f"{Named.escape(shown + more)}",
            option=UNANNOTATED_OPTION,
        )
    return Named(
        f"{len(bare)} item(s) without {needs} are written as images with no objects, which "
        f"{{kind}} tools read as confirmed background (negative) images, not as "
        f"'not annotated yet': {Named.escape(shown + more)}; leave them out with {{option}}",
        kind=kind,
        option=UNANNOTATED_OPTION,
    )


#: Filter fields in the order the refusal applies them, each with how it reads.
_STEPS: tuple[tuple[str, Callable[[Any], tuple[str, dict[str, str]]]], ...] = (
    ("ids", lambda v: (f"the {len(v)} item(s) chosen in the browser", {})),
    ("split", lambda v: (f"split {_values(v, 'unassigned')} ({{o}})", {"o": "--split"})),
    ("review", lambda v: _review(v)),
    ("label", lambda v: (f"class {_values(v, 'none')}", {})),
    ("provenance", lambda v: (f"provenance {_values(v, 'none')}", {})),
    ("annotator", lambda v: (f"annotator {_values(v, 'none')}", {})),
    ("name", lambda v: (f"name containing {v!r}", {})),
    ("has_mask", lambda v: ("items with a mask" if v else "items without a mask", {})),
    ("has_boxes", lambda v: ("items with boxes" if v else "items without boxes", {})),
    ("has_target", lambda v: (f"items with a value of target {v!r}", {})),
    ("duplicates", lambda v: ("duplicates only", {})),
    ("metadata", lambda v: (f"metadata {dict(v)}", {})),
)


_UNLABELLED_STEP = (
    "leaving out the items without a class ({o})",
    {"o": "--leave-out-unlabelled"},
)


def _values(value: Any, none: str) -> str:
    values = [value] if isinstance(value, str) else list(value)
    shown = [none if v == NONE else v for v in values]
    return ", ".join(repr(v) for v in shown[:5]) + (" ..." if len(shown) > 5 else "") or "none"


def _review(value: Any) -> tuple[str, dict[str, str]]:
    values = [value] if isinstance(value, str) else list(value)
    if "rejected" not in values:
        return "leaving out the items reviewed as rejected ({o})", {"o": "--leave-out-rejected"}
    return f"review state {_values(value, 'none')}", {}


def nothing_left(project: Project, selection: Filters, kind: str, leave_out: bool) -> Named:
    """Why an export ``kind`` has no item to write: the project's count, then what each filter
    of ``selection`` leaves in turn, naming the one that left none."""
    from qbi_desktop.core.catalog.classes import class_counts

    total = project.count(Filters())
    if not total:
        return Named("no items match: the project holds no items; nothing was exported")
    template = f"no items match: the project holds {total} item(s)"
    names: dict[str, str] = {}
    current = Filters()
    count = total
    culprit = None  # the filter that left no item
    for field, describe in _STEPS:
        value = getattr(selection, field, None)
        if value is None or value is False and field not in ("has_mask", "has_boxes"):
            continue
        values = [value] if isinstance(value, str) else value
        if field == "label" and NONE not in values and set(values) >= set(class_counts(project)):
            text, opts = _UNLABELLED_STEP
        else:
            text, opts = describe(value)
        current = replace(current, **{field: value})
        count = project.count(current)
        key = f"o{len(names)}"
        if opts:
            names[key] = opts["o"]
        part = text.replace("{o}", "{" + key + "}") if opts else Named.escape(text)
        template += f"; {part}: {count} left"
        if count == 0:
            culprit = opts.get("o", field)
            break
    if count and leave_out:
        key = f"o{len(names)}"
        names[key] = UNANNOTATED_OPTION
        needs = Named.escape(ANNOTATION_KINDS[kind])
        template += f"; leaving out the items without {needs} ({{{key}}}): 0 left"
        culprit = UNANNOTATED_OPTION
    template += ". Nothing was exported"
    if culprit is not None:
        template += ": that filter removed every item; drop or change it"
    if culprit == "--leave-out-unlabelled" and kind in ANNOTATION_KINDS:
        key = f"o{len(names)}"
        names[key] = UNANNOTATED_OPTION
        template += (
            f" (a class is not what {{kind}} annotates: to leave out the items without "
            f"{Named.escape(ANNOTATION_KINDS[kind])}, use {{{key}}} instead)"
        )
        names["kind"] = kind
    return Named(template, **names)
