"""Writing a simulated set: the frames, their spot and object labels, and simulation.json."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
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


def _earlier_set(out_dir: Path) -> set[str]:
    """The files an earlier simulation in ``out_dir`` wrote, as its simulation.json lists them
    (a re-run replaces them); empty when there is no such file of ours."""
    from qbi_desktop.core.outfolder import json_says

    names: set[str] = set()

    def collect(doc: dict[str, Any]) -> bool:
        if doc.get("format") != FORMAT_NAME:
            return False
        listed = [str(n) for e in doc.get("images") or [] for n in (e.get("files") or {}).values()]
        names.update(listed)  # all or nothing: a damaged list raises before it
        return True

    if json_says(out_dir / JSON_NAME, collect):
        names.add(JSON_NAME)
    return names


def _prepare_out_dir(out_dir: Path, count: int) -> None:
    """Refuse a folder that is no folder, or where the set would replace files an earlier
    simulation there did not write (someone's sim_0000.tif); make it."""
    from qbi_desktop.core import outfolder

    outfolder.check_out_folder(out_dir)
    ours = _earlier_set(out_dir)
    names = itertools.chain(
        [JSON_NAME], (n for i in range(count) for n in simulation_file_names(i).values())
    )
    outfolder.refuse_replacing(out_dir, names, own=lambda p: p.name in ours, command="simulate")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Prove we can write there before spending time on the first image.
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise UserFacingError(f"{out_dir}: cannot write there ({exc.strerror or exc})") from exc


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
    _prepare_out_dir(out, int(count))
    return _write_set_job(out, int(count), seed, p)


def _write_set_job(out: Path, count: int, seed: int, p: SimulationParams) -> Job[list[Path]]:
    written: list[Path] = []
    entries: list[dict[str, Any]] = []
    complete = False
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
                    f"{out / names['image']}: cannot write ({exc.strerror or exc})"
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
            doc = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "complete": complete,
                "seed": seed,
                "count": count,
                "naming": {
                    "image": "sim_{index:04d}.tif",
                    "spots": "sim_{index:04d}_spots.tif",
                    "objects": "sim_{index:04d}_objects.tif",
                },
                "params": p.to_dict(),
                "images": entries,
            }
            with contextlib.suppress(OSError) if not complete else contextlib.nullcontext():
                atomic_write_text(out / JSON_NAME, json.dumps(doc, indent=1) + "\n")
    return written
