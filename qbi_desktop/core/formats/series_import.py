"""Numbered file series and NeXus/HDF5 stacks into a project: one catalog item per frame.

``series``: each source is a folder (its largest numbered series), a pattern
(``edge20mm_####.tif``, ``edge20mm_*.tif``) or one frame of the series
(:func:`qbi_desktop.core.radiography.series.find_series`). Every frame is an image file, so
every item is a file item, named ``<series>#<number>`` (``edge20mm#0003``): the file is read
where it is, never copied. A missing frame, or one of another size or pixel type, refuses the
whole series naming that frame (nothing is added).

``nexus``: each source is an HDF5/NeXus file; ``dataset`` names the image dataset (default:
the NXdata signal, :func:`qbi_desktop.core.radiography.nexus.default_dataset`). The dataset is
a container of the catalog (kind ``nexus``, key = the dataset path) and each frame an item
(``<file stem>#<frame>``, ``<file stem>-<dataset name>#<frame>`` for another dataset than the
default) whose pixels are read from the file one frame at a time (thumbnails,
baselines, exports). Each frame is read once here, one at a time, for its content hash (so a
frame that cannot be read is refused at import, naming it). A file without an image dataset is
refused naming what it holds.

Importing the same series or dataset again adds only the frames not already in the project.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.errors import Problem
from qbi_desktop.core.catalog.images import hash_array
from qbi_desktop.core.catalog.project import NewItem, Project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats.common import (
    ImportReport,
    existing_paths,
    file_item,
    reject_if,
    scan_image,
)
from qbi_desktop.core.formats.named import Named
from qbi_desktop.core.jobs import Job, Progress


def series_stem(prefix: str, fallback: str = "frame") -> str:
    """What a series' items are called before ``#<number>``: its file prefix without the
    separator before the number (``edge20mm_`` -> ``edge20mm``)."""
    return prefix.rstrip("_-. ") or fallback


def frame_name(stem: str, frame: int, digits: int) -> str:
    """The item name of one frame: ``<stem>#<frame>``, the frame zero-padded to ``digits``."""
    return f"{stem}#{frame:0{digits}d}"


def import_series_job(
    project: Project, sources: Sequence[str | Path], *, annotator: str | None = None, **_: Any
) -> Job[ImportReport]:
    """Import every frame of the numbered series ``sources`` name (see the module doc)."""
    from qbi_desktop.core.radiography.series import check_frames, find_series

    if not sources:
        raise UserFacingError(
            Named("{kind} import: give a folder, a pattern or a frame of the series", kind="series")
        )
    report = ImportReport("series", ", ".join(str(s) for s in sources))
    plans = []
    for source in sources:
        # a missing frame is named; so is a frame named in several paddings (s_0001, s_1)
        series = find_series(source)
        check_frames(series.paths)  # a frame of another size or type is named
        plans.append(series)
    total = sum(len(s.numbers) for s in plans)
    db = project.connect()
    try:
        known = existing_paths(project, db)
        problems: list[Problem] = []
        items: list[NewItem] = []
        taken: set[str] = set()  # a frame named by two sources (a folder and its pattern)
        done = skipped = 0
        new: list[int] = []  # frames each plan adds
        for series in plans:
            new.append(len(items))
            stem = series_stem(series.prefix, Path(series.folder).name)
            pattern = str(series.folder / series.pattern)
            for number, path in zip(series.numbers, series.paths, strict=True):
                done += 1
                stored = project.store_path(path)
                if stored in known or stored in taken:
                    skipped += 1  # in the project, or named twice in this import
                    continue
                taken.add(stored)
                info = scan_image(path)
                if isinstance(info, str):
                    problems.append(Problem(str(path), f"frame {number}: {info}"))
                    continue
                items.append(
                    file_item(
                        path,
                        info,
                        annotator=annotator,
                        provenance={"source": "series", "imported_from": pattern},
                        metadata={"series": pattern, "frame": number},
                    )
                )
                items[-1].name = frame_name(stem, number, series.digits)
                if done % 50 == 0:
                    yield Progress(done, total, f"reading frames: {done} of {total}")
        reject_if(report.source, problems)
        new = [b - a for a, b in zip(new, [*new[1:], len(items)], strict=True)]
        report.warnings += [
            _brought(source, series, count)
            for source, series, count in zip(sources, plans, new, strict=True)
        ]
        if skipped:
            report.warnings.append(f"{skipped} frame(s) already in the project: left as they are")
        yield Progress(total, total, "writing catalog")
        with project.transaction(db) as tx:
            report.ids = tx.add_items(items)
        report.added = len(items)
        return report
    finally:
        db.close()


def _brought(source: str | Path, series: Any, new: int) -> str:
    """Which series a source brought in: a frame, a folder or a pattern stands for the whole
    series (pattern, frame count, first and last file), so files nobody named are said."""
    path = Path(source)
    if path.is_dir():
        given = f"folder {path}: its largest series"
    elif path.is_file():
        given = f"{path.name}: one frame of the series"
    else:
        given = f"{source}: the series"
    paths = series.paths
    count = len(paths)
    span = paths[0].name if count == 1 else f"{paths[0].name} to {paths[-1].name}"
    text = f"{given} {series.pattern} in {series.folder}: {count} frame(s) ({span}), {new} new"
    if path.is_file() and count > 1:
        text += f": the {count - 1} other frame(s), not named, came with it"
    return text


def import_nexus_job(
    project: Project,
    sources: Sequence[str | Path],
    *,
    dataset: str | None = None,
    annotator: str | None = None,
    **_: Any,
) -> Job[ImportReport]:
    """Import every frame of the image dataset ``dataset`` (default: each file's NXdata
    signal) of the HDF5/NeXus files ``sources`` (see the module doc)."""
    from qbi_desktop.core.radiography.frames import check_frame_count
    from qbi_desktop.core.radiography.nexus import default_dataset, open_nexus

    if not sources:
        raise UserFacingError(
            Named("{kind} import: give one or more HDF5/NeXus files", kind="nexus")
        )
    report = ImportReport("nexus", ", ".join(str(s) for s in sources))
    plans: list[tuple[Path, str, int, tuple[int, ...]]] = []
    stems: dict[tuple[Path, str], str] = {}
    for source in sources:
        path = Path(source)
        if not path.is_file():
            raise UserFacingError(
                f"{path}: {'is not a file' if path.exists() else 'file not found'}"
            )
        default = default_dataset(path).name  # no image dataset: says what it holds
        name = dataset or default
        if any(p.resolve() == path.resolve() and d == name for p, d, _, _ in plans):
            continue  # the same file named twice: imported once
        opened = open_nexus(path, name)  # a name that is no image dataset is refused
        try:
            check_frame_count(path, name, opened.n_slices)
            if opened.metadata.get("stored_frames"):
                report.warnings.append(f"{path.name} {opened.metadata['stored_frames']}")
            plans.append((path, name, opened.n_slices, tuple(opened.slice_shape)))
            # another dataset than the default one gets its own names: "scan-dark#0"
            stems[(path, name)] = (
                path.stem if name == default else f"{path.stem}-{name.rstrip('/').split('/')[-1]}"
            )
        finally:
            opened.close()
    total = sum(n for _, _, n, _ in plans)
    db = project.connect()
    try:
        done = 0
        found: list[tuple[Path, str, int, tuple[int, ...], dict[int, str]]] = []
        for path, name, n, shape in plans:
            row = db.execute(
                "SELECT id FROM containers WHERE path = ? AND key = ?",
                (project.store_path(path), name),
            ).fetchone()
            have: set[int] = set()
            if row is not None:
                have = {
                    int(r[0])
                    for r in db.execute("SELECT idx FROM items WHERE container_id = ?", (row[0],))
                }
            if have:
                report.warnings.append(
                    f"{path.name} {name}: {len(have)} frame(s) already in the project: "
                    "left as they are"
                )
            hashes: dict[int, str] = {}
            source = open_nexus(path, name)
            try:
                for index in range(n):
                    done += 1
                    if index in have:
                        continue
                    # one frame at a time: a broken frame raises naming the file and frame
                    hashes[index] = hash_array(source.plane(index).array)
                    yield Progress(done, total, f"{path.name}: frame {index + 1} of {n}")
            finally:
                source.close()
            found.append((path, name, n, shape, hashes))
        yield Progress(total, total, "writing catalog")
        with project.transaction(db) as tx:  # every file's frames, or none
            for path, name, n, shape, hashes in found:
                if not hashes:
                    continue
                cid = tx.add_container(path, "nexus", name, n)
                digits = len(str(n - 1))
                provenance = {"source": "nexus", "imported_from": str(path), "dataset": name}
                items = [
                    NewItem(
                        name=frame_name(stems[(path, name)], index, digits),
                        hash=digest,
                        container=cid,
                        index=index,
                        width=int(shape[1]),
                        height=int(shape[0]),
                        annotator=annotator,
                        provenance={**provenance, "index": index},
                        metadata={"dataset": name, "frame": index},
                    )
                    for index, digest in sorted(hashes.items())
                ]
                report.ids += tx.add_items(items)
                report.added += len(items)
        return report
    finally:
        db.close()
