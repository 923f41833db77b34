"""Import and export of the dataset conventions people use, as Jobs with progress.

``import_job(project, kind, sources, **options)`` and ``export_job(project, kind, out,
**options)`` dispatch to the format modules. Import kinds: imagefolder, sheet, masks, coco,
labelme, mnist, npz. Export kinds: the same plus ``datapackage`` (images + masks + items.csv +
datapackage.json). Every export takes ``filters`` (see catalog.queries.Filters) and
``datapackage=True`` to add a checksummed ``datapackage.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import arrays, coco, imagefolder, labelme, masks, sheet
from qbi_desktop.core.formats.common import ExportReport, ImportReport
from qbi_desktop.core.jobs import Job

IMPORTERS: dict[str, Callable[..., Job[ImportReport]]] = {
    "imagefolder": imagefolder.import_job,
    "sheet": sheet.import_job,
    "masks": masks.import_job,
    "coco": coco.import_job,
    "labelme": labelme.import_job,
    "mnist": arrays.import_mnist_job,
    "npz": arrays.import_npz_job,
}

EXPORTERS: dict[str, Callable[..., Job[ExportReport]]] = {
    "imagefolder": imagefolder.export_job,
    "sheet": sheet.export_job,
    "masks": masks.export_job,
    "coco": coco.export_job,
    "labelme": labelme.export_job,
    "mnist": arrays.export_mnist_job,
    "npz": arrays.export_npz_job,
    "datapackage": imagefolder.export_package_job,
}


def import_job(
    project: Project, kind: str, sources: Sequence[str | Path], **options: Any
) -> Job[ImportReport]:
    if kind not in IMPORTERS:
        raise UserFacingError(f"unknown import kind {kind!r}; use one of {', '.join(IMPORTERS)}")
    return IMPORTERS[kind](project, [Path(s) for s in sources], **options)


def export_job(project: Project, kind: str, out: str | Path, **options: Any) -> Job[ExportReport]:
    if kind not in EXPORTERS:
        raise UserFacingError(f"unknown export kind {kind!r}; use one of {', '.join(EXPORTERS)}")
    return EXPORTERS[kind](project, Path(out), **options)


__all__ = ["EXPORTERS", "IMPORTERS", "ExportReport", "ImportReport", "export_job", "import_job"]
