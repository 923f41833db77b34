"""Merging the versions several annotators made of one item into one, for the disagreement review.

Masks (label masks of one shape, 0 = background):

- ``majority``: a pixel takes a class when more than half of the annotators gave it that class
  (the consensus module's vote: half of an even number is not enough);
- ``staple``: per class STAPLE (:mod:`qbi_desktop.core.quality.staple`), the class with the
  highest posterior of at least 0.5;
- ``union``: every pixel anyone labelled, with the class most of them gave it (a tie: the
  smallest class number);
- ``intersection``: only pixels every annotator labelled, and with the same class.

Instance masks (each value one object) are merged as foreground/background and numbered again
by connected components, as the consensus does.

Boxes ``(label, x, y, w, h)``: the boxes of one class are grouped across annotators by one-to-one
matching at IoU >= 0.5 (the agreement report's matcher), each annotator's boxes against the
groups built so far (annotators in name order); a group becomes one box, the mean of its boxes'
corners, kept only if a majority of the annotators drew it (with two annotators: both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from qbi_desktop.core.catalog.opinions import CONSENSUS_PREFIX
from qbi_desktop.core.quality import agreement as ag
from qbi_desktop.core.quality.consensus import mask_consensus
from qbi_desktop.core.quality.staple import MAX_ANNOTATORS

MASK_METHODS = ("majority", "staple", "union", "intersection")
#: How a decision is named in the provenance ("consensus of A, B by <words>").
METHOD_WORDS = {
    "majority": "majority vote",
    "staple": "STAPLE",
    "union": "union",
    "intersection": "intersection",
    "matching": "matched boxes",
}

BoxTuple = tuple[str, float, float, float, float]


def provenance(annotators: Sequence[str], how: str, edited_by: str | None = None) -> str:
    """Who a decision is written as: ``consensus of A, B by majority vote`` (``how`` a merge
    method or any words, e.g. ``"Bob's version"``), ``.../edited by C`` once a person edited it."""
    words = METHOD_WORDS.get(how, how)
    text = f"{CONSENSUS_PREFIX}{', '.join(sorted(annotators))} by {words}"
    return f"{text}/edited by {edited_by}" if edited_by else text


def _check(masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    arrays = [np.asarray(m) for m in masks]
    if len(arrays) < 2:
        raise ValueError(f"merging needs the masks of two or more annotators, got {len(arrays)}")
    if len(arrays) > MAX_ANNOTATORS:
        raise ValueError(f"merging takes up to {MAX_ANNOTATORS} annotators, got {len(arrays)}")
    shape = arrays[0].shape
    for n, m in enumerate(arrays):
        if m.shape != shape:
            raise ValueError(f"mask {n + 1} has shape {m.shape}, mask 1 has {shape}")
        if m.dtype.kind not in "uib":
            raise ValueError(f"mask {n + 1}: values must be class numbers 0..65535, not {m.dtype}")
        if m.size and m.dtype.kind != "b" and (m.min() < 0 or m.max() > 65535):
            raise ValueError(
                f"mask {n + 1}: values must be class numbers 0..65535, it holds "
                f"{m.min()}..{m.max()}"
            )
    return arrays


#: STAPLE estimates every class apart (an EM run each): more classes than this are refused
MAX_STAPLE_CLASSES = 255


def _vote_by_candidates(arrays: list[np.ndarray], out: np.ndarray, method: str) -> None:
    """Majority or union with each annotator's value as the candidate at a pixel: n^2 passes
    for n annotators whatever the number of classes (a class loop over a mask holding
    thousands of values took minutes)."""
    n = len(arrays)
    best = np.zeros(out.shape, np.uint8)
    for candidate in arrays:
        votes = np.zeros(out.shape, np.uint8)
        for m in arrays:
            votes += m == candidate
        if method == "majority":  # more than half: one candidate value at most
            take = (candidate != 0) & (2 * votes.astype(np.uint16) > n)
        else:  # the most votes; on a tie the smaller class
            take = (candidate != 0) & ((votes > best) | ((votes == best) & (candidate < out)))
        out[take] = candidate[take]
        best[take] = votes[take]


def merge_masks(
    masks: Sequence[np.ndarray], method: str = "majority", instances: bool = False
) -> np.ndarray:
    """One label mask from several annotators' masks of one item (see the module)."""
    if method not in MASK_METHODS:
        raise ValueError(f"mask merge {method!r}: use one of {MASK_METHODS}")
    arrays = _check(masks)
    if instances:
        arrays = [(m != 0).astype(np.uint8) for m in arrays]
    classes = sorted({int(v) for m in arrays for v in np.unique(m) if v != 0})
    top = max(classes, default=0)
    dtype = np.uint8 if top <= 255 else np.uint16
    out = np.zeros(arrays[0].shape, dtype)
    if not classes:
        pass
    elif method == "staple" and len(classes) > MAX_STAPLE_CLASSES:
        raise ValueError(
            f"the masks hold {len(classes)} classes; STAPLE merges up to {MAX_STAPLE_CLASSES} "
            "(use majority or union, or mark the masks as instance masks)"
        )
    elif method in ("majority", "union") and len(classes) > len(arrays):
        _vote_by_candidates(arrays, out, method)
    elif method == "staple":
        out = mask_consensus(arrays, classes, method)[0]
    elif method == "intersection":
        first = arrays[0]
        same = np.logical_and.reduce([m == first for m in arrays[1:]])
        out[same] = first[same]
    else:
        # votes per class counted in uint8 (MAX_ANNOTATORS is far below 255)
        best = np.zeros(out.shape, np.uint8)
        for c in classes:
            votes = np.zeros(out.shape, np.uint8)
            for m in arrays:
                votes += m == c
            if method == "majority":  # more than half: at most one class per pixel
                out[2 * votes.astype(np.uint16) > len(arrays)] = c
            else:  # union: the most votes; on a tie the smaller class, counted first, stays
                take = votes > best
                out[take] = c
                best[take] = votes[take]
    if instances:
        out = ndimage.label(out > 0, structure=np.ones((3, 3), bool))[0]
        top = int(out.max(initial=0))  # objects numbered 1..top: never narrowed below it
        out = out.astype(np.uint8 if top <= 255 else np.uint16 if top <= 65535 else np.uint32)
    return out


def _corners(box: Sequence[Any]) -> np.ndarray:
    _label, x, y, w, h = box
    return np.array([x, y, x + w, y + h], float)


def box_groups(
    by_annotator: Mapping[str, Sequence[Sequence[Any]]], threshold: float = ag.MATCH_IOU
) -> list[tuple[str, dict[str, int]]]:
    """The boxes that stand for one object: (class, {annotator: index of their box}), grouped
    by matching each annotator's boxes of a class one to one against the groups so far (each
    group's mean box) at IoU >= ``threshold``."""
    groups: list[tuple[str, dict[str, int]]] = []
    for person in sorted(by_annotator):
        boxes = [tuple(b) for b in by_annotator[person]]
        for label in sorted({str(b[0]) for b in boxes}):
            mine = [i for i, b in enumerate(boxes) if str(b[0]) == label]
            theirs = [g for g in groups if g[0] == label]
            if theirs:
                means = np.array(
                    [
                        np.mean([_corners(by_annotator[a][i]) for a, i in g[1].items()], axis=0)
                        for g in theirs
                    ]
                )
                xywh = np.column_stack([means[:, :2], means[:, 2:] - means[:, :2]])
                ours = np.array([boxes[i][1:] for i in mine], float)
                rows, cols = ag.match_pairs(ag.box_iou(ours, xywh), threshold)
            else:
                rows = cols = np.zeros(0, int)
            joined = dict(zip(rows.tolist(), cols.tolist(), strict=True))
            for k, i in enumerate(mine):
                if k in joined:
                    theirs[joined[k]][1][person] = i
                else:
                    groups.append((label, {person: i}))
    return groups


def merge_boxes(
    by_annotator: Mapping[str, Sequence[Sequence[Any]]], threshold: float = ag.MATCH_IOU
) -> list[BoxTuple]:
    """One box list from several annotators' boxes of one item (see the module)."""
    n = len(by_annotator)
    if n < 2:
        raise ValueError(f"merging needs the boxes of two or more annotators, got {n}")
    for person, boxes in by_annotator.items():
        for k, box in enumerate(boxes):
            corners = np.asarray(box[1:5], float) if len(box) == 5 else None
            if corners is None or not (np.isfinite(corners).all() and (corners[2:] >= 0).all()):
                raise ValueError(
                    f"box {k + 1} by {person}: {tuple(box)!r} is not (label, x, y, w, h) with "
                    "finite corners and a size of 0 or more"
                )
    out: list[BoxTuple] = []
    for label, members in box_groups(by_annotator, threshold):
        if 2 * len(members) <= n:  # not drawn by a majority
            continue
        x0, y0, x1, y1 = np.mean([_corners(by_annotator[a][i]) for a, i in members.items()], axis=0)
        out.append((label, float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
    return out
