"""Gamma spots: 4-connected clusters placed on a grid so that no two touch."""

from __future__ import annotations

import math
import random

import numpy as np

from qbi_desktop.core.simulate.params import _SPOT_BOX, SATURATION, SimulationParams

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
