"""Writing a simulated set: the frames, their spot and object labels, and simulation.json."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.atomic import atomic_write_text, atomic_write_with
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.simulate.params import (
    FORMAT_NAME,
    FORMAT_VERSION,
    JSON_NAME,
    SimulationParams,
    _is_int,
)
from qbi_desktop.core.simulate.radiograph import _check_seed, derive_image_seed, simulate_radiograph

# --------------------------------------------------------------------------------------------
# Writing a set
# --------------------------------------------------------------------------------------------


def simulation_file_names(index: int) -> dict[str, str]:
    """File names of image ``index`` of a set: image, spot labels, object labels."""
    stem = f"sim_{index:04d}"
    return {
        "image": f"{stem}.tif",
        "spots": f"{stem}_spots.tif",
        "objects": f"{stem}_objects.tif",
    }


_SIM_NAME = re.compile(r"sim_(\d{4,9})(?:_spots|_objects)?\.tif")


def _earlier_set(out_dir: Path) -> tuple[set[str], int]:
    """The files an earlier simulation in ``out_dir`` wrote (a re-run replaces them): the
    names its simulation.json lists, and the count of images it set out to write (a run
    stopped by a full disk or a kill leaves the record written at its start, ``"complete":
    false``: its images are ours too). Nothing when there is no such file of ours."""
    from qbi_desktop.core.outfolder import json_says

    names: set[str] = set()
    planned = [0]

    def collect(doc: dict[str, Any]) -> bool:
        if doc.get("format") != FORMAT_NAME:
            return False
        listed = [str(n) for e in doc.get("images") or [] for n in (e.get("files") or {}).values()]
        if _is_int(doc.get("planned_count")):  # a stopped run's record, or files beyond count
            planned[0] = max(0, int(doc["planned_count"]))
        names.update(listed)  # all or nothing: a damaged list raises before it
        return True

    if json_says(out_dir / JSON_NAME, collect):
        names.add(JSON_NAME)
    return names, planned[0]


def _is_ours(name: str, names: set[str], planned: int) -> bool:
    """Whether ``name`` is a file of the earlier run (listed, or one of its planned images)."""
    if name in names:
        return True
    match = _SIM_NAME.fullmatch(name)
    return match is not None and int(match.group(1)) < planned


def _prepare_out_dir(out_dir: Path, count: int) -> int:
    """Refuse a folder that is no folder, or where the set would replace files an earlier
    simulation there did not write (someone's sim_0000.tif); make it. Returns how many images
    the files of this and the earlier run there span (the start record's ``planned_count``)."""
    from qbi_desktop.core import outfolder

    outfolder.check_out_folder(out_dir)
    ours, planned = _earlier_set(out_dir)
    names = itertools.chain(
        [JSON_NAME], (n for i in range(count) for n in simulation_file_names(i).values())
    )
    outfolder.refuse_replacing(
        out_dir, names, own=lambda p: _is_ours(p.name, ours, planned), command="simulate"
    )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Prove we can write there before spending time on the first image.
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise UserFacingError(f"{out_dir}: cannot write there ({exc.strerror or exc})") from exc
    listed = [int(m.group(1)) + 1 for n in ours if (m := _SIM_NAME.fullmatch(n))]
    return max(count, planned, *listed)


def _write_tiff(path: Path, data: np.ndarray, pixel_size_mm: float, compress: bool) -> None:
    import tifffile

    imagej = data.dtype in (np.uint8, np.uint16, np.float32)
    kwargs: dict[str, Any] = {"compression": "zlib" if compress else None}
    per_mm = 1.0 / pixel_size_mm
    if imagej:
        kwargs.update(imagej=True, resolution=(per_mm, per_mm), metadata={"unit": "mm"})
    else:
        kwargs.update(resolution=(per_mm * 10.0, per_mm * 10.0), resolutionunit="CENTIMETER")
    # Encode in memory first: tifffile wants a named file, and the atomic stream's name is an
    # int file descriptor.
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, data, **kwargs)
    atomic_write_with(path, lambda stream: stream.write(buffer.getbuffer()))


def write_simulated_set(
    out_dir: str | Path,
    count: int,
    seed: int,
    params: SimulationParams | None = None,
) -> Job[list[Path]]:
    """Job: simulate ``count`` radiographs into ``out_dir`` (naming in the module docstring).

    Yields a :class:`Progress` before the first image and after each image (its message names
    the image written), and returns the list of image paths. Every file is
    written atomically. On cancellation (the generator is closed) the JSON still describes the
    images written so far, with ``"complete": false``.
    """
    p = params if params is not None else SimulationParams()
    if not isinstance(p, SimulationParams):
        raise UserFacingError(f"params must be SimulationParams, got {type(p).__name__}")
    if not _is_int(count) or count < 1:
        raise UserFacingError(f"count must be an integer >= 1, got {count!r}")
    seed = _check_seed(seed)
    out = Path(out_dir)
    # Checked now, not at the first step, so a bad folder is reported when the job is made.
    planned = _prepare_out_dir(out, int(count))
    return _write_set_job(out, int(count), seed, p, planned)


def _record(seed: int, count: int, p: SimulationParams) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "complete": False,
        "seed": seed,
        "count": count,
        "naming": {
            "image": "sim_{index:04d}.tif",
            "spots": "sim_{index:04d}_spots.tif",
            "objects": "sim_{index:04d}_objects.tif",
        },
        "params": p.to_dict(),
        "images": [],
    }


def _write_set_job(
    out: Path, count: int, seed: int, p: SimulationParams, planned: int
) -> Job[list[Path]]:
    written: list[Path] = []
    entries: list[dict[str, Any]] = []
    complete = False
    # the run's record first: a run stopped by a full disk (or killed) leaves it, so the next
    # run into the folder knows these files as its own and writes the set anew over them
    start = {**_record(seed, count, p), "planned_count": planned}
    try:
        atomic_write_text(out / JSON_NAME, json.dumps(start, indent=1) + "\n")
    except OSError as exc:
        raise UserFacingError(f"{out / JSON_NAME}: cannot write ({exc.strerror or exc})") from exc
    try:
        yield Progress(0, count, f"simulating {simulation_file_names(0)['image']}")
        for index in range(count):
            names = simulation_file_names(index)
            image_seed = derive_image_seed(seed, index)
            sim = simulate_radiograph(p, image_seed)
            labels = sim.spot_labels
            label_dtype = np.uint16 if len(sim.spots) < 65536 else np.uint32
            try:
                _write_tiff(out / names["image"], sim.image, p.pixel_size_mm, compress=False)
                _write_tiff(out / names["spots"], labels.astype(label_dtype), p.pixel_size_mm, True)
                _write_tiff(out / names["objects"], sim.object_labels, p.pixel_size_mm, True)
            except OSError as exc:
                raise UserFacingError(
                    f"{out / names['image']}: cannot write ({exc.strerror or exc}); the set "
                    f"stopped after {index} of {count} images, without their ground truth: "
                    "make room and run the same command again, it writes the set anew over "
                    "this partial one"
                ) from exc
            written.append(out / names["image"])
            entries.append(
                {
                    "index": index,
                    "seed": image_seed,
                    "files": names,
                    "shape": list(sim.image.shape),
                    "spot_count": len(sim.spots),
                    "saturated_spot_count": sum(s["saturated"] for s in sim.spots),
                    "objects": sim.objects,
                    "spots": sim.spots,
                }
            )
            if index == count - 1:
                complete = True
            yield Progress(
                index + 1,
                count,
                f"wrote {out / names['image']} ({sim.image.shape[0]}x{sim.image.shape[1]}, "
                f"{len(sim.spots)} spots, {len(sim.objects)} objects)",
            )
    finally:
        if entries:
            doc = {**_record(seed, count, p), "complete": complete, "images": entries}
            if not complete or planned > count:
                doc["planned_count"] = planned
            with contextlib.suppress(OSError) if not complete else contextlib.nullcontext():
                atomic_write_text(out / JSON_NAME, json.dumps(doc, indent=1) + "\n")
    return written
