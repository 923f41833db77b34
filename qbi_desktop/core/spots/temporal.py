"""Pseudo ground truth on real frames of one static scene: a gamma spot hits one frame only."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from qbi_desktop.core.spots.evaluate import SpotEvaluation, evaluate_spots
from qbi_desktop.core.spots.median import separable_median
from qbi_desktop.core.spots.noise import _sigma_floor
from qbi_desktop.core.spots.params import _EIGHT, SpotParamError


@dataclass
class TemporalTruth:
    """Gamma spots of one frame, found by comparing it with other frames of the same scene.

    Gamma rays hit the camera at random, so a spot is in one frame only, while the sample, the
    beam, the detector's fixed pattern and its hot pixels are in every frame. See
    :func:`temporal_spot_truth` for how each field is found.
    """

    labels: np.ndarray  # int32 (H, W): 0 = none, 1..n = gamma spots of this frame
    peak_snr: np.ndarray  # float64 (n + 1,): peak above background / single-frame sigma
    area: np.ndarray  # int64 (n + 1,): pixels per spot (index 0 unused)
    fixed: np.ndarray  # bool (H, W): bright outliers in the other frames too (hot pixels...)
    unreliable: np.ndarray  # bool (H, W): the frames disagree over areas (a moved edge)
    sigma: np.ndarray  # float32 (H, W): single-frame noise sigma at each pixel's level

    def evaluated_ids(self, min_snr: float = 5.0, min_area: int = 1) -> list[int]:
        """Spots of peak >= ``min_snr`` sigma, >= ``min_area`` px, clear of unreliable areas."""
        n = self.area.size - 1
        if n <= 0:
            return []
        touches = np.zeros(n + 1, dtype=bool)
        touches[self.labels[self.unreliable]] = True
        ids = np.arange(n + 1)
        ok = (self.peak_snr >= min_snr) & (self.area >= min_area) & ~touches & (ids > 0)
        return [int(i) for i in ids[ok]]


def _binned_mad_sigma(
    level: np.ndarray, values: np.ndarray, mask: np.ndarray, bins: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """1.4826 x MAD of ``values`` in ``bins`` equal-count bins of ``level`` (where ``mask``)."""
    lev = np.asarray(level, dtype=np.float32)[mask]
    val = np.asarray(values, dtype=np.float32)[mask]
    if lev.size == 0:
        return np.array([0.0]), np.array([_sigma_floor(np.asarray(values))])
    order = np.argsort(lev, kind="stable")
    lev, val = lev[order], val[order]
    levels, sigmas = [], []
    for idx in np.array_split(np.arange(lev.size), max(1, min(bins, lev.size // 500))):
        seg = val[idx]
        levels.append(float(np.median(lev[idx])))
        sigmas.append(1.4826 * float(np.median(np.abs(seg - np.median(seg)))))
    sig = np.maximum(np.asarray(sigmas), 1e-6)
    return np.asarray(levels), sig


def _smooth_block_median(values: np.ndarray, valid: np.ndarray, block: int = 16) -> np.ndarray:
    """A smooth map of ``values``: the median per block (over ``valid`` pixels), interpolated."""
    h, w = values.shape
    nby, nbx = -(-h // block), -(-w // block)
    pad = np.full((nby * block, nbx * block), np.nan, dtype=np.float32)
    pad[:h, :w] = np.where(valid, values, np.nan)
    blocks = pad.reshape(nby, block, nbx, block).transpose(0, 2, 1, 3).reshape(nby, nbx, -1)
    enough = np.sum(~np.isnan(blocks), axis=2) >= block * block // 4
    med = np.zeros((nby, nbx), dtype=np.float64)
    if enough.any():
        med[enough] = np.nanmedian(blocks[enough], axis=1)
        # blocks with too few valid pixels take their nearest good block's value
        idx = ndi.distance_transform_edt(~enough, return_distances=False, return_indices=True)
        med = med[tuple(idx)]
    med = ndi.median_filter(med, 3, mode="nearest")
    yy = np.clip((np.arange(h) + 0.5) / block - 0.5, 0, nby - 1)
    xx = np.clip((np.arange(w) + 0.5) / block - 0.5, 0, nbx - 1)
    # separable bilinear interpolation
    y0 = np.floor(yy).astype(int)
    x0 = np.floor(xx).astype(int)
    y1, x1 = np.minimum(y0 + 1, nby - 1), np.minimum(x0 + 1, nbx - 1)
    fy, fx = (yy - y0)[:, None], (xx - x0)[None, :]
    top = med[y0][:, x0] * (1 - fx) + med[y0][:, x1] * fx
    bot = med[y1][:, x0] * (1 - fx) + med[y1][:, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def temporal_spot_truth(
    frames: list[np.ndarray] | np.ndarray,
    index: int,
    *,
    k: float = 4.0,
    k_low: float = 2.0,
    block: int = 16,
) -> TemporalTruth:
    """Pseudo ground truth of the gamma spots in ``frames[index]`` from the other frames.

    For radiographs of one static scene (at least 3 frames, same shape): gamma spots fall at
    random in each frame; everything else repeats. So, in counts:

    1. ``d = frame - median(other frames)`` (per pixel: a spot in one other frame is outvoted),
       minus a smooth map of ``d`` (block medians, ``block`` px) that absorbs slow changes of
       beam intensity and scatter between frames.
    2. The noise of ``d`` per level: 1.4826 x MAD of ``d`` in bins of the others' level, so the
       threshold follows the counting noise wherever it is; measured from the frames
       themselves, with no model. The single-frame sigma (for the peak's SNR) is measured the
       same way on differences of two other frames (``/ sqrt(2)``).
    3. Spot pixels: ``d > k`` sigma seeds grown over 8-connected ``d > k_low`` sigma pixels;
       connected components.
    4. ``unreliable``: where the frames disagree over areas, not pixels — a sample edge that
       moved between frames: steep gradient in any frame, or, within 12 px of one, a 9 px
       median of ``d`` far from zero; grown by 2 px. Spots there are not judged.
    5. ``fixed``: pixels that are bright outliers (> 3 single-frame sigma above a 13 px
       median background) in the per-pixel median of the other frames too: hot pixels and
       fixed-pattern texture of the camera. A detector that sees one frame cannot tell them
       from gamma spots; :func:`evaluate_temporal` can leave them out of the score.
    """
    stack = np.asarray(frames)
    if stack.ndim != 3 or stack.shape[0] < 3:
        raise SpotParamError(
            f"frames: need at least 3 frames of one shape (a 3-D stack), got shape {stack.shape}"
        )
    n = stack.shape[0]
    if not -n <= index < n:
        raise SpotParamError(f"index: {index} is out of range for {n} frames")
    index %= n
    stack = stack.astype(np.float32, copy=False)
    frame = stack[index]
    others = np.delete(stack, index, axis=0)
    ref = np.median(others, axis=0)
    level = separable_median(ref, 5)
    d = frame - ref
    # noise of one frame, from the difference of two other frames (robust against their own
    # spots), and the steep pixels (edges) in any frame; the two depend on each other (edges
    # that moved between frames inflate the spread at the levels in between), so twice
    grads = []
    for f in stack:
        sm = separable_median(f, 13)  # spots gone, straight edges kept
        grads.append(np.hypot(ndi.sobel(sm, 0), ndi.sobel(sm, 1)) / 8.0)
    grad = np.max(grads, axis=0)
    pair = others[0] - others[1]
    steep = np.zeros(frame.shape, dtype=bool)
    for _ in range(2):
        calm = ~ndi.binary_dilation(steep, _EIGHT, iterations=3)
        pair_c = pair - _smooth_block_median(pair, calm, block)
        lv_f, sg_f = _binned_mad_sigma(level, pair_c, calm)
        sigma_f = np.interp(level, lv_f, sg_f / math.sqrt(2.0)).astype(np.float32)
        steep = grad > 2.0 * sigma_f
    d1 = d - _smooth_block_median(d, ~steep, block)
    area_d = separable_median(d1, 9)
    lv_d, sg_d = _binned_mad_sigma(level, d1 - area_d, ~steep)
    sigma_d = np.interp(level, lv_d, sg_d).astype(np.float32)
    # a moved edge leaves a band of disagreement beside the steep pixels; far from any edge an
    # area-wide disagreement is a large spot, which must stay
    near_edge = ndi.binary_dilation(steep, _EIGHT, iterations=12)
    mismatch = (np.abs(area_d) > 4.0 * sigma_d) & near_edge
    unreliable = ndi.binary_dilation(steep | mismatch, _EIGHT, iterations=2)
    d = d - _smooth_block_median(d, ~unreliable, block)
    lv_d, sg_d = _binned_mad_sigma(level, d, ~unreliable)
    sigma_d = np.interp(level, lv_d, sg_d).astype(np.float32)
    z = d / sigma_d
    lab, count = ndi.label(z > k_low, structure=_EIGHT)
    if count:
        has_seed = np.zeros(count + 1, dtype=bool)
        has_seed[lab[z > k]] = True
        has_seed[0] = False
        # a component reaching into an unreliable area is likely the tail of a moved edge:
        # it becomes unreliable too
        touches = np.zeros(count + 1, dtype=bool)
        touches[lab[unreliable]] = True
        touches[0] = False
        unreliable = unreliable | (touches & has_seed)[lab]
        lab, count = ndi.label((has_seed & ~touches)[lab], structure=_EIGHT)
    lab = lab.astype(np.int32)
    ids = np.arange(1, count + 1)
    peak = np.zeros(count + 1)
    if count:
        peak[1:] = ndi.maximum(d / sigma_f, lab, ids)
    area = np.bincount(lab.reshape(-1), minlength=count + 1).astype(np.int64)
    area[0] = 0
    ref_resid = ref - separable_median(ref, 13)
    fixed = ref_resid > 3.0 * sigma_f
    if count:
        # a "spot" lying wholly on fixed-pattern outliers is most likely a hot pixel that
        # flickers (brighter in this frame than in the others): not judged either
        on_fixed = np.bincount(lab.reshape(-1), weights=fixed.reshape(-1), minlength=count + 1)
        flicker = on_fixed >= area
        flicker[0] = False
        if flicker.any():
            unreliable = unreliable | flicker[lab]
            keep = ~flicker
            lab = np.where(keep[lab], lab, 0)
            lab, count = ndi.label(lab > 0, structure=_EIGHT)
            lab = lab.astype(np.int32)
            ids = np.arange(1, count + 1)
            peak = np.zeros(count + 1)
            if count:
                peak[1:] = ndi.maximum(d / sigma_f, lab, ids)
            area = np.bincount(lab.reshape(-1), minlength=count + 1).astype(np.int64)
            area[0] = 0
    return TemporalTruth(lab, peak, area, fixed, unreliable, sigma_f)


def evaluate_temporal(
    pred_labels: np.ndarray,
    truth: TemporalTruth,
    *,
    min_snr: float = 5.0,
    min_area: int = 1,
    ignore_fixed: bool = True,
) -> SpotEvaluation:
    """Score a detection on a real frame against :func:`temporal_spot_truth`.

    The evaluated truth is the spots of peak >= ``min_snr`` single-frame sigma and >=
    ``min_area`` px outside unreliable areas (:meth:`TemporalTruth.evaluated_ids`); the rule is
    :func:`evaluate_spots`'s. Predictions that overlap no truth spot but an unreliable area, or
    (``ignore_fixed``) a fixed-pattern outlier, are not judged: they are counted in
    ``excluded_pred`` instead of FP. With ``ignore_fixed=False`` a hot pixel proposed as a spot
    is a false positive.
    """
    pred = np.asarray(pred_labels)
    if pred.shape != truth.labels.shape:
        raise SpotParamError(
            f"evaluation: predicted labels {pred.shape} and truth {truth.labels.shape} "
            "differ in shape"
        )
    n_pred = int(pred.max(initial=0))
    flat = pred.reshape(-1).astype(np.int64)
    on_truth = np.bincount(flat, weights=(truth.labels.reshape(-1) > 0), minlength=n_pred + 1)
    skip_px = truth.unreliable | truth.fixed if ignore_fixed else truth.unreliable
    on_skip = np.bincount(flat, weights=skip_px.reshape(-1), minlength=n_pred + 1)
    present = np.bincount(flat, minlength=n_pred + 1) > 0
    drop = (on_truth == 0) & (on_skip > 0) & present
    drop[0] = False
    kept = np.where(drop[pred], 0, pred)
    ev = evaluate_spots(kept, truth.labels, evaluate_true=truth.evaluated_ids(min_snr, min_area))
    ev.excluded_pred = int(drop.sum())
    return ev
