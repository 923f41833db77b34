"""Agreement between annotators: the figures themselves, on plain arrays (no catalog here).

Classes: percent agreement, Cohen's kappa (two annotators, as scikit-learn's
``cohen_kappa_score``), Fleiss' kappa (several, as statsmodels' ``fleiss_kappa``) and the
confusion matrix between two annotators. Targets: ICC(2,1) and ICC(3,1) (Shrout & Fleiss) and
Bland–Altman limits. Masks: Dice and IoU per class. Boxes and spots: objects matched one to one
at IoU >= 0.5 (the best total IoU, Hungarian assignment), F1 and the mean IoU of the matches.

The report over a project (who annotated what, per pair, per annotator, most disagreeing items
first) is in :mod:`qbi_desktop.core.quality.agreement_report`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

#: Two objects (boxes, spots) count as the same object from IoU 0.5 on (the COCO/VOC rule).
MATCH_IOU = 0.5


# -- classes -------------------------------------------------------------------------------------


def confusion(
    a: Sequence[str], b: Sequence[str], labels: Sequence[str] | None = None
) -> np.ndarray:
    """Counts: rows = ``a``'s class, columns = ``b``'s class, in the order of ``labels``
    (default: every class either used, sorted)."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} labels against {len(b)}")
    labels = sorted(set(a) | set(b)) if labels is None else list(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    n = len(labels)
    codes = np.fromiter((index[x] * n + index[y] for x, y in zip(a, b, strict=True)), np.int64)
    return np.bincount(codes, minlength=n * n).reshape(n, n)


def percent_agreement(a: Sequence[str], b: Sequence[str]) -> float:
    """Share of items both gave the same class (nan without items)."""
    if not len(a):
        return math.nan
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two annotators, computed as ``sklearn.metrics.cohen_kappa_score`` does
    (nan when chance agreement is total: both gave one and the same class to everything)."""
    return kappa_from_confusion(confusion(a, b))


def kappa_from_confusion(cm: np.ndarray) -> float:
    cm = np.asarray(cm, float)
    total = cm.sum()
    if total == 0:
        return math.nan
    expected = np.outer(cm.sum(axis=1), cm.sum(axis=0)) / total
    off = ~np.eye(len(cm), dtype=bool)
    denominator = expected[off].sum()
    if denominator == 0:
        return math.nan
    return float(1 - cm[off].sum() / denominator)


def fleiss_table(ratings: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """Items x classes counts of how many annotators chose each class."""
    index = {lab: i for i, lab in enumerate(labels)}
    table = np.zeros((len(ratings), len(labels)), np.int64)
    for row, item in zip(table, ratings, strict=True):
        for lab in item:
            row[index[lab]] += 1
    return table


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' kappa of an items x classes count table with the same number of annotators per
    item, as statsmodels' ``fleiss_kappa(table, method='fleiss')`` (nan if undefined)."""
    table = np.asarray(table, float)
    if table.size == 0:
        return math.nan
    raters = table.sum(axis=1)
    n = raters.max()
    if n < 2 or not np.all(raters == n):
        return math.nan
    p_class = table.sum(axis=0) / table.sum()
    p_item = ((table * table).sum(axis=1) - n) / (n * (n - 1.0))
    expected = float((p_class * p_class).sum())
    if expected == 1:
        return math.nan
    return float((p_item.mean() - expected) / (1 - expected))


# -- targets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ICC:
    """Intraclass correlations of n items x k annotators (Shrout & Fleiss 1979).

    ``icc2``: ICC(2,1), two-way random effects, absolute agreement of single ratings (do the
    annotators give the same numbers?). ``icc3``: ICC(3,1), consistency (the same order, maybe
    shifted)."""

    icc2: float
    icc3: float
    n_items: int
    n_annotators: int


def icc(values: np.ndarray) -> ICC:
    """ICC of a complete n x k table (rows items, columns annotators); nan if undefined."""
    x = np.asarray(values, float)
    n, k = x.shape if x.ndim == 2 else (0, 0)
    if n < 2 or k < 2:
        return ICC(math.nan, math.nan, n, k)
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    d2 = msr + (k - 1) * mse + k * (msc - mse) / n
    d3 = msr + (k - 1) * mse
    return ICC(
        float((msr - mse) / d2) if d2 else math.nan,
        float((msr - mse) / d3) if d3 else math.nan,
        n,
        k,
    )


@dataclass(frozen=True)
class BlandAltman:
    """Differences ``a - b`` of two annotators: mean (bias), SD and the 95 % limits."""

    bias: float
    sd: float
    lower: float
    upper: float
    n: int


def bland_altman(a: np.ndarray, b: np.ndarray) -> BlandAltman:
    d = np.asarray(a, float) - np.asarray(b, float)
    if d.size == 0:
        return BlandAltman(math.nan, math.nan, math.nan, math.nan, 0)
    bias = float(d.mean())
    sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
    return BlandAltman(bias, sd, bias - 1.96 * sd, bias + 1.96 * sd, int(d.size))


# -- masks ---------------------------------------------------------------------------------------


def overlap_per_class(
    a: np.ndarray, b: np.ndarray, classes: Sequence[int] | None = None
) -> dict[int, tuple[float, float]]:
    """Dice and IoU per class value (0 is background) of two label masks of the same shape.

    A class neither mask has is left out (nothing to agree on); one only one mask has scores 0.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} and {b.shape}")
    top = int(max(a.max(initial=0), b.max(initial=0))) + 1
    if top > 65536 or a.min(initial=0) < 0 or b.min(initial=0) < 0:
        raise ValueError("mask values must be class numbers 0..65535")
    out: dict[int, tuple[float, float]] = {}
    wanted = list(classes) if classes is not None else list(range(1, top))
    if len(wanted) <= 8:  # a few classes: boolean counts, no joint histogram
        for c in wanted:
            in_a, in_b = a == c, b == c
            na, nb = np.count_nonzero(in_a), np.count_nonzero(in_b)
            if na + nb:
                both = np.count_nonzero(in_a & in_b)
                out[int(c)] = (2 * both / (na + nb), both / (na + nb - both))
        return out
    # many classes: one pass, the joint histogram of the two masks' values
    joint = np.bincount(
        a.ravel().astype(np.int64) * top + b.ravel().astype(np.int64), minlength=top * top
    ).reshape(top, top)
    count_a, count_b = joint.sum(axis=1), joint.sum(axis=0)
    for c in wanted:
        if c >= top:
            continue
        both = float(joint[c, c])
        na, nb = float(count_a[c]), float(count_b[c])
        if na + nb == 0:
            continue
        out[int(c)] = (2 * both / (na + nb), both / (na + nb - both))
    return out


# -- objects: boxes and spots --------------------------------------------------------------------


@dataclass(frozen=True)
class Matching:
    """One-to-one matches at IoU >= 0.5 between the objects of two annotators."""

    n_a: int
    n_b: int
    matched: int
    mean_iou: float  # of the matches (nan without any)

    @property
    def f1(self) -> float:
        """2 x matches / (objects of a + objects of b); 1 when neither marked anything."""
        total = self.n_a + self.n_b
        return 1.0 if total == 0 else 2 * self.matched / total


def match(iou: np.ndarray, threshold: float = MATCH_IOU) -> Matching:
    """Match objects one to one on an IoU matrix (rows a, columns b): the assignment with the
    largest total IoU among pairs at or above ``threshold``."""
    iou = np.asarray(iou, float)
    n_a, n_b = iou.shape
    rows, cols = match_pairs(iou, threshold)
    ious = iou[rows, cols]
    return Matching(n_a, n_b, int(rows.size), float(ious.mean()) if ious.size else math.nan)


def match_pairs(iou: np.ndarray, threshold: float = MATCH_IOU) -> tuple[np.ndarray, np.ndarray]:
    """The matched pairs :func:`match` counts: (rows, columns) of the one-to-one assignment."""
    iou = np.asarray(iou, float)
    if iou.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    rows, cols = np.nonzero(iou >= threshold)
    if np.unique(rows).size == rows.size and np.unique(cols).size == cols.size:
        # no object has two candidates: the candidates are the matching (the usual case)
        return rows, cols
    gain = np.where(iou >= threshold, iou, 0.0)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    good = gain[rows, cols] > 0
    return rows[good], cols[good]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes given as rows (x, y, w, h)."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    ax0, ay0, aw, ah = a.T[:, :, None]
    bx0, by0, bw, bh = b.T[:, None, :]
    w = np.minimum(ax0 + aw, bx0 + bw) - np.maximum(ax0, bx0)
    h = np.minimum(ay0 + ah, by0 + bh) - np.maximum(ay0, by0)
    inter = np.maximum(w, 0) * np.maximum(h, 0)
    union = aw * ah + bw * bh - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def match_boxes(
    a: Sequence[Sequence[Any]],
    b: Sequence[Sequence[Any]],
) -> Matching:
    """Boxes ``(label, x, y, w, h)`` matched within each label (a box of another class is a
    different object)."""
    n_a, n_b = len(a), len(b)
    if n_a * n_b <= 256:
        # few boxes (the usual item): plain Python beats numpy's per-call overhead
        rows, cols, ious = [], [], []
        for i, (la, xa, ya, wa, ha) in enumerate(a):
            for j, (lb, xb, yb, wb, hb) in enumerate(b):
                if la != lb:
                    continue
                iw = min(xa + wa, xb + wb) - max(xa, xb)
                ih = min(ya + ha, yb + hb) - max(ya, yb)
                if iw <= 0 or ih <= 0:
                    continue
                inter = iw * ih
                iou = inter / (wa * ha + wb * hb - inter)
                if iou >= MATCH_IOU:
                    rows.append(i)
                    cols.append(j)
                    ious.append(iou)
        if len(set(rows)) == len(rows) and len(set(cols)) == len(cols):
            matched = len(ious)
            return Matching(n_a, n_b, matched, sum(ious) / matched if matched else math.nan)
    matched, iou_sum = 0, 0.0
    for label in {box[0] for box in a} & {box[0] for box in b}:
        ra = [box[1:] for box in a if box[0] == label]
        rb = [box[1:] for box in b if box[0] == label]
        m = match(box_iou(np.array(ra), np.array(rb)))
        if m.matched:
            matched += m.matched
            iou_sum += m.mean_iou * m.matched
    return Matching(n_a, n_b, matched, iou_sum / matched if matched else math.nan)


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8-connected objects of a boolean mask, numbered 1..n."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    return labels, int(n)


def component_iou(
    a: np.ndarray | tuple[np.ndarray, int], b: np.ndarray | tuple[np.ndarray, int]
) -> np.ndarray:
    """IoU matrix of the connected components (8-connected) of two boolean masks: the objects
    each annotator drew, e.g. spots. Pass :func:`components` results to reuse them."""
    la, na = a if isinstance(a, tuple) else components(a)
    lb, nb = b if isinstance(b, tuple) else components(b)
    if na == 0 or nb == 0:
        return np.zeros((na, nb))
    in_a, in_b = la > 0, lb > 0  # objects are few pixels: count only those
    size_a = np.bincount(la[in_a], minlength=na + 1)[1:]
    size_b = np.bincount(lb[in_b], minlength=nb + 1)[1:]
    both = in_a & in_b
    pairs = (la[both].astype(np.int64) - 1) * nb + (lb[both] - 1)
    inter = np.bincount(pairs, minlength=na * nb).reshape(na, nb).astype(float)
    return inter / (size_a[:, None] + size_b[None, :] - inter)


def match_components(
    a: np.ndarray | tuple[np.ndarray, int], b: np.ndarray | tuple[np.ndarray, int]
) -> Matching:
    return match(component_iou(a, b))
