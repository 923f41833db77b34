"""Regression targets as a project defines them: name, unit, allowed range, decimals.

A definition is stored once per project in the catalog's ``meta`` table (key
``target_definitions``), so the Browser, the CLI and the batch augmentation agree on it. Values
are checked where they are typed: :func:`parse_value` refuses text that is not a number and
numbers outside the allowed range with a message naming the target, and rounds to the
definition's decimals. :func:`set_value` writes one value on many items as one undoable catalog
transaction (``Project.set_target`` returns the :class:`~qbi_desktop.core.catalog.edits.Change`).

``changes_with`` says which kinds of augmentation can change the target: ``"crop_zoom"`` (shift,
zoom, crop, shear, elastic: a count or a size changes when content leaves the frame or is
scaled; the default), ``"rotation_flip"`` and ``"intensity"`` (a measured mean transmission
changes with brightness). Augmented copies keep a target only when the pipeline uses none of
them (``core/augment/targets.py``).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from qbi_desktop.core.catalog.edits import Change
from qbi_desktop.core.decimal_text import decimal_number
from qbi_desktop.core.errors import UserFacingError

META_KEY = "target_definitions"
#: augmentation families a target's value can depend on
FAMILIES = ("crop_zoom", "rotation_flip", "intensity")
MAX_DECIMALS = 12
MAX_NAME = 64
#: Column names the exports write beside the targets (the sheet's image, label and split
#: columns, compared case-insensitively as the sheet import does): a target of such a name
#: would give the sheet two columns of one name. Refused at definition; a project that holds
#: one already (from an older version, or an import) exports it as ``target:<name>``, which
#: the sheet import reads back as ``<name>`` (the Data Package's items.csv names every target
#: column so).
RESERVED = ("image", "label", "split")
PREFIX = "target:"


def column_name(name: str) -> str:
    """The sheet column of target ``name``: the name, or ``target:<name>`` for a name the
    export's other columns use (see :data:`RESERVED`)."""
    taken = name.casefold() in RESERVED or name.startswith(PREFIX)
    return f"{PREFIX}{name}" if taken else name


class TargetValueError(UserFacingError):
    """A typed value that the target's definition refuses (not a number, out of range)."""


@dataclass(frozen=True)
class TargetDef:
    """How a regression target is typed, checked, shown and carried through augmentation."""

    name: str
    unit: str = ""
    low: float | None = None  # allowed range, inclusive; None: open
    high: float | None = None
    decimals: int | None = None  # values are rounded to this many decimals (None: as typed)
    changes_with: tuple[str, ...] = field(default=("crop_zoom",))

    def __post_init__(self) -> None:
        check_definition(self)

    def range_text(self) -> str:
        if self.low is None and self.high is None:
            return "any number"
        lo = "-∞" if self.low is None else _fmt(self.low, self.decimals)
        hi = "∞" if self.high is None else _fmt(self.high, self.decimals)
        return f"{lo} … {hi}"

    def title(self) -> str:
        return f"{self.name} [{self.unit}]" if self.unit else self.name

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["changes_with"] = list(self.changes_with)
        del out["name"]
        return out


def check_definition(d: TargetDef) -> None:
    """Refuse a definition that cannot work, naming the field."""
    name = d.name
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise UserFacingError(f"target name {name!r}: give a name without leading/trailing spaces")
    if len(name) > MAX_NAME or any(c in name for c in ",=\n\t"):
        raise UserFacingError(
            f"target name {name!r}: at most {MAX_NAME} characters, no ',', '=' or line breaks"
        )
    if name.casefold() in RESERVED or name.startswith(PREFIX):
        raise UserFacingError(
            f"target name {name!r}: the sheet export has columns {', '.join(RESERVED)} beside "
            f"the targets (and Data Packages name targets {PREFIX}<name>): choose another "
            f"name, e.g. {name.replace(':', '_') + '_value'!r}"
        )
    if not isinstance(d.unit, str) or "\n" in d.unit:
        raise UserFacingError(f"target {name}: unit {d.unit!r} must be one line of text")
    for what, v in (("lowest value", d.low), ("highest value", d.high)):
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
        ):
            raise UserFacingError(f"target {name}: {what} {v!r} is not a finite number")
    if d.low is not None and d.high is not None and d.low > d.high:
        raise UserFacingError(f"target {name}: lowest value {d.low} is above highest {d.high}")
    if d.decimals is not None and (
        isinstance(d.decimals, bool)
        or not isinstance(d.decimals, int)
        or not 0 <= d.decimals <= MAX_DECIMALS
    ):
        raise UserFacingError(
            f"target {name}: decimals {d.decimals!r} must be a whole number 0-{MAX_DECIMALS}"
        )
    unknown = [f for f in d.changes_with if f not in FAMILIES]
    if unknown:
        raise UserFacingError(
            f"target {name}: changes_with {unknown[0]!r} is not one of {', '.join(FAMILIES)}"
        )


def _fmt(value: float, decimals: int | None) -> str:
    return f"{value:.{decimals}f}" if decimals is not None else f"{value:g}"


def format_value(value: float | None, definition: TargetDef | None) -> str:
    """A value as the Browser shows it (the definition's decimals)."""
    if value is None:
        return ""
    return _fmt(value, definition.decimals if definition else None)


# -- reading and writing the definitions ------------------------------------------------------


def _db(project_or_db: Any) -> sqlite3.Connection:
    return project_or_db if isinstance(project_or_db, sqlite3.Connection) else project_or_db.db


def definitions(project_or_db: Any) -> dict[str, TargetDef]:
    """The project's target definitions by name (empty when none was made).

    A damaged entry (edited by hand) is refused with a message naming it, never guessed at."""
    row = _db(project_or_db).execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    if row is None:
        return {}
    where = f"catalog meta {META_KEY!r}"
    try:
        data = json.loads(row[0])
    except ValueError as exc:
        raise UserFacingError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise UserFacingError(f"{where}: expected an object of target definitions")
    out: dict[str, TargetDef] = {}
    for name, spec in data.items():
        try:
            out[name] = definition_from_json(name, spec)
        except UserFacingError as exc:
            raise UserFacingError(f"{where}, {exc}") from exc
    return out


def definition_from_json(name: str, spec: Any) -> TargetDef:
    """A target definition from its JSON form (the catalog's meta entry, a Data Package's
    project section), every field checked; a problem names the target."""
    if not isinstance(spec, dict):
        raise UserFacingError(f"target {name!r}: expected an object")
    extra = sorted(set(spec) - {"unit", "low", "high", "decimals", "changes_with"})
    if extra:
        raise UserFacingError(f"target {name!r}: unknown field {extra[0]!r}")
    changes = spec.get("changes_with", ["crop_zoom"])
    if not isinstance(changes, list):
        raise UserFacingError(f"target {name!r}: changes_with must be a list")
    for key in ("low", "high"):
        value = spec.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            raise UserFacingError(f"target {name!r}: {key} is not a finite number")
    return TargetDef(
        name,
        spec.get("unit", ""),
        spec.get("low"),
        spec.get("high"),
        spec.get("decimals"),
        tuple(changes),
    )


def definition_of(project_or_db: Any, name: str) -> TargetDef:
    """The definition of ``name``: the stored one, or an open one (any number, as typed)."""
    return definitions(project_or_db).get(name) or TargetDef(name)


def target_names(project: Any) -> list[str]:
    """Defined targets first (in definition order), then names only present in the data."""
    names = list(definitions(project))
    present = [r[0] for r in project.db.execute("SELECT DISTINCT name FROM targets ORDER BY name")]
    return names + [n for n in present if n not in names]


def define(project: Any, definition: TargetDef) -> list[int]:
    """Add or replace a definition (one transaction). Values already stored outside the new
    range are not changed; their item ids are returned so the caller can say so."""
    check_definition(definition)
    with project.transaction() as tx:
        current = definitions(tx.db)
        current[definition.name] = definition
        _store(tx, current)
        return _outside(tx.db, definition)


def remove_definition(project: Any, name: str) -> None:
    """Forget how ``name`` is typed (its values stay)."""
    with project.transaction() as tx:
        current = definitions(tx.db)
        if current.pop(name, None) is not None:
            _store(tx, current)


def _store(tx: Any, defs: dict[str, TargetDef]) -> None:
    tx.set_metadata(**{META_KEY: {n: d.to_json() for n, d in defs.items()} or None})


def _outside(db: sqlite3.Connection, d: TargetDef) -> list[int]:
    where, params = [], [d.name]
    if d.low is not None:
        where.append("value < ?")
        params.append(d.low)
    if d.high is not None:
        where.append("value > ?")
        params.append(d.high)
    if not where:
        return []
    sql = f"SELECT item_id FROM targets WHERE name = ? AND ({' OR '.join(where)}) ORDER BY item_id"
    return [int(r[0]) for r in db.execute(sql, params)]


# -- values -----------------------------------------------------------------------------------


def parse_value(text: str | float | None, definition: TargetDef) -> float | None:
    """The value to store for ``text`` as typed; empty text clears the target (None).

    Refuses (:class:`TargetValueError`) text that is not a finite number and numbers outside
    the allowed range; accepts a decimal comma ("3,5"); rounds to the definition's decimals."""
    name = definition.title()
    if text is None:
        return None
    if isinstance(text, bool):
        raise TargetValueError(f"{name}: {text!r} is not a number")
    if isinstance(text, (int, float)):
        value = float(text)
        shown = f"{text!r}"
    else:
        s = str(text).strip()
        if not s:
            return None
        shown = repr(s)
        candidate = s.replace(",", ".") if s.count(",") == 1 and "." not in s else s
        try:
            value = decimal_number(candidate)  # not float(): "1_0" was stored as 10
        except ValueError as exc:
            raise TargetValueError(f"{name}: {shown} is {exc}") from None
    if not math.isfinite(value):
        raise TargetValueError(f"{name}: {shown} is not a finite number")
    if definition.decimals is not None:
        value = round(value, definition.decimals)
    if (definition.low is not None and value < definition.low) or (
        definition.high is not None and value > definition.high
    ):
        raise TargetValueError(
            f"{name}: {shown} is outside the allowed range {definition.range_text()}"
        )
    return value


def set_value(
    project: Any,
    ids: Iterable[int],
    name: str,
    text: str | float | None,
    annotator: str | None = None,
) -> Change:
    """Check ``text`` against the definition of ``name`` and set it on every item in ``ids``
    (one undoable transaction; empty text or None removes the target)."""
    definition = definition_of(project, name)
    value = parse_value(text, definition)
    # what the edit is called (the command's answer, Edit > Undo, the history): the value as
    # stored, with the definition's decimals (1000.125, never %g's 1000.12)
    shown = format_value(value, definition) if definition.decimals is not None else repr(value)
    what = f"clear {name}" if value is None else f"{name} = {shown}"
    with project.transaction() as tx:
        return tx.set_target(list(ids), name, value, annotator, what)
