"""Object-level scoring of spot detections against truth."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from qbi_desktop.core.spots.median import _work_dtype, separable_median
from qbi_desktop.core.spots.noise import noise_vs_level, sigma_from_level
from qbi_desktop.core.spots.params import SpotParamError


@dataclass
class SpotEvaluation:
    """Object-level scores. ``matches`` lists (pred id, true id, overlap px, IoU)."""

    tp: int
    fp: int
    fn: int
    ignored_true: int  # true spots outside the evaluated set (not counted as misses)
    ignored_pred: int  # predictions matched to ignored true spots (not counted as errors)
    matches: list[tuple[int, int, int, float]]
    # predictions not judged (see evaluate_temporal: on hot pixels or unreliable areas)
    excluded_pred: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def summary(self) -> str:
        return (
            f"precision {self.precision:.3f}, recall {self.recall:.3f}, F1 {self.f1:.3f} "
            f"(TP {self.tp}, FP {self.fp}, FN {self.fn}; ignored: {self.ignored_true} true, "
            f"{self.ignored_pred} predicted"
            + (f", {self.excluded_pred} not judged" if self.excluded_pred else "")
            + ")"
        )


def evaluate_spots(
    pred_labels: np.ndarray,
    true_labels: np.ndarray,
    *,
    evaluate_true: Iterable[int] | None = None,
    min_overlap: int = 1,
    min_iou: float = 0.0,
) -> SpotEvaluation:
    """Object-level precision, recall and F1 of predicted spots against true spots.

    Matching rule: a predicted object and a true object *can* match when they share at least
    ``min_overlap`` pixels and their IoU is at least ``min_iou`` (defaults: one shared pixel,
    any IoU — a spot proposal is right when it lands on the spot; its outline is then edited
    in review). Pairs are matched one-to-one, greedily by decreasing overlap (ties: higher
    IoU, then lower ids). Then:

    * TP = predictions matched to an evaluated true spot; FN = evaluated true spots unmatched;
      FP = predictions matched to nothing (including a second prediction on an already
      matched spot: a split spot counts once right, once wrong).
    * ``evaluate_true`` restricts the truth to some spot ids (e.g. those of >= 2 px and
      >= 5 sigma). The other true spots are *ignored*: missing them is not a miss, and a
      prediction matched to one is neither right nor wrong (``ignored_pred``).
    """
    if pred_labels.shape != true_labels.shape:
        raise SpotParamError(
            f"evaluation: predicted labels {pred_labels.shape} and truth {true_labels.shape} "
            "differ in shape"
        )
    pred = np.asarray(pred_labels).astype(np.int64, copy=False)
    true = np.asarray(true_labels).astype(np.int64, copy=False)
    n_pred = int(pred.max(initial=0))
    n_true = int(true.max(initial=0))
    pred_ids = np.flatnonzero(np.bincount(pred.reshape(-1), minlength=n_pred + 1))
    true_ids = np.flatnonzero(np.bincount(true.reshape(-1), minlength=n_true + 1))
    pred_ids, true_ids = pred_ids[pred_ids > 0], true_ids[true_ids > 0]
    area_p = np.bincount(pred.reshape(-1), minlength=n_pred + 1)
    area_t = np.bincount(true.reshape(-1), minlength=n_true + 1)
    both = (pred > 0) & (true > 0)
    pairs = pred[both] * (n_true + 1) + true[both]
    keys, counts = np.unique(pairs, return_counts=True)
    pp, tt = np.divmod(keys, n_true + 1)
    iou = counts / (area_p[pp] + area_t[tt] - counts)
    ok = (counts >= min_overlap) & (iou >= min_iou)
    pp, tt, counts, iou = pp[ok], tt[ok], counts[ok], iou[ok]
    order = np.lexsort((tt, pp, -iou, -counts))
    used_p: set[int] = set()
    used_t: set[int] = set()
    matches: list[tuple[int, int, int, float]] = []
    for i in order:
        p, t = int(pp[i]), int(tt[i])
        if p in used_p or t in used_t:
            continue
        used_p.add(p)
        used_t.add(t)
        matches.append((p, t, int(counts[i]), float(iou[i])))
    evaluated = (
        set(int(t) for t in true_ids)
        if evaluate_true is None
        else set(int(t) for t in evaluate_true) & set(int(t) for t in true_ids)
    )
    tp = sum(1 for _, t, _, _ in matches if t in evaluated)
    ignored_pred = sum(1 for _, t, _, _ in matches if t not in evaluated)
    fp = len(pred_ids) - len(matches)
    fn = len(evaluated - used_t)
    return SpotEvaluation(tp, fp, fn, len(true_ids) - len(evaluated), ignored_pred, matches)


def true_spot_snr(
    image: np.ndarray,
    true_labels: np.ndarray,
    peak_above_background: dict[int, float] | None = None,
    size: int = 13,
) -> dict[int, float]:
    """Peak height / local noise sigma of every true spot (to pick the spots to evaluate).

    The noise is the robust sigma at the spot's background level (:func:`noise_vs_level`, as
    the detector measures it, but independent of its thresholds). The peak is taken from
    ``peak_above_background`` (e.g. the simulator's records) when given, else it is the largest
    median residual inside the spot.
    """
    work = _work_dtype(np.asarray(image))
    bg = separable_median(work, size)
    resid = work.astype(np.float32) - bg
    sig = sigma_from_level(bg, *noise_vs_level(work, bg))
    ys, xs = np.nonzero(true_labels)
    ids = true_labels[ys, xs]
    out: dict[int, float] = {}
    if ids.size == 0:
        return out
    order = np.argsort(ids, kind="stable")
    ys, xs, ids = ys[order], xs[order], ids[order]
    uniq, starts = np.unique(ids, return_index=True)
    bounds = list(starts) + [ids.size]
    for j, sid in enumerate(uniq):
        a, b = bounds[j], bounds[j + 1]
        sy, sx = ys[a:b], xs[a:b]
        noise = float(np.median(sig[sy, sx]))
        if peak_above_background is not None and int(sid) in peak_above_background:
            peak = float(peak_above_background[int(sid)])
        else:
            peak = float(resid[sy, sx].max())
        out[int(sid)] = peak / max(noise, 1e-6)
    return out


def pixel_agreement(detected: np.ndarray, reference_changed: np.ndarray) -> tuple[float, float]:
    """(recall, precision) of a detected pixel mask against pixels a reference changed."""
    det = np.asarray(detected, dtype=bool)
    ref = np.asarray(reference_changed, dtype=bool)
    both = int((det & ref).sum())
    recall = both / int(ref.sum()) if ref.any() else 1.0
    precision = both / int(det.sum()) if det.any() else 1.0
    return recall, precision
