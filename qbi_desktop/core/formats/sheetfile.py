"""Reading a sheet as labs save it: CSV in UTF-8 (with or without BOM), Windows-1252 or UTF-16
(Excel's "Unicode text"), separated by ``,``, ``;`` or tab, numbers with a decimal point or a
decimal comma; or the first worksheet of an XLSX, where a formula cell must carry the value the
spreadsheet computed (we never evaluate formulas).

What is not given is detected; what cannot be told apart is refused with the way to say it
(``--encoding``/``--separator``/``--decimal`` on the command line, the import dialog's fields).
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import itertools
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.errors import ImportRejected, Problem
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.limits import check_sheet_cells
from qbi_desktop.core.safefile import kind_of, read_bytes

#: Bounds of a sheet we read: a regression sheet has a row per image and a column per target.
MAX_ROWS = 1_000_000
MAX_COLUMNS = 1_000
#: Longest cell (the csv module's default field limit).
MAX_CELL_CHARS = 131_072

SHEET_SUFFIXES = (".csv", ".xlsx", ".xlsm")
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
DECIMALS = {".": "point", ",": "comma"}
#: A valid multi-byte UTF-8 sequence (RFC 3629: no overlong forms, no surrogates).
UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
#: Encodings tried in turn when none is given (Excel on Windows saves "CSV" as Windows-1252).
ENCODINGS = ("utf-8", "windows-1252")

HOW_TO_PASS = (
    "say which with --{option} on the command line or the {field} field of the import dialog"
)

_EXP = r"(?:[eE][+-]?\d+)?"
_POINT_NUMBER = re.compile(rf"[+-]?(?:\d+\.?\d*|\.\d+){_EXP}", re.ASCII)
_COMMA_NUMBER = re.compile(
    rf"[+-]?(?:\d{{1,3}}(?:\.\d{{3}})+|\d*),\d+{_EXP}|[+-]?\d{{1,3}}(?:\.\d{{3}})+", re.ASCII
)
# cells that only a decimal mark tells apart
_POINT_FRACTION = re.compile(rf"[+-]?\d*\.\d+{_EXP}", re.ASCII)
_COMMA_FRACTION = re.compile(rf"[+-]?\d*,\d+{_EXP}", re.ASCII)


@dataclass
class Sheet:
    """The rows of a sheet (row ``n`` at index ``n - 1``, trailing empty cells dropped), how it
    was read (for CSV: encoding, separator, decimal mark) and notes for the import report."""

    rows: list[list[Any]]
    encoding: str | None = None
    separator: str | None = None
    decimal: str = "."
    notes: list[str] = field(default_factory=list)


#: :func:`not_a_file` of a name that is not there at all.
MISSING = "missing"


def not_a_file(path: Path) -> str | None:
    """Why the file a sheet row names cannot be imported: :data:`MISSING` when nothing has its
    name, else what it is instead ("is a named pipe (FIFO), not a regular file", "is a loop of
    symbolic links", ...), or None for a regular file. A FIFO or a folder that exists is named
    as such, never called missing."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return MISSING if not os.path.islink(path) else "is a symbolic link to nothing"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a loop of symbolic links, not a file"
        return f"cannot be read ({exc.strerror or exc})"
    except ValueError:  # a NUL in the name
        return MISSING
    if not stat.S_ISREG(mode):
        return f"is {kind_of(mode)}, not a regular file"
    return None


def _max_cells() -> int:
    """Cells a sheet may hold (the ``sheet_cells`` limit setting)."""
    from qbi_desktop.core import limits

    return limits.current().sheet_cells


def read_sheet(
    path: Path,
    *,
    encoding: str | None = None,
    separator: str | None = None,
    decimal: str | None = None,
) -> Sheet:
    """All rows of a CSV or the first worksheet of an XLSX. Only a regular file is read, and a
    sheet larger than :data:`MAX_ROWS` x :data:`MAX_COLUMNS` is refused before its rows are built
    (an XLSX of a few KB can declare a cell at XFD1048576). ``decimal`` None: sniffed later from
    the number columns (:func:`sniff_decimal`), since only the importer knows which they are."""
    separator = _option(path, "separator", separator, SEPARATORS)
    decimal = _option(path, "decimal", decimal, DECIMALS)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return Sheet(_read_xlsx(path), decimal=decimal or "")
    text, encoding, notes = decode_text(path, read_bytes(path, "the sheet"), encoding)
    if separator is None:
        separator = sniff_separator(path, text)
        if separator != ",":
            notes.append(f"columns separated by {SEPARATORS[separator]}s")
    return Sheet(_read_csv(path, text, separator), encoding, separator, decimal or "", notes)


def _option(path: Path, name: str, value: str | None, allowed: dict[str, str]) -> str | None:
    if value in (None, "", "auto"):
        return None
    names = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "point": ".", "dot": "."}
    value = names.get(str(value).lower(), value)
    if value not in allowed:
        names = ", ".join(repr(k) if k != "\t" else "tab" for k in allowed)
        raise UserFacingError(f"{path}: {name} {value!r} is not one of {names}")
    return value


def decode_text(path: Path, data: bytes, encoding: str | None) -> tuple[str, str, list[str]]:
    """The text of a CSV, its encoding and a note when it was not UTF-8."""
    if encoding not in (None, "", "auto"):
        try:
            # a byte order mark is no part of the first cell, whichever UTF-8 name is given
            codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
            return data.decode(codec), encoding, []
        except LookupError:
            raise UserFacingError(f"{path}: unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as exc:
            raise UserFacingError(
                f"{path}: not {encoding} text (byte {exc.start}: "
                f"{data[exc.start : exc.start + 1]!r})"
            ) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" is UTF-16
        try:
            return data.decode("utf-16"), "utf-16", ["read as UTF-16 (byte order mark)"]
        except UnicodeDecodeError as exc:
            raise UserFacingError(f"{path}: broken UTF-16 text (byte {exc.start})") from None
    try:
        return data.decode("utf-8-sig"), "utf-8", []
    except UnicodeDecodeError as exc:
        first = exc.start
    line = data.count(b"\n", 0, first) + 1
    where = f"line {line}, byte {first} ({data[first : first + 1]!r})"
    # Valid multi-byte UTF-8 beside bytes that are not UTF-8: two encodings in one file (a
    # UTF-8 sheet edited in a Windows-1252 program). Read as Windows-1252 the UTF-8 text would
    # turn into mojibake ("café" -> "cafÃ©") without a word: refused instead.
    mixed = UTF8_SEQUENCE.search(data)
    if mixed is not None:
        line = data.count(b"\n", 0, mixed.start()) + 1
        raise UserFacingError(
            f"{path}: mixes two encodings: {where} is not UTF-8, but line {line} holds UTF-8 "
            f"text ({mixed.group().decode('utf-8')!r} at byte {mixed.start()}); save the sheet "
            "again in one encoding (UTF-8), or "
            + HOW_TO_PASS.format(option="encoding", field="Encoding")
        )
    try:
        text = data.decode("windows-1252")
    except UnicodeDecodeError as exc:
        raise UserFacingError(
            f"{path}: neither UTF-8 ({where}) nor Windows-1252 text (byte {exc.start}: "
            f"{data[exc.start : exc.start + 1]!r}); "
            + HOW_TO_PASS.format(option="encoding", field="Encoding")
        ) from None
    return (
        text,
        "windows-1252",
        [f"read as Windows-1252 (not UTF-8 from {where}: Excel's CSV on Windows)"],
    )


def sniff_separator(path: Path, text: str, lines: int = 200) -> str:
    """``,`` ``;`` or tab: the one that splits the header into columns and no row into more
    cells than the header has; of several, the one giving every row exactly the header's
    cells, as spreadsheets write them. Still several is refused (say which one)."""
    sample = text[: 1 << 20]
    if len(sample) < len(text):  # a cut last line would count wrong
        sample = sample[: sample.rfind("\n") + 1] or sample
    fits, exact, widest = [], [], ","
    best_width = 1
    for sep in SEPARATORS:
        try:
            rows = []  # (cells, cells without the trailing empty ones) of non-empty rows
            for row in csv.reader(io.StringIO(sample, newline=""), delimiter=sep):
                width = len(_trimmed(row))
                if width:
                    rows.append((len(row), width))
                if len(rows) >= lines:
                    break
        except csv.Error:
            continue
        if not rows or rows[0][1] < 2:
            continue
        (head, head_width), rest = rows[0], rows[1:]
        if head_width > best_width:
            widest, best_width = sep, head_width
        if all(w <= head_width for _n, w in rest):
            fits.append(sep)
            if all(n == head for n, _w in rest):
                exact.append(sep)
    if len(fits) == 1:
        return fits[0]
    if len(exact) == 1:
        return exact[0]
    if len(fits) > 1:
        names = " and ".join(SEPARATORS[s] for s in fits)
        raise UserFacingError(
            f"{path}: the columns could be separated by {names}: "
            + HOW_TO_PASS.format(option="separator", field="Separator")
        )
    # nothing fits: the widest header, and the rows with too many cells are reported by row
    return widest


def _trimmed(row: Sequence[Any]) -> list[Any]:
    end = len(row)
    while end and _blank(row[end - 1]):
        end -= 1
    return list(row[:end])


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def sniff_decimal(path: Path, cells: Iterable[tuple[int, str, Any]]) -> str:
    """The decimal mark of the number cells ``(row, column name, value)``: a comma when some
    cell reads ``1,5`` and none ``1.5``; both kinds is refused (say which)."""
    point = comma = None
    for row, column, value in cells:
        if not isinstance(value, str):
            continue
        text = value.strip()
        if point is None and _POINT_FRACTION.fullmatch(text):
            point = (row, column, text)
        elif comma is None and _COMMA_FRACTION.fullmatch(text):
            comma = (row, column, text)
        if point and comma:
            raise UserFacingError(
                f"{path}: numbers with a decimal point (row {point[0]}, column {point[1]!r}: "
                f"{point[2]}) and with a decimal comma (row {comma[0]}, column {comma[1]!r}: "
                f"{comma[2]}): " + HOW_TO_PASS.format(option="decimal", field="Decimal")
            )
    return "," if comma else "."


def parse_number(value: Any, decimal: str = ".") -> float:
    """A cell as a number; ValueError when it is not one. Only plain decimal notation (no
    ``1_000``, no ``inf``/``nan``); with a decimal comma, ``.`` may group thousands."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if decimal == ",":
        whole = re.fullmatch(rf"[+-]?\d+{_EXP}", text, re.ASCII)
        if not _COMMA_NUMBER.fullmatch(text) and not whole:
            raise ValueError(text)
        text = text.replace(".", "").replace(",", ".")
    elif not _POINT_NUMBER.fullmatch(text):
        raise ValueError(text)
    return float(text)


def _read_csv(path: Path, text: str, separator: str) -> list[list[Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
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
    row = _trimmed(row)
    if len(row) > MAX_COLUMNS:
        raise UserFacingError(
            f"{path}, row {number}: {len(row)} columns, more than the {MAX_COLUMNS} a sheet may "
            "have"
        )
    return row


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
    data = read_bytes(path, "the sheet")
    books = []
    try:
        try:
            # The values the spreadsheet computed, and beside them the cells' formulas: a
            # formula without a computed value (a file written by a library) would be a
            # missing target, silently.
            books.append(openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True))
            if books[0].worksheets and _has_formulas(books[0].worksheets[0]):
                books.append(
                    openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
                )
        except Exception as exc:  # any parser failure is a property of the file
            raise UserFacingError(f"{path}: not a readable XLSX workbook ({exc})") from exc
        values = books[0]
        if not values.worksheets:
            raise UserFacingError(f"{path}: the workbook has no worksheet")
        sheet = values.worksheets[0]
        declared_rows, declared_columns = sheet.max_row or 0, sheet.max_column or 0
        if declared_rows > MAX_ROWS or declared_columns > MAX_COLUMNS:
            raise UserFacingError(
                f"{path}: worksheet {sheet.title!r} declares {declared_rows} rows x "
                f"{declared_columns} columns (up to cell "
                f"{cell_name(declared_rows, declared_columns)}), more than the "
                f"{MAX_ROWS} x {MAX_COLUMNS} a sheet may have"
            )
        # Explicit bounds: openpyxl pads rows to the widest one and fills missing rows; a
        # declared size that lies cannot make it build more than this.
        check_sheet_cells(path, declared_rows, declared_columns)
        width = declared_columns or MAX_COLUMNS + 1
        bounds = {"min_row": 1, "max_row": MAX_ROWS + 1, "max_col": width, "values_only": True}
        rows: list[list[Any]] = []
        problems: list[Problem] = []
        cells, max_cells = 0, _max_cells()
        # without formulas (most data sheets) the second reading is spared: half the time
        formula_rows = (
            books[1].worksheets[0].iter_rows(**bounds) if len(books) > 1 else itertools.repeat(())
        )
        pairs = zip(sheet.iter_rows(**bounds), formula_rows, strict=False)
        for row, formula_row in pairs:
            number = len(rows) + 1
            for column, (value, formula) in enumerate(zip(row, formula_row, strict=False), 1):
                if value is None and _is_formula(formula):
                    problems.append(
                        Problem(
                            str(path),
                            f"cell {cell_name(number, column)}: formula {str(formula)[:60]} "
                            "has no saved value (the file was written by a program that does "
                            "not compute formulas); open and save it in a spreadsheet, or "
                            "enter the value",
                            row=number,
                        )
                    )
            rows.append(_bounded(path, row, number))
            cells += len(rows[-1])
            if len(rows) > MAX_ROWS or cells > max_cells:
                raise _too_big(path, len(rows), cells)
        if problems:
            raise ImportRejected(path, problems)
        while rows and not rows[-1]:
            rows.pop()
        return rows
    except UserFacingError:
        raise
    except Exception as exc:  # a corrupt worksheet part shows up while iterating
        raise UserFacingError(f"{path}: not a readable XLSX workbook ({exc})") from exc
    finally:
        for book in books:
            book.close()


def _has_formulas(sheet: Any) -> bool:
    """Whether the worksheet's XML holds a formula element (``<f>``, any namespace prefix),
    read as a stream of the compressed part without parsing a cell."""
    pattern = re.compile(rb"<(?:\w+:)?f[\s>/]")
    tail = b""
    source = getattr(sheet, "_get_source", None)  # openpyxl's own handle on the worksheet part
    if source is None:  # another openpyxl: read the formulas, to be safe
        return True
    with source() as stream:
        while block := stream.read(1 << 20):
            if pattern.search(tail + block):
                return True
            tail = block[-16:]
    return False


def _is_formula(value: Any) -> bool:
    # a plain formula reads as "=...", array and data-table formulas as objects
    return (isinstance(value, str) and value.startswith("=")) or (
        value is not None and type(value).__name__ in ("ArrayFormula", "DataTableFormula")
    )


def cell_name(row: int, column: int) -> str:
    from openpyxl.utils import get_column_letter

    return f"{get_column_letter(column)}{row}" if 1 <= column <= 18278 else f"R{row}C{column}"


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


def xlsx_bytes(table: list[list[Any]], more: dict[str, list[list[Any]]] | None = None) -> bytes:
    """An XLSX of ``table``'s rows (and a worksheet per entry of ``more``, title -> rows) whose
    numbers read back exactly: openpyxl writes floats with 16 significant digits (``%.16g``:
    0.1 + 0.2 becomes 0.3); Excel itself writes 17 when needed, so each number it shortened
    is put back as Python's shortest exact ``repr``."""
    try:
        import openpyxl
    except ImportError as exc:
        raise UserFacingError("writing XLSX needs the optional package openpyxl") from exc
    book = openpyxl.Workbook()
    exact: dict[str, dict[str, str]] = {}
    for n, rows in enumerate([table, *(more or {}).values()], start=1):
        sheet = book.active if n == 1 else book.create_sheet(list(more or {})[n - 2])
        part = exact.setdefault(f"xl/worksheets/sheet{n}.xml", {})
        for r, line in enumerate(rows, start=1):
            sheet.append(line)
            for c, value in enumerate(line, start=1):
                if isinstance(value, float) and float(f"{value:.16g}") != value:
                    part[f"{cell_name(r, c)}"] = repr(value)
    buffer = io.BytesIO()
    book.save(buffer)
    return _with_exact_numbers(buffer.getvalue(), exact)


def _with_exact_numbers(data: bytes, exact: dict[str, dict[str, str]]) -> bytes:
    """``data`` with the cells ``exact`` names (worksheet part -> cell -> value) rewritten."""
    if not any(exact.values()):
        return data
    import zipfile

    def fixer(cells: dict[str, str]):
        def fix(match: re.Match[bytes]) -> bytes:
            value = cells.get(match.group(2).decode())
            return match.group(0) if value is None else match.group(1) + value.encode() + b"</v>"

        return fix

    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            part = source.read(info)
            if exact.get(info.filename):
                fix = fixer(exact[info.filename])
                part = re.sub(rb'(<c r="([A-Z]+\d+)"[^>]*><v>)[^<]*</v>', fix, part)
            target.writestr(info, part)
    return out.getvalue()
