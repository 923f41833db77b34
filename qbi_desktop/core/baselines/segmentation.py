"""Segmentation baselines (Otsu, spots) and their scores."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from qbi_desktop.core.baselines.config import BaselineResult
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress

if TYPE_CHECKING:
    from qbi_desktop.core.baselines.plan import _Plan

# -- segmentation -------------------------------------------------------------------------------


def _segment(model: str, image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3:
        img = img.mean(axis=2)
    if model == "otsu":
        from skimage.filters import threshold_otsu

        if img.min() == img.max():
            return np.zeros(img.shape, bool)
        return img > threshold_otsu(img)
    try:
        from qbi_desktop.core.spots import detect_spots
    except ImportError as exc:
        raise UserFacingError("model spots: the spot detector is not available") from exc
    found = detect_spots(img)
    for attr in ("mask", "labels", "spot_mask"):
        if hasattr(found, attr):
            found = getattr(found, attr)
            break
    return np.asarray(found) > 0


def segmentation_scores(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Dice, IoU and object counts for one binary mask pair (both empty -> Dice = IoU = 1)."""
    t, p = np.asarray(true) > 0, np.asarray(pred) > 0
    inter = int(np.sum(t & p))
    a, b = int(t.sum()), int(p.sum())
    union = a + b - inter
    tp, n_true, n_pred = object_matches(t, p)
    return {
        "dice": 1.0 if a + b == 0 else 2 * inter / (a + b),
        "iou": 1.0 if union == 0 else inter / union,
        "intersection": inter,
        "true_pixels": a,
        "pred_pixels": b,
        "objects_matched": tp,
        "objects_true": n_true,
        "objects_pred": n_pred,
    }


def object_matches(true: np.ndarray, pred: np.ndarray) -> tuple[int, int, int]:
    """One-to-one matching of connected objects (8-connected) by overlap.

    A predicted object matches a true object when they share at least one pixel; pairs are
    taken greedily by overlap size, each object used once. Returns (matched, n_true, n_pred).
    """
    from scipy import ndimage

    structure = np.ones((3, 3), bool)
    lt, n_true = ndimage.label(true, structure)
    lp, n_pred = ndimage.label(pred, structure)
    if n_true == 0 or n_pred == 0:
        return 0, n_true, n_pred
    both = (lt > 0) & (lp > 0)
    pairs, overlap = np.unique(np.stack([lt[both], lp[both]]), axis=1, return_counts=True)
    used_t, used_p, matched = set(), set(), 0
    for j in np.argsort(-overlap, kind="stable"):
        a, b = int(pairs[0, j]), int(pairs[1, j])
        if a not in used_t and b not in used_p:
            used_t.add(a)
            used_p.add(b)
            matched += 1
    return matched, n_true, n_pred


def _pooled_segmentation(rows: list[dict]) -> dict[str, float]:
    if not rows:
        return {"dice": math.nan, "iou": math.nan, "object_f1": math.nan}
    inter = sum(r["intersection"] for r in rows)
    a = sum(r["true_pixels"] for r in rows)
    b = sum(r["pred_pixels"] for r in rows)
    tp = sum(r["objects_matched"] for r in rows)
    nt = sum(r["objects_true"] for r in rows)
    npred = sum(r["objects_pred"] for r in rows)
    precision = tp / npred if npred else (1.0 if nt == 0 else 0.0)
    recall = tp / nt if nt else 1.0
    return {
        "dice": 1.0 if a + b == 0 else 2 * inter / (a + b),
        "iou": 1.0 if a + b - inter == 0 else inter / (a + b - inter),
        "mean_image_dice": float(np.mean([r["dice"] for r in rows])),
        "mean_image_iou": float(np.mean([r["iou"] for r in rows])),
        "object_precision": precision,
        "object_recall": recall,
        "object_f1": 0.0
        if precision + recall == 0
        else 2 * precision * recall / (precision + recall),
    }


def _run_segmentation(plan: _Plan, source: str) -> Job[BaselineResult]:
    c = plan.config
    fold = plan.folds[0] if len(plan.folds) == 1 else None
    tests = np.concatenate([f.test for f in plan.folds])
    scored = (
        np.setdiff1d(np.concatenate([f.train_scored for f in plan.folds]), tests)
        if c.eval != "train"
        else np.zeros(0, np.int64)
    )
    total = tests.size + scored.size
    done = 0
    yield Progress(0, total, c.describe())
    per_item: list[dict] = []
    train_rows: list[dict] = []
    for group, sink in ((tests, per_item), (scored, train_rows)):
        for i in group:
            pred = _segment(c.model, plan.images[int(i)])
            row = segmentation_scores(plan.masks[int(i)], pred)
            row["index"] = int(i)
            sink.append(row)
            done += 1
            yield Progress(done, total, f"{c.describe()}: image {done}/{total}")
    result = BaselineResult(
        config=c,
        task="segmentation",
        source=source,
        evaluation=plan.evaluation,
        scores=_pooled_segmentation(per_item),
        train_scores=_pooled_segmentation(train_rows) if train_rows else {},
        n_train=int(fold.train.size if fold is not None else plan.folds[0].train.size),
        n_test=int(tests.size),
        n_train_scored=len(train_rows),
        duration=0.0,
        test_indices=tests,
        per_item=per_item,
        warnings=list(plan.warnings),
        resolved=dict(plan.resolved),
    )
    return result
