"""The project catalog as a batch-augmentation source, and the written copies back into it.

Two halves of one seam:

* :class:`ProjectSource` gives :func:`~qbi_desktop.core.augment.batch.augment_dataset` the items
  of a project (image, mask, boxes). It holds the project folder and the item ids, not pixels or a
  database connection, so it pickles cheaply to worker processes and dask workers, each of which
  opens the catalog read-side itself (SQLite WAL lets many readers share it).
* :func:`register_augmented` reads an output folder's manifest and adds every written copy to the
  project as an item of provenance ``augmented``: ``parent_id`` points at the item it was made
  from, and the provenance holds the pipeline, the drawn parameters and the seed triple, so the
  copy can be remade bit for bit. The parent's label and split travel with it (a copy of a test
  image in the training split would leak the test set). By default only training items (and
  items without a split) are augmented (``ITEMS``): copies of val/test items would put
  near-duplicates into the splits that are meant to score a model on new images, and make a
  score count one image several times; ``items="all"`` is the explicit choice to augment them
  too (their copies stay in val/test). A regression target travels only when the
  pipeline cannot change it (``targets.py``: a rotation/flip pipeline keeps a count, a zoom drops
  it), and the provenance names each dropped target and why. Registration is one transaction and
  skips copies already in the catalog, so it can run again after a resumed batch.

:func:`augment_into_project_job` chains both: write under ``<project>/augmented/<run>/`` (the run
folder is named after the pipeline, seed, copies and items, so re-running resumes), then register.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.augment.batch import (
    MANIFEST,
    BatchResult,
    SourceItem,
    augment_dataset,
    read_manifest,
)
from qbi_desktop.core.augment.pipeline import Pipeline
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress

PARENT_PREFIX = "item:"
AUGMENTED_DIR = "augmented"
#: which items of a project to augment: the choice the dialog and ``--items`` offer
ITEMS = {
    "train": "training items only (and items without a split); val/test are not augmented",
    "all": "all items (copies of val/test items go to val/test: near-duplicates in scoring)",
}


class ProjectSource:
    """Items of a project (by id, in the given order) through the batch-source protocol.

    Each item's metadata names it ``<id>_<name>`` (unique even when names repeat), gives
    ``source`` = ``item:<id>`` (the manifest's ``parent``), and its boxes as ``x0, y0, x1, y1,
    index`` rows whose last column points into the parent's box list (labels come back from it).
    """

    def __init__(self, root: str | Path, ids: list[int], left_out: int = 0):
        self.root = Path(root).absolute()
        self.ids = [int(i) for i in ids]
        self.left_out = left_out  # val/test items not augmented (items="train")
        self._project = None

    @classmethod
    def from_project(
        cls,
        project: Any,
        filters: Any = None,
        include_augmented: bool = False,
        items: str = "train",
    ) -> ProjectSource:
        """The items of ``project`` matching ``filters``; augmented items are left out unless
        ``include_augmented`` (augmenting copies of copies compounds the transformations), and
        with ``items="train"`` (the default, see :data:`ITEMS`) the val and test items too."""
        if items not in ITEMS:
            raise UserFacingError(f"items: {items!r} is not one of {', '.join(ITEMS)}")
        ids = project.ids(filters)
        if not include_augmented and ids:
            augmented = set(project.ids({"provenance": "augmented"}))
            ids = [i for i in ids if i not in augmented]
        left_out = 0
        if items == "train" and ids:
            held_out = {
                int(r[0])
                for r in project.db.execute("SELECT id FROM items WHERE split IN ('val', 'test')")
            }
            kept = [i for i in ids if i not in held_out]
            left_out = len(ids) - len(kept)
            if not kept:
                raise UserFacingError(
                    f"{project.root}: all {left_out} items to augment are in the val or test "
                    "split, and only training items are augmented by default (copies of test "
                    "images would score a model on near-duplicates); put items in train, or "
                    "choose to augment all items"
                )
            ids = kept
        if not ids:
            raise UserFacingError(f"{project.root}: the project has no items to augment")
        return cls(project.root, ids, left_out)

    def _open(self):
        if self._project is None:
            from qbi_desktop.core.catalog import open_project

            self._project = open_project(self.root, read_only=True)  # a source only reads
        return self._project

    def close(self) -> None:
        if self._project is not None:
            with contextlib.suppress(Exception):
                self._project.close()
            self._project = None

    def __getstate__(self) -> dict[str, Any]:
        # Workers open their own connection: pickle the folder and the ids only.
        return {"root": self.root, "ids": self.ids, "left_out": self.left_out, "_project": None}

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, i: int) -> SourceItem:
        project = self._open()
        item_id = self.ids[i]
        row = project.db.execute("SELECT name, path FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise UserFacingError(f"{self.root}: item {item_id} was removed from the project")
        meta: dict[str, Any] = {
            "name": f"{item_id:06d}_{row[0]}",
            "source": f"{PARENT_PREFIX}{item_id}",
            "item_id": item_id,
        }
        boxes = project.boxes(item_id)
        if boxes:
            meta["boxes"] = np.asarray(
                [[b.x, b.y, b.x + b.w, b.y + b.h, n] for n, b in enumerate(boxes)],
                dtype=np.float64,
            )
        stack = _stack(project, row[1])
        if stack is not None:  # a multi-page TIFF item: every slice (stacks.py)
            meta["planes"] = len(stack)
            image = stack
        else:
            image = np.asarray(project.image(item_id))
        return SourceItem(image, project.mask(item_id), meta)


def _stack(project: Any, path: str | None) -> np.ndarray | None:
    """The item's file as a stack of planes when it is a multi-page TIFF, else None (an item of
    a container, a series or a NeXus file, is one frame already)."""
    from qbi_desktop.core.augment.stacks import TIFF_SUFFIXES, read_stack

    if path is None or not str(path).lower().endswith(TIFF_SUFFIXES):
        return None
    return read_stack(project.resolve(path))


def parent_id(record: dict[str, Any]) -> int | None:
    """The project item a manifest record was made from (None if it came from elsewhere)."""
    parent = str(record.get("parent", ""))
    if not parent.startswith(PARENT_PREFIX):
        return None
    try:
        return int(parent[len(PARENT_PREFIX) :])
    except ValueError:
        return None


def register_augmented(
    project: Any, output: str | Path, annotator: str | None = "augment"
) -> list[int]:
    """Add the copies recorded in ``output``'s manifest to ``project``; the new item ids.

    One transaction: all new items (with their masks and boxes) or none. Copies already in the
    catalog (same image file) are skipped; copies whose parent is not a project item are refused.
    """
    from qbi_desktop.core.catalog import Box, NewItem
    from qbi_desktop.core.catalog.images import hash_file

    out = Path(output).absolute()
    header, records = read_manifest(out)
    if header is None:
        raise UserFacingError(f"{out / MANIFEST}: no augmentation manifest here")
    fates = _fates(project, header)
    kept = [f.name for f in fates if f.kept]
    dropped = {f.name: f.reason for f in fates if not f.kept}
    stored = {
        str(r[0])
        for r in project.db.execute(
            "SELECT path FROM items WHERE provenance_kind = 'augmented' AND path IS NOT NULL"
        )
    }
    parents: dict[int, tuple | None] = {}
    parent_targets: dict[int, dict[str, float]] = {}
    items = []
    for rec in records:
        image_path = out / rec["image"]
        if project.store_path(image_path) in stored:
            continue
        pid = parent_id(rec)
        if pid is None:
            raise UserFacingError(
                f"{out / MANIFEST}: output {rec['image']} was not made from a project item "
                f"(parent {rec.get('parent')!r}); only project runs can be added to a project"
            )
        if pid not in parents:
            parents[pid] = project.db.execute(
                "SELECT name, label, split FROM items WHERE id = ?", (pid,)
            ).fetchone()
            parent_targets[pid] = {k: v for k, v in project.targets(pid).items() if k in kept}
        parent = parents[pid]
        if parent is None:
            raise UserFacingError(
                f"{out / MANIFEST}: output {rec['image']}: its parent item {pid} is no longer in "
                "the project"
            )
        name, label, split = parent
        try:
            height, width = _image_size(image_path)
            mask = None
            if "mask" in rec:
                import tifffile

                mask = tifffile.imread(out / rec["mask"])
        except OSError as exc:
            raise UserFacingError(f"{image_path}: cannot read the written copy ({exc})") from exc
        boxes = []
        if rec.get("boxes"):
            parent_boxes = project.boxes(pid)
            for row in rec["boxes"]:
                x0, y0, x1, y1 = (float(v) for v in row[:4])
                src = parent_boxes[int(row[4])] if len(row) > 4 else None
                boxes.append(Box(src.label if src else "object", x0, y0, x1 - x0, y1 - y0))
        items.append(
            NewItem(
                name=f"{name}__aug{int(rec['copy']):03d}",
                hash=hash_file(image_path),
                path=image_path,
                size=image_path.stat().st_size,
                width=width,
                height=height,
                label=label,
                split=split,
                annotator=annotator,
                provenance_kind="augmented",
                provenance={
                    "pipeline": header.get("pipeline"),
                    "params": rec.get("params", {}),
                    "seed": rec.get("seed"),
                    "copy": int(rec["copy"]),
                    "parent": pid,
                    "manifest": project.store_path(out / MANIFEST),
                    **({"targets_dropped": dropped} if dropped else {}),
                },
                parent_id=pid,
                targets=dict(parent_targets[pid]),
                mask=mask,
                boxes=boxes,
            )
        )
    if not items:
        return []
    with project.transaction() as tx:
        return tx.add_items(items)


def _fates(project: Any, header: dict[str, Any]) -> list:
    """Which of the project's targets the run's pipeline keeps (see ``targets.py``)."""
    from qbi_desktop.core.augment.targets import TargetFate, target_fates
    from qbi_desktop.core.catalog import targets as catalog_targets

    names = catalog_targets.target_names(project)
    if not names:
        return []
    try:
        pipeline = Pipeline.from_json(header.get("pipeline"), "manifest pipeline")
    except UserFacingError as exc:  # it cannot vouch for any target: all are dropped
        return [
            TargetFate(n, False, f"dropped: the run's pipeline is unreadable ({exc})")
            for n in names
        ]
    return target_fates(pipeline, names, catalog_targets.definitions(project))


def _image_size(path: Path) -> tuple[int, int]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        shape = tif.pages[0].shape
    return int(shape[0]), int(shape[1])


def run_folder_name(pipeline: Pipeline, copies: int, ids: list[int]) -> str:
    """A stable folder name for one run: the same request gives the same folder (resume)."""
    key = json.dumps([pipeline.to_json(), copies, ids], sort_keys=True).encode()
    digest = hashlib.blake2b(key, digest_size=5).hexdigest()
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in pipeline.name)[:40]
    return f"{stem + '-' if stem else ''}s{pipeline.seed}-k{copies}-{digest}"


@dataclass
class ProjectAugmentResult:
    batch: BatchResult
    new_ids: list[int]
    output: Path
    left_out: int = 0  # val/test items not augmented (items="train")


def augment_into_project_job(
    root: str | Path,
    pipeline: Pipeline,
    copies: int,
    *,
    seed: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    filters: Any = None,
    output: str | Path | None = None,
    items: str = "train",
) -> Job[ProjectAugmentResult]:
    """Job: write ``copies`` augmented copies of the project's items and add them as items.

    ``items``: ``"train"`` (default) augments the training items and items without a split,
    ``"all"`` every item (see :data:`ITEMS`).

    Opens its own catalog connection (it runs on a worker thread). Cancelling keeps the copies
    written so far on disk (recorded in the manifest) but adds nothing to the catalog; running
    the same request again resumes the writing and then adds everything.
    """
    from qbi_desktop.core.catalog import open_project

    if seed is not None:
        pipeline = Pipeline(
            pipeline.options, pipeline.keras_compat, seed, pipeline.profile, pipeline.name
        )
    project = open_project(root)
    source = None
    try:
        source = ProjectSource.from_project(project, filters, items=items)
        out = (
            Path(output)
            if output is not None
            else project.root / AUGMENTED_DIR / run_folder_name(pipeline, copies, source.ids)
        )
        batch = yield from augment_dataset(
            source, pipeline, out, copies, workers=workers, scheduler=scheduler
        )
        yield Progress(batch.total, batch.total, "adding the copies to the project")
        new_ids = register_augmented(project, out)
        return ProjectAugmentResult(batch, new_ids, out, source.left_out)
    finally:
        if source is not None:
            source.close()
        project.close()
