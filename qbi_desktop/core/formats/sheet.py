"""A regression sheet: CSV or XLSX, first column the image name, the other columns numeric
targets. Optional columns named ``label`` and ``split`` carry a class label and the split.

Image names resolve against ``images_dir`` (default: the sheet's folder). Images already in the
project get their targets updated; new ones are added. Encoding, separator and decimal mark are
detected or given (:mod:`~qbi_desktop.core.formats.sheetfile`). XLSX needs the optional
``openpyxl``; cached cell values are read, formulas are never evaluated (one without a cached
value is refused, naming the cell). What the targets are (unit, range, decimals) comes from a
Table Schema beside a CSV (``<name>.schema.json``) or an XLSX's ``targets`` worksheet, as our
export writes them (:mod:`.target_defs`); the project keeps its own definitions.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.catalog.classes import class_name_problem
from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import NewItem, Project
from qbi_desktop.core.catalog.schema import SPLITS
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import target_defs
from qbi_desktop.core.formats.classnames import StoredNames
from qbi_desktop.core.formats.coco_notes import case_twin
from qbi_desktop.core.formats.common import (
    ExportFolder,
    ExportReport,
    ImportReport,
    existing_paths,
    file_item,
    not_kept,
    put_image,
    quote_cell,
    reject_if,
    run_export,
    scan_image,
    split_dir,
    unquote_cell,
)
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.formats.sheetfile import (
    DECIMALS,
    MISSING,
    find_sheet,
    not_a_file,
    parse_number,
    read_sheet,
    sniff_decimal,
    xlsx_bytes,
)
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.safefile import check_regular, resolve_inside

SPECIAL = ("label", "split")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def import_job(
    project: Project,
    sources: Sequence[str | Path],
    *,
    images_dir: str | Path | None = None,
    annotator: str | None = None,
    within: str | Path | None = None,
    encoding: str | None = None,
    separator: str | None = None,
    decimal: str | None = None,
    **_: Any,
) -> Job[ImportReport]:
    """Import one sheet. Image names must resolve inside ``images_dir`` when given, else
    inside ``within`` (an extracted archive) or the sheet's folder. ``encoding``,
    ``separator`` (``,`` ``;`` tab) and ``decimal`` (``.`` ``,``) are detected when not given."""
    if len(sources) != 1:
        raise UserFacingError(Named("{kind} import takes one CSV or XLSX file", kind="sheet"))
    path = Path(sources[0])
    if path.is_dir():  # e.g. an extracted archive: the one sheet inside, images beside it
        path = find_sheet(path)
    check_regular(path, "the sheet")
    base = Path(images_dir) if images_dir else path.parent
    # Image names must stay inside the images folder (or, for an archive, what was extracted).
    root = Path(images_dir) if images_dir else Path(within or path.parent)
    sheet = read_sheet(path, encoding=encoding, separator=separator, decimal=decimal)
    numbered = [(r, row) for r, row in enumerate(sheet.rows, start=1) if row]
    numbered = [(r, row) for r, row in numbered if not all(_blank(v) for v in row)]
    if len(numbered) < 2:
        raise UserFacingError(f"{path}: needs a header row and at least one data row")
    header_row, rows = numbered[0], numbered[1:]
    header = ["" if h is None else unquote_cell(str(h).strip()) for h in header_row[1]]
    problems: list[Problem] = []
    columns = header[1:]
    for j, name in enumerate(columns):
        if not name:
            problems.append(Problem(str(path), f"column {j + 2} has no name", row=header_row[0]))
    # a target column may say it is one: target:<name> (how exports write a target named
    # like another column, and how a Data Package's items.csv names every target)
    names = [c.removeprefix(T.PREFIX) if c.startswith(T.PREFIX) else c for c in columns]
    if len(set(columns)) != len(columns):
        problems.append(Problem(str(path), "two columns have the same name", row=header_row[0]))
    named = [n for n, c in zip(names, columns, strict=True) if c.lower() not in SPECIAL]
    if len(set(columns)) == len(columns) and len(set(named)) != len(named):
        twice = sorted({n for n in named if named.count(n) > 1})
        problems.append(
            Problem(
                str(path),
                f"columns {twice[0]!r} and {T.PREFIX}{twice[0]} name one target",
                row=header_row[0],
            )
        )
    specials = {c.lower(): j for j, c in enumerate(columns) if c.lower() in SPECIAL}
    report = ImportReport("sheet", str(path))
    report.warnings += sheet.notes
    nfc_names = StoredNames()  # labels stored in NFC: "café" typed on a Mac is NFD
    numeric = [j for j, c in enumerate(columns) if c.lower() not in SPECIAL]
    mark = sheet.decimal or sniff_decimal(
        path,
        ((r, columns[j], row[j + 1]) for r, row in rows for j in numeric if j + 1 < len(row)),
    )
    if mark != "." and not sheet.decimal:
        report.warnings.append(f"numbers read with a decimal {DECIMALS[mark]}")
    parsed: list[tuple[int, Path, dict[str, float], str | None, str | None]] = []
    seen: dict[str, int] = {}
    listings: dict[Path, dict[str, str]] = {}  # folders listed for a missing image's twin
    yield Progress(0, len(rows), "checking sheet")
    for r, row in rows:
        if len(row) > len(header):
            hint = (
                " (a decimal comma in a comma-separated sheet? say the separator and decimal "
                "mark with --separator/--decimal or the import dialog)"
                if sheet.separator == ","
                else ""
            )
            problems.append(
                Problem(
                    str(path),
                    f"{len(row)} cells but the header names {len(header)} columns{hint}",
                    row=r,
                )
            )
            continue
        cells = list(row) + [None] * (len(header) - len(row))
        name = "" if cells[0] is None else unquote_cell(str(cells[0]).strip())
        if not name:
            problems.append(Problem(str(path), "image name is empty", row=r))
            continue
        # a duplicate row is still checked: every problem of a row is reported at once
        duplicate = name in seen
        if duplicate:
            problems.append(
                Problem(str(path), f"duplicate image name {name!r} (also row {seen[name]})", row=r)
            )
        else:
            seen[name] = r
        image = resolve_inside(base, name, root)
        if isinstance(image, str):
            problems.append(Problem(str(path), f"image name: {image}", row=r))
            continue
        if not duplicate and (why := not_a_file(image)) is not None:
            if why == MISSING:
                twin = case_twin([base], name, root, listings)  # 'A.PNG' for 'a.png', NFC, NFD
                why = f"not found in {base}{twin}"
            else:
                why = f"in {base} {why}"
            problems.append(Problem(str(path), f"image {name!r} {why}", row=r))
        targets: dict[str, float] = {}
        for j, column in enumerate(columns):
            if column.lower() in SPECIAL:
                continue
            value = cells[j + 1]
            if _blank(value):
                continue  # a missing target, allowed
            try:
                number = parse_number(value, mark)
                if not math.isfinite(number):
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(
                    Problem(str(path), f"column {column!r}: {value!r} is not a number", row=r)
                )
                continue
            targets[names[j]] = number
        label = split = None
        if "label" in specials and not _blank(cells[specials["label"] + 1]):
            label = nfc_names(unquote_cell(str(cells[specials["label"] + 1]).strip()))
            if (why := class_name_problem(label)) is not None:  # the rule of every import
                problems.append(
                    Problem(str(path), f"column {columns[specials['label']]!r}: {why}", row=r)
                )
        if "split" in specials and not _blank(cells[specials["split"] + 1]):
            split = unquote_cell(str(cells[specials["split"] + 1]).strip()).lower()
            if split not in SPLITS:
                problems.append(
                    Problem(str(path), f"split {split!r} is not one of {SPLITS}", row=r)
                )
        if not duplicate:
            parsed.append((r, image, targets, label, split))
    definitions, defined_in = target_defs.read_sheet_definitions(path, problems)
    reject_if(path, problems)
    if nfc_names.note():
        report.warnings.append(nfc_names.note())
    db = project.connect()
    try:
        known = existing_paths(project, db)
        new: list[NewItem] = []
        updates: list[tuple[int, dict[str, float], str | None, str | None]] = []
        for n, (r, image, targets, label, split) in enumerate(parsed):
            stored = project.store_path(image)
            if stored in known:
                updates.append((known[stored], targets, label, split))
                continue
            info = scan_image(image)
            if isinstance(info, str):
                problems.append(Problem(str(path), f"{image}: {info}", row=r))
                continue
            new.append(
                file_item(
                    image,
                    info,
                    label=label,
                    split=split,
                    targets=targets,
                    annotator=annotator,
                    provenance={"source": "sheet", "imported_from": str(path)},
                )
            )
            if n % 200 == 0:
                yield Progress(n, len(parsed), "reading images")
        reject_if(path, problems)
        with project.transaction(db) as tx:
            report.warnings += target_defs.apply(tx, definitions, defined_in or path.name)
            report.ids = tx.add_items(new)
            for item_id, targets, label, split in updates:
                tx.set_targets(item_id, dict(targets), annotator)
                if label is not None:
                    tx.set_label([item_id], label, annotator)
                if split is not None:
                    tx.set_split([item_id], split)
        report.added, report.updated = len(new), len(updates)
        return report
    finally:
        db.close()


def export_job(
    project: Project,
    out: str | Path,
    *,
    filters: Any = None,
    datapackage: bool = False,
    xlsx: bool = False,
    **_: Any,
) -> Job[ExportReport]:
    """Images in ``out/<split>/`` and ``out/targets.csv`` (or .xlsx): image path, targets,
    label, split; the targets' definitions (unit, range, decimals) in ``targets.schema.json``
    beside the CSV or the XLSX's ``targets`` worksheet (:mod:`.target_defs`)."""

    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[list[str]]:
        names = sorted({t for r in rows for t in r["targets"]})
        with_splits = any(r["split"] for r in rows)
        with_labels = any(r["label"] is not None for r in rows)
        # Text cells that a spreadsheet would run as formulas are quoted (see quote_cell).
        # a target named like another column (label, split, image) is written as target:<name>
        head = ["image", *(quote_cell(T.column_name(t)) for t in names)]
        renamed = [t for t in names if T.column_name(t) != t]
        table = [head + (["label"] if with_labels else []) + ["split"]]
        for n, row in enumerate(rows):
            rel = put_image(
                folder, project, db, row, split_dir(row["split"]) if with_splits else "images"
            )
            values = [row["targets"].get(t) for t in names]
            table.append(
                [quote_cell(rel), *values]
                + ([quote_cell(row["label"] or "")] if with_labels else [])
                + [row["split"] or ""]
            )
            if n % 200 == 0:
                yield Progress(n, len(rows), "writing images")
        # what the targets are (unit, range, decimals): beside the values, read back on import
        defs = target_defs.exported(db, names)
        if xlsx:
            more = {target_defs.XLSX_SHEET: target_defs.xlsx_rows(defs)} if defs else None
            folder.write_bytes("targets.xlsx", xlsx_bytes(table, more))
        else:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            for line in table:
                writer.writerow(
                    ["" if v is None else repr(v) if isinstance(v, float) else v for v in line]
                )
            folder.write_bytes("targets.csv", buffer.getvalue().encode("utf-8"))
            if defs:  # a Table Schema beside it: a CSV reader still reads a plain table
                columns = [("image", None), *((T.column_name(t), t) for t in names)]
                columns += [("label", None)] if with_labels else []
                schema = target_defs.schema_bytes([*columns, ("split", None)], defs)
                folder.write_bytes(target_defs.sidecar(Path("targets.csv")).name, schema)
        notes = not_kept(rows, "sheet", {"labels", "splits", "targets"})
        if renamed:
            notes.append(
                f"target(s) {', '.join(renamed)} share a name with the sheet's other columns: "
                f"written as {', '.join(T.column_name(t) for t in renamed)} (the sheet import "
                "reads them back by their own name)"
            )
        return notes

    return run_export(project, "sheet", out, write, filters=filters, datapackage=datapackage)
