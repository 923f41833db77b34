"""Boxes that follow a sample's geometry: moved through its affine matrix (:func:`transform_boxes`)
or its elastic field (:func:`boxes_through_field`). Coordinates as in :mod:`.geometry`: boxes
use edge coordinates ``x0, y0, x1, y1`` (pixel ``i`` covers ``[i, i + 1]``); matrices map an
output pixel to the input position it samples."""

from __future__ import annotations

import math

import numpy as np

from qbi_desktop.core.augment.geometry import warp

# Up to this many boxes are moved with plain floats: the ~25 small numpy calls of the array path
# cost ~0.3 ms per sample (a third of a whole 512^2 sample), the loop ~10 us per box.
_FEW_BOXES = 16


def _affine_inverse(m: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """The top two rows of ``m``'s inverse, in closed form for an affine ``m`` (plain floats:
    ``np.linalg.inv`` costs ~25 us per call, a tenth of what masks and boxes add to a sample)."""
    (a, b, t), (c, d, u), last = m.tolist()
    det = a * d - b * c
    if last != [0.0, 0.0, 1.0] or det == 0:  # not affine, or singular: LAPACK says so
        (a, b, t), (c, d, u) = np.linalg.inv(m)[:2].tolist()
        return a, b, t, c, d, u
    return d / det, -b / det, (b * u - d * t) / det, -c / det, a / det, (c * t - a * u) / det


def _transform_few_boxes(boxes, fwd, out_shape, min_size, with_kept=True):
    """:func:`transform_boxes` for a few boxes, the same arithmetic one corner at a time
    (``with_kept=False``: None instead of the kept indices, one numpy call less per sample)."""
    a, b, t, c, d, u = fwd
    h, w = out_shape
    rows, keep = [], []
    for i, box in enumerate(boxes.tolist()):
        r0, q0, r1, q1 = box[1] - 0.5, box[0] - 0.5, box[3] - 0.5, box[2] - 0.5
        rs = (
            a * r0 + b * q0 + t + 0.5,
            a * r0 + b * q1 + t + 0.5,
            a * r1 + b * q0 + t + 0.5,
            a * r1 + b * q1 + t + 0.5,
        )
        cs = (
            c * r0 + d * q0 + u + 0.5,
            c * r0 + d * q1 + u + 0.5,
            c * r1 + d * q0 + u + 0.5,
            c * r1 + d * q1 + u + 0.5,
        )
        nx0, nx1 = min(max(min(cs), 0.0), w), min(max(max(cs), 0.0), w)
        ny0, ny1 = min(max(min(rs), 0.0), h), min(max(max(rs), 0.0), h)
        if nx1 - nx0 > min_size and ny1 - ny0 > min_size:
            rows.append([nx0, ny0, nx1, ny1, *box[4:]])
            keep.append(i)
    out = np.array(rows, dtype=np.float64) if rows else np.zeros((0, boxes.shape[1]))
    return out, (np.array(keep, dtype=np.intp) if with_kept else None)


def transform_boxes(
    boxes: np.ndarray,
    m: np.ndarray,
    out_shape: tuple[int, int],
    min_size: float = 1e-6,
    *,
    with_kept: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Move boxes (N, 4+) ``x0, y0, x1, y1[, extra...]`` through the output->input map ``m``.

    The four corners go through the forward map (the inverse of ``m``); the result is their
    bounding box clipped to the output image. Boxes with no area left are dropped. Returns the new
    boxes (extra columns such as the class kept) and the indices of the boxes kept (with
    ``with_kept=False``, None in place of those of a few boxes: what a sample needs).
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0, boxes.shape[-1] if boxes.ndim == 2 else 4)), np.zeros(0, dtype=np.intp)
    inv = _affine_inverse(m)
    if len(boxes) <= _FEW_BOXES:
        return _transform_few_boxes(boxes, inv, out_shape, min_size, with_kept)
    fwd = np.array([inv[:3], inv[3:]])
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    # corners as pixel-centre coordinates (row, col)
    cr = np.stack([y0, y0, y1, y1], axis=1) - 0.5
    cc = np.stack([x0, x1, x0, x1], axis=1) - 0.5
    nr = fwd[0, 0] * cr + fwd[0, 1] * cc + fwd[0, 2] + 0.5
    nc = fwd[1, 0] * cr + fwd[1, 1] * cc + fwd[1, 2] + 0.5
    h, w = out_shape
    out = boxes.copy()
    out[:, 0] = np.clip(nc.min(axis=1), 0, w)
    out[:, 2] = np.clip(nc.max(axis=1), 0, w)
    out[:, 1] = np.clip(nr.min(axis=1), 0, h)
    out[:, 3] = np.clip(nr.max(axis=1), 0, h)
    keep = np.nonzero((out[:, 2] - out[:, 0] > min_size) & (out[:, 3] - out[:, 1] > min_size))[0]
    return out[keep], keep


def boxes_through_field(
    boxes: np.ndarray,
    m: np.ndarray,
    out_shape: tuple[int, int],
    in_shape: tuple[int, int],
    displacement: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes under a non-affine (elastic) map: warp each box's footprint, take its extent."""
    boxes = np.asarray(boxes, dtype=np.float64)
    kept, rows_out = [], []
    for i, b in enumerate(boxes):
        foot = np.zeros(in_shape, dtype=np.uint8)
        r0, r1 = int(math.floor(b[1])), int(math.ceil(b[3]))
        c0, c1 = int(math.floor(b[0])), int(math.ceil(b[2]))
        foot[max(r0, 0) : max(r1, 0), max(c0, 0) : max(c1, 0)] = 1
        moved = warp(foot, m, out_shape, order=0, mode="constant", displacement=displacement)
        rr, cc = np.nonzero(moved)
        if len(rr) == 0:
            continue
        nb = b.copy()
        nb[0], nb[1], nb[2], nb[3] = cc.min(), rr.min(), cc.max() + 1, rr.max() + 1
        kept.append(i)
        rows_out.append(nb)
    if not rows_out:
        return np.zeros((0, boxes.shape[1] if boxes.ndim == 2 else 4)), np.zeros(0, dtype=np.intp)
    return np.array(rows_out), np.array(kept, dtype=np.intp)
