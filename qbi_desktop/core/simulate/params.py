"""Simulation parameters: their ranges, defaults and checks (the model: the package note)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from qbi_desktop.core.errors import UserFacingError

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
