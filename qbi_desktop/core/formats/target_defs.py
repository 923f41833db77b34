"""What the exported targets are: their definitions (unit, allowed range, decimals, the
augmentations that change them; :class:`~qbi_desktop.core.catalog.targets.TargetDef`) go with
the values in each format's natural place, and our imports read them back:

- NPZ: the member :data:`NPZ_MEMBER`, JSON text in a 0-d string array (``numpy.load`` reads it
  without pickles; ``json.loads(str(npz["target_definitions"]))``), the catalog's own form
  ``{name: {"unit": ..., "low": ..., "high": ..., "decimals": ..., "changes_with": [...]}}``;
- CSV: a Table Schema beside the sheet (``targets.csv`` -> ``targets.schema.json``, the name
  :func:`sidecar` gives): each target column's ``title`` says its unit, ``constraints`` its
  range, as a Data Package's items.csv describes them; the definitions themselves under
  :data:`SCHEMA_KEY`. The CSV itself stays a plain table;
- XLSX: a second worksheet :data:`XLSX_SHEET`, one row per target (:data:`XLSX_HEADER`).

An import adds the definitions the project lacks and keeps its own (a note says where the
file defines a target otherwise), as the Data Package import does
(:func:`~qbi_desktop.core.formats.datapackage_project.apply_section`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.errors import UserFacingError

#: The NPZ member holding the definitions of the exported targets (JSON text).
NPZ_MEMBER = "target_definitions"
#: The key of a CSV's Table Schema sidecar holding the definitions as the catalog stores them.
SCHEMA_KEY = "qbi_desktop_targets"
#: The XLSX worksheet of the definitions, and its columns.
XLSX_SHEET = "targets"
XLSX_HEADER = ["target", "unit", "low", "high", "decimals", "changes_with"]
#: Definitions one file may give (a project has a handful; a hostile file is not read whole).
MAX_DEFINITIONS = 1000


def sidecar(sheet: Path) -> Path:
    """The Table Schema beside a CSV sheet: ``targets.csv`` -> ``targets.schema.json``."""
    return sheet.with_name(f"{sheet.stem}.schema.json")


def exported(db: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """The definitions (JSON form) of the exported targets ``names`` that have one."""
    defs = T.definitions(db)
    return {n: defs[n].to_json() for n in names if n in defs}


def npz_member(defs: dict[str, dict[str, Any]]) -> np.ndarray:
    """The NPZ member of ``defs``: JSON text as a 0-d unicode array (no pickles)."""
    return np.asarray(json.dumps(defs, ensure_ascii=False, allow_nan=False), dtype=str)


def units_text(names: list[str], defs: dict[str, dict[str, Any]]) -> str:
    """``y`` columns as the NPZ's note names them: ``thickness [mm], count``."""
    return ", ".join(
        f"{n} [{defs[n]['unit']}]" if defs.get(n, {}).get("unit") else n for n in names
    )


def schema_bytes(columns: list[tuple[str, str | None]], defs: dict[str, dict[str, Any]]) -> bytes:
    """A CSV's Table Schema: ``columns`` are (column, target name or None) in the sheet's order;
    each target column gets its unit (title), range (constraints) and description."""
    from qbi_desktop.core.formats.datapackage_project import describe_fields

    fields = [
        {"name": T.PREFIX + target if target else column, "type": "number" if target else "string"}
        for column, target in columns
    ]
    fields = describe_fields(fields, {T.META_KEY: defs})
    for field, (column, _target) in zip(fields, columns, strict=True):
        field["name"] = column
    schema = {"fields": fields, "missingValues": [""], SCHEMA_KEY: defs}
    return json.dumps(schema, indent=1, ensure_ascii=False, allow_nan=False).encode("utf-8")


def xlsx_rows(defs: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """The XLSX worksheet of the definitions: a header, then one row per target."""
    rows: list[list[Any]] = [list(XLSX_HEADER)]
    for name, spec in defs.items():
        rows.append(
            [
                name,
                spec.get("unit") or "",
                spec.get("low"),
                spec.get("high"),
                spec.get("decimals"),
                ", ".join(spec.get("changes_with") or []),
            ]
        )
    return rows


def _checked(data: Any, where: str, problems: list[Problem]) -> dict[str, T.TargetDef]:
    """Definitions from their JSON form, each checked; a problem names the target and field."""
    if not isinstance(data, dict):
        problems.append(Problem(where, "target definitions: expected a JSON object name -> spec"))
        return {}
    if len(data) > MAX_DEFINITIONS:
        problems.append(
            Problem(where, f"{len(data):,} target definitions, more than {MAX_DEFINITIONS}")
        )
        return {}
    out: dict[str, T.TargetDef] = {}
    for name, spec in data.items():
        try:
            out[name] = T.definition_from_json(name, spec)
        except UserFacingError as exc:
            problems.append(Problem(where, f"target definitions: {exc}"))
    return out


def read_npz(source: Path, keys: list[str], problems: list[Problem]) -> dict[str, T.TargetDef]:
    """The definitions an NPZ gives in :data:`NPZ_MEMBER` (none when it has no such member)."""
    if NPZ_MEMBER not in keys:
        return {}
    from qbi_desktop.core.catalog.images import load_npz_array

    where = f"{source} [{NPZ_MEMBER}]"
    try:
        array = load_npz_array(source, NPZ_MEMBER)
    except UserFacingError as exc:
        problems.append(Problem(where, str(exc).removeprefix(f"{source}: ")))
        return {}
    if array.ndim != 0 or array.dtype.kind not in "US":
        problems.append(Problem(where, f"expected one JSON text, got {array.dtype} {array.shape}"))
        return {}
    text = array.item()
    try:
        data = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(Problem(where, f"not valid JSON ({exc})"))
        return {}
    return _checked(data, where, problems)


def read_sheet_definitions(sheet: Path, problems: list[Problem]) -> tuple[dict, str | None]:
    """The definitions beside or inside a sheet: a CSV's Table Schema sidecar, an XLSX's
    :data:`XLSX_SHEET` worksheet; and the file they came from (None: there are none)."""
    if sheet.suffix.lower() in (".xlsx", ".xlsm"):
        return _from_xlsx(sheet, problems), f"{sheet.name} [{XLSX_SHEET}]"
    path = sidecar(sheet)
    if not path.is_file():
        return {}, None
    from qbi_desktop.core.jsonfile import read_json

    try:
        schema = read_json(path, "the sheet's Table Schema")
    except UserFacingError as exc:
        problems.append(Problem(str(path), str(exc).removeprefix(f"{path}: ")))
        return {}, None
    if not isinstance(schema, dict) or SCHEMA_KEY not in schema:
        return {}, None  # another tool's schema: it says nothing we keep
    return _checked(schema[SCHEMA_KEY], str(path), problems), path.name


def _from_xlsx(path: Path, problems: list[Problem]) -> dict[str, T.TargetDef]:
    try:
        import openpyxl
    except ImportError:  # the sheet itself could not be read either: said there
        return {}
    from qbi_desktop.core.safefile import read_bytes

    try:
        book = openpyxl.load_workbook(
            io.BytesIO(read_bytes(path, "the sheet")), read_only=True, data_only=True
        )
    except Exception:  # noqa: BLE001 - the first worksheet's reading said what is wrong
        return {}
    try:
        if XLSX_SHEET not in book.sheetnames[1:]:
            return {}
        rows = []
        for row in book[XLSX_SHEET].iter_rows(
            max_row=MAX_DEFINITIONS + 2, max_col=len(XLSX_HEADER), values_only=True
        ):
            if any(v not in (None, "") for v in row):
                rows.append(list(row) + [None] * (len(XLSX_HEADER) - len(row)))
    finally:
        book.close()
    where = f"{path} [{XLSX_SHEET}]"
    if not rows or [str(v or "").strip().lower() for v in rows[0]] != XLSX_HEADER:
        problems.append(
            Problem(where, f"the worksheet's first row must be {', '.join(XLSX_HEADER)}", row=1)
        )
        return {}
    data: dict[str, Any] = {}
    for r, (name, unit, low, high, decimals, changes) in enumerate(rows[1:], start=2):
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem(where, "a target definition without a target name", row=r))
            continue
        spec: dict[str, Any] = {"unit": "" if unit is None else str(unit)}
        for key, value in (("low", low), ("high", high), ("decimals", decimals)):
            if isinstance(value, float) and key == "decimals" and value.is_integer():
                value = int(value)
            spec[key] = value
        spec["changes_with"] = [c.strip() for c in str(changes or "").split(",") if c.strip()]
        data[name.strip()] = spec
    return _checked(data, where, problems)


def apply(tx: Any, defs: dict[str, T.TargetDef], where: str) -> list[str]:
    """Add the definitions the project lacks (inside the import's transaction ``tx``); the
    report's notes (which were read, which the project defines otherwise and keeps)."""
    if not defs:
        return []
    from qbi_desktop.core.formats.datapackage_project import apply_section

    shown = ", ".join(d.title() for d in list(defs.values())[:10])
    more = f" and {len(defs) - 10} more" if len(defs) > 10 else ""
    notes = [f"{where}: definitions of target(s) {shown}{more} (unit, range, decimals)"]
    return notes + apply_section(tx, {"targets": defs}, [], what=where)
