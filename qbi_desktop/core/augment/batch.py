"""Batch augmentation: K augmented copies of every item of a dataset, resumable, in parallel.

Output folder layout::

    out/images/<name>__aug<k>.tif     augmented image (input dtype, lossless TIFF)
    out/masks/<name>__aug<k>.tif      augmented mask, when the item has one
    out/manifest.jsonl                one JSON object per line: a header, then one record per
                                      completed output (parent, item, copy, files, params, seed,
                                      boxes)

Every file is written atomically (temporary file + rename), and an output's manifest record is
appended only after its files exist, so after a crash, a cancel or a full disk every recorded
output is complete. Running the same command again resumes: recorded outputs are skipped, the
rest are written (and temporary files a killed run left are removed). The work goes out in
units of at most :data:`COPIES_PER_TASK` copies of one item, recorded as each unit ends, so a
killed run loses at most that many outputs per process, also with few items and many copies.
Because each output's randomness comes from (seed, item, copy) alone, the files are the same
whether written in one run or several, by 1 process, N processes or a dask cluster.

Sources: anything with ``len()`` and ``item(i)`` returning an object with ``image``, optional
``mask`` and ``metadata`` (``name``, ``boxes``) attributes -- the :class:`~qbi_desktop.core.
datasets.Dataset` protocol (so the project catalog plugs in), or :class:`FolderSource` /
:class:`ArraySource` here. For processes and dask a source must pickle cheaply (hold paths, not
pixels) and its files must be reachable from the workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import errno
import json
import multiprocessing
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qbi_desktop.core.atomic import atomic_write_text, atomic_write_with, leftover_temps
from qbi_desktop.core.augment.intensity import check_image, check_mask
from qbi_desktop.core.augment.manifest_file import (
    MANIFEST,
    MANIFEST_FORMAT,
    read_manifest_file,
    refuse_foreign_output,
)
from qbi_desktop.core.augment.pipeline import Pipeline
from qbi_desktop.core.errors import ImageReadError, UserFacingError, listed
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.limits import MAX_COPIES

# Copies of one item per work unit: a unit's outputs are recorded when it ends. Small enough
# that a kill loses little (one unit per process), large enough that reading the item again
# for each unit costs little beside augmenting 8 copies of it.
COPIES_PER_TASK = 8
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".npy")


# ---------------------------------------------------------------------------------------------
# Sources


@dataclass
class SourceItem:
    image: np.ndarray
    mask: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class AugmentSource(Protocol):
    def __len__(self) -> int: ...

    def item(self, i: int) -> Any: ...


def read_image_file(path: Path) -> np.ndarray:
    """Read one image file (TIFF, PNG/JPEG/BMP via Pillow, .npy) fully; clear error otherwise."""
    from qbi_desktop.core.imageheader import check_pillow, read_tiff_checked
    from qbi_desktop.core.limits import check_image_size

    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            array = np.asarray(read_tiff_checked(path, key=None))
        elif path.suffix.lower() == ".npy":
            # mapped first, so the declared shape is checked before anything is read
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
            if mapped.ndim >= 2:
                check_image_size(path, mapped.shape, mapped.dtype.itemsize)
            array = np.array(mapped)
        else:
            from PIL import Image

            with Image.open(path) as im:
                check_pillow(path, im)
                array = np.asarray(im)
    except FileNotFoundError as exc:
        raise ImageReadError(path, "file not found") from exc
    except ImageReadError:
        raise
    except Exception as exc:  # any decoder error: name the file
        raise ImageReadError(path, f"cannot be read as an image ({exc})") from exc
    if array.size == 0:
        raise ImageReadError(path, "holds no image data (truncated or corrupt)")
    return array


class FolderSource:
    """Images in a folder (sorted by name), with masks in another folder matched by file stem."""

    def __init__(self, folder: str | Path, masks: str | Path | None = None):
        self.folder = Path(folder)
        self.masks = Path(masks) if masks is not None else None
        if not self.folder.is_dir():
            raise UserFacingError(f"{self.folder}: input folder not found")
        self.files = sorted(
            p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not self.files:
            raise UserFacingError(
                f"{self.folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder"
            )
        self.mask_files: dict[str, Path] = {}
        if self.masks is not None:
            if not self.masks.is_dir():
                raise UserFacingError(f"{self.masks}: mask folder not found")
            for p in self.masks.iterdir():
                if p.suffix.lower() in IMAGE_SUFFIXES:
                    self.mask_files[p.stem] = p

    def __len__(self) -> int:
        return len(self.files)

    def item(self, i: int) -> SourceItem:
        from qbi_desktop.core.augment.stacks import read_stack

        path = self.files[i]
        meta: dict[str, Any] = {"name": path.stem, "source": str(path)}
        stack = read_stack(path)  # (a decoder's error names the file)
        if stack is not None:  # every slice, augmented alike (stacks.py)
            image = stack
            meta["planes"] = len(stack)
        else:
            image = read_image_file(path)
        mask_path = self.mask_files.get(path.stem)
        mask = read_image_file(mask_path) if mask_path is not None else None
        return SourceItem(image, mask, meta)


class ArraySource:
    """Images from an ``.npz`` (keys ``images``/``x``/``x_train``, masks ``masks``/``y_mask``,
    boxes ``boxes`` as an object-free (N, M, 5) array padded with NaN) or a ``.npy`` stack."""

    IMAGE_KEYS = ("images", "x", "x_train", "arr_0")
    MASK_KEYS = ("masks", "mask", "y_mask")

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._data: dict[str, np.ndarray] | None = None
        arrays = self._arrays()
        n = len(arrays["images"])
        if n == 0:
            raise UserFacingError(f"{self.path}: holds no images")
        self._n = n
        # the stack's type and image size are refused now, naming the file, before an output
        # folder is made (one image read: the others are of the same array)
        first = check_image(arrays["images"][0], f"{self.path}: images")
        if "masks" in arrays:
            check_mask(arrays["masks"][0], first.shape, f"{self.path}: masks")

    def _arrays(self) -> dict[str, np.ndarray]:
        from qbi_desktop.core.catalog.images import read_npz_member

        if self._data is None:
            try:
                if self.path.suffix.lower() == ".npy":
                    data = {"images": np.load(self.path, mmap_mode="r", allow_pickle=False)}
                else:
                    with np.load(self.path, allow_pickle=False) as z:
                        keys = list(z.keys())
                        img_key = next((k for k in self.IMAGE_KEYS if k in keys), None)
                        if img_key is None:
                            raise UserFacingError(
                                f"{self.path}: no image array (looked for "
                                f"{', '.join(self.IMAGE_KEYS)}; found {listed(keys)})"
                            )
                        data = {"images": read_npz_member(z, self.path, img_key)}
                        mk = next((k for k in self.MASK_KEYS if k in keys), None)
                        if mk is not None:
                            data["masks"] = read_npz_member(z, self.path, mk)
                        if "boxes" in keys:
                            data["boxes"] = read_npz_member(z, self.path, "boxes")
            except UserFacingError:
                raise
            except FileNotFoundError as exc:
                raise UserFacingError(f"{self.path}: file not found") from exc
            except (OSError, ValueError) as exc:
                raise UserFacingError(
                    f"{self.path}: not a readable NumPy array file ({exc})"
                ) from exc
            imgs = data["images"]
            if imgs.ndim not in (3, 4):
                raise UserFacingError(
                    f"{self.path}: expected a stack of images (N, H, W[, C]), got shape "
                    f"{imgs.shape}"
                )
            if "masks" in data and data["masks"].shape[:3] != imgs.shape[:3]:
                raise UserFacingError(
                    f"{self.path}: masks of shape {data['masks'].shape} do not match images "
                    f"{imgs.shape}"
                )
            self._data = data
        return self._data

    def __getstate__(self) -> dict[str, Any]:
        # Workers re-open the file themselves: pickle the path, not the pixels.
        return {"path": self.path, "_data": None, "_n": self._n}

    def __len__(self) -> int:
        return self._n

    def item(self, i: int) -> SourceItem:
        a = self._arrays()
        meta: dict[str, Any] = {"name": f"{self.path.stem}_{i:06d}", "where": f"{self.path} [{i}]"}
        if "boxes" in a:
            b = np.asarray(a["boxes"][i], dtype=np.float64).reshape(-1, a["boxes"].shape[-1])
            meta["boxes"] = b[~np.isnan(b).any(axis=1)]
        mask = np.asarray(a["masks"][i]) if "masks" in a else None
        return SourceItem(np.asarray(a["images"][i]), mask, meta)


def open_source(path: str | Path, masks: str | Path | None = None) -> AugmentSource:
    """A folder of images (+ masks folder) or an .npz/.npy array file."""
    path = Path(path)
    if path.is_dir():
        return FolderSource(path, masks)
    if not path.exists():
        raise UserFacingError(f"{path}: input not found")
    if path.suffix.lower() in (".npz", ".npy"):
        if masks is not None:
            raise UserFacingError(f"--masks: an array file carries its masks inside ({path.name})")
        return ArraySource(path)
    raise UserFacingError(f"{path}: expected a folder of images or an .npz/.npy file")


# ---------------------------------------------------------------------------------------------
# Manifest


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "item"


def read_manifest(output: str | Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The header and the complete records (a torn last line from a crash is ignored), sorted by
    (item, copy). Read as a regular file only, each line checked (:mod:`.manifest_file`): a
    FIFO, a device, a folder or a line not of this app is refused naming file and line."""
    header, records = read_manifest_file(Path(output) / MANIFEST)
    records.sort(key=lambda r: (r["item"], r["copy"]))
    return header, records


@dataclass
class BatchResult:
    output: Path
    written: int
    skipped: int
    total: int
    records: list[dict[str, Any]]


# ---------------------------------------------------------------------------------------------
# Work units (run in the main process, a worker process, or on a dask worker)


@dataclass
class _Task:
    source: Any
    pipeline_json: dict[str, Any]
    item: int
    copies: list[int]
    output: str


def _process_item(task: _Task) -> tuple[list[dict[str, Any]], str | None]:
    """Write the requested copies of one item; returns the records of the completed ones and the
    error (as text) that stopped the rest, if any. Never leaves a partial file behind."""
    pipeline = Pipeline.from_json(task.pipeline_json)
    object.__setattr__(pipeline, "_checked", True)  # the profile was checked before dispatch
    from qbi_desktop.core.augment import cvwarp

    uses_cv = pipeline.options["resampler"] == "opencv" or (
        pipeline.options["resampler"] == "fast" and cvwarp.available()
    )
    if uses_cv and multiprocessing.parent_process() is not None:
        # one process per core: OpenCV's own threads would oversubscribe (results do not
        # depend on them either way)
        cvwarp.single_thread()
    out = Path(task.output)
    records: list[dict[str, Any]] = []
    try:
        it = task.source.item(task.item)
        meta = dict(getattr(it, "metadata", None) or {})
        name = _safe_name(str(meta.get("name", f"item{task.item:06d}")))
        label = str(meta.get("where", meta.get("source", name)))  # a message names the file
        planes = int(meta.get("planes") or 0)  # a stack: (planes, H, W[, C]), see stacks.py
        image = np.asarray(it.image)
        if planes:
            image = np.stack([check_image(p, f"{label}: image") for p in image])
        else:
            image = check_image(image, f"{label}: image")
        plane_shape = image.shape[1:] if planes else image.shape
        mask = check_mask(getattr(it, "mask", None), plane_shape, f"{label}: mask")
        boxes = meta.get("boxes")
        boxes = None if boxes is None else np.asarray(boxes, dtype=np.float64)
    except UserFacingError as exc:
        return records, str(exc)
    for k in task.copies:
        stem = f"{name}__aug{k:03d}"
        try:
            if planes:
                from qbi_desktop.core.augment.stacks import augment_planes

                stack, sample = augment_planes(pipeline, image, mask, boxes, task.item, k)
                _write_tiff(out / "images" / f"{stem}.tif", stack, planes=True)
            else:
                sample = pipeline.augment(image, mask, boxes, item_index=task.item, copy_index=k)
                _write_tiff(out / "images" / f"{stem}.tif", sample.image)
            rec: dict[str, Any] = {
                "type": "output",
                "item": task.item,
                "copy": k,
                "parent": str(meta.get("source", meta.get("name", task.item))),
                "image": f"images/{stem}.tif",
                "params": sample.params,
                "seed": [pipeline.seed, task.item, k],
            }
            if planes:
                rec["planes"] = planes  # every slice, with these parameters
            if sample.mask is not None:
                _write_tiff(out / "masks" / f"{stem}.tif", sample.mask)
                rec["mask"] = f"masks/{stem}.tif"
            if sample.boxes is not None:
                rec["boxes"] = np.asarray(sample.boxes).tolist()
            records.append(rec)
        except OSError as exc:
            return records, _disk_message(out, exc)
        except UserFacingError as exc:
            return records, str(exc)
    return records, None


def _write_tiff(path: Path, array: np.ndarray, planes: bool = False) -> None:
    """One image, or with ``planes`` a stack written one page per plane (greyscale planes are
    never taken for colour: a stack of 3 slices is 3 pages, not one RGB image)."""
    import tifffile

    extra: dict[str, Any] = {}
    if planes and array.ndim == 3:
        extra["photometric"] = "minisblack"
    atomic_write_with(path, lambda f: tifffile.imwrite(f, np.ascontiguousarray(array), **extra))


def _disk_message(out: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"{out}: the disk is full ({exc.strerror})"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{out}: cannot write here ({exc.strerror})"
    return f"{out}: writing failed ({exc.strerror or exc})"


# ---------------------------------------------------------------------------------------------
# The job


def augment_dataset(
    source: AugmentSource,
    pipeline: Pipeline,
    output: str | Path,
    copies: int,
    *,
    seed: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
) -> Job[BatchResult]:
    """Write ``copies`` augmented copies of every item of ``source`` into ``output``.

    A job (see :mod:`qbi_desktop.core.jobs`): yields Progress per finished item, returns a
    :class:`BatchResult`. ``seed`` overrides the pipeline's. ``workers`` > 1 uses that many
    processes; ``scheduler`` (``tcp://host:8786``) sends the items to a dask.distributed cluster
    instead. Resumes a previous run of the same pipeline/seed/copies in ``output``.
    """
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise UserFacingError(
            f"copies: expected a whole number from 1 to {MAX_COPIES:,}, got {copies!r}"
        )
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserFacingError(f"workers: expected a positive whole number, got {workers!r}")
    if seed is not None:
        pipeline = Pipeline(
            pipeline.options, pipeline.keras_compat, seed, pipeline.profile, pipeline.name
        )
    pipeline.check()
    out = Path(output)
    from qbi_desktop.core.outfolder import refuse_inside

    # the copies in the input folder would be inputs of the next run, or of an import
    if isinstance(source, FolderSource):
        folders = [(source.folder, "input folder"), (source.masks, "mask folder")]
        refuse_inside(out, [(f, role) for f, role in folders if f is not None], "--output")
    _prepare_output(out)
    header = {
        "type": "run",
        "format": MANIFEST_FORMAT,
        "version": 1,
        "pipeline": pipeline.to_json(),
        "copies": copies,
        "items": len(source),
        "note": "standardisation options (rescale, centring, ZCA) are not applied to written files",
    }
    done = _resume(out, header)
    n = len(source)
    todo = []
    for i in range(n):
        missing = [k for k in range(copies) if (i, k) not in done]
        for start in range(0, len(missing), COPIES_PER_TASK):
            chunk = missing[start : start + COPIES_PER_TASK]
            todo.append(_Task(source, pipeline.to_json(), i, chunk, str(out)))
    skipped = len(done)
    total = n * copies
    yield Progress(
        skipped, total, f"{skipped} of {total} already written" if skipped else "starting"
    )
    written, records = 0, list(done.values())
    manifest = open(out / MANIFEST, "a", encoding="utf-8")  # noqa: SIM115 - closed in finally
    error: str | None = None
    try:
        with contextlib.closing(_run(todo, workers, scheduler)) as results:
            for recs, err in results:
                for rec in recs:
                    manifest.write(json.dumps(rec) + "\n")
                    records.append(rec)
                manifest.flush()
                os.fsync(manifest.fileno())
                written += len(recs)
                if err is not None:
                    error = err
                    break
                yield Progress(skipped + written, total, f"{skipped + written} of {total} written")
    except OSError as exc:
        error = _disk_message(out, exc)
    finally:
        manifest.close()
    if error is not None:
        raise UserFacingError(
            f"{error}. {skipped + written} of {total} outputs are complete and recorded; "
            "fix the problem and run the same command again to resume."
        )
    records.sort(key=lambda r: (r["item"], r["copy"]))
    return BatchResult(out, written, skipped, total, records)


def _prepare_output(out: Path) -> None:
    from qbi_desktop.core import outfolder
    from qbi_desktop.core.safefile import check_regular

    if outfolder.exists(out) and not outfolder.is_dir(out):  # a file, /dev/null: not "File exists"
        raise UserFacingError(f"{out}: exists and is not a folder; choose a folder for the copies")
    if not outfolder.lexists(out / MANIFEST):  # no earlier run to resume: nothing to replace
        refuse_foreign_output(out)
    else:  # a FIFO, a device, a folder: refused before anything is made here
        check_regular(out / MANIFEST, "the augmentation manifest")
    try:
        for sub in ("", "images", "masks"):
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserFacingError(_disk_message(out, exc)) from exc
    if not os.access(out, os.W_OK) or not os.access(out / "images", os.W_OK):
        raise UserFacingError(f"{out}: cannot write here (permission denied)")


def _resume(out: Path, header: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
    """Records of a previous run whose files still exist; rewrites the manifest cleanly (drops a
    torn last line) so appending continues it. A different run in the folder is refused."""
    old_header, records = read_manifest(out)
    if old_header is None:  # a manifest.jsonl that is no run's of ours: never rewritten
        refuse_foreign_output(out)
    else:
        same = all(old_header.get(k) == header[k] for k in ("pipeline", "copies", "items"))
        if not same:
            raise UserFacingError(
                f"{out}: holds the output of a different augmentation run (other pipeline, seed, "
                f"copies, or the input changed: {old_header.get('items')} items then, "
                f"{header['items']} now); choose an empty folder"
            )
    for sub in ("images", "masks"):  # half-written files of a killed run
        for temp in leftover_temps(out / sub):
            with contextlib.suppress(OSError):
                temp.unlink()
    done = {}
    for rec in records:
        files = [rec["image"]] + ([rec["mask"]] if "mask" in rec else [])
        if all((out / f).is_file() for f in files):
            done[(rec["item"], rec["copy"])] = rec
    lines = [json.dumps(header)] + [json.dumps(r) for r in done.values()]
    try:
        atomic_write_text(out / MANIFEST, "\n".join(lines) + "\n")
    except OSError as exc:
        raise UserFacingError(_disk_message(out, exc)) from exc
    return done


def _run(
    todo: list[_Task], workers: int, scheduler: str | None
) -> Iterator[tuple[list, str | None]]:
    if scheduler:
        yield from _run_dask(todo, scheduler, workers)
    elif workers <= 1 or len(todo) <= 1:
        for task in todo:
            yield _process_item(task)
    else:
        yield from _run_processes(todo, workers)


def _run_processes(todo: list, workers: int, fn=None, pool=None) -> Iterator[Any]:
    # fn: the per-task function (a module-level one, picklable); spot cleaning reuses this runner
    # and hands over its pool, started before its own set-up so that the workers' start-up
    # overlaps it
    fn = fn or _process_item
    if pool is None:
        # spawn: safe beside GUI threads, and the same on every platform.
        ctx = multiprocessing.get_context("spawn")
        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        pending: set[cf.Future] = set()
        queue = iter(todo)
        for task in queue:  # keep a bounded number of items in flight
            pending.add(pool.submit(fn, task))
            if len(pending) >= workers * 3:
                break
        while pending:
            finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                yield fut.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(fn, nxt))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(todo: list, address: str, workers: int, fn=None) -> Iterator[Any]:
    fn = fn or _process_item
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise UserFacingError(
            "--scheduler needs dask.distributed: pip install 'dask[distributed]'"
        ) from exc
    try:
        client = Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UserFacingError(f"{address}: cannot reach the dask scheduler ({exc})") from exc
    futures = []
    try:
        futures = client.map(fn, todo, pure=False)
        for fut in as_completed(futures, loop=client.loop):
            yield fut.result()
    finally:
        for fut in futures:
            fut.cancel()
        client.close()
