"""Import and export of the dataset conventions people use, as Jobs with progress.

``import_job(project, kind, sources, **options)`` and ``export_job(project, kind, out,
**options)`` dispatch to the format modules. Import and export kinds: imagefolder, sheet, masks,
coco, labelme, mnist, npz and ``datapackage`` (images + masks + items.csv + datapackage.json;
its import checks every file's checksum first and gives back labels, splits, review states,
provenance, targets, masks and boxes). Import only: ``series`` and ``nexus`` (one item per frame
of a numbered file series or an HDF5/NeXus dataset, see :mod:`.series_import`) and ``yolo``
(a YOLO detection dataset folder, see :mod:`.yolo`).
Every export takes ``filters`` (see catalog.queries.Filters) and ``datapackage=True`` to add a
checksummed ``datapackage.json``.

Every import notices files that are copies (same content hash) of items the project already
has, as an export edited in another tool and imported back gives: the report counts and names
them; ``update_originals=True`` puts their annotations onto those items instead of adding
copies, undoably (see :mod:`.returning`).

A source whose name ends in an archive suffix (.zip, .tar, .tar.gz, .tgz, .tar.bz2, .tbz2,
.tar.xz, .txz; see :mod:`qbi_desktop.core.archives`) is first extracted safely into
``<project>/sources/<archive stem>/`` and the importer then runs on that folder (on its single
top-level folder when it holds only one), so the items reference files inside the project with
relative paths and the project is self-contained. The suffix decides, on purpose: ``.npz`` and
``.xlsx`` are zips inside but stay an NPZ import and a sheet. If the import then fails or is
cancelled, the extracted folder is removed again: nothing half-imported remains. Every file the
archive's annotations name (COCO ``file_name``, labelme ``imagePath``, sheet rows) must resolve
inside the extracted folder: ``../`` or absolute paths cannot make the project reference, nor an
export copy, a file elsewhere on the host. Importing the
same archive again finds its earlier extraction (same files, byte for byte) and imports from
it, so, as for a folder, the items already there are not added twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from qbi_desktop.core.archives import Extracted, extract_job, is_archive, remove_extracted
from qbi_desktop.core.catalog.project import Project
from qbi_desktop.core.catalog.queries import as_filters
from qbi_desktop.core.catalog.schema import REVIEW_STATES
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import (
    arrays,
    coco,
    datapackage_import,
    imagefolder,
    labelme,
    masks,
    npz_export,
    returning,
    series_import,
    sheet,
    yolo,
)
from qbi_desktop.core.formats.common import ExportReport, ImportReport
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.jobs import Job

#: Folder of the project that extracted archives go to.
SOURCES_DIR = "sources"

IMPORTERS: dict[str, Callable[..., Job[ImportReport]]] = {
    "imagefolder": imagefolder.import_job,
    "sheet": sheet.import_job,
    "masks": masks.import_job,
    "coco": coco.import_job,
    "labelme": labelme.import_job,
    "mnist": arrays.import_mnist_job,
    "npz": arrays.import_npz_job,
    "datapackage": datapackage_import.import_job,
    "series": series_import.import_series_job,
    "nexus": series_import.import_nexus_job,
    "yolo": yolo.import_job,
}

EXPORTERS: dict[str, Callable[..., Job[ExportReport]]] = {
    "imagefolder": imagefolder.export_job,
    "sheet": sheet.export_job,
    "masks": masks.export_job,
    "coco": coco.export_job,
    "labelme": labelme.export_job,
    "mnist": arrays.export_mnist_job,
    "npz": npz_export.export_npz_job,
    "datapackage": imagefolder.export_package_job,
}


def import_job(
    project: Project, kind: str, sources: Sequence[str | Path], **options: Any
) -> Job[ImportReport]:
    if kind not in IMPORTERS:
        raise UserFacingError(f"unknown import kind {kind!r}; use one of {', '.join(IMPORTERS)}")
    project.check_pages()  # a damaged catalog is refused before an import writes into it
    paths = [Path(s) for s in sources]
    if any(is_archive(p) for p in paths):
        return _noting_new_classes(project, _import_archives(project, kind, paths, options))
    return _noting_new_classes(project, _importing(project, kind, paths, options))


def _importing(
    project: Project, kind: str, paths: list[Path], options: dict[str, Any]
) -> Job[ImportReport]:
    """The kind's import job, watched for files that are copies of items already in the
    project (an export coming back from another tool): see :mod:`.returning`; with
    ``update_originals=True`` their annotations go onto those items instead."""
    options = dict(options)
    update = bool(options.pop("update_originals", False))
    folders = [p if p.is_dir() else p.parent for p in paths]
    if options.get("images_dir"):
        folders.append(Path(options["images_dir"]))
    job = IMPORTERS[kind](project, paths, **options)
    return returning.noticing(project, kind, job, update, options.get("annotator"), folders)


def _noting_new_classes(project: Project, job: Job[ImportReport]) -> Job[ImportReport]:
    """Run an import; into a project that had items, say which classes (item labels or box
    labels) it added, so a misspelt or unexpected class is seen at once."""
    from qbi_desktop.core.catalog import classes

    had_items = len(project) > 0
    before = set(classes.class_list(project)) if had_items else set()
    report = yield from job
    if had_items:
        new = [c for c in classes.class_list(project) if c not in before]
        if new:
            shown = ", ".join(repr(c) for c in new[:10])
            more = f" and {len(new) - 10} more" if len(new) > 10 else ""
            report.warnings.append(
                f"{len(new)} class(es) the project did not have were added: {shown}{more}"
            )
    return report


def _import_archives(
    project: Project, kind: str, paths: list[Path], options: dict[str, Any]
) -> Job[ImportReport]:
    """Extract the archive sources, import from the extracted folders, and remove those folders
    again if the import fails or is cancelled (or nothing from them became an item)."""
    extracted: list[Extracted] = []
    notes: list[str] = []
    try:
        resolved: list[Path] = []
        for path in paths:
            if not is_archive(path):
                resolved.append(path)
                continue
            done = yield from extract_job(path, project.root / SOURCES_DIR)
            extracted.append(done)
            root, note = _imagefolder_root(done) if kind == "imagefolder" else (done.root, None)
            resolved.append(root)
            notes += [note] if note else []
        if extracted and len(extracted) == len(paths):
            # Files an archive's annotations name must be inside what was extracted from it.
            options = {**options, "within": _common_folder([d.folder for d in extracted])}
        report = yield from _importing(project, kind, resolved, options)
    except BaseException:
        for done in extracted:
            remove_extracted(done)
        raise
    report.warnings += notes
    for done in extracted:
        where = project.store_path(done.folder)
        if done.reused:
            report.warnings.append(
                f"{done.archive.name}: same content as {where}, already extracted: used that"
            )
        elif report.added:
            report.warnings.append(
                f"{done.archive.name}: {done.files} file(s) extracted into {where}"
            )
        else:  # no new item references the extracted files: do not keep a copy nobody uses
            remove_extracted(done)
            report.warnings.append(
                f"{done.archive.name}: no new items, the extracted copy was removed again"
            )
    return report


def _imagefolder_root(done: Extracted) -> tuple[Path, str | None]:
    """Where an ImageFolder archive's layout starts, read as the folder import reads the
    extracted folder: its one top folder is a wrapper when it holds folders (``data.zip`` ->
    ``data/cat/...``), but a class folder when it holds images and no folders (``cat.tar`` ->
    ``cat/*.png``: class ``cat``, as importing the folder holding ``cat/`` gives); a note says
    which reading was taken then."""
    if done.root == done.folder:
        return done.root, None
    inside = [p for p in done.root.iterdir() if not p.name.startswith(".")]
    if any(p.is_dir() for p in inside):
        return done.root, None
    name = done.root.name
    return done.folder, (
        f"{done.archive.name}: its one folder {name}/ holds images and no sub-folders: read "
        f"as class folder {name!r}, as importing the folder holding it does (to import its "
        "images without a class, archive them without the folder)"
    )


def _common_folder(folders: list[Path]) -> Path:
    return folders[0] if len(folders) == 1 else folders[0].parent


def export_job(
    project: Project,
    kind: str,
    out: str | Path,
    *,
    leave_out_rejected: bool = False,
    leave_out_unlabelled: bool = False,
    **options: Any,
) -> Job[ExportReport]:
    """Export with the format's exporter. Items reviewed as rejected go with the others unless
    ``leave_out_rejected``; the report says how many were left out or went along. Items without
    a class go too (ImageFolder: in ``unlabelled/``, which torchvision takes for a class) unless
    ``leave_out_unlabelled``; the report counts them.
    ``annotations="every"`` adds each annotator's own annotations (``annotators/``) to the
    item's annotation (the consensus, or the latest edit) that every format exports."""
    if kind not in EXPORTERS:
        raise UserFacingError(f"unknown export kind {kind!r}; use one of {', '.join(EXPORTERS)}")
    from qbi_desktop.core.catalog.opinions import EXPORT_ANNOTATIONS, EXPORTING

    annotations = options.pop("annotations", "item")
    if annotations not in EXPORT_ANNOTATIONS:
        raise UserFacingError(
            f"annotations {annotations!r}: use one of {', '.join(EXPORT_ANNOTATIONS)}"
        )
    selection = as_filters(options.get("filters"))
    _refuse_unknown_values(project, selection)
    reviews = [selection.review] if isinstance(selection.review, str) else selection.review
    states = list(REVIEW_STATES if reviews is None else reviews)
    rejected = project.count(replace(selection, review="rejected")) if "rejected" in states else 0
    if leave_out_rejected and rejected:
        options["filters"] = replace(selection, review=[s for s in states if s != "rejected"])
    unlabelled = 0
    if leave_out_unlabelled:
        options["filters"], unlabelled = _labelled_only(project, options.get("filters"))
    token = EXPORTING.set(annotations)
    try:
        report = yield from EXPORTERS[kind](project, Path(out), **options)
    finally:
        EXPORTING.reset(token)
    if unlabelled:
        report.warnings.append(f"{unlabelled} item(s) without a class left out")
    if rejected:
        report.warnings.append(
            f"{rejected} item(s) reviewed as rejected left out"
            if leave_out_rejected
            else Named(
                f"{rejected} item(s) reviewed as rejected are in the export too (leave them "
                "out with {option})",
                option="--leave-out-rejected",
            )
        )
    return report


def _refuse_unknown_values(project: Project, selection: Any) -> None:
    """A split, review state or class the filters name that the project cannot have is a typo
    (``--split trian``): refused, naming the known values, instead of an export of 0 items."""
    from qbi_desktop.core.catalog import classes
    from qbi_desktop.core.catalog.queries import NONE
    from qbi_desktop.core.catalog.schema import SPLITS

    def given(value: Any) -> list[str]:
        return [] if value is None else [value] if isinstance(value, str) else list(value)

    checks = [
        ("split", selection.split, list(SPLITS)),
        ("review state", selection.review, list(REVIEW_STATES)),
    ]
    if selection.label is not None:
        checks.append(("class", selection.label, classes.class_list(project)))
    for what, value, known in checks:
        unknown = [v for v in given(value) if v != NONE and v not in known]
        if unknown:
            shown = ", ".join(repr(k) for k in known[:20]) or "none yet"
            more = f" and {len(known) - 20} more" if len(known) > 20 else ""
            raise UserFacingError(
                f"unknown {what} {unknown[0]!r} (known: {shown}{more}); nothing was exported"
            )


def _labelled_only(project: Project, filters: Any) -> tuple[Any, int]:
    """``filters`` narrowed to the items that have a class, and how many that leaves out."""
    from qbi_desktop.core.catalog.classes import class_counts
    from qbi_desktop.core.catalog.queries import NONE

    selection = as_filters(filters)
    if selection.label is None:
        wanted, had_none = list(class_counts(project)), True
    else:
        given = [selection.label] if isinstance(selection.label, str) else list(selection.label)
        wanted, had_none = [v for v in given if v != NONE], NONE in given
    left_out = project.count(replace(selection, label=NONE)) if had_none else 0
    return replace(selection, label=wanted), left_out


__all__ = [
    "EXPORTERS",
    "IMPORTERS",
    "SOURCES_DIR",
    "ExportReport",
    "ImportReport",
    "export_job",
    "import_job",
]
