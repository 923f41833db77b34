"""STAPLE (Warfield, Zou & Wells 2004): a consensus mask from several annotators' binary masks,
with each annotator's sensitivity and specificity estimated at the same time.

The EM follows ITK's ``STAPLEImageFilter`` (what SimpleITK runs): the prior is the mean share
of foreground over all annotators, sensitivities and specificities start at 0.99999, and the
iteration stops when no estimate moves by more than 1e-10 (or after ``max_iterations``).

Why it is fast: a pixel's posterior depends only on which annotators marked it, so with R
annotators there are only 2^R different pixels. The EM runs on the counts of those patterns
(a few numbers) instead of on every pixel; three 2048² masks take one pass to count and one
lookup to map back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Above this many annotators the pattern table (2^R rows) would be too large.
MAX_ANNOTATORS = 20


@dataclass
class StapleResult:
    """``probability``: per pixel, the posterior that it is foreground (float32);
    ``mask``: probability >= ``threshold``; ``sensitivity``/``specificity``: one per annotator,
    in input order; ``prior``: the foreground share the EM assumed."""

    probability: np.ndarray
    mask: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    prior: float
    iterations: int


def staple(
    masks: Sequence[np.ndarray],
    *,
    threshold: float = 0.5,
    max_iterations: int = 1000,
    tolerance: float = 1e-10,
) -> StapleResult:
    """STAPLE of two or more boolean masks of the same shape (non-zero = foreground)."""
    if len(masks) < 2:
        raise ValueError(f"STAPLE needs masks of two or more annotators, got {len(masks)}")
    if len(masks) > MAX_ANNOTATORS:
        raise ValueError(f"STAPLE takes up to {MAX_ANNOTATORS} annotators, got {len(masks)}")
    shape = np.shape(masks[0])
    for n, m in enumerate(masks):
        if np.shape(m) != shape:
            raise ValueError(f"mask {n + 1} has shape {np.shape(m)}, mask 1 has {shape}")
    r = len(masks)
    code = np.zeros(shape, np.uint32)
    for i, m in enumerate(masks):
        code |= (np.asarray(m) != 0).astype(np.uint32) << np.uint32(i)
    counts = np.bincount(code.ravel(), minlength=1 << r).astype(float)
    patterns = np.arange(1 << r)
    d = ((patterns[:, None] >> np.arange(r)[None, :]) & 1).astype(float)  # 2^R x R
    present = counts > 0
    counts, d, used = counts[present], d[present], patterns[present]
    n_pixels = counts.sum()
    prior = float((counts[:, None] * d).sum() / (n_pixels * r))
    p = np.full(r, 0.99999)
    q = np.full(r, 0.99999)
    w = np.zeros(len(counts))
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 (reported)
        a = prior * np.prod(np.where(d == 1, p, 1 - p), axis=1)
        b = (1 - prior) * np.prod(np.where(d == 1, 1 - q, q), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(a + b > 0, a / (a + b), 0.0)
        cw = counts * w
        cv = counts * (1 - w)
        p_new = (cw[:, None] * d).sum(axis=0) / cw.sum() if cw.sum() > 0 else p
        q_new = (cv[:, None] * (1 - d)).sum(axis=0) / cv.sum() if cv.sum() > 0 else q
        moved = max(np.abs(p_new - p).max(), np.abs(q_new - q).max())
        p, q = p_new, q_new
        if moved <= tolerance:
            break
    table = np.zeros(1 << r, np.float32)
    table[used] = w
    probability = table[code]
    return StapleResult(probability, probability >= threshold, p, q, prior, iterations)
