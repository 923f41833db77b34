"""A Frictionless Data Package (v1 spec) ``datapackage.json`` describing an export.

Every exported file is a resource with its size (``bytes``) and checksum (``hash``, SHA-256 in
the spec's ``sha256:<hex>`` form); ``items.csv`` (when present) is a tabular resource with a
Table Schema. The project's FAIR metadata maps to the spec's fields: title, description,
licenses, contributors (creators, role "author"), keywords, version, created; instrument,
modality, pixel size and acquisition dates go in as extra properties, which the spec allows.

:data:`DATAPACKAGE_SCHEMA` is a JSON Schema (draft-07) written by us from the Data Package and
Data Resource specifications (https://specs.frictionlessdata.io/data-package/), used by the tests
to validate what we write; :func:`check_datapackage` verifies the checksums on disk.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.errors import Problem

_NAME = r"^([-a-z0-9._/])+$"
# A POSIX relative path: not absolute, no leading "./" or "~", no "..".
_HASH = r"^([^:]+:[a-fA-F0-9]+|[a-fA-F0-9]{32}|)$"
_PATH = r"^(?=^[^./~])(^((?!\.{2}).)*$).*$"

DATAPACKAGE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Data Package (v1), as written by QBI Desktop",
    "type": "object",
    "required": ["resources"],
    "properties": {
        "profile": {"type": "string"},
        "name": {"type": "string", "pattern": _NAME},
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "homepage": {"type": "string"},
        "version": {"type": "string"},
        "created": {"type": "string", "format": "date-time"},
        "keywords": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "image": {"type": "string"},
        "licenses": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "anyOf": [{"required": ["name"]}, {"required": ["path"]}],
                "properties": {
                    "name": {"type": "string", "pattern": r"^([-a-zA-Z0-9._])+$"},
                    "path": {"type": "string"},
                    "title": {"type": "string"},
                },
            },
        },
        "contributors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["title"],
                "properties": {
                    "title": {"type": "string"},
                    "path": {"type": "string"},
                    "email": {"type": "string", "format": "email"},
                    "organization": {"type": "string"},
                    "role": {"type": "string"},
                },
            },
        },
        "sources": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["title"],
                "properties": {"title": {"type": "string"}, "path": {"type": "string"}},
            },
        },
        "resources": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "path"],
                "properties": {
                    "profile": {"type": "string"},
                    "name": {"type": "string", "pattern": _NAME},
                    "path": {
                        "oneOf": [
                            {"type": "string", "pattern": _PATH},
                            {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "string", "pattern": _PATH},
                            },
                        ]
                    },
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "format": {"type": "string"},
                    "mediatype": {"type": "string", "pattern": r"^(.+)/(.+)$"},
                    "encoding": {"type": "string"},
                    "bytes": {"type": "integer"},
                    "hash": {
                        "type": "string",
                        "pattern": _HASH,
                    },
                    "schema": {
                        "type": "object",
                        "required": ["fields"],
                        "properties": {
                            "fields": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "type": {
                                            "enum": [
                                                "string",
                                                "number",
                                                "integer",
                                                "boolean",
                                                "object",
                                                "array",
                                            ]
                                        },
                                    },
                                },
                            },
                            "primaryKey": {"type": ["string", "array"]},
                        },
                    },
                },
            },
        },
    },
}


def resource_name(rel: str, taken: set[str]) -> str:
    """A unique resource name from a file path: lower case, only ``[-a-z0-9._/]``."""
    base = re.sub(r"[^-a-z0-9._/]", "-", rel.lower()) or "file"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def package_name(title: str | None, fallback: str) -> str:
    text = re.sub(r"[^-a-z0-9._]+", "-", (title or fallback).lower()).strip("-")
    return text or "qbi-dataset"


def build_descriptor(
    files: dict[str, tuple[int, str]],
    metadata: dict[str, Any],
    fallback_name: str,
    tables: dict[str, list[dict[str, str]]] | None = None,
) -> dict[str, Any]:
    """The descriptor dict: ``files`` maps relative path -> (bytes, sha256 hex); ``tables`` maps
    a CSV's relative path -> its Table Schema fields."""
    tables = tables or {}
    descriptor: dict[str, Any] = {
        "profile": "tabular-data-package" if tables else "data-package",
        "name": package_name(metadata.get("title"), fallback_name),
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    for key in ("title", "description", "version"):
        if metadata.get(key):
            descriptor[key] = str(metadata[key])
    if metadata.get("license"):
        descriptor["licenses"] = [{"name": re.sub(r"[^-a-zA-Z0-9._]", "-", metadata["license"])}]
    if metadata.get("keywords"):
        descriptor["keywords"] = [str(k) for k in metadata["keywords"]]
    creators = metadata.get("creators") or []
    if creators:
        contributors = []
        for c in creators:
            entry = {"title": str(c.get("name", c)) if isinstance(c, dict) else str(c)}
            if isinstance(c, dict):
                if c.get("email"):
                    entry["email"] = str(c["email"])
                if c.get("orcid"):
                    entry["path"] = f"https://orcid.org/{c['orcid']}"
                if c.get("organization"):
                    entry["organization"] = str(c["organization"])
            entry["role"] = "author"
            contributors.append(entry)
        descriptor["contributors"] = contributors
    for key in ("instrument", "modality", "pixel_size", "pixel_unit", "acquisition_dates"):
        if metadata.get(key) is not None:
            descriptor[key] = metadata[key]
    if metadata.get("mask_classes"):
        descriptor["mask_classes"] = metadata["mask_classes"]
    taken: set[str] = set()
    resources = []
    for rel in sorted(files):
        size, sha = files[rel]
        resource: dict[str, Any] = {
            "name": resource_name(rel, taken),
            "path": rel,
            "format": Path(rel).suffix.lstrip(".").lower(),
            "mediatype": mimetypes.guess_type(rel)[0] or "application/octet-stream",
            "bytes": size,
            "hash": f"sha256:{sha}",
        }
        if rel in tables:
            resource.update(
                profile="tabular-data-resource", encoding="utf-8", schema={"fields": tables[rel]}
            )
        else:
            resource["profile"] = "data-resource"
        resources.append(resource)
    descriptor["resources"] = resources
    return descriptor


def check_datapackage(folder: str | Path) -> list[Problem]:
    """Check every resource's size and checksum against the files in ``folder``."""
    folder = Path(folder)
    descriptor_path = folder / "datapackage.json"
    try:
        descriptor = json.loads(descriptor_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [Problem(str(descriptor_path), f"cannot read ({exc})")]
    problems = []
    for resource in descriptor.get("resources", []):
        path = folder / resource["path"]
        if ".." in Path(resource["path"]).parts or not path.is_file():
            problems.append(Problem(str(path), "file listed in datapackage.json is missing"))
            continue
        algorithm, _, expected = resource.get("hash", "").rpartition(":")
        digest = hashlib.new(algorithm or "md5", path.read_bytes()).hexdigest()
        if digest != expected:
            problems.append(Problem(str(path), f"{algorithm or 'md5'} checksum differs"))
        elif resource.get("bytes") not in (None, path.stat().st_size):
            problems.append(Problem(str(path), "size differs"))
    return problems


def write_datapackage(
    folder: Any, metadata: dict[str, Any], tables: dict[str, list[dict[str, str]]] | None = None
) -> None:
    """Add ``datapackage.json`` describing every file already in the ExportFolder ``folder``."""
    descriptor = build_descriptor(dict(folder.files), metadata, folder.out.name, tables)
    path = folder.tmp / "datapackage.json"
    path.write_text(json.dumps(descriptor, indent=1), encoding="utf-8")
