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
    quote_cell,
    reject_if,
    run_export,
    scan_image,
    split_dir,
    unquote_cell,
)
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.limits import check_sheet_cells
from qbi_desktop.core.safefile import (
    check_regular,
    is_regular_file,
    open_regular,
    read_bytes,
    resolve_inside,
    text_file_limit,
)

SPECIAL = ("label", "split")


#: Bounds of a sheet we read: a regression sheet has a row per image and a column per target.
MAX_ROWS = 1_000_000
MAX_COLUMNS = 1_000
#: Longest cell (the csv module's default field limit).
MAX_CELL_CHARS = 131_072


def _max_cells() -> int:
    """Cells a sheet may hold (the ``sheet_cells`` limit setting)."""
    from qbi_desktop.core import limits

    return limits.current().sheet_cells


def read_sheet(path: Path) -> list[list[Any]]:
    """All rows of a CSV or the first worksheet of an XLSX, as lists of cell values (row ``n``
    of the sheet at index ``n - 1``; an empty row is an empty list). Only a regular file is
    read, and a sheet larger than :data:`MAX_ROWS` x :data:`MAX_COLUMNS` is refused before its
    rows are built (an XLSX of a few KB can declare a cell at XFD1048576)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    text = read_bytes(path, "the sheet")
    try:
        text = text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserFacingError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows: list[list[Any]] = []
    cells, max_cells = 0, _max_cells()
    try:
        for row in reader:
            # csv's own field limit is process-wide (a library may have raised it): checked here
            if any(len(cell) > MAX_CELL_CHARS for cell in row):
                raise _cell_too_long(path, reader.line_num)
            rows.append(_bounded(path, row, len(rows) + 1))
            cells += len(row)
            if len(rows) > MAX_ROWS or cells > max_cells:
                raise _too_big(path, len(rows), cells)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise _cell_too_long(path, reader.line_num) from None
        raise UserFacingError(
            f"{path}, line {reader.line_num}: not a readable CSV sheet ({exc})"
        ) from None
    return rows


def _bounded(path: Path, row: Sequence[Any], number: int) -> list[Any]:
    """``row`` without its trailing empty cells; more than MAX_COLUMNS cells is refused."""
    end = len(row)
    while end and _blank(row[end - 1]):
        end -= 1
    if end > MAX_COLUMNS:
        raise UserFacingError(
            f"{path}, row {number}: {end} columns, more than the {MAX_COLUMNS} a sheet may have"
        )
    return list(row[:end])


def _cell_too_long(path: Path, line: int) -> UserFacingError:
    return UserFacingError(
        f"{path}, line {line}: a cell is longer than {MAX_CELL_CHARS} characters (an unclosed "
        "quote?); a sheet cell holds a name, a number or a label"
    )


def _too_big(path: Path, rows: int, cells: int) -> UserFacingError:
    return UserFacingError(
        f"{path}: more than {MAX_ROWS} rows or {_max_cells()} cells ({rows} rows, {cells} cells "
        "so far): too large for a sheet of images and targets"
    )


def _read_xlsx(path: Path) -> list[list[Any]]:
    try:
        import openpyxl
    except ImportError as exc:
        raise UserFacingError(
            f"{path}: reading XLSX needs the optional package openpyxl "
            "(pip install openpyxl), or save the sheet as CSV"
        ) from exc
    with open_regular(path, "the sheet", text_file_limit()) as stream:
        try:
            book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
        except Exception as exc:  # any parser failure is a property of the file
            raise UserFacingError(f"{path}: not a readable XLSX workbook ({exc})") from exc
        try:
            if not book.worksheets:
                raise UserFacingError(f"{path}: the workbook has no worksheet")
            sheet = book.worksheets[0]
            declared_rows, declared_columns = sheet.max_row or 0, sheet.max_column or 0
            if declared_rows > MAX_ROWS or declared_columns > MAX_COLUMNS:
                raise UserFacingError(
                    f"{path}: worksheet {sheet.title!r} declares {declared_rows} rows x "
                    f"{declared_columns} columns (up to cell "
                    f"{_cell_name(declared_rows, declared_columns)}), more than the "
                    f"{MAX_ROWS} x {MAX_COLUMNS} a sheet may have"
                )
            # Explicit bounds: openpyxl pads rows to the widest one and fills missing rows; a
            # declared size that lies cannot make it build more than this.
            check_sheet_cells(path, declared_rows, declared_columns)
            rows: list[list[Any]] = []
            cells, max_cells = 0, _max_cells()
            width = declared_columns or MAX_COLUMNS + 1
            for row in sheet.iter_rows(
                min_row=1, max_row=MAX_ROWS + 1, max_col=width, values_only=True
            ):
                rows.append(_bounded(path, row, len(rows) + 1))
                cells += len(rows[-1])
                if len(rows) > MAX_ROWS or cells > max_cells:
                    raise _too_big(path, len(rows), cells)
            while rows and not rows[-1]:
                rows.pop()
            return rows
        except UserFacingError:
            raise
        except Exception as exc:  # a corrupt worksheet part shows up while iterating
            raise UserFacingError(f"{path}: not a readable XLSX workbook ({exc})") from exc
        finally:
            book.close()


def _cell_name(row: int, column: int) -> str:
    from openpyxl.utils import get_column_letter

    return f"{get_column_letter(column)}{row}" if 1 <= column <= 18278 else f"R{row}C{column}"


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
    within: str | Path | None = None,
    **_: Any,
) -> Job[ImportReport]:
    """Import one sheet. Image names must resolve inside ``images_dir`` when given, else
    inside ``within`` (an extracted archive) or the sheet's folder."""
    if len(sources) != 1:
        raise UserFacingError("sheet import takes one CSV or XLSX file")
    path = Path(sources[0])
    if path.is_dir():  # e.g. an extracted archive: the one sheet inside, images beside it
        path = find_sheet(path)
    check_regular(path, "the sheet")
    base = Path(images_dir) if images_dir else path.parent
    # Image names must stay inside the images folder (or, for an archive, what was extracted).
    root = Path(images_dir) if images_dir else Path(within or path.parent)
    numbered = [(r, row) for r, row in enumerate(read_sheet(path), start=1) if row]
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
    if len(set(columns)) != len(columns):
        problems.append(Problem(str(path), "two columns have the same name", row=header_row[0]))
    specials = {c.lower(): j for j, c in enumerate(columns) if c.lower() in SPECIAL}
    report = ImportReport("sheet", str(path))
    parsed: list[tuple[int, Path, dict[str, float], str | None, str | None]] = []
    seen: dict[str, int] = {}
    yield Progress(0, len(rows), "checking sheet")
    for r, row in rows:
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
        if not duplicate and not is_regular_file(image):
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
            label = unquote_cell(str(cells[specials["label"] + 1]).strip())
        if "split" in specials and not _blank(cells[specials["split"] + 1]):
            split = unquote_cell(str(cells[specials["split"] + 1]).strip()).lower()
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
        # Text cells that a spreadsheet would run as formulas are quoted (see quote_cell).
        head = ["image", *map(quote_cell, names)]
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
