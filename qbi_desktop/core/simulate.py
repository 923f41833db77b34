"""A seeded, deterministic simulator of neutron radiographs with exact ground truth.

Why: spot annotation of a real 2048x2048 radiograph takes hours, and its truth is uncertain.
A simulated radiograph comes with the truth for free, so detectors can be scored, datasets
can be built and the demo has something real-looking to show without any files.

The model (one detector frame, in counts)
-----------------------------------------
1. **Sample (Beer-Lambert).** A few geometric phantoms sit at random positions and angles:
   *plates* (rotated rectangles of constant thickness along the beam), *cylinders* seen from
   the side (axis in the image plane; path length is the chord ``2*sqrt(r^2 - d^2)`` at distance
   ``d`` from the axis, over the cylinder's length) and *spheres* (chord ``2*sqrt(r^2 - d^2)``
   at distance ``d`` from the centre). Each has a linear attenuation coefficient ``mu`` (per mm);
   path lengths are in mm through ``pixel_size_mm``. Overlapping objects add up:
   transmission ``T = exp(-sum_i mu_i * L_i)``.
2. **Open beam.** A smooth, non-uniform flux: ``open_beam_counts`` at the beam centre, a radial
   Gaussian fall-off (``beam_falloff`` lost at the far corner) and a linear tilt
   (``beam_gradient``). It belongs to the instrument, so it is drawn from ``detector_seed`` and is
   the same in every image of a set (a flat field measured once normalises them all).
3. **Detector blur.** The scintillator spreads light: the transmitted flux is convolved with a
   Gaussian PSF of ``blur_sigma_px`` (``scipy.ndimage.gaussian_filter``). The open beam is
   smooth, so ``blur(beam * T) ~ beam * blur(T)``, and only the region holding objects is blurred.
4. **Counting noise.** The expected signal ``S`` counts comes from ``S / counts_per_neutron``
   detected neutrons; their number is Poisson. For 20 or more expected neutrons the Poisson law
   is replaced by its normal approximation (indistinguishable there, and ~3x faster); below,
   exact Poisson draws are used. Gaussian read noise (``read_noise_counts``) is added.
5. **Dark current.** An offset ``dark_counts`` plus a fixed pattern of row and column offsets
   (std ``dark_pattern_counts``, as CMOS read-out amplifiers give), drawn from ``detector_seed``.
6. **Gamma spots.** Gamma rays hit the camera sensor itself, not the sample, so spots are added
   *after* blur and noise: small bright clusters of 1-20 pixels (log-uniform sizes: many small,
   a few large), shaped as single dots, compact blobs (random growth) or short tracks (wandering
   lines), every spot 4-connected. Peak heights are log-uniform in ``spot_counts``; a fraction
   ``spot_saturated_fraction`` is energetic enough to clip at 65535. Their number is Poisson with
   mean ``spot_rate_per_mpx`` per megapixel, their density varies across the image
   (``spot_density_gradient``). Spots never touch: between pixels of two spots lie at least
   ``spot_min_spacing_px`` background pixels (so labelling the spot mask with any connectivity
   gives back exactly one component per spot). Placement is one spot at most per cell of an
   ``(16 + spacing)``-pixel grid, so the rate is capped at the number of cells (about 3000 per
   megapixel with the defaults; an image narrower than one cell, 18 px, gets no spots).
7. The sum is rounded and clipped to uint16.

Ground truth
------------
``spot_labels`` holds, for every spot ``k`` (1..n, numbered in raster order), exactly the pixels
whose recorded value spot ``k`` changed; the image without spots is bit-identical elsewhere.
(A pixel that already read 65535 cannot change, so it is not part of any spot; this only
happens when ``open_beam_counts`` is set close to full scale.)
``object_labels`` holds, for every object, the pixels where it removes more than one millionth of
the beam (where objects overlap, the one attenuating most at that pixel); ``transmission`` is the
ideal (unblurred) sample transmission, below 1 exactly where ``object_labels > 0``.

Determinism
-----------
Everything follows from ``seed`` (and ``detector_seed`` for the instrument). Each component
draws from its own stream (``numpy.random.SeedSequence(seed, spawn_key=(k,))``), so switching
spots off (``spot_rate_per_mpx=0``) or changing the spot knobs leaves the sample, beam and noise
bit-identical: the image with spots differs from the one without only at spot pixels.

Files written by :func:`write_simulated_set` (into ``out_dir``)
---------------------------------------------------------------
- ``sim_{index:04d}.tif``: the radiograph, uint16, uncompressed (memory-mappable), ImageJ TIFF
  with the pixel size (mm) as resolution.
- ``sim_{index:04d}_spots.tif``: spot label image, zlib-compressed, uint16 (uint32 when there
  are 65536 spots or more); 0 = no spot, k = spot k.
- ``sim_{index:04d}_objects.tif``: object label image, uint16, zlib-compressed; 0 = open beam.
- ``simulation.json``: format/version, the parameters, the seed, and per image: the index, its
  derived seed, the three file names, the object records and the spot records. Image ``i``'s seed
  is derived from ``(seed, i)`` with ``SeedSequence(seed, spawn_key=(i,))``, so image ``i`` is the
  same whatever ``count`` is. The JSON is written when the set is finished (or cancelled:
  then ``"complete": false`` and only the images written so far).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from scipy import ndimage

from qbi_desktop.core.atomic import atomic_write_text, atomic_write_with
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress

__all__ = [
    "OBJECT_KINDS",
    "SPOT_KINDS",
    "MAX_SIDE",
    "MIN_SIDE",
    "SimulationParams",
    "SimulatedRadiograph",
    "derive_image_seed",
    "simulate_radiograph",
    "write_simulated_set",
    "simulation_file_names",
]

OBJECT_KINDS = ("plate", "cylinder", "sphere")
SPOT_KINDS = ("dot", "blob", "track")
MIN_SIDE = 16
MAX_SIDE = 32768
SATURATION = 65535
JSON_NAME = "simulation.json"
FORMAT_NAME = "qbi-desktop simulation"
FORMAT_VERSION = 1

# A spot's bounding box is at most this many pixels on a side; it fixes the placement grid.
_SPOT_BOX = 16
# Objects remove at least this fraction of the beam on their labelled pixels.
_OBJECT_MIN_ATTENUATION = 1e-6
# Below this many expected neutrons per pixel the exact Poisson law is drawn.
_POISSON_EXACT_BELOW = 20.0
# Random streams of one image: each component has its own, so they do not disturb each other.
_STREAM_OBJECTS, _STREAM_NOISE, _STREAM_SPOTS = 1, 2, 3
_STREAM_BEAM, _STREAM_DARK = 11, 12


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationParams:
    """The physical knobs of a simulated radiograph; the defaults look like a real one.

    Image and detector
        ``height``, ``width``: image size in pixels (16..32768).
        ``pixel_size_mm``: detector pixel size in mm (0.1 = 100 um, typical for a
        scintillator + camera set-up); converts object path lengths to mm.
        ``open_beam_counts``: mean counts (above dark) per pixel at the centre of the open beam.
        ``beam_falloff``: fraction of the open beam lost at the corner farthest from the beam
        centre (radial Gaussian profile), in [0, 0.95].
        ``beam_gradient``: linear tilt of the open beam, relative change from the centre to an
        edge, in [0, 0.5] (the direction is the instrument's, from ``detector_seed``).
        ``counts_per_neutron``: detector gain (counts per detected neutron); the Poisson noise of
        a signal ``S`` counts has variance ``counts_per_neutron * S``. 5 matches real data.
        ``read_noise_counts``: std of the Gaussian read noise, counts.
        ``dark_counts``: dark-current offset, counts.
        ``dark_pattern_counts``: std of the fixed row and column offsets of the dark current.
        ``detector_seed``: seed of the instrument (open-beam shape, dark pattern): the same for
        every image of a set, unlike the per-image ``seed``.
        ``blur_sigma_px``: std of the Gaussian detector PSF in pixels (0 = no blur).

    Sample (phantoms)
        ``object_count``: number of phantoms per image (0..64).
        ``object_kinds``: kinds to draw from: ``"plate"``, ``"cylinder"``, ``"sphere"``.
        ``object_size_fraction``: (min, max) of the object's half-size (radius, half-width) as a
        fraction of the shorter image side, so a scene fills a small and a large image alike.
        ``plate_thickness_mm``: (min, max) plate thickness along the beam, mm.
        ``attenuation_per_mm``: (min, max) linear attenuation coefficient mu, per mm, drawn
        log-uniformly (thermal neutrons: Zr ~0.03, Al ~0.1, water ~0.35, Fe ~1.2).

    Gamma spots
        ``spot_rate_per_mpx``: mean number of spots per megapixel (Poisson); 0 = no spots.
        ``spot_size_px``: (min, max) pixels per spot, log-uniform, within 1..64.
        ``spot_counts``: (min, max) peak height above the spot-free image, counts, log-uniform.
        ``spot_track_fraction``: fraction of multi-pixel spots that are tracks (else blobs).
        ``spot_saturated_fraction``: fraction of spots bright enough to clip at 65535.
        ``spot_min_spacing_px``: at least this many background pixels between two spots (>= 1).
        ``spot_density_gradient``: spatial variation of the spot density, in [0, 1]: cells at
        one side of the image are ``(1 + g) / (1 - g)`` times likelier than at the other.
    """

    height: int = 2048
    width: int = 2048
    pixel_size_mm: float = 0.1
    open_beam_counts: float = 20000.0
    beam_falloff: float = 0.2
    beam_gradient: float = 0.05
    counts_per_neutron: float = 5.0
    read_noise_counts: float = 5.0
    dark_counts: float = 100.0
    dark_pattern_counts: float = 2.0
    detector_seed: int = 0
    blur_sigma_px: float = 1.0
    object_count: int = 6
    object_kinds: tuple[str, ...] = OBJECT_KINDS
    object_size_fraction: tuple[float, float] = (0.03, 0.12)
    plate_thickness_mm: tuple[float, float] = (1.0, 10.0)
    attenuation_per_mm: tuple[float, float] = (0.01, 0.1)
    spot_rate_per_mpx: float = 400.0
    spot_size_px: tuple[int, int] = (1, 20)
    spot_counts: tuple[float, float] = (3000.0, 40000.0)
    spot_track_fraction: float = 0.3
    spot_saturated_fraction: float = 0.1
    spot_min_spacing_px: int = 2
    spot_density_gradient: float = 0.5

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples as lists) that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimulationParams:
        """Build parameters from a (possibly partial) dict, e.g. parsed JSON.

        Missing fields keep their defaults. Unknown fields, wrong types and out-of-range values
        raise :class:`UserFacingError` naming the field.
        """
        if not isinstance(d, dict):
            raise UserFacingError(
                f"simulation parameters must be a JSON object of fields, got {type(d).__name__}"
            )
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise UserFacingError(
                f"simulation parameters: unknown field {unknown[0]!r} "
                f"(known fields: {', '.join(known)})"
            )
        values = {name: _coerce(name, value, _FIELD_TYPES[name]) for name, value in d.items()}
        return cls(**values)

    def replace(self, **changes: Any) -> SimulationParams:
        """A copy with some fields changed (validated like the original)."""
        return dataclasses.replace(self, **changes)


# The type of every field, as from_dict checks it: "int", "float", "str_tuple",
# "float_pair", "int_pair".
_FIELD_TYPES: dict[str, str] = {
    "height": "int",
    "width": "int",
    "pixel_size_mm": "float",
    "open_beam_counts": "float",
    "beam_falloff": "float",
    "beam_gradient": "float",
    "counts_per_neutron": "float",
    "read_noise_counts": "float",
    "dark_counts": "float",
    "dark_pattern_counts": "float",
    "detector_seed": "int",
    "blur_sigma_px": "float",
    "object_count": "int",
    "object_kinds": "str_tuple",
    "object_size_fraction": "float_pair",
    "plate_thickness_mm": "float_pair",
    "attenuation_per_mm": "float_pair",
    "spot_rate_per_mpx": "float",
    "spot_size_px": "int_pair",
    "spot_counts": "float_pair",
    "spot_track_fraction": "float",
    "spot_saturated_fraction": "float",
    "spot_min_spacing_px": "int",
    "spot_density_gradient": "float",
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _coerce(name: str, value: Any, kind: str) -> Any:
    """Check one field's type and convert JSON lists to tuples; errors name the field."""
    if kind == "int":
        if _is_number(value) and float(value).is_integer():
            return int(value)
        raise UserFacingError(f"simulation parameter {name!r} must be an integer, got {value!r}")
    if kind == "float":
        if _is_number(value):
            return float(value)
        raise UserFacingError(f"simulation parameter {name!r} must be a number, got {value!r}")
    if kind == "str_tuple":
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise UserFacingError(
            f"simulation parameter {name!r} must be a list of names, got {value!r}"
        )
    # pairs
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise UserFacingError(
            f"simulation parameter {name!r} must be a pair [min, max], got {value!r}"
        )
    if kind == "int_pair":
        if all(_is_number(v) and float(v).is_integer() for v in value):
            return (int(value[0]), int(value[1]))
        raise UserFacingError(
            f"simulation parameter {name!r} must be a pair of integers, got {value!r}"
        )
    if all(_is_number(v) for v in value):
        return (float(value[0]), float(value[1]))
    raise UserFacingError(f"simulation parameter {name!r} must be a pair of numbers, got {value!r}")


def _validate(p: SimulationParams) -> None:
    """Range checks for every field; each error names the field and the allowed range."""

    def fail(name: str, problem: str) -> NoReturn:
        raise UserFacingError(f"simulation parameter {name!r} {problem}, got {getattr(p, name)!r}")

    # Types first: JSON lists become tuples, numpy scalars plain numbers, and a wrong type gets
    # a message naming the field (for from_dict and direct construction alike).
    for name, kind in _FIELD_TYPES.items():
        value = _coerce(name, getattr(p, name), kind)
        object.__setattr__(p, name, value)
        if kind in ("float", "float_pair") and not all(
            math.isfinite(v) for v in (value if isinstance(value, tuple) else (value,))
        ):
            fail(name, "must be finite")

    for name in ("height", "width"):
        if not MIN_SIDE <= getattr(p, name) <= MAX_SIDE:
            fail(name, f"must be between {MIN_SIDE} and {MAX_SIDE} pixels")
    if not 0 < p.pixel_size_mm <= 100:
        fail("pixel_size_mm", "must be in (0, 100] mm")
    if not 0 < p.open_beam_counts <= SATURATION:
        fail("open_beam_counts", f"must be in (0, {SATURATION}]")
    if not 0 <= p.beam_falloff <= 0.95:
        fail("beam_falloff", "must be in [0, 0.95]")
    if not 0 <= p.beam_gradient <= 0.5:
        fail("beam_gradient", "must be in [0, 0.5]")
    if not 0 < p.counts_per_neutron <= 1000:
        fail("counts_per_neutron", "must be in (0, 1000]")
    for name in ("read_noise_counts", "dark_counts", "dark_pattern_counts"):
        if not 0 <= getattr(p, name) <= SATURATION:
            fail(name, f"must be in [0, {SATURATION}]")
    if p.detector_seed < 0:
        fail("detector_seed", "must be >= 0")
    if not 0 <= p.blur_sigma_px <= 50:
        fail("blur_sigma_px", "must be in [0, 50] pixels")
    if not 0 <= p.object_count <= 64:
        fail("object_count", "must be in [0, 64]")
    if not p.object_kinds or any(k not in OBJECT_KINDS for k in p.object_kinds):
        fail("object_kinds", f"must be a non-empty list of {', '.join(OBJECT_KINDS)}")
    _check_pair(p, "object_size_fraction", 1e-4, 1.0)
    _check_pair(p, "plate_thickness_mm", 0.0, 1000.0)
    _check_pair(p, "attenuation_per_mm", 1e-6, 100.0)
    if not 0 <= p.spot_rate_per_mpx <= 1e6:
        fail("spot_rate_per_mpx", "must be in [0, 1e6]")
    _check_pair(p, "spot_size_px", 1, 64)
    _check_pair(p, "spot_counts", 1.0, 1e6)
    for name in ("spot_track_fraction", "spot_saturated_fraction", "spot_density_gradient"):
        if not 0 <= getattr(p, name) <= 1:
            fail(name, "must be in [0, 1]")
    if not 1 <= p.spot_min_spacing_px <= 64:
        fail("spot_min_spacing_px", "must be in [1, 64]")


def _check_pair(p: SimulationParams, name: str, lo: float, hi: float) -> None:
    a, b = getattr(p, name)
    if not (lo <= a <= b <= hi):
        raise UserFacingError(
            f"simulation parameter {name!r} must be [min, max] with {lo} <= min <= max <= {hi}, "
            f"got {list(getattr(p, name))!r}"
        )


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass
class SimulatedRadiograph:
    """One simulated frame and its exact ground truth.

    ``image`` (uint16, H x W) is what the detector recorded. ``spot_labels`` (int32) holds 0 for
    background and 1..n for the gamma spots, exactly the pixels each spot changed.
    ``object_labels`` (uint16) holds 0 for open beam and 1..m for the phantoms. ``spots`` has one
    record per spot: ``id``, ``centroid`` (y, x; mean of its pixel coordinates), ``area_px``,
    ``peak_counts_above_background`` (largest change the spot made to a pixel, after clipping),
    ``saturated`` (a pixel of it reads 65535), ``bbox`` ([y0, x0, y1, x1), half-open) and
    ``kind`` (dot, blob, track). ``objects`` has one record per phantom (id, kind, centre,
    angle, attenuation, size, area_px); ``transmission`` (float32) is the ideal, unblurred
    sample transmission.
    """

    image: np.ndarray
    spot_labels: np.ndarray
    object_labels: np.ndarray
    spots: list[dict]
    params: SimulationParams
    seed: int
    objects: list[dict] = field(default_factory=list)
    transmission: np.ndarray | None = None

    @property
    def spot_mask(self) -> np.ndarray:
        """Boolean mask of every spot pixel."""
        return self.spot_labels > 0


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


def _stream(seed: int, key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))


def _check_seed(seed: Any, what: str = "seed") -> int:
    if not _is_int(seed) or seed < 0:
        raise UserFacingError(f"{what} must be a non-negative integer, got {seed!r}")
    return int(seed)


def derive_image_seed(seed: int, index: int) -> int:
    """The seed of image ``index`` of a set made with ``seed`` (63-bit, independent of count)."""
    state = np.random.SeedSequence(_check_seed(seed), spawn_key=(int(index),)).generate_state(
        1, np.uint64
    )
    return int(state[0] >> np.uint64(1))


def simulate_radiograph(
    params: SimulationParams | None = None, seed: int = 0
) -> SimulatedRadiograph:
    """Simulate one neutron radiograph with its ground truth (see the module docstring).

    Deterministic: the same ``params`` and ``seed`` give bit-identical arrays. About 0.3 s for
    2048x2048 with the defaults (see tests/benchmarks/bench_simulate.py).
    """
    p = params if params is not None else SimulationParams()
    if not isinstance(p, SimulationParams):
        raise UserFacingError(f"params must be SimulationParams, got {type(p).__name__}")
    seed = _check_seed(seed)

    attenuation, object_labels, objects = _draw_objects(p, _stream(seed, _STREAM_OBJECTS))
    # float32 exp of an attenuation >= 1e-6 stays below 1, so T < 1 exactly on object pixels.
    transmission = np.exp(-attenuation, out=attenuation)
    del attenuation

    return expose(transmission, object_labels, objects, p, seed)


def expose(
    transmission: np.ndarray,
    object_labels: np.ndarray,
    objects: list[dict],
    p: SimulationParams,
    seed: int,
) -> SimulatedRadiograph:
    """The detector stages after the sample: blur, open beam, counting noise, dark current,
    16-bit quantisation and gamma spots. Any phantom (geometric or pasted templates) goes
    through this one path, so they differ only in what attenuates the beam."""
    signal = _blurred(transmission, object_labels, p.blur_sigma_px)
    signal *= _open_beam(p)
    counts = _add_noise(signal, p, _stream(seed, _STREAM_NOISE))
    counts += _dark(p)
    np.rint(counts, out=counts)
    np.clip(counts, 0, SATURATION, out=counts)
    image = counts.astype(np.uint16)
    del counts

    spot_labels, spots = _add_spots(image, p, _stream(seed, _STREAM_SPOTS))
    areas = np.bincount(object_labels.ravel(), minlength=len(objects) + 1)
    for rec in objects:
        rec["area_px"] = int(areas[rec["id"]])
    return SimulatedRadiograph(
        image=image,
        spot_labels=spot_labels,
        object_labels=object_labels,
        spots=spots,
        params=p,
        seed=seed,
        objects=objects,
        transmission=transmission,
    )


def _draw_objects(
    p: SimulationParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Attenuation sum (float32), object labels (uint16) and object records.

    Each object is evaluated only inside its bounding box; a pixel's label is the object that
    attenuates most there.
    """
    h, w = p.height, p.width
    attenuation = np.zeros((h, w), np.float32)
    best = np.zeros((h, w), np.float32)
    labels = np.zeros((h, w), np.uint16)
    side = min(h, w)
    records: list[dict] = []
    kinds = p.object_kinds
    mu_lo, mu_hi = p.attenuation_per_mm
    for k in range(p.object_count):
        kind = kinds[int(rng.integers(len(kinds)))]
        cy = float(rng.uniform(0.1, 0.9) * h)
        cx = float(rng.uniform(0.1, 0.9) * w)
        angle = float(rng.uniform(0.0, math.pi))
        mu = float(math.exp(rng.uniform(math.log(mu_lo), math.log(mu_hi))))
        size = float(rng.uniform(*p.object_size_fraction) * side)
        rec: dict[str, Any] = {
            "id": k + 1,
            "kind": kind,
            "center": [cy, cx],
            "angle_deg": math.degrees(angle),
            "attenuation_per_mm": mu,
        }
        if kind == "sphere":
            half_u = half_v = size
            rec["radius_px"] = size
        elif kind == "cylinder":
            radius = size * float(rng.uniform(0.3, 0.7))
            half_u, half_v = size, radius  # u along the axis
            rec["radius_px"] = radius
            rec["length_px"] = 2 * size
        else:
            half_u, half_v = size, size * float(rng.uniform(0.2, 1.0))
            thickness = float(rng.uniform(*p.plate_thickness_mm))
            rec["half_size_px"] = [half_u, half_v]
            rec["thickness_mm"] = thickness
        records.append(rec)

        c, s = math.cos(angle), math.sin(angle)
        ext_y = abs(half_u * s) + abs(half_v * c)
        ext_x = abs(half_u * c) + abs(half_v * s)
        y0, y1 = max(0, int(cy - ext_y) - 1), min(h, int(cy + ext_y) + 2)
        x0, x1 = max(0, int(cx - ext_x) - 1), min(w, int(cx + ext_x) + 2)
        if y0 >= y1 or x0 >= x1:
            continue
        dy = (np.arange(y0, y1, dtype=np.float32) - np.float32(cy))[:, None]
        dx = (np.arange(x0, x1, dtype=np.float32) - np.float32(cx))[None, :]
        px = np.float32(p.pixel_size_mm)
        if kind == "sphere":
            r2 = np.float32(size * size) - (dy * dy + dx * dx)
            contrib = np.sqrt(np.maximum(r2, 0, out=r2), out=r2)
            contrib *= np.float32(2.0 * mu) * px
        else:
            u = dx * np.float32(c) + dy * np.float32(s)  # along the axis / long side
            v = dy * np.float32(c) - dx * np.float32(s)  # across
            inside = np.abs(u) <= np.float32(half_u)
            if kind == "cylinder":
                r2 = np.float32(half_v * half_v) - v * v
                contrib = np.sqrt(np.maximum(r2, 0, out=r2), out=r2)
                contrib *= np.float32(2.0 * mu) * px
                contrib *= inside
            else:
                inside &= np.abs(v) <= np.float32(half_v)
                contrib = inside * np.float32(mu * rec["thickness_mm"])
        contrib = contrib.astype(np.float32, copy=False)
        contrib[contrib < _OBJECT_MIN_ATTENUATION] = 0
        attenuation[y0:y1, x0:x1] += contrib
        region_best = best[y0:y1, x0:x1]
        wins = contrib > region_best
        region_best[wins] = contrib[wins]
        labels[y0:y1, x0:x1][wins] = k + 1
    return attenuation, labels, records


def _blurred(transmission: np.ndarray, labels: np.ndarray, sigma: float) -> np.ndarray:
    """The transmission convolved with the detector PSF, as a new float32 array.

    Outside the objects the transmission is exactly 1 and blurring changes nothing, so only the
    bounding box of all objects (plus the PSF's reach) is filtered.
    """
    out = transmission.copy()
    if sigma <= 0:
        return out
    rows = np.flatnonzero(labels.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(labels.any(axis=0))
    reach = int(math.ceil(4.0 * sigma)) + 1
    h, w = labels.shape
    y0, y1 = max(0, rows[0] - reach), min(h, rows[-1] + 1 + reach)
    x0, x1 = max(0, cols[0] - reach), min(w, cols[-1] + 1 + reach)
    # Filter the loss (1 - T), which is 0 beyond the objects, so the region's border is exact.
    loss = 1.0 - transmission[y0:y1, x0:x1]
    ndimage.gaussian_filter(loss, sigma, output=loss, mode="nearest", truncate=4.0)
    np.subtract(np.float32(1.0), loss, out=out[y0:y1, x0:x1])
    return out


def _instrument_rng(p: SimulationParams, key: int) -> np.random.Generator:
    return _stream(p.detector_seed, key)


def _open_beam(p: SimulationParams) -> np.ndarray:
    """Open-beam counts per pixel (float32): radial Gaussian fall-off times a linear tilt."""
    h, w = p.height, p.width
    rng = _instrument_rng(p, _STREAM_BEAM)
    cy = h * (0.5 + rng.uniform(-0.1, 0.1))
    cx = w * (0.5 + rng.uniform(-0.1, 0.1))
    phi = rng.uniform(0, 2 * math.pi)
    y = np.arange(h, dtype=np.float64) - cy
    x = np.arange(w, dtype=np.float64) - cx
    corner2 = max(cy, h - cy) ** 2 + max(cx, w - cx) ** 2
    if p.beam_falloff > 0:
        inv_two_sigma2 = -math.log(1.0 - p.beam_falloff) / corner2
        gy = np.exp(-(y**2) * inv_two_sigma2)
        gx = np.exp(-(x**2) * inv_two_sigma2)
    else:
        gy, gx = np.ones(h), np.ones(w)
    gy *= p.open_beam_counts  # the radial Gaussian is separable: exp(-r^2) = exp(-y^2)exp(-x^2)
    beam = (gy.astype(np.float32)[:, None]) * gx.astype(np.float32)[None, :]
    if p.beam_gradient > 0:
        half = 0.5 * max(h, w)
        ty = (p.beam_gradient * math.sin(phi) / half * y).astype(np.float32)
        tx = (p.beam_gradient * math.cos(phi) / half * x).astype(np.float32)
        beam *= 1.0 + ty[:, None] + tx[None, :]
    return beam


def _dark(p: SimulationParams) -> np.ndarray:
    """Dark current: offset plus fixed row and column patterns (float32, broadcastable)."""
    rng = _instrument_rng(p, _STREAM_DARK)
    rows = rng.normal(0.0, p.dark_pattern_counts, p.height).astype(np.float32)
    cols = rng.normal(0.0, p.dark_pattern_counts, p.width).astype(np.float32)
    return (np.float32(p.dark_counts) + rows)[:, None] + cols[None, :]


def _add_noise(signal: np.ndarray, p: SimulationParams, rng: np.random.Generator) -> np.ndarray:
    """Counting (Poisson) and read noise on the expected signal, in place; returns ``signal``."""
    g = np.float32(p.counts_per_neutron)
    read2 = np.float32(p.read_noise_counts**2)
    z = rng.standard_normal(signal.shape, dtype=np.float32)
    low = np.flatnonzero(signal < np.float32(_POISSON_EXACT_BELOW) * g)
    exact = None
    if low.size:
        # Few expected neutrons: the normal approximation is poor, draw the Poisson law itself.
        lam = signal.ravel()[low].astype(np.float64) / float(g)
        exact = (rng.poisson(lam) * float(g)).astype(np.float32)
        exact += z.ravel()[low] * np.float32(p.read_noise_counts)
    sd = signal * g
    sd += read2
    np.sqrt(sd, out=sd)
    sd *= z
    del z
    signal += sd
    if exact is not None:
        signal.ravel()[low] = exact
    return signal


# ---- spots ---------------------------------------------------------------------------------


def _spot_shape(kind: str, n: int, box: int, rnd: random.Random) -> list[tuple[int, int]]:
    """Pixel offsets of one 4-connected spot of up to ``n`` pixels within a ``box``-sized box."""
    pixels = [(0, 0)]
    if kind == "dot" or n <= 1:
        return pixels
    seen = {(0, 0)}
    ymin = ymax = xmin = xmax = 0

    def fits(y: int, x: int) -> bool:
        return max(ymax, y) - min(ymin, y) < box and max(xmax, x) - min(xmin, x) < box

    steps = ((1, 0), (-1, 0), (0, 1), (0, -1))
    if kind == "blob":
        # Random (Eden) growth: add a free 4-neighbour of a random pixel until n pixels.
        tries = 0
        while len(pixels) < n and tries < 50 * n:
            tries += 1
            y, x = pixels[rnd.randrange(len(pixels))]
            dy, dx = steps[rnd.randrange(4)]
            q = (y + dy, x + dx)
            if q not in seen and fits(*q):
                seen.add(q)
                pixels.append(q)
                ymin, ymax = min(ymin, q[0]), max(ymax, q[0])
                xmin, xmax = min(xmin, q[1]), max(xmax, q[1])
        return pixels
    # Track: a wandering line; diagonal moves go through a 4-neighbour so it stays 4-connected.
    theta = rnd.uniform(0, 2 * math.pi)
    fy = fx = 0.0
    y = x = 0
    while len(pixels) < n:
        theta += rnd.gauss(0.0, 0.25)
        fy += math.sin(theta)
        fx += math.cos(theta)
        ny, nx = round(fy), round(fx)
        if (ny, nx) == (y, x):
            continue
        route = [(ny, nx)] if abs(ny - y) + abs(nx - x) == 1 else [(y, nx), (ny, nx)]
        if abs(ny - y) > 1 or abs(nx - x) > 1:
            break  # cannot happen with unit steps; guard against rounding surprises
        for q in route:
            if len(pixels) >= n:
                break
            if q in seen:
                continue
            if not fits(*q):
                return pixels
            seen.add(q)
            pixels.append(q)
            ymin, ymax = min(ymin, q[0]), max(ymax, q[0])
            xmin, xmax = min(xmin, q[1]), max(xmax, q[1])
        y, x = ny, nx
    return pixels


def _add_spots(
    image: np.ndarray, p: SimulationParams, rng: np.random.Generator
) -> tuple[np.ndarray, list[dict]]:
    """Add gamma spots to ``image`` in place; return the spot label image and spot records."""
    h, w = image.shape
    labels = np.zeros((h, w), np.int32)
    if p.spot_rate_per_mpx <= 0:
        return labels, []
    box = min(_SPOT_BOX, p.spot_size_px[1])
    margin = (p.spot_min_spacing_px + 1) // 2  # two margins >= spacing between neighbours
    cell = box + 2 * margin
    ny, nx = h // cell, w // cell
    n_cells = ny * nx
    wanted = int(rng.poisson(p.spot_rate_per_mpx * h * w / 1e6))
    n = min(wanted, n_cells)
    if n == 0:
        return labels, []
    oy = int(rng.integers(0, h - ny * cell + 1))
    ox = int(rng.integers(0, w - nx * cell + 1))

    # Choose n distinct cells, likelier on one side (weighted sampling without replacement:
    # the n smallest Exp(1)/weight keys).
    cyy, cxx = np.divmod(np.arange(n_cells), nx)
    phi = rng.uniform(0, 2 * math.pi)
    ramp = (cyy - (ny - 1) / 2) * math.sin(phi) + (cxx - (nx - 1) / 2) * math.cos(phi)
    span = np.abs(ramp).max()
    weight = 1.0 + p.spot_density_gradient * (ramp / span if span > 0 else ramp)
    with np.errstate(divide="ignore"):
        keys = rng.exponential(1.0, n_cells) / weight
    chosen = np.sort(np.argpartition(keys, n - 1)[:n]) if n < n_cells else np.arange(n_cells)

    lo, hi = p.spot_size_px
    sizes = np.floor(np.exp(rng.uniform(math.log(lo), math.log(hi + 1), n))).astype(int)
    sizes = np.clip(sizes, lo, hi)
    is_track = rng.random(n) < p.spot_track_fraction
    c_lo, c_hi = p.spot_counts
    peaks = np.exp(rng.uniform(math.log(c_lo), math.log(c_hi), n))
    saturate = rng.random(n) < p.spot_saturated_fraction
    # Saturating spots carry 1.5-4x the full scale, so their bright pixels clip at 65535.
    peaks = np.where(saturate, SATURATION * rng.uniform(1.5, 4.0, n), peaks)
    rnd = random.Random(int(rng.integers(0, 2**63)))

    ys: list[int] = []
    xs: list[int] = []
    amps: list[float] = []
    owner: list[int] = []
    kinds: list[str] = []
    for i in range(n):
        size = int(sizes[i])
        kind = "dot" if size == 1 else ("track" if is_track[i] else "blob")
        shape = _spot_shape(kind, size, box, rnd)
        if len(shape) == 1:
            kind = "dot"
        kinds.append(kind)
        sy = [q[0] for q in shape]
        sx = [q[1] for q in shape]
        y_min, x_min = min(sy), min(sx)
        bh, bw = max(sy) - y_min + 1, max(sx) - x_min + 1
        top = oy + int(cyy[chosen[i]]) * cell + margin + rnd.randrange(box - bh + 1) - y_min
        left = ox + int(cxx[chosen[i]]) * cell + margin + rnd.randrange(box - bw + 1) - x_min
        peak = float(peaks[i])
        if kind == "blob":
            # Brightest at the seed pixel, fading outwards, with some jitter.
            spread2 = 2.0 * max(1.0, 0.35 * size)
            for qy, qx in shape:
                fade = math.exp(-(qy * qy + qx * qx) / spread2)
                amps.append(peak * max(0.35, fade * rnd.uniform(0.75, 1.0)))
        else:
            top_px = rnd.randrange(len(shape))
            for j in range(len(shape)):
                amps.append(peak if j == top_px else peak * rnd.uniform(0.35, 1.0))
        ys.extend(top + v for v in sy)
        xs.extend(left + v for v in sx)
        owner.extend([i] * len(shape))

    yy = np.asarray(ys, np.intp)
    xx = np.asarray(xs, np.intp)
    flat = yy * w + xx
    add = np.maximum(1, np.rint(np.asarray(amps, np.float64))).astype(np.int64)
    own = np.asarray(owner, np.intp)
    before = image.ravel()[flat].astype(np.int64)
    after = np.minimum(before + add, SATURATION)
    image.ravel()[flat] = after.astype(np.uint16)
    changed = after > before  # only a pixel already at 65535 can stay unchanged

    # Number the spots that changed something 1..m in raster order of their cells.
    hit = np.bincount(own[changed], minlength=n) > 0
    new_id = np.zeros(n, np.int64)
    new_id[hit] = np.arange(1, int(hit.sum()) + 1)
    m = int(hit.sum())
    ids = new_id[own[changed]]
    labels.ravel()[flat[changed]] = ids
    cy_, cx_ = yy[changed], xx[changed]
    delta = (after - before)[changed]
    area = np.bincount(ids, minlength=m + 1)[1:]
    sum_y = np.bincount(ids, weights=cy_, minlength=m + 1)[1:]
    sum_x = np.bincount(ids, weights=cx_, minlength=m + 1)[1:]
    peak_delta = np.zeros(m + 1, np.int64)
    np.maximum.at(peak_delta, ids, delta)
    sat = np.zeros(m + 1, bool)
    np.logical_or.at(sat, ids, after[changed] == SATURATION)
    y0 = np.full(m + 1, h, np.int64)
    x0 = np.full(m + 1, w, np.int64)
    y1 = np.zeros(m + 1, np.int64)
    x1 = np.zeros(m + 1, np.int64)
    np.minimum.at(y0, ids, cy_)
    np.minimum.at(x0, ids, cx_)
    np.maximum.at(y1, ids, cy_ + 1)
    np.maximum.at(x1, ids, cx_ + 1)
    old_index = np.flatnonzero(hit)
    spots = [
        {
            "id": k + 1,
            "centroid": [float(sum_y[k] / area[k]), float(sum_x[k] / area[k])],
            "area_px": int(area[k]),
            "peak_counts_above_background": int(peak_delta[k + 1]),
            "saturated": bool(sat[k + 1]),
            "bbox": [int(y0[k + 1]), int(x0[k + 1]), int(y1[k + 1]), int(x1[k + 1])],
            "kind": kinds[int(old_index[k])],
        }
        for k in range(m)
    ]
    return labels, spots


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


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserFacingError(f"{out_dir}: exists and is not a folder")
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
    _prepare_out_dir(out)
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
