"""A Frictionless Data Package (v1 spec) ``datapackage.json`` describing an export (its
import back into a project, kind ``datapackage``, is :mod:`.datapackage_import`).

Every exported file is a resource with its size (``bytes``) and checksum (``hash``, SHA-256 in
the spec's ``sha256:<hex>`` form; a bare hex string would mean MD5); ``items.csv`` (when
present) is a tabular resource with a Table Schema. The project's FAIR metadata maps to the
spec's fields: title, description, licenses, contributors (creators, role "author"), keywords,
version, created; instrument, modality, pixel size, acquisition dates and what mask values
mean go in as extra properties, which the spec allows, and so do the class list and the target
definitions (property ``qbi_desktop_project``; units and ranges also as Table Schema field
``title``/``description``/``constraints``: see :mod:`.datapackage_project`).

We target Data Package v1, the version the ``profile`` key names (v2 uses ``$schema``): what
frictionless v5 and most catalogues read. The package profile is ``data-package``, never
``tabular-data-package``: that one requires every resource to be tabular, and images are not.
The tests validate what we write with the official implementation (``frictionless.validate``:
the descriptor against the official profile, and every file's size and checksum); a schema of
our own would only be a second, less exact copy of that profile, so there is none here.
"""

from __future__ import annotations

import json
import mimetypes
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.datapackage_project import (
    PROJECT_KEY,
    describe_fields,
    project_section,
)

#: Data Package v1 profiles (the ``profile`` key) of the package and of its resources.
PACKAGE_PROFILE = "data-package"
RESOURCE_PROFILE = "data-resource"
TABLE_PROFILE = "tabular-data-resource"


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
    if not files:
        # The spec wants at least one resource; an empty selection is the user's to fix.
        raise UserFacingError(
            "nothing to describe in datapackage.json: the export holds no files "
            "(no items match the filters)"
        )
    descriptor: dict[str, Any] = {
        "profile": PACKAGE_PROFILE,
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
    # who annotated and how the consensus was made (core.catalog.opinions.package_fields)
    for key in ("mask_classes", "mask_instances", "annotators", "consensus"):
        if metadata.get(key):
            descriptor[key] = metadata[key]
    # the class list (order, classes without items) and the target definitions
    section = project_section(metadata)
    if section is not None:
        descriptor[PROJECT_KEY] = section
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
            fields = describe_fields(tables[rel], metadata)  # targets' units and ranges
            resource.update(profile=TABLE_PROFILE, encoding="utf-8", schema={"fields": fields})
        else:
            resource["profile"] = RESOURCE_PROFILE
        resources.append(resource)
    descriptor["resources"] = resources
    return descriptor


def write_datapackage(
    folder: Any, metadata: dict[str, Any], tables: dict[str, list[dict[str, str]]] | None = None
) -> None:
    """Add ``datapackage.json`` describing every file already in the ExportFolder ``folder``."""
    descriptor = build_descriptor(dict(folder.files), metadata, folder.out.name, tables)
    path = folder.tmp / "datapackage.json"
    try:
        text = json.dumps(descriptor, indent=1, allow_nan=False)
    except ValueError:
        raise UserFacingError(
            "datapackage.json: the project metadata holds a NaN or infinite number"
        ) from None
    path.write_text(text, encoding="utf-8")
