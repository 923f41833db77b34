"""Shrink Qt's ICU data library (libicudata.so.NN, 32 MB) to the parts Qt actually asks for.

    python3 packaging/icu_trim.py LIBICUDATA [--out FILE] [--list]

Why this is safe: Qt 6 links ICU for four things only. The ICU functions QtCore imports are
``ucol_*`` (QCollator: locale-aware sorting), ``ucal_*`` (time-zone display names and canonical
IDs), ``ucnv_*`` (legacy text encodings for QStringConverter) and ``u_strToUpper/Lower``
(case mapping, whose tables are compiled into libicuuc); nothing else in the bundle calls ICU
(``readelf --dyn-syms`` lists them; ``imported_icu_functions`` re-checks this at build time).
So collation stays whole (QCollator sorts file names in Qt's file dialogs, in every locale),
and so do the single-byte legacy code pages (windows-1252, ISO 8859-x: small). Gone are what Qt
cannot reach: break-iterator dictionaries (CJK, Thai, Khmer...), transliterators, number
spell-out rules, unit/currency/language/region display names, StringPrep profiles,
confusables, Unicode character names, the multi-byte legacy converters (CJK and EBCDIC code
pages). Time-zone and calendar data keep their root and English locales only: Qt reaches them
only through QTimeZone::displayName(), which the app (English only) never calls; other locales
fall back to English names there, as ICU does for any locale it has no data for.

The library holds one ICU "common data" package (dataFormat ``CmnD``) behind the symbol
``icudtNN_dat``; this tool rewrites that package with fewer items and links a new library
around it with binutils (``as``, ``ld``): same soname, same symbol, nothing else exported.
"""

from __future__ import annotations

import argparse
import re
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# Data items Qt cannot reach (see the module docstring), by their path inside the package.
DROP_FOLDERS = ("brkitr", "translit", "rbnf", "unit", "curr", "lang", "region")
DROP_SUFFIXES = (".spp", ".cfu")
DROP_NAMES = ("unames.icu",)
# Single-byte code pages are at most a few KB; the multi-byte tables are 20 KB to 550 KB.
MAX_CONVERTER_BYTES = 8192
# Locale trees (the top-level one: calendars, number symbols; zone: time-zone names) that keep
# only the root and English locales. A locale item is named like de.res, zh_Hant_TW.res.
ENGLISH_ONLY_TREES = ("", "zone")
LOCALE_ITEM = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]+)*\.res$")
# The ICU functions the data above serves; any other ICU function imported means: rethink.
ALLOWED_ICU_FUNCTIONS = re.compile(r"^(ucol_|ucal_|ucnv_|UCNV_|u_strToUpper|u_strToLower)")


class IcuDataError(Exception):
    pass


def read_package(blob: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Split an ICU common data package into its header and its (name, data) items."""
    if len(blob) < 32 or blob[2:4] != b"\xda\x27":
        raise IcuDataError("not ICU data (no 0xda27 magic)")
    header_size = struct.unpack_from("<H", blob, 0)[0]
    if blob[8] != 0:  # UDataInfo.isBigEndian
        raise IcuDataError("big-endian ICU data is not supported")
    if blob[12:16] != b"CmnD":
        raise IcuDataError(f"not an ICU common data package (format {blob[12:16]!r})")
    toc = blob[header_size:]
    count = struct.unpack_from("<I", toc, 0)[0]
    entries = [struct.unpack_from("<II", toc, 4 + 8 * i) for i in range(count)]
    items = []
    for i, (name_offset, data_offset) in enumerate(entries):
        name = toc[name_offset : toc.index(b"\0", name_offset)].decode("ascii")
        end = entries[i + 1][1] if i + 1 < count else len(toc)
        items.append((name, toc[data_offset:end]))
    return blob[:header_size], items


def write_package(header: bytes, items: list[tuple[str, bytes]]) -> bytes:
    """An ICU common data package: header, table of contents (sorted by name: ICU looks items
    up by binary search), names, then each item's data aligned to 16 bytes."""
    items = sorted(items, key=lambda item: item[0].encode("ascii"))
    names = b"".join(name.encode("ascii") + b"\0" for name, _ in items)
    toc_size = 4 + 8 * len(items)
    data_start = toc_size + len(names)
    data_start += -data_start % 16
    entries = []
    name_offset = toc_size
    data_offset = data_start
    body = bytearray()
    for name, data in items:
        entries.append((name_offset, data_offset))
        name_offset += len(name) + 1
        padded = data + b"\0" * (-len(data) % 16)
        body += padded
        data_offset += len(padded)
    toc = struct.pack("<I", len(items)) + b"".join(struct.pack("<II", *e) for e in entries)
    gap = b"\0" * (data_start - toc_size - len(names))
    return header + toc + names + gap + bytes(body)


def qt_needs(name: str, size: int) -> bool:
    """Whether a data item (``icudt73l/coll/de.res``) can serve Qt's ICU calls."""
    parts = name.split("/")
    inner = parts[1:] if len(parts) > 1 else parts
    if len(inner) > 1 and inner[0] in DROP_FOLDERS:
        return False
    leaf = inner[-1]
    if leaf in DROP_NAMES or leaf.endswith(DROP_SUFFIXES):
        return False
    if leaf.endswith(".cnv") and size > MAX_CONVERTER_BYTES:
        return False
    tree = inner[0] if len(inner) > 1 else ""
    if tree in ENGLISH_ONLY_TREES and LOCALE_ITEM.match(leaf):
        return leaf.startswith(("en.", "en_"))
    return True


def trim_package(blob: bytes, keep: Callable[[str, int], bool] = qt_needs) -> bytes:
    header, items = read_package(blob)
    return write_package(header, [(n, d) for n, d in items if keep(n, len(d))])


def _readelf(*args: str | Path) -> str:
    return subprocess.run(
        ["readelf", "-W", *map(str, args)], check=True, capture_output=True, text=True
    ).stdout


def extract_package(library: Path) -> tuple[str, str, bytes]:
    """(soname, data symbol, package bytes) of an ICU data library."""
    symbols = re.findall(
        r"^\s*\d+:\s+([0-9a-f]+)\s+(\S+)\s+OBJECT\s+GLOBAL\s+\S+\s+(\d+)\s+(icudt\d+_dat)\s*$",
        _readelf("--dyn-syms", library),
        re.M,
    )
    if len(symbols) != 1:
        raise IcuDataError(f"{library}: expected one icudtNN_dat symbol, found {len(symbols)}")
    value, size, section, symbol = symbols[0]
    size = int(size, 0) if size.startswith("0x") else int(size)
    sections = re.findall(
        r"^\s*\[\s*(\d+)\]\s+\S+\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)", _readelf("-S", library), re.M
    )
    address, offset = next((int(a, 16), int(o, 16)) for n, a, o in sections if n == section)
    start = int(value, 16) - address + offset
    soname = re.search(r"\(SONAME\).*\[(.+)\]", _readelf("-d", library)).group(1)
    return soname, symbol, library.read_bytes()[start : start + size]


def link_library(package: bytes, symbol: str, soname: str, out: Path) -> None:
    """A shared library exporting ``symbol`` = ``package`` (read-only, 16-byte aligned)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "icudata.bin"
        data.write_bytes(package)
        source = Path(tmp) / "icudata.s"
        source.write_text(
            "\t.section .rodata\n"
            f"\t.globl {symbol}\n"
            f"\t.type {symbol}, @object\n"
            "\t.balign 16\n"
            f"{symbol}:\n"
            f'\t.incbin "{data}"\n'
            f"\t.size {symbol}, . - {symbol}\n"
            '\t.section .note.GNU-stack,"",@progbits\n'
        )
        obj = Path(tmp) / "icudata.o"
        subprocess.run(["as", "-o", obj, source], check=True)
        subprocess.run(["ld", "-shared", "-soname", soname, "-o", out, obj], check=True)


def imported_icu_functions(libraries: list[Path]) -> set[str]:
    """ICU functions (``name_NN``) the given libraries import, ICU's own libraries left out."""
    found = set()
    for library in libraries:
        if library.name.startswith("libicu"):
            continue
        for line in _readelf("--dyn-syms", library).splitlines():
            fields = line.split()
            if len(fields) >= 8 and fields[6] == "UND" and re.search(r"_\d\d$", fields[7]):
                name = fields[7].split("@")[0]
                if re.match(r"^u[a-z]*_|^U[A-Z]+_", name):
                    found.add(name)
    return found


def trim_library(library: Path, out: Path | None = None) -> tuple[int, int]:
    """Replace ``library`` (or write ``out``) with the trimmed one; returns (before, after)."""
    soname, symbol, package = extract_package(library)
    trimmed = trim_package(package)
    target = out or library
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / soname
        link_library(trimmed, symbol, soname, built)
        before = library.stat().st_size
        target.write_bytes(built.read_bytes())
        target.chmod(0o755)
    return before, target.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", type=Path, help="libicudata.so.NN")
    parser.add_argument("--out", type=Path, help="write here instead of replacing the library")
    parser.add_argument("--list", action="store_true", help="list the items dropped")
    args = parser.parse_args(argv)
    if args.list:
        _, _, package = extract_package(args.library)
        for name, data in read_package(package)[1]:
            if not qt_needs(name, len(data)):
                print(f"{len(data):9d}  {name}")
    before, after = trim_library(args.library, args.out)
    print(f"{args.library.name}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
