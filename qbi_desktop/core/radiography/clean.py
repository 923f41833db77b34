"""Spot cleaning: replace the pixels of detected gamma spots by the local background estimate.

One frame (:func:`clean_spots`): the spot detector (:func:`qbi_desktop.core.spots.detect_spots`,
its defaults, hot pixels subtracted when known) finds the spots; their pixels take the value of
the detector's own background (:attr:`SpotDetection.background`: the separable strided median
of the frame with its hot pixels subtracted, computed once). Every other pixel is
copied: outside the detected spots the output equals the input bit for bit, in the input's
pixel type.

A whole scan (:func:`clean_series_job`): one task per frame, on local processes by default
(``concurrent.futures``, the runner augmentation batches use) or on a dask.distributed cluster
given a scheduler address (the same mechanism as augmentation batches); the job yields progress
per frame and stops between frames when cancelled. Outputs are ``out/<stem>.tif`` (cleaned, the
input's type) and ``out/<stem>_spots.tif`` (labels), both written atomically, the labels first:
a frame whose cleaned file exists is complete, and a second run skips it (resumable).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.radiography import resume
from qbi_desktop.core.radiography.frames import Frame, as_frames, check_outputs, stack_hot_pixels
from qbi_desktop.core.spots import (
    HotPixels,
    SpotDetection,
    auto_hot_pixels_job,
    detect_spots,
    hot_pixels_job,
)
from qbi_desktop.core.spots.params import _params

#: frames of a series used to find its hot pixels (spread over the scan; their per-pixel
#: median outvotes the gamma spots)
SERIES_HOT_FRAMES = 4


@dataclass
class Cleaned:
    """A cleaned frame and the detection behind it."""

    image: np.ndarray  # the input's dtype and shape
    detection: SpotDetection

    @property
    def spots(self) -> int:
        return len(self.detection.candidates)

    @property
    def pixels(self) -> int:
        return int(np.count_nonzero(self.detection.labels))


def clean_spots(
    image: np.ndarray,
    *,
    hot: HotPixels | np.ndarray | None = None,
    method: str = "median",
    **params: Any,
) -> Cleaned:
    """Detect the spots of ``image`` and replace their pixels by the background estimate."""
    image = np.asarray(image)
    detection = detect_spots(image, method, exclude=hot, **params)
    flat = detection.candidates.flat
    out = image.copy()
    if flat.size:
        # the detector's own background (computed once; hot pixels already subtracted)
        values = detection.background.reshape(-1)[flat]
        if np.issubdtype(image.dtype, np.integer) and values.dtype != image.dtype:
            info = np.iinfo(image.dtype)
            values = np.clip(np.rint(values.astype(np.float64)), info.min, info.max)
        out.reshape(-1)[flat] = values.astype(image.dtype)
    return Cleaned(out, detection)


# -- whole scans ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _SparseHot:
    """Hot pixels as the few pixels they are (cheap to send to every worker)."""

    shape: tuple[int, int]
    excess_at: np.ndarray
    excess: np.ndarray
    mask_at: np.ndarray
    frames: int
    # names this set of hot pixels in a worker's cache (and its file)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(cls, hot: HotPixels) -> _SparseHot:
        at = np.flatnonzero(hot.excess)
        return cls(
            tuple(hot.shape),
            at.astype(np.int64),
            hot.excess.reshape(-1)[at].astype(np.float32),
            np.flatnonzero(hot.mask).astype(np.int64),
            hot.frames,
        )

    def save(self, path: Path) -> Path:
        """Write these hot pixels to ``path`` (.npz, atomically): what the worker processes
        load once each (:func:`_hot_of`), instead of a copy pickled into every task."""
        from qbi_desktop.core.atomic import atomic_write_with

        def writer(stream) -> None:
            np.savez(
                stream,
                shape=np.asarray(self.shape, np.int64),
                excess_at=self.excess_at,
                excess=self.excess,
                mask_at=self.mask_at,
                frames=np.asarray(self.frames, np.int64),
                token=np.asarray(self.token),
            )

        atomic_write_with(path, writer)
        return path

    @classmethod
    def load(cls, path: str | Path) -> _SparseHot:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                tuple(int(n) for n in data["shape"]),
                data["excess_at"],
                data["excess"],
                data["mask_at"],
                int(data["frames"]),
                str(data["token"]),
            )

    def dense(self) -> HotPixels:
        excess = np.zeros(self.shape, dtype=np.float32)
        excess.reshape(-1)[self.excess_at] = self.excess
        mask = np.zeros(self.shape, dtype=bool)
        mask.reshape(-1)[self.mask_at] = True
        return HotPixels(mask, excess, self.frames, (self.excess_at, self.excess))


@dataclass(frozen=True)
class _Frame:
    index: int
    path: str
    out: str
    method: str
    params: dict[str, Any]
    # the hot pixels, or (tasks for other processes) the .npz file they are saved in
    hot: _SparseHot | str | None
    hot_source: str
    frame: Frame | None = None  # a slice of a NeXus stack (None: the file ``path`` itself)


def outputs(path: str | Path | Frame, out: str | Path) -> tuple[Path, Path]:
    """(cleaned, labels) output paths of input ``path`` (a file or a frame) in folder ``out``."""
    stem = path.stem if isinstance(path, Frame) else Path(path).stem
    return Path(out) / f"{stem}.tif", Path(out) / f"{stem}_spots.tif"


#: a worker's hot pixels, made dense once: {what the task names: HotPixels} (one entry)
_HOT_CACHE: dict[str, HotPixels] = {}
#: name of the hot-pixel file a run leaves for its worker processes in the output folder
HOT_FILE_PREFIX = ".qbi-hot-pixels-"


def _hot_of(task: _Frame) -> HotPixels | None:
    """The task's hot pixels, dense; loaded and expanded once per process and run."""
    if task.hot is None:
        return None
    key = task.hot if isinstance(task.hot, str) else task.hot.token
    hot = _HOT_CACHE.get(key)
    if hot is None:
        sparse = _SparseHot.load(task.hot) if isinstance(task.hot, str) else task.hot
        hot = sparse.dense()
        _HOT_CACHE.clear()
        _HOT_CACHE[key] = hot
    return hot


def _worker_ready() -> None:
    """Run first in each worker process, while the parent still finds the hot pixels: the
    imports a frame needs are done before the first frame arrives."""
    from qbi_desktop.core.io import read_image  # noqa: F401
    from qbi_desktop.core.maskio import save_mask  # noqa: F401
    from qbi_desktop.core.radiography.provenance import write_tiff  # noqa: F401


def _start_workers(workers: int):
    """A pool of ``workers`` spawned processes, started now (their start-up and imports, ~1 s
    each, overlap the parent's own work before the first frame)."""
    import concurrent.futures as cf
    import multiprocessing

    pool = cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn")
    )
    for _ in range(workers):  # a process is spawned per task while none is idle
        pool.submit(_worker_ready)
    return pool


def _clean_frame(task: _Frame) -> tuple[int, dict[str, Any] | None, str | None]:
    """Worker: clean one frame and write both outputs; (index, summary, error message)."""
    from qbi_desktop.core.io import read_image
    from qbi_desktop.core.maskio import save_mask
    from qbi_desktop.core.radiography.provenance import write_tiff

    # a NeXus frame is named with its dataset and slice ("scan.nxs [/entry/data/data, frame 3]")
    path = Path(task.path) if task.frame is None else task.frame.describe()
    try:
        image = np.asarray(read_image(path)) if task.frame is None else task.frame.read()
        if image.ndim != 2:
            raise ImageReadError(path, f"has shape {image.shape}; one 2-D frame is needed")
        hot = _hot_of(task)
        if hot is not None and hot.shape != image.shape:
            raise ImageReadError(
                path, f"has shape {image.shape}, the hot-pixel reference {hot.shape}"
            )
        result = clean_spots(image, hot=hot, method=task.method, **task.params)
        cleaned_path, labels_path = outputs(task.frame or path, task.out)
        labels = result.detection.labels
        provenance = {
            "operation": "clean spots",
            "input": str(path),
            "method": task.method,
            "parameters": result.detection.params,
            "hot_pixels": task.hot_source,
            "spots": result.spots,
            "spot_pixels": result.pixels,
            "spot_labels": labels_path.name,
            "replacement": "the detector's separable median background",
            # lets a resumed run tell this output from one of the same name made otherwise
            **resume.record(task.frame or Frame(Path(task.path)), task.method, task.params),
        }
        # the cleaned image first: a label file alone is then never clean-spots' own (a run
        # killed between the two leaves the cleaned image, which names its labels)
        write_tiff(cleaned_path, result.image, provenance)
        if int(labels.max(initial=0)) <= 65535:
            save_mask(labels_path, labels)
        else:  # more spots than a 16-bit label mask holds (a frame without hot-pixel reference)
            write_tiff(labels_path, labels.astype(np.uint32), {"operation": "spot labels"})
        summary = {
            "index": task.index,
            "path": str(path),
            "name": cleaned_path.stem if task.frame is not None else Path(path).name,
            "spots": result.spots,
            "pixels": result.pixels,
            "hot_pixels": result.detection.hot_pixels,
            "isolated": result.detection.isolated,
        }
        return task.index, summary, None
    except UserFacingError as exc:
        return task.index, None, str(exc) if str(path) in str(exc) else f"{path}: {exc}"
    except MemoryError:
        return task.index, None, f"{path}: not enough memory to clean this frame"
    except OSError as exc:
        return task.index, None, f"{path}: {exc.strerror or exc}"


def is_complete(
    path: str | Path | Frame, out: str | Path, method: str = "median", params=None
) -> bool:
    """Both outputs of ``path`` exist (atomic writes: existing means complete) and were made
    from it with this method and parameters; outputs of the same name made from another frame
    or with other parameters are refused (:mod:`.resume`), never taken as done."""
    from qbi_desktop.core.radiography.provenance import read_provenance

    frame = path if isinstance(path, Frame) else Frame(Path(path))
    cleaned, labels = outputs(frame, out)
    if not (cleaned.is_file() and labels.is_file()):
        return False
    return resume.is_done(frame, cleaned, method, dict(params or {}), read_provenance(cleaned))


def _cleaned_before(frame: Frame, target: Path) -> bool:
    """Whether ``target`` (either output of ``frame``) is clean-spots' own: the cleaned image
    holds its provenance (a label file is its, when its cleaned image names it). Which input
    and request it was made with is for :func:`is_complete` to judge. The cleaned image is
    written last, so a label file alone (a mask someone corrected) is never taken as ours."""
    from qbi_desktop.core.radiography.provenance import read_provenance

    cleaned, labels = outputs(frame, target.parent)
    record = read_provenance(cleaned) or {}
    if record.get("operation") != "clean spots":
        return False
    return target == cleaned or record.get("spot_labels") == labels.name


@dataclass
class CleanRun:
    """What a whole-scan cleaning did."""

    out: Path
    total: int
    skipped: int  # complete from an earlier run
    frames: list[dict[str, Any]] = field(default_factory=list)  # per cleaned frame
    hot_source: str = ""
    hot_pixels: int = 0

    @property
    def spots(self) -> int:
        return sum(f["spots"] for f in self.frames)


def _stack_header(frames: Sequence[Frame]) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and pixel type shared by ``frames`` (files or NeXus slices: one header per
    dataset); a frame of another size or type is refused, naming it."""
    seen: dict[tuple[Path, str | None], tuple] = {}
    first: Frame | None = None
    for frame in frames:
        key = (frame.path, frame.dataset)
        if frame.index is None or key not in seen:
            seen[key] = frame.header()
            if first is None:
                first = frame
            elif seen[key] != seen[(first.path, first.dataset)]:
                shape, dtype = seen[key]
                want, kind = seen[(first.path, first.dataset)]
                raise UserFacingError(
                    f"{frame.describe()}: is {' x '.join(map(str, shape))} {dtype}, the first "
                    f"frame {first.describe()} is {' x '.join(map(str, want))} {kind}"
                )
    return seen[(first.path, first.dataset)]


def series_hot_pixels_job(paths: Sequence[str | Path], shape=None) -> Job[HotPixels]:
    """Hot pixels from the series itself: :data:`SERIES_HOT_FRAMES` frames spread over it (a
    pixel bright in most of them is the camera's, a gamma spot hits one)."""
    n = len(paths)
    picks = sorted({round(i * (n - 1) / (SERIES_HOT_FRAMES - 1)) for i in range(SERIES_HOT_FRAMES)})
    return (yield from hot_pixels_job([paths[i] for i in picks], shape))


def clean_series_job(
    paths: Sequence[str | Path | Frame],
    out: str | Path,
    *,
    hot_pixels_from: Sequence[str | Path] | None = None,
    series_hot_pixels: bool = True,
    workers: int = 1,
    scheduler: str | None = None,
    method: str = "median",
    **params: Any,
) -> Job[CleanRun]:
    """Clean every frame of ``paths`` into ``out`` (see the module doc); resumable.

    Hot pixels: from ``hot_pixels_from`` (a dark frame or frames of the camera) when given,
    else (``series_hot_pixels``) from the series itself when it has 3 frames or more, else
    from the references found beside the first frame (a dark frame). A frame
    of another shape or type is refused before anything is written; one that cannot be read
    later stops the run with a message naming it; the frames done stay done.
    """
    from qbi_desktop.core.augment.batch import _run_dask, _run_processes

    frames = as_frames(paths)  # files, or slices of NeXus stacks (core.radiography.frames)
    paths = [f.path for f in frames]
    out = Path(out)
    if not paths:
        raise UserFacingError("clean spots: no frames given")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserFacingError(f"workers: expected a positive whole number, got {workers!r}")
    stems: dict[str, Frame] = {}
    for frame in frames:
        path = frame.path
        if frame.stem in stems:
            raise UserFacingError(
                f"{frame.describe()}: has the same name as {stems[frame.stem].describe()}; both "
                f"would be written to {out / (frame.stem + '.tif')}"
            )
        stems[frame.stem] = frame
        if not path.is_file():
            raise ImageReadError(path, "file not found" if not path.exists() else "not a file")
        cleaned, _ = outputs(frame, out)
        if cleaned.exists() and cleaned.resolve() == path.resolve():
            raise UserFacingError(f"{path}: the output {cleaned} would overwrite the input")
    # a and a_spots: one a_spots.tif; nor may an output replace a dark frame it is cleaned with
    hot_frames = [(p, "hot-pixel frame") for p in hot_pixels_from or ()]
    check_outputs(
        frames, out, [".tif", "_spots.tif"], hot_frames, own=_cleaned_before, command="clean-spots"
    )
    _params(method, dict(params))  # a bad parameter is named before any work starts
    # every frame's header (shape, type) before any work: a differently sized frame is named
    from qbi_desktop.core.radiography.series import check_frames

    stacked = any(f.index is not None for f in frames)
    shape, _dtype = _stack_header(frames) if stacked else check_frames(paths)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserFacingError(f"{out}: cannot create the folder ({exc.strerror})") from None
    for stale in out.glob(f"{HOT_FILE_PREFIX}*.npz"):  # left by a killed run
        with contextlib.suppress(OSError):
            stale.unlink()
    todo_paths = [
        (i, f) for i, f in enumerate(frames) if not is_complete(f, out, method, dict(params))
    ]
    run = CleanRun(out, len(paths), len(paths) - len(todo_paths))
    yield Progress(run.skipped, run.total, f"{run.skipped} of {run.total} already cleaned")
    # Worker processes start now: their start-up overlaps the hot pixels found below.
    local = workers > 1 and len(todo_paths) > 1 and not scheduler
    pool = _start_workers(min(workers, len(todo_paths))) if local else None
    hot_file: Path | None = None
    try:
        hot = None
        if todo_paths:
            if hot_pixels_from:
                hot = yield from hot_pixels_job(list(hot_pixels_from))
                names = ", ".join(Path(p).name for p in list(hot_pixels_from)[:3])
                run.hot_source = f"{names}{', …' if len(hot_pixels_from) > 3 else ''}"
            elif series_hot_pixels and len(paths) >= 3:
                hot = (
                    stack_hot_pixels(frames)
                    if stacked
                    else (yield from series_hot_pixels_job(paths))
                )
                run.hot_source = f"{min(SERIES_HOT_FRAMES, len(paths))} frames of the series"
            elif series_hot_pixels:
                # a frame or two: a dark frame beside them (dc.tif, dark_0001.tif ...) if there is
                found = yield from auto_hot_pixels_job(paths[0], shape)
                hot, run.hot_source = found.hot, found.source if found.hot is not None else ""
            run.hot_pixels = hot.count if hot is not None else 0
        sparse = _SparseHot.of(hot) if hot is not None else None
        hot_task: _SparseHot | str | None = sparse
        if sparse is not None and (pool is not None or scheduler):
            # other processes load the hot pixels once each from a file, instead of a copy
            # (MBs) pickled into every task
            hot_file = sparse.save(out / f"{HOT_FILE_PREFIX}{sparse.token}.npz")
            hot_task = str(hot_file)
        tasks = [
            _Frame(
                i,
                str(f.path),
                str(out),
                method,
                dict(params),
                hot_task,
                run.hot_source or "none",
                f if f.index is not None else None,
            )
            for i, f in todo_paths
        ]
        if scheduler:
            results = _run_dask(tasks, scheduler, workers, fn=_clean_frame)
        elif pool is not None:
            results = _run_processes(tasks, workers, fn=_clean_frame, pool=pool)
        else:
            results = (_clean_frame(t) for t in tasks)
        done = run.skipped
        with contextlib.closing(results):
            for _index, summary, error in results:
                if error is not None:
                    raise UserFacingError(
                        f"{error}. {done} of {run.total} frames are cleaned in {out}; fix the "
                        "problem and run again to resume"
                    )
                run.frames.append(summary)
                done += 1
                yield Progress(done, run.total, f"{summary['name']}: {summary['spots']} spots")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if hot_file is not None:
            with contextlib.suppress(OSError):
                hot_file.unlink()
        _HOT_CACHE.clear()
    run.frames.sort(key=lambda f: f["index"])
    return run
