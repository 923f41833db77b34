"""Sheet reading figures: a 100 000-row regression sheet (image name, 5 targets, label, split)
as Excel saves it in a German locale (Windows-1252, ``;``, decimal comma) and as plain UTF-8
CSV, read and parsed the way the sheet import does (encoding, separator and decimal mark
detected, every number parsed); and an XLSX of 20 000 rows (read twice by the import: the
saved values and the formulas, to refuse a formula without a saved value).

Run: .venv/bin/python tests/benchmarks/bench_sheet.py [repeat]   (prints median, min, max)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qbi_desktop.core.formats.sheetfile import parse_number, read_sheet, sniff_decimal

ROWS, XLSX_ROWS, TARGETS = 100_000, 20_000, 5


def make_table(rows: int) -> list[list]:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(rows, TARGETS))
    head = ["image", *(f"t{j}" for j in range(TARGETS)), "label", "split"]
    body = [
        [f"im{i:06d}.png", *map(float, values[i]), "Kügelchen" if i % 2 else "Stäbchen", "train"]
        for i in range(rows)
    ]
    return [head, *body]


def write_csv(path: Path, table: list[list], separator: str, decimal: str, encoding: str):
    def cell(v):
        return repr(v).replace(".", decimal) if isinstance(v, float) else str(v)

    text = "\r\n".join(separator.join(cell(v) for v in row) for row in table) + "\r\n"
    path.write_bytes(text.encode(encoding))


def parse(path: Path) -> int:
    sheet = read_sheet(path)
    rows = sheet.rows[1:]
    mark = sheet.decimal or sniff_decimal(
        path, ((r, "t", row[j]) for r, row in enumerate(rows) for j in range(1, TARGETS + 1))
    )
    return sum(1 for row in rows for j in range(1, TARGETS + 1) if parse_number(row[j], mark))


def timed(repeat: int, work) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return times


def show(name: str, times: list[float]) -> None:
    print(
        f"{name}: median {statistics.median(times):.3f} s "
        f"(min {min(times):.3f}, max {max(times):.3f}, n={len(times)})"
    )


def main(repeat: int = 5) -> None:
    table = make_table(ROWS)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        german, plain = tmp / "de.csv", tmp / "plain.csv"
        write_csv(german, table, ";", ",", "cp1252")
        write_csv(plain, table, ",", ".", "utf-8")
        show(f"CSV {ROWS} rows, Windows-1252 ; decimal comma", timed(repeat, lambda: parse(german)))
        show(f"CSV {ROWS} rows, UTF-8 , decimal point", timed(repeat, lambda: parse(plain)))
        try:
            import openpyxl
        except ImportError:
            print("XLSX: openpyxl not installed")
            return
        book = openpyxl.Workbook()
        for row in table[: XLSX_ROWS + 1]:
            book.active.append(row)
        book.save(tmp / "t.xlsx")
        show(f"XLSX {XLSX_ROWS} rows", timed(repeat, lambda: parse(tmp / "t.xlsx")))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
