"""What a project says about its dataset as a whole, carried through a Data Package export and
back (datapackage.py writes it, datapackage_import.py reads it):

- the class list in its order (``classes --order``, the keys 0-9), classes no item has yet
  included, and each regression target's definition (unit, allowed range, decimals, the
  augmentations that change it): in the custom property :data:`PROJECT_KEY` of
  datapackage.json, which the Data Package spec allows and other readers pass over;
- the same definitions where every Table Schema reader looks: the ``target:<name>`` field of
  items.csv gets a ``title`` with the unit, a ``description`` and ``constraints``
  (``minimum``/``maximum``), which ``frictionless validate`` checks every value against;
- the annotators and the consensus method (top-level ``annotators`` and ``consensus``, as the
  export wrote them before).

The import fills in what the project does not have yet and keeps what it has (a note says
where the package says otherwise): classes the project lacks are appended to its list in the
package's order, definitions it lacks are added, annotators are joined.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.classnames import class_name_problem

#: The custom property of datapackage.json holding the project's class list and definitions.
PROJECT_KEY = "qbi_desktop_project"
#: Catalog metadata keys (``meta`` table) that the section carries.
CLASSES = "classes"
TARGETS = T.META_KEY


def project_section(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The :data:`PROJECT_KEY` property for the project metadata ``metadata`` (None: nothing
    to say)."""
    section = {
        key: metadata[key]
        for key in (CLASSES, TARGETS)
        if isinstance(metadata.get(key), (list, dict)) and metadata[key]
    }
    if not section:
        return None
    return {"version": 1, **section}


def describe_fields(fields: list[dict[str, Any]], metadata: dict[str, Any]) -> list[dict]:
    """Table Schema fields with each defined target's unit, range and decimals (a copy)."""
    defs = metadata.get(TARGETS)
    if not isinstance(defs, dict):
        return fields
    out = copy.deepcopy(fields)
    for field in out:
        name = str(field.get("name", ""))
        spec = defs.get(name.removeprefix("target:")) if name.startswith("target:") else None
        if not isinstance(spec, dict):
            continue
        unit = spec.get("unit") or ""
        target = name.removeprefix("target:")
        field["title"] = f"{target} [{unit}]" if unit else target
        said = [f"regression target {target!r}"]
        if unit:
            said.append(f"unit: {unit}")
        if spec.get("decimals") is not None:
            said.append(f"{spec['decimals']} decimals")
        if spec.get("changes_with"):
            said.append(f"changes with augmentation: {', '.join(spec['changes_with'])}")
        field["description"] = "; ".join(said)
        constraints = {
            rule: spec[key]
            for rule, key in (("minimum", "low"), ("maximum", "high"))
            if spec.get(key) is not None
        }
        if constraints:
            field["constraints"] = constraints
    return out


def range_notes(rows: list[dict[str, Any]], metadata: dict[str, Any]) -> list[str]:
    """Export report notes for target values outside their definition's range (kept when the
    range was defined after them): a Table Schema validator reports them."""
    defs = metadata.get(TARGETS)
    if not isinstance(defs, dict):
        return []
    notes = []
    for name, spec in defs.items():
        low, high = spec.get("low"), spec.get("high")
        outside = [
            r["id"]
            for r in rows
            if name in r["targets"]
            and (
                (low is not None and r["targets"][name] < low)
                or (high is not None and r["targets"][name] > high)
            )
        ]
        if outside:
            notes.append(
                f"target {name!r}: {len(outside)} value(s) lie outside its range {low}..{high} "
                f"(items {', '.join(map(str, outside[:10]))}); items.csv states the range as "
                "Table Schema constraints, so 'frictionless validate' reports them"
            )
    return notes


def read_section(descriptor: dict[str, Any], where: str, problems: list[Problem]) -> dict:
    """The class list and target definitions a package gives (checked), plus its annotators
    and consensus: ``{"classes": [...], "targets": {name: TargetDef}, "annotators": [...],
    "consensus": {...}}``, each only when present and usable; problems are added."""
    out: dict[str, Any] = {}
    people = descriptor.get("annotators")
    if isinstance(people, list) and all(isinstance(p, str) and p.strip() for p in people):
        out["annotators"] = list(people)
    if isinstance(descriptor.get("consensus"), dict):
        out["consensus"] = descriptor["consensus"]
    section = descriptor.get(PROJECT_KEY)
    if section is None:
        return out
    if not isinstance(section, dict):
        problems.append(Problem(where, f"{PROJECT_KEY} must be a JSON object"))
        return out
    classes = section.get(CLASSES, [])
    if not isinstance(classes, list):
        problems.append(Problem(where, f"{PROJECT_KEY}.{CLASSES} must be a list of class names"))
    else:
        for k, name in enumerate(classes):
            if (why := class_name_problem(name)) is not None:
                problems.append(Problem(where, f"{PROJECT_KEY}.{CLASSES}[{k}]: {why}"))
                break
        else:
            out["classes"] = list(dict.fromkeys(name.strip() for name in classes))
    defs = section.get(TARGETS, {})
    if not isinstance(defs, dict):
        problems.append(Problem(where, f"{PROJECT_KEY}.{TARGETS} must be a JSON object"))
        return out
    out["targets"] = {}
    for name, spec in defs.items():
        try:
            out["targets"][name] = T.definition_from_json(name, spec)
        except UserFacingError as exc:
            problems.append(Problem(where, f"{PROJECT_KEY}.{TARGETS}: {exc}"))
    return out


def apply_section(
    tx: Any, section: dict[str, Any], classes_before: list[str], what: str = "the package"
) -> list[str]:
    """Fill the project (inside the import's transaction ``tx``) with what the package says and
    the project does not; the import report's notes (``what`` names the file in them)."""
    notes: list[str] = []
    db = tx.db
    order = section.get("classes")
    if order:
        added = [c for c in order if c not in classes_before]
        if added or not classes_before:
            tx.set_metadata(**{CLASSES: classes_before + added})
        shared = [c for c in classes_before if c in order]
        if shared != [c for c in order if c in classes_before]:
            notes.append("the project's own class order kept (the package orders them otherwise)")
    package_defs: dict[str, T.TargetDef] = section.get("targets") or {}
    if package_defs:
        have = T.definitions(db)
        differ = [n for n, d in package_defs.items() if n in have and have[n] != d]
        merged = {**package_defs, **have}
        if merged != have:
            tx.set_metadata(**{TARGETS: {n: d.to_json() for n, d in merged.items()}})
        if differ:
            notes.append(
                f"the project's own definition of target(s) {', '.join(differ)} kept "
                f"({what} defines them otherwise)"
            )
    people = section.get("annotators")
    if people:
        row = db.execute("SELECT value FROM meta WHERE key = 'annotators'").fetchone()
        known = json.loads(row[0]) if row is not None else []
        joined = sorted(set(known) | set(people))
        if joined != sorted(known):
            tx.set_metadata(annotators=joined)
    consensus = section.get("consensus")
    if consensus and db.execute("SELECT 1 FROM meta WHERE key = 'consensus'").fetchone() is None:
        tx.set_metadata(consensus=consensus)
    return notes
