"""Import of a Data Package that our ``datapackage`` export wrote (kind ``datapackage``).

The package a ``datapackage`` export wrote comes back whole: every file listed in
datapackage.json is checked against its size and checksum first (a changed or missing file
refuses the import, naming the file; a file listed without a ``hash``, which the spec allows,
is imported with a note that it was not verified), then items.csv gives each item its label,
split, review state, notes, annotator, provenance, metadata, targets, mask and boxes, and the
descriptor the project's class list, target definitions and annotators
(:mod:`.datapackage_project`). The images are
referenced where they are (as every importer does; an archive is extracted into the project
first). Only JSON and CSV are parsed: nothing in a package is executed or unpickled.

The descriptor is written by :mod:`qbi_desktop.core.formats.datapackage`.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog import schema
from qbi_desktop.core.catalog.classes import class_list
from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import METADATA_FIELDS, NewItem, Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.classnames import StoredNames, class_name_problem, merge_classes
from qbi_desktop.core.formats.common import (
    ImportReport,
    existing_paths,
    mask_classes,
    mask_kind_conflict,
    project_metadata,
    read_mask_file,
    reject_if,
    scan_image,
    unquote_cell,
)
from qbi_desktop.core.formats.datapackage_cells import (
    boxes_outside,
    cell_box,
    json_cell,
    target_columns,
)
from qbi_desktop.core.formats.datapackage_files import (
    CHANGED,
    ITEMS_TABLE,
    changed_table,
    check_edited_table,
    find_descriptor,
    package_files,
    read_descriptor,
    verify_file,
)
from qbi_desktop.core.formats.datapackage_opinions import read_opinions, write_opinions
from qbi_desktop.core.formats.datapackage_project import apply_section, read_section
from qbi_desktop.core.formats.ignore import IGNORE_NAME, mask_ignore
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.formats.packed import PackedMask
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.safefile import read_text

#: Metadata that says what mask values mean: merged with the project's, never filled in.
MASK_MEANING = ("mask_classes", "mask_instances", "mask_ignore")
#: Project metadata fields a package's descriptor gives back (see :func:`descriptor_metadata`).
_EXTRA_FIELDS = ("instrument", "modality", "pixel_size", "pixel_unit", "acquisition_dates")


def descriptor_metadata(descriptor: dict[str, Any]) -> dict[str, Any]:
    """The project metadata fields (title, license, creators, ...) a descriptor gives back,
    the inverse of what :func:`build_descriptor` writes; values of the wrong type are left out."""
    out: dict[str, Any] = {}
    for key in ("title", "description", "version", "mask_instances", "mask_ignore", *_EXTRA_FIELDS):
        if descriptor.get(key) is not None:
            out[key] = descriptor[key]
    licenses = descriptor.get("licenses")
    if isinstance(licenses, list) and licenses and isinstance(licenses[0], dict):
        out["license"] = licenses[0].get("name")
    if isinstance(descriptor.get("keywords"), list):
        out["keywords"] = [str(k) for k in descriptor["keywords"]]
    contributors = descriptor.get("contributors")
    if isinstance(contributors, list):
        creators = []
        for c in contributors:
            if not isinstance(c, dict) or c.get("role", "author") != "author" or not c.get("title"):
                continue
            person = {"name": str(c["title"])}
            if c.get("email"):
                person["email"] = str(c["email"])
            orcid = str(c.get("path") or "")
            if orcid.startswith("https://orcid.org/"):
                person["orcid"] = orcid.removeprefix("https://orcid.org/")
            if c.get("organization"):
                person["organization"] = str(c["organization"])
            creators.append(person)
        if creators:
            out["creators"] = creators
    classes = descriptor.get("mask_classes")
    if isinstance(classes, dict):
        out["mask_classes"] = {str(k): str(v) for k, v in classes.items()}
    return {
        k: v
        for k, v in out.items()
        if v is not None and isinstance(v, METADATA_FIELDS[k]) and not isinstance(v, bool)
    }


def _lists_items_table(descriptor: dict[str, Any]) -> bool:
    for resource in descriptor["resources"]:
        paths = resource.get("path") if isinstance(resource, dict) else None
        if ITEMS_TABLE in (paths if isinstance(paths, list) else [paths]):
            return True
    return False


def _read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of items.csv (JSON cells can be long: the csv module's cap is lifted
    for this read only)."""
    text = read_text(path, "the items table", encoding="utf-8-sig")
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)  # provenance and metadata cells can be long JSON
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise UserFacingError(f"{path}: not a readable CSV table ({exc})") from None
    finally:
        csv.field_size_limit(limit)
    if not rows:
        raise UserFacingError(f"{path}: empty table, no header")
    return [h.strip() for h in rows[0]], rows[1:]


def import_job(
    project: Project,
    sources: Sequence[str | Path],
    *,
    annotator: str | None = None,
    edited_table: bool = False,
    **_: Any,
) -> Job[ImportReport]:
    """Import a Data Package a ``datapackage`` export wrote (its folder or datapackage.json).

    ``annotator`` is used for items whose row names none. Items whose image is already in the
    project (the same package imported again) are left as they are. ``edited_table`` accepts
    an items.csv changed since the export (read as it is, with a note; one cut short is still
    refused, see :mod:`.datapackage_files`).
    """
    if len(sources) != 1:
        raise UserFacingError(
            Named("{kind} import takes one package (its folder or its JSON)", kind="datapackage")
        )
    descriptor_path = find_descriptor(sources[0]).absolute()
    root = descriptor_path.parent
    descriptor = read_descriptor(descriptor_path)
    if not _lists_items_table(descriptor):
        # a package from another tool: say so first, not "no usable checksum" for its files
        names = [str(r.get("path")) for r in descriptor["resources"] if isinstance(r, dict)]
        listed = Named.escape(", ".join(names[:5]) or "no files")
        raise UserFacingError(
            Named(
                f"{Named.escape(str(descriptor_path))}: not a QBI export: no {ITEMS_TABLE} (the "
                f"table of items a QBI Desktop export writes; this package lists {listed}); "
                "import its images with the {a}, {b}, {c} or {d} kind",
                a="imagefolder",
                b="sheet",
                c="coco",
                d="labelme",
            )
        )
    report = ImportReport("datapackage", str(root))
    problems: list[Problem] = []
    files = package_files(descriptor, root, problems)

    # 1. Every listed file is there and unchanged, before anything of it is used.
    edited = None  # why items.csv is not the exported one, when accepted as edited
    for n, entry in enumerate(files.values()):
        reason = verify_file(entry)
        if reason and entry.rel == ITEMS_TABLE and reason.endswith(CHANGED):
            edited = reason if edited_table else None
            reason = None if edited_table else changed_table(reason)
        if reason:
            problems.append(Problem(str(entry.path), reason))
        if n % 50 == 0:
            yield Progress(n, len(files), "verifying checksums")
    unverified = [entry.rel for entry in files.values() if entry.algorithm is None]
    if unverified:
        shown = ", ".join(unverified[:5]) + (
            f" and {len(unverified) - 5} more" if len(unverified) > 5 else ""
        )
        report.warnings.append(
            f"{len(unverified)} file(s) not verified against a checksum: datapackage.json gives "
            f"no hash for them ({shown}); their content is taken as it is"
        )
    reject_if(root, problems)
    table = files.get(ITEMS_TABLE)
    if table is None:
        raise UserFacingError(
            Named(
                f"{Named.escape(str(descriptor_path))}: lists no {ITEMS_TABLE} (one row per "
                "item), so this is not a QBI Desktop dataset export; import its images with "
                "the {kind} kind",
                kind="imagefolder",
            )
        )
    header, rows = _read_table(table.path)
    if "path" not in header:
        raise UserFacingError(f"{table.path}: no 'path' column (the image of each item)")
    if edited:
        report.warnings += check_edited_table(table.path, header, rows, descriptor)
        report.warnings.append(
            f"{ITEMS_TABLE} was edited since the export ({edited.removesuffix(CHANGED)}changed): "
            "read as it is, not verified against a checksum (its rows were checked to be "
            "whole); the other files of the package were verified"
        )
    col = {name: i for i, name in enumerate(header)}
    target_cols = target_columns(header, table.path)

    # 2. Every row: valid values, files that are in the package, masks that fit their image.
    db = project.connect()
    try:
        known = existing_paths(project, db)
        planned: list[tuple[int | None, NewItem, str, str]] = []  # old id, item, review, notes
        old_ids: set[int] = set()
        reused: dict[int, int] = {}  # old id -> id of the item already in the project
        used: dict[str, int] = {}  # image path -> the row using it
        skipped = 0
        for n, cells in enumerate(rows, start=2):  # row 1 is the header
            if not any(c.strip() for c in cells):
                continue

            def cell(name: str, cells: list[str] = cells) -> str:
                i = col.get(name)
                # text cells an export quoted against formula injection (see quote_cell)
                return unquote_cell(cells[i]) if i is not None and i < len(cells) else ""

            def bad(reason: str, n: int = n) -> None:
                problems.append(Problem(str(table.path), reason, row=n))

            old_id: int | None = None
            if cell("id").strip():
                try:
                    old_id = int(cell("id"))
                except ValueError:
                    bad(f"id {cell('id')!r} is not a whole number")
                    continue
                if old_id in old_ids:
                    bad(f"id {old_id} appears twice")
                    continue
                old_ids.add(old_id)
            rel = cell("path").strip()
            if rel not in files:
                bad(f"image {rel!r} is not a file listed in datapackage.json")
                continue
            if rel in used:
                bad(f"image {rel!r} is also the image of row {used[rel]} (one item per image)")
                continue
            used[rel] = n
            image = files[rel].path
            split = cell("split").strip() or None
            review = cell("review").strip() or "unreviewed"
            kind = cell("provenance_kind").strip() or "acquired"
            reasons = []
            if split not in (None, *schema.SPLITS):
                reasons.append(f"split {split!r} is not one of {', '.join(schema.SPLITS)}")
            if review not in schema.REVIEW_STATES:
                reasons.append(f"review {review!r} is not one of {', '.join(schema.REVIEW_STATES)}")
            if kind not in schema.PROVENANCE_KINDS:
                reasons.append(
                    f"provenance_kind {kind!r} is not one of {', '.join(schema.PROVENANCE_KINDS)}"
                )
            try:
                boxes = [cell_box(b) for b in json_cell(cell("boxes"), list, "boxes")]
                provenance = json_cell(cell("provenance"), dict, "provenance")
                metadata = json_cell(cell("metadata"), dict, "metadata")
            except ValueError as exc:
                reasons.append(str(exc))
                boxes = []
            if cell("label") and (why := class_name_problem(cell("label"))):
                reasons.append(f"label: {why}")
            reasons += [
                f"boxes[{k}].label: {why}"
                for k, b in enumerate(boxes)
                if (why := class_name_problem(b.label))
            ][:5]
            targets: dict[str, float] = {}
            for name, i in target_cols:
                text = cells[i].strip() if i < len(cells) else ""
                if not text:
                    continue
                try:
                    value = float(text)
                except ValueError:
                    reasons.append(f"target {name!r}: {text!r} is not a number")
                    continue
                if not math.isfinite(value):
                    reasons.append(f"target {name!r}: {text!r} is not a finite number")
                    continue
                targets[name] = value
            if reasons:
                for reason in reasons:
                    bad(reason)
                continue
            stored = project.store_path(image)
            if stored in known:
                skipped += 1
                if old_id is not None:
                    reused[old_id] = known[stored]
                continue
            info = scan_image(image)
            if isinstance(info, str):
                problems.append(Problem(str(image), info, row=n))
                continue
            outside = boxes_outside(boxes, info.width, info.height, rel)
            if outside:
                bad(outside)
                continue
            mask = None
            mask_rel = cell("mask").strip()
            if mask_rel:
                if mask_rel not in files:
                    bad(f"mask {mask_rel!r} is not a file listed in datapackage.json")
                    continue
                mask = read_mask_file(files[mask_rel].path)
                if isinstance(mask, str):
                    problems.append(Problem(str(files[mask_rel].path), mask, row=n))
                    continue
                if (info.height, info.width) != mask.shape:
                    problems.append(
                        Problem(
                            str(files[mask_rel].path),
                            f"mask is {mask.shape[1]}x{mask.shape[0]}, "
                            f"image is {info.width}x{info.height}",
                            row=n,
                        )
                    )
                    continue
            if mask is not None:
                mask = PackedMask(mask)  # compressed until written (see packed.py)
            item = NewItem(
                name=cell("name").strip() or image.name,
                hash=info.hash,
                path=image,
                size=info.size,
                width=info.width,
                height=info.height,
                label=cell("label") or None,
                split=split,
                annotator=cell("annotator").strip() or annotator,
                provenance_kind=kind,
                provenance=provenance,
                metadata=metadata,
                targets=targets,
                mask=mask,
                boxes=boxes,
            )
            planned.append((old_id, item, review, cell("notes")))
            if n % 200 == 0:
                yield Progress(n, len(rows), "reading items")

        # 3. What the package's mask values mean must agree with the project's masks.
        meta = descriptor_metadata(descriptor)
        new_classes = meta.get("mask_classes", {})
        instances = meta.get("mask_instances")
        old_classes = mask_classes(db)
        # One name, one value: the package's masks take the project's value of each name.
        merge = merge_classes(old_classes, new_classes, str(descriptor_path))
        report.warnings += merge.notes
        # the ignore value: said by the descriptor, or (older exports) named in the class table
        ignore = meta.get("mask_ignore")
        if ignore is None:
            ignore = next((int(k) for k, v in new_classes.items() if v == IGNORE_NAME), None)
        if merge.renumber:
            for _old, item, _review, _notes in planned:
                item.mask = merge.apply(item.mask)
        conflict = mask_kind_conflict(db, instances, new_classes)
        if conflict:
            problems.append(Problem(str(descriptor_path), conflict))
        # the class list, target definitions and annotators (datapackage_project.py)
        section = read_section(descriptor, str(descriptor_path), problems)
        sizes = {old: (it.width, it.height) for old, it, *_ in planned if old is not None}
        own, left = read_opinions(files, sizes, old_ids, problems)  # datapackage_opinions.py
        reject_if(root, problems)
        stored = StoredNames()  # every class name the package brings is stored in NFC
        for _old, item, _review, _notes in planned:
            stored.see([item.label, *(b.label for b in item.boxes or [])])
        stored.see(new_classes.values())
        if section.get("classes"):
            section["classes"] = list(dict.fromkeys(stored(c) for c in section["classes"]))
        if note := stored.note(str(descriptor_path)):
            report.warnings.append(note)
        classes_before = class_list(project)

        report.already = skipped  # said in the report's first line
        yield Progress(len(rows), len(rows), "writing catalog")
        have = project_metadata(db)
        with project.transaction(db) as tx:
            report.ids = tx.add_items([item for _old, item, _r, _n in planned])
            new_id = dict(reused)
            new_id.update(
                {
                    old: i
                    for (old, *_), i in zip(planned, report.ids, strict=True)
                    if old is not None
                }
            )
            by_review: dict[str, list[int]] = {}
            orphans = 0
            for (_old, item, review, notes), i in zip(planned, report.ids, strict=True):
                if review != "unreviewed":
                    by_review.setdefault(review, []).append(i)
                if notes:
                    tx.set_notes(i, notes)
                link = _parent_link(item, new_id)
                if link is not None:
                    parent, provenance = link
                    tx.db.execute(
                        "UPDATE items SET parent_id = ?, provenance = ? WHERE id = ?",
                        (parent, json.dumps(provenance), i),
                    )
                    orphans += parent is None
            if orphans:
                report.warnings.append(
                    f"{orphans} augmented item(s) made from items not in the package: "
                    "their parent link is dropped"
                )
            for review, ids in by_review.items():
                tx.set_review(ids, review, None, None)
            if new_classes:
                tx.set_metadata(mask_classes=merge.classes)
            if instances is not None:
                tx.set_metadata(mask_instances=instances)
            if ignore is not None and mask_ignore(db) is None:
                tx.set_metadata(mask_ignore=merge.value(ignore))
            # The dataset description fills what the project does not say yet; never overwrites.
            fill = {
                k: v
                for k, v in meta.items()
                if k not in MASK_MEANING and have.get(k) in (None, "", [])
            }
            if fill:
                tx.set_metadata(**fill)
            report.warnings += apply_section(tx, section, classes_before)
            added = {old: i for (old, *_), i in zip(planned, report.ids, strict=True)}
            report.warnings += write_opinions(tx, own, added, files, merge)
            if left:
                report.warnings.append(
                    f"{left} annotator version(s) of items not added (already in the project) "
                    "left out: those items keep theirs"
                )
            differ = sorted(
                k
                for k, v in meta.items()
                if k not in MASK_MEANING and k not in fill and have[k] != v
            )
            if differ:
                report.warnings.append(
                    f"the project's own {', '.join(differ)} kept (the package says otherwise)"
                )
        report.added = len(planned)
        return report
    finally:
        db.close()


def _parent_link(item: NewItem, new_id: dict[int, int]) -> tuple[int | None, dict] | None:
    """(parent id in this project, provenance pointing at it) for an augmented item whose
    provenance names its parent by the exporting project's id; None for other items."""
    parent = item.provenance.get("parent")
    if item.provenance_kind != "augmented" or not isinstance(parent, int):
        return None
    mapped = new_id.get(parent)
    return mapped, {**item.provenance, "parent": mapped}
