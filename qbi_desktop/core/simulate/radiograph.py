"""One simulated radiograph: sample, open beam, blur, counting noise, dark current, then spots."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.simulate.params import (
    _OBJECT_MIN_ATTENUATION,
    _POISSON_EXACT_BELOW,
    _STREAM_BEAM,
    _STREAM_DARK,
    _STREAM_NOISE,
    _STREAM_OBJECTS,
    _STREAM_SPOTS,
    SATURATION,
    SimulationParams,
    _is_int,
)
from qbi_desktop.core.simulate.spots import _add_spots


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
