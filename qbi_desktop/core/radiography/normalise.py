"""Open-beam / dark-current normalisation: counts -> transmission -> attenuation.

T = (I - DC) / (OB - DC), with OB the mean of one or several open-beam images and DC the mean
of one or several dark-current images; attenuation = -ln T. A reference file holding several
frames (a multi-page TIFF: the open beams of one acquisition) contributes every frame to the
mean, each frame weighing as much as a single-frame file (the usual practice; a median would
also take out spots in the references, but needs every frame in memory at once). Optional
dose correction: T is scaled so that a region on the open part of the image (no sample) has
the open beam's dose, ``sum(OB - DC) / sum(I - DC)`` over the region, which takes out
beam-intensity changes between the image and its open beam.

Pixels where OB - DC <= 0 (an open beam darker than the dark current: dead pixels, a wrong
reference) cannot be divided by: they are masked (NaN in the output) and counted, never left
as silent inf or NaN. In attenuation, pixels with T <= 0 (I at or below the dark current) are
masked and counted the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.radiography.frames import Frame, as_frames, check_outputs

#: what the viewer and the outputs can show
UNITS = ("counts", "transmission", "attenuation")
FORMULA = "T = (I - DC) / (OB - DC)"


class NormaliseError(UserFacingError):
    """A reference or a parameter of the normalisation is unusable; the message names it."""


@dataclass
class References:
    """Open-beam and dark-current references, averaged and ready to divide by.

    ``dc`` is float32; ``gain`` = 1 / (OB - DC) as float32, 0 where OB - DC <= 0 (those pixels
    are ``bad`` and counted in ``bad_count``). ``ob_dose`` is OB - DC itself (for the dose
    correction).
    """

    dc: np.ndarray
    gain: np.ndarray
    ob_minus_dc: np.ndarray
    bad: np.ndarray
    ob_paths: list[str] = field(default_factory=list)
    dc_paths: list[str] = field(default_factory=list)
    dtype: np.dtype | None = None  # the references' pixel type (images must match it)
    ob_frames: list[int] = field(default_factory=list)  # frames of each file, averaged
    dc_frames: list[int] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return self.dc.shape

    @property
    def bad_count(self) -> int:
        return int(np.count_nonzero(self.bad))

    def describe(self) -> dict[str, Any]:
        """For provenance records."""
        frames = {}
        if any(n > 1 for n in self.ob_frames + self.dc_frames):
            frames = {
                "open_beam_frames": list(self.ob_frames),
                "dark_current_frames": list(self.dc_frames),
                "reference_average": "mean of all frames",
            }
        return {
            "open_beam": list(self.ob_paths),
            "dark_current": list(self.dc_paths),
            **frames,
            "open_beam_not_above_dark": self.bad_count,
        }

    def notes(self) -> list[str]:
        """What the user should know about how the references were made: the files holding
        several frames, whose frames were averaged."""
        return [
            f"{role} {path}: its {n} frames are averaged (mean, each frame weighing as one file)"
            for role, paths, counts in (
                ("open beam", self.ob_paths, self.ob_frames),
                ("dark current", self.dc_paths, self.dc_frames),
            )
            for path, n in zip(paths, counts, strict=False)
            if n > 1
        ]

    @classmethod
    def from_arrays(
        cls,
        open_beams: Sequence[np.ndarray],
        dark_currents: Sequence[np.ndarray],
        ob_names: Sequence[str] | None = None,
        dc_names: Sequence[str] | None = None,
    ) -> References:
        """References from in-memory images (each list averaged); shapes and dtypes must agree."""
        ob_names = list(ob_names or [f"open beam {i + 1}" for i in range(len(open_beams))])
        dc_names = list(dc_names or [f"dark current {i + 1}" for i in range(len(dark_currents))])
        if not open_beams:
            raise NormaliseError("open beam: at least one open-beam image is needed")
        if not dark_currents:
            raise NormaliseError("dark current: at least one dark-current image is needed")
        first = np.asarray(open_beams[0])
        if first.ndim != 2:
            raise NormaliseError(f"{ob_names[0]}: has shape {first.shape}; a 2-D image is needed")
        for name, image in zip(
            ob_names + dc_names, list(open_beams) + list(dark_currents), strict=True
        ):
            image = np.asarray(image)
            if image.shape != first.shape:
                raise NormaliseError(
                    f"{name}: has shape {image.shape}, the open beam {ob_names[0]} has "
                    f"{first.shape}; all references must have one shape"
                )
            if _native(image.dtype) != _native(first.dtype):
                raise NormaliseError(
                    f"{name}: has pixel type {image.dtype}, the open beam {ob_names[0]} has "
                    f"{first.dtype}; all references must have one pixel type"
                )
        return cls.from_means(
            _mean(open_beams), _mean(dark_currents), ob_names, dc_names, first.dtype
        )

    @classmethod
    def from_means(
        cls,
        ob: np.ndarray,
        dc: np.ndarray,
        ob_names: Sequence[str],
        dc_names: Sequence[str],
        dtype: np.dtype,
        ob_frames: Sequence[int] = (),
        dc_frames: Sequence[int] = (),
    ) -> References:
        """References from the averaged open beam and dark current (float32)."""
        ob_minus_dc = ob - dc
        bad = ~(ob_minus_dc > 0)  # also catches NaN
        gain = np.zeros_like(ob_minus_dc)
        np.divide(1.0, ob_minus_dc, out=gain, where=~bad)
        return cls(
            dc,
            gain,
            ob_minus_dc,
            bad,
            list(ob_names),
            list(dc_names),
            _native(dtype),
            list(ob_frames) or [1] * len(ob_names),
            list(dc_frames) or [1] * len(dc_names),
        )


def _native(dtype: np.dtype) -> np.dtype:
    """The type in this machine's byte order (ImageJ TIFFs are big-endian: same pixel type)."""
    return np.dtype(dtype).newbyteorder("=")


def _mean(images: Sequence[np.ndarray]) -> np.ndarray:
    total = np.zeros(np.shape(images[0]), dtype=np.float64)
    for image in images:
        total += np.asarray(image, dtype=np.float64)
    return (total / len(images)).astype(np.float32)


def _read_2d(path: str | Path, role: str) -> np.ndarray:
    from qbi_desktop.core.io import read_image

    return _checked_2d(lambda: read_image(path), str(path), role)


def _checked_2d(read, what: str, role: str) -> np.ndarray:
    """``read()``'s image, refused naming ``what`` when unreadable or not 2-D greyscale."""
    try:
        image = np.asarray(read())
    except ImageReadError as exc:
        raise NormaliseError(f"{role} {exc}") from None
    if image.ndim != 2:
        raise NormaliseError(
            f"{role} {what}: has shape {image.shape}; a 2-D greyscale image is needed"
        )
    return image


def load_references(
    open_beams: Sequence[str | Path], dark_currents: Sequence[str | Path]
) -> References:
    """Read and average the open-beam and dark-current files, every frame of a file holding
    several (a multi-page TIFF) included (see the module doc); a file of another shape or pixel
    type than the first open beam is refused, naming it, before any pixel is read. The frames
    are summed one at a time: memory is two planes, whatever the number of frames."""
    if not open_beams:
        raise NormaliseError("open beam: at least one open-beam image is needed")
    if not dark_currents:
        raise NormaliseError("dark current: at least one dark-current image is needed")
    files = [(Path(p), "open beam") for p in open_beams]
    files += [(Path(p), "dark current") for p in dark_currents]
    headers = [_header(path, role) for path, role in files]
    first_shape, first_dtype, _ = headers[0]
    first = f"the open beam {open_beams[0]}"
    for (path, role), (shape, dtype, _n) in zip(files, headers, strict=True):
        if shape != first_shape:
            raise NormaliseError(
                f"{role} {path}: has shape {shape}, {first} has {first_shape}; all references "
                "must have one shape"
            )
        if _native(dtype) != _native(first_dtype):
            raise NormaliseError(
                f"{role} {path}: has pixel type {dtype}, {first} has {first_dtype}; all "
                "references must have one pixel type"
            )
    counts = [n for _s, _d, n in headers]
    means = []
    for lo, hi in ((0, len(open_beams)), (len(open_beams), len(files))):
        total = np.zeros(first_shape, np.float64)
        for (path, role), n in zip(files[lo:hi], counts[lo:hi], strict=True):
            for index in range(n):
                total += _checked_2d(lambda p=path, i=index: _read_page(p, i), str(path), role)
        means.append((total / sum(counts[lo:hi])).astype(np.float32))
    return References.from_means(
        means[0],
        means[1],
        [str(p) for p in open_beams],
        [str(p) for p in dark_currents],
        first_dtype,
        counts[: len(open_beams)],
        counts[len(open_beams) :],
    )


def _header(path: Path, role: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Plane shape, pixel type and frame count of a reference file, from its header."""
    from qbi_desktop.core.io import open_image

    try:
        source = open_image(path)
    except ImageReadError as exc:
        raise NormaliseError(f"{role} {exc}") from None
    try:
        shape, dtype, n = tuple(source.slice_shape), np.dtype(source.dtype), source.n_slices
    finally:
        source.close()
    if len(shape) != 2:
        raise NormaliseError(
            f"{role} {path}: has images of shape {shape}; 2-D greyscale images are needed"
        )
    if n > MAX_REFERENCE_FRAMES:
        raise NormaliseError(
            f"{role} {path}: holds {n:,} frames, more than the {MAX_REFERENCE_FRAMES:,} a "
            "reference may average"
        )
    return shape, dtype, n


#: frames a reference file may hold (each is read and summed: time grows with the count)
MAX_REFERENCE_FRAMES = 100_000


def _read_page(path: Path, index: int) -> np.ndarray:
    from qbi_desktop.core.io import read_image

    return read_image(path, index)


@dataclass
class Normalised:
    """A normalised image (float32; NaN where masked) and how many pixels were masked, why."""

    data: np.ndarray
    unit: str
    reference_masked: int  # OB - DC <= 0: cannot divide
    nonpositive: int = 0  # attenuation only: T <= 0, no logarithm
    dose_factor: float = 1.0

    @property
    def masked(self) -> int:
        return self.reference_masked + self.nonpositive

    def summary(self) -> str:
        parts = []
        if self.reference_masked:
            parts.append(
                f"{self.reference_masked} pixel(s) masked where the open beam is not above "
                "the dark current"
            )
        if self.nonpositive:
            parts.append(
                f"{self.nonpositive} pixel(s) masked where the image is at or below the dark "
                "current (transmission <= 0 has no attenuation)"
            )
        if self.dose_factor != 1.0:
            parts.append(f"dose factor {self.dose_factor:.5g}")
        return "; ".join(parts)


def check_region(region: Sequence[int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A dose region ``(y0, y1, x0, x1)`` (half-open) inside an image of ``shape``."""
    try:
        y0, y1, x0, x1 = (int(v) for v in region)
    except (TypeError, ValueError):
        raise NormaliseError(
            f"dose region: expected (y0, y1, x0, x1) in pixels, got {region!r}"
        ) from None
    h, w = shape
    if not (0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w):
        raise NormaliseError(
            f"dose region: rows {y0}:{y1}, columns {x0}:{x1} is empty or outside the "
            f"{h} x {w} image"
        )
    return y0, y1, x0, x1


def normalise(
    image: np.ndarray,
    refs: References,
    *,
    unit: str = "transmission",
    dose_region: Sequence[int] | None = None,
    name: str = "image",
) -> Normalised:
    """``image`` in ``unit`` ("transmission" or "attenuation"; "counts" returns it as float32).

    The image must have the references' shape and pixel type (refused otherwise, naming
    ``name``). Masked pixels are NaN and counted in the result.
    """
    if unit not in UNITS:
        raise NormaliseError(f"unit: expected one of {', '.join(UNITS)}, got {unit!r}")
    image = np.asarray(image)
    if image.shape != refs.shape:
        raise NormaliseError(
            f"{name}: has shape {image.shape}, the references ({_first(refs)}) have {refs.shape}"
        )
    if refs.dtype is not None and _native(image.dtype) != refs.dtype:
        raise NormaliseError(
            f"{name}: has pixel type {image.dtype}, the references ({_first(refs)}) have "
            f"{refs.dtype}"
        )
    if unit == "counts":
        return Normalised(image.astype(np.float32), unit, 0)
    factor = 1.0
    if dose_region is not None:
        y0, y1, x0, x1 = check_region(dose_region, refs.shape)
        open_dose = float(np.sum(refs.ob_minus_dc[y0:y1, x0:x1], dtype=np.float64))
        region = np.subtract(image[y0:y1, x0:x1], refs.dc[y0:y1, x0:x1], dtype=np.float32)
        image_dose = float(np.sum(region, dtype=np.float64))
        if not (image_dose > 0 and open_dose > 0 and math.isfinite(image_dose / open_dose)):
            raise NormaliseError(
                f"dose region: rows {y0}:{y1}, columns {x0}:{x1} of {name} has no dose above "
                "the dark current (choose an open part of the image, outside the sample)"
            )
        factor = open_dose / image_dose
    t, nonpositive = _normalise_rows(image, refs, factor, unit == "attenuation")
    return Normalised(t, unit, refs.bad_count, nonpositive, factor)


#: rows per block of :func:`_normalise_rows` (a block's float32 rows stay in the CPU cache)
_ROWS = 32


def _normalise_rows(
    image: np.ndarray, refs: References, factor: float, attenuation: bool
) -> tuple[np.ndarray, int]:
    """float32 (image - DC) x gain [x factor] [-> -ln], NaN where masked, in one pass of row
    blocks (every step of a block in the cache: ~3x faster than whole-image passes at 2048^2);
    returns the result and the count of pixels with T <= 0 masked in attenuation."""
    t = np.empty(image.shape, dtype=np.float32)
    bad = refs.bad if refs.bad_count else None
    f32 = np.float32(factor)
    nonpositive = 0
    for a in range(0, image.shape[0], _ROWS):
        rows = slice(a, a + _ROWS)
        out = t[rows]
        np.subtract(image[rows], refs.dc[rows], out=out, dtype=np.float32)
        np.multiply(out, refs.gain[rows], out=out)
        if factor != 1.0:
            np.multiply(out, f32, out=out)
        if bad is not None:
            out[bad[rows]] = np.nan
        if attenuation:
            low = out <= 0  # NaN compares False: reference-masked pixels are not counted twice
            n = int(np.count_nonzero(low))
            if n:
                out[low] = np.nan
                nonpositive += n
            np.log(out, out=out)
            np.negative(out, out=out)
    return t, nonpositive


def _first(refs: References) -> str:
    return refs.ob_paths[0] if refs.ob_paths else "open beam"


def normalise_files_job(
    images: Sequence[str | Path | Frame],
    refs: References,
    out: str | Path,
    *,
    attenuation: bool = False,
    dose_region: Sequence[int] | None = None,
) -> Job[list[tuple[Path, Normalised]]]:
    """Normalise each image of ``images`` (files, or :class:`~.frames.Frame` s: frames of a
    NeXus stack too) and write ``out/<stem>.tif`` (float32, atomically), with the references
    and parameters in the TIFF's ImageDescription (JSON provenance).

    Every image is checked (readable, same shape and type as the references) before the first
    is written, so a bad file in the list stops the run with nothing half done. Outputs that
    would land on an input (same folder and stem) are refused.
    """
    from qbi_desktop.core.radiography.provenance import write_tiff

    out = Path(out)
    unit = "attenuation" if attenuation else "transmission"
    frames = as_frames(images)
    stems: dict[str, Frame] = {}
    for frame in frames:
        if frame.stem in stems:
            raise NormaliseError(
                f"{frame.describe()}: has the same name as {stems[frame.stem].describe()}; both "
                f"would be written to {out / (frame.stem + '.tif')}"
            )
        stems[frame.stem] = frame
        path, target = frame.path, out / f"{frame.stem}.tif"
        if target.exists() and path.exists() and target.resolve() == path.resolve():
            raise NormaliseError(f"{path}: the output {target} would overwrite the input")
    references = [(p, "open beam") for p in refs.ob_paths]
    check_outputs(
        frames,
        out,
        [".tif"],
        references + [(p, "dark current") for p in refs.dc_paths],
        own=_normalised_before,
        command="normalize",
    )
    _check_headers(frames, refs)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NormaliseError(f"{out}: cannot create the folder ({exc.strerror})") from None
    results = []
    total = len(frames)
    yield Progress(0, total, "normalising")
    for i, frame in enumerate(frames):
        image = _read_frame(frame, "image")
        result = normalise(image, refs, unit=unit, dose_region=dose_region, name=frame.describe())
        provenance = {
            "operation": "normalise",
            "input": frame.describe(),
            "unit": unit,
            "formula": "T = (I - DC) / (OB - DC)"
            + ("; attenuation = -ln T" if attenuation else ""),
            **refs.describe(),
            "dose_region": list(dose_region) if dose_region is not None else None,
            "dose_factor": result.dose_factor,
            "masked_pixels": result.masked,
            "masked_value": "NaN",
        }
        target = write_tiff(out / f"{frame.stem}.tif", result.data, provenance)
        results.append((target, result))
        name = frame.path.name if frame.index is None else frame.stem
        yield Progress(i + 1, total, f"{name}: {result.summary() or 'done'}")
    return results


def _normalised_before(frame: Frame, target: Path) -> bool:
    """Whether ``target`` is this command's earlier output of ``frame`` (a re-run replaces
    it); the normalised image of another file of the same name is not."""
    from qbi_desktop.core.radiography.provenance import read_provenance

    record = read_provenance(target) or {}
    mine = {frame.describe()} | ({str(frame.path)} if frame.index is None else set())
    return record.get("operation") == "normalise" and record.get("input") in mine


def _read_frame(frame: Frame, role: str) -> np.ndarray:
    if frame.index is None:
        return _read_2d(frame.path, role)
    return _checked_2d(frame.read, frame.describe(), role)


def _check_headers(frames: Sequence[Frame], refs: References) -> None:
    """Shape and pixel type of every image from its header, before any work is done."""
    stacks: dict[tuple[Path, str | None], tuple] = {}  # the frames of a dataset share one
    for frame in frames:
        key = (frame.path, frame.dataset)
        try:
            if frame.index is None or key not in stacks:
                stacks[key] = frame.header()
            shape, dtype = stacks[key]
        except ImageReadError as exc:
            raise NormaliseError(str(exc)) from None
        path = frame.describe()
        if tuple(shape) != refs.shape:
            raise NormaliseError(
                f"{path}: has shape {tuple(shape)}, the references ({_first(refs)}) have "
                f"{refs.shape}"
            )
        if refs.dtype is not None and _native(dtype) != refs.dtype:
            raise NormaliseError(
                f"{path}: has pixel type {dtype}, the references ({_first(refs)}) have {refs.dtype}"
            )
