"""A regression sheet: CSV or XLSX, first column the image name, the other columns numeric
targets. Optional columns named ``label`` and ``split`` carry a class label and the split.

Image names resolve against ``images_dir`` (default: the sheet's folder). Images already in the
project get their targets updated; new ones are added. XLSX needs the optional ``openpyxl``;
cached cell values are read (``data_only``), formulas are never evaluated.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.project import NewItem, Project
from qbi_desktop.core.catalog.schema import SPLITS
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.common import (
    ExportFolder,
    ExportReport,
    ImportReport,
    existing_paths,
    file_item,
    put_image,
    reject_if,
    run_export,
    scan_image,
    split_dir,
)
from qbi_desktop.core.jobs import Job, Progress

SPECIAL = ("label", "split")


def read_sheet(path: Path) -> list[list[Any]]:
    """All rows of a CSV or the first worksheet of an XLSX, as lists of cell values."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            import openpyxl
        except ImportError as exc:
            raise UserFacingError(
                f"{path}: reading XLSX needs the optional package openpyxl "
                "(pip install openpyxl), or save the sheet as CSV"
            ) from exc
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise UserFacingError(f"{path}: not a readable XLSX workbook ({exc})") from exc
        try:
            sheet = book.worksheets[0]
            return [list(r) for r in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UserFacingError(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise UserFacingError(f"{path}: not UTF-8 text ({exc})") from exc
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [row for row in csv.reader(io.StringIO(text), dialect)]


SHEET_SUFFIXES = (".csv", ".xlsx", ".xlsm")


def find_sheet(folder: Path) -> Path:
    """The one CSV/XLSX sheet in ``folder`` (or, when it has none, below it)."""
    for found in (folder.glob("*"), folder.rglob("*")):
        sheets = sorted(
            p
            for p in found
            if p.suffix.lower() in SHEET_SUFFIXES and p.is_file() and not p.name.startswith(".")
        )
        if len(sheets) == 1:
            return sheets[0]
        if sheets:
            names = ", ".join(str(p.relative_to(folder)) for p in sheets[:5])
            raise UserFacingError(f"{folder}: holds several sheets ({names}); pick one")
    raise UserFacingError(f"{folder}: no CSV or XLSX sheet found")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def import_job(
    project: Project,
    sources: Sequence[str | Path],
    *,
    images_dir: str | Path | None = None,
    annotator: str | None = None,
    **_: Any,
) -> Job[ImportReport]:
    if len(sources) != 1:
        raise UserFacingError("sheet import takes one CSV or XLSX file")
    path = Path(sources[0])
    if path.is_dir():  # e.g. an extracted archive: the one sheet inside, images beside it
        path = find_sheet(path)
    if not path.is_file():
        raise UserFacingError(f"{path}: file not found")
    base = Path(images_dir) if images_dir else path.parent
    rows = [r for r in read_sheet(path) if not all(_blank(v) for v in r)]
    if len(rows) < 2:
        raise UserFacingError(f"{path}: needs a header row and at least one data row")
    header = ["" if h is None else str(h).strip() for h in rows[0]]
    problems: list[Problem] = []
    columns = header[1:]
    for j, name in enumerate(columns):
        if not name:
            problems.append(Problem(str(path), f"column {j + 2} has no name", row=1))
    if len(set(columns)) != len(columns):
        problems.append(Problem(str(path), "two columns have the same name", row=1))
    specials = {c.lower(): j for j, c in enumerate(columns) if c.lower() in SPECIAL}
    report = ImportReport("sheet", str(path))
    parsed: list[tuple[int, Path, dict[str, float], str | None, str | None]] = []
    seen: dict[str, int] = {}
    yield Progress(0, len(rows), "checking sheet")
    for r, row in enumerate(rows[1:], start=2):
        cells = list(row) + [None] * (len(header) - len(row))
        name = "" if cells[0] is None else str(cells[0]).strip()
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
        image = base / name
        if not duplicate and not image.is_file():
            problems.append(Problem(str(path), f"image {name!r} not found in {base}", row=r))
        targets: dict[str, float] = {}
        for j, column in enumerate(columns):
            if column.lower() in SPECIAL:
                continue
            value = cells[j + 1]
            if _blank(value):
                continue  # a missing target, allowed
            try:
                number = float(value)
                if not math.isfinite(number):
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(
                    Problem(str(path), f"column {column!r}: {value!r} is not a number", row=r)
                )
                continue
            targets[column] = number
        label = split = None
        if "label" in specials and not _blank(cells[specials["label"] + 1]):
            label = str(cells[specials["label"] + 1]).strip()
        if "split" in specials and not _blank(cells[specials["split"] + 1]):
            split = str(cells[specials["split"] + 1]).strip().lower()
            if split not in SPLITS:
                problems.append(
                    Problem(str(path), f"split {split!r} is not one of {SPLITS}", row=r)
                )
        if not duplicate:
            parsed.append((r, image, targets, label, split))
    reject_if(path, problems)
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
    label, split."""

    def write(db: Any, rows: list[dict], folder: ExportFolder) -> Job[None]:
        names = sorted({t for r in rows for t in r["targets"]})
        with_splits = any(r["split"] for r in rows)
        with_labels = any(r["label"] is not None for r in rows)
        table = [["image", *names] + (["label"] if with_labels else []) + ["split"]]
        for n, row in enumerate(rows):
            rel = put_image(
                folder, project, db, row, split_dir(row["split"]) if with_splits else "images"
            )
            values = [row["targets"].get(t) for t in names]
            table.append(
                [rel, *values]
                + ([row["label"] or ""] if with_labels else [])
                + [row["split"] or ""]
            )
            if n % 200 == 0:
                yield Progress(n, len(rows), "writing images")
        if xlsx:
            folder.write_bytes("targets.xlsx", _xlsx_bytes(table))
        else:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            for line in table:
                writer.writerow(
                    ["" if v is None else repr(v) if isinstance(v, float) else v for v in line]
                )
            folder.write_bytes("targets.csv", buffer.getvalue().encode("utf-8"))

    return run_export(project, "sheet", out, write, filters=filters, datapackage=datapackage)


def _xlsx_bytes(table: list[list[Any]]) -> bytes:
    try:
        import openpyxl
    except ImportError as exc:
        raise UserFacingError("writing XLSX needs the optional package openpyxl") from exc
    book = openpyxl.Workbook()
    sheet = book.active
    for line in table:
        sheet.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
