"""The files of a Data Package and their checks: where datapackage.json is, the file resources
it lists (each inside the package), each file's size and checksum against the descriptor, and
what to do with an items table edited on purpose since the export.

A changed file refuses the import. The items table (``items.csv``) is the one file a person
edits on purpose (labels, splits, targets in a spreadsheet): its refusal says how to bring the
edits in, ``edited_table=True`` (``--edited-table``) reads it as it is with a note that it was
not verified, and even then a table that is cut short or corrupt (a row with fewer cells than
the header, NUL bytes) stays refused: an accident, not an edit.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.jsonfile import read_json
from qbi_desktop.core.safefile import check_regular, not_regular, resolve_inside

#: The table an export writes, one row per item.
ITEMS_TABLE = "items.csv"
#: The option that accepts an items table edited since the export (command-line name).
EDITED_OPTION = "--edited-table"
#: How :func:`verify_file` ends the reason of a file whose content is not the exported one.
CHANGED = "was changed"

#: Checksum algorithms the spec allows in ``hash`` (``algo:hex``; bare hex means MD5).
HASH_ALGORITHMS = ("md5", "sha1", "sha256", "sha512")


@dataclass(frozen=True)
class PackageFile:
    """A file resource of a package: where it is and what datapackage.json says about it."""

    rel: str
    path: Path
    size: int | None
    algorithm: str | None  # None: datapackage.json gives no checksum (hash is optional)
    digest: str | None


def find_descriptor(source: str | Path) -> Path:
    """``datapackage.json`` of ``source`` (the file itself, the package folder, or a folder
    holding exactly one package folder, as an extracted archive often does)."""
    source = Path(source)
    if source.exists() and not source.is_dir():
        check_regular(source, "the package descriptor")  # a FIFO or device: refused at once
        if source.name != "datapackage.json" and source.suffix.lower() != ".json":
            raise UserFacingError(f"{source}: not a datapackage.json")
        return source
    if not source.is_dir():
        raise UserFacingError(f"{source}: no such file or folder")
    if (source / "datapackage.json").is_file():
        return source / "datapackage.json"
    below = sorted(
        p / "datapackage.json"
        for p in source.iterdir()
        if p.is_dir() and (p / "datapackage.json").is_file()
    )
    if len(below) == 1:
        return below[0]
    if below:
        raise UserFacingError(
            f"{source}: holds {len(below)} data packages "
            f"({', '.join(p.parent.name for p in below)}); import one at a time"
        )
    raise UserFacingError(f"{source}: no datapackage.json in this folder")


def read_descriptor(path: str | Path) -> dict[str, Any]:
    """The descriptor parsed as JSON (never anything else), with a list of resources."""
    path = Path(path)
    descriptor = read_json(path, "the package descriptor")
    if not isinstance(descriptor, dict):
        raise UserFacingError(f"{path}: a Data Package descriptor must be a JSON object")
    resources = descriptor.get("resources")
    if "resources" in descriptor and not isinstance(resources, list):
        raise UserFacingError(
            f"{path}: 'resources' is {json_kind(resources)}, not a list: a Data Package lists "
            'its resources as [{"name": ..., "path": ...}, ...]'
        )
    if not resources:
        why = "an empty list" if "resources" in descriptor else "missing"
        raise UserFacingError(f"{path}: no 'resources' listed ({why}): there is nothing to import")
    return descriptor


def json_kind(value: Any) -> str:
    """What a JSON value is, in words ("an object", "a number", ...)."""
    if isinstance(value, dict):
        return "an object" + (" ({})" if not value else "")
    if isinstance(value, str):
        return "a text"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else "a list"


def _declared_hash(value: Any) -> tuple[str, str] | None:
    """(algorithm, hex digest) of a resource's ``hash``, or None when it is not one we know."""
    if not isinstance(value, str) or not value.strip():
        return None
    algorithm, _, digest = value.strip().rpartition(":")
    algorithm = algorithm.lower() or "md5"
    digest = digest.lower()
    if algorithm not in HASH_ALGORITHMS or not re.fullmatch(r"[0-9a-f]+", digest):
        return None
    return algorithm, digest


def _safe_rel(path: str) -> str | None:
    """The resource path as a relative POSIX path inside the package, or None if it is not."""
    if not path or "\\" in path or "\x00" in path or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path):
        return None  # URLs, drive letters, Windows separators
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    return path


def package_files(
    descriptor: dict[str, Any], root: Path, problems: list[Problem]
) -> dict[str, PackageFile]:
    """Every file resource by relative path; what cannot be one is a Problem."""
    where = str(root / "datapackage.json")
    files: dict[str, PackageFile] = {}
    for n, resource in enumerate(descriptor["resources"]):
        if not isinstance(resource, dict):
            problems.append(Problem(where, f"resource {n + 1} is not a JSON object"))
            continue
        paths = resource.get("path")
        if paths is None:
            continue  # inline data: no file to check
        name = resource.get("name", f"resource {n + 1}")
        for raw in paths if isinstance(paths, list) else [paths]:
            rel = _safe_rel(raw) if isinstance(raw, str) else None
            if rel is None:
                problems.append(
                    Problem(where, f"{name}: path {raw!r} is not a relative path in the package")
                )
                continue
            # the name stays inside; a symbolic link on the way must too (the shared rule of
            # every importer: a package must not make the project reference a host file)
            inside = resolve_inside(root, rel, root)
            if isinstance(inside, str):
                problems.append(Problem(where, f"{name}: {inside}"))
                continue
            declared = _declared_hash(resource.get("hash"))
            if resource.get("hash") in (None, ""):
                declared = (None, None)  # optional in the spec: checked for size only
            elif declared is None:
                problems.append(
                    Problem(
                        str(root / rel),
                        f"hash {resource.get('hash')!r} in datapackage.json is not a "
                        f"checksum we can verify ({', '.join(HASH_ALGORITHMS)})",
                    )
                )
                continue
            size = resource.get("bytes")
            if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
                problems.append(Problem(str(root / rel), f"'bytes' is not a number: {size!r}"))
                continue
            files[rel] = PackageFile(rel, root / rel, size, *declared)
    return files


def verify_file(entry: PackageFile) -> str | None:
    """Why the file does not match what datapackage.json says about it, or None if it does."""
    try:
        reason = not_regular(entry.path)  # a FIFO would block the checksum for ever
        if reason == "file not found":
            return "file listed in datapackage.json is missing"
        if reason is not None:
            return f"listed in datapackage.json but {reason}"
        size = entry.path.stat().st_size
        if entry.size is not None and size != entry.size:
            return f"file has {size} bytes, datapackage.json says {entry.size}: it was changed"
        if entry.algorithm is None:
            return None  # nothing to compare with (the import report says so)
        digest = hashlib.new(entry.algorithm)
        with open(entry.path, "rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        return f"cannot read ({exc.strerror})"
    if digest.hexdigest() != entry.digest:
        return f"{entry.algorithm} checksum differs from datapackage.json: the file was changed"
    return None


def changed_table(reason: str) -> Named:
    """The refusal of an items table that is not the exported one, saying how to bring the
    edits in when they were made on purpose."""
    return Named(
        f"{Named.escape(reason)} since the export. If you edited {ITEMS_TABLE} on purpose "
        "(classes, splits, targets, notes), import again with {option}: it is then read as "
        "it is, with a note that it was not verified (rows cut short are still refused); "
        "otherwise export the package again",
        option=EDITED_OPTION,
    )


def check_edited_table(
    path: Path, header: list[str], rows: list[list[str]], descriptor: dict[str, Any]
) -> list[str]:
    """Refuse an edited items table that looks damaged rather than edited; notes on what
    differs from the exported table's schema (the caller adds them to the report)."""
    problems = []
    for n, row in enumerate(rows, start=2):
        if len(row) != len(header) and any(cell.strip() for cell in row):
            problems.append(f"row {n} has {len(row)} cell(s), the header {len(header)}")
        if any("\x00" in cell for cell in row):
            problems.append(f"row {n} holds NUL bytes")
        if len(problems) >= 5:
            break
    if problems:
        raise UserFacingError(
            f"{path}: edited since the export and damaged, not just edited: "
            f"{'; '.join(problems)} (cut short or corrupt?); nothing was imported. "
            "Fix the table, or export the package again"
        )
    notes = []
    exported = _schema_names(descriptor)
    if exported:
        gone = [name for name in exported if name not in header]
        if gone:
            notes.append(
                f"{ITEMS_TABLE}: column(s) {', '.join(gone)} of the export are not in the "
                "edited table: those values are not imported"
            )
    return notes


def _schema_names(descriptor: dict[str, Any]) -> list[str]:
    for resource in descriptor.get("resources", []):
        if isinstance(resource, dict) and resource.get("path") == ITEMS_TABLE:
            schema = resource.get("schema")
            fields = schema.get("fields") if isinstance(schema, dict) else None
            if isinstance(fields, list):
                return [str(f.get("name")) for f in fields if isinstance(f, dict)]
    return []
