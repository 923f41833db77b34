"""Audit of a labelled set: likely wrong labels, duplicates, train/test leaks, outliers.

Every judgement about an item's own label uses out-of-fold probabilities: the items are dealt
into folds by position and a seed only (never by label), and an item's probabilities come from
the project's exact kNN (:class:`qbi_desktop.core.baselines.L2Neighbors`) fitted on the other
folds, so changing an item's label cannot change the model that judges it. Labels are ranked
by confident learning's self-confidence: score = 1 - p(given label).

Duplicates: equal pixel hashes, then pairs of nearest neighbours closer than a fraction of the
typical nearest-neighbour distance; a duplicate pair whose items sit in different splits is a
leak (an evaluation that has seen its test item). Outliers: items far from every labelled
neighbour (robust fence on the nearest-labelled-neighbour distance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbi_desktop.core.baselines import L2Neighbors
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.quality.features import LabelledItems

KINDS = ("label", "duplicate", "leak", "outlier", "unlabelled")
MIN_PER_CLASS = 2  # each class must appear in at least two folds' training data
# A class with fewer labelled items than this has too few examples in the other folds to judge
# its own items: with one '7' labelled, no model that excludes it knows a 7, so it would be
# flagged as wrong with certainty. Its items are not judged, and the report says so.
MIN_JUDGED_PER_CLASS = 5
# Below this cross-validated accuracy the label rows are mostly right labels the weak model
# disagrees with; the report says so rather than let them pass for errors.
WEAK_MODEL_ACCURACY = 0.8


@dataclass(frozen=True)
class AuditSettings:
    folds: int = 5
    k: int = 10
    seed: int = 0
    #: near duplicate: nearest-neighbour distance below this fraction of the median one
    near_ratio: float = 0.2
    #: outlier: nearest-labelled distance above Q3 + fence * IQR of those distances
    outlier_fence: float = 3.0
    #: a label row is listed when the model's choice differs and p(given) is below this
    label_threshold: float = 0.5


@dataclass(frozen=True)
class Issue:
    item: str
    kind: str
    score: float
    given_label: str = ""
    suggested_label: str = ""
    related_item: str = ""
    item_id: int = -1
    related_id: int = -1


@dataclass
class AuditReport:
    issues: list[Issue]
    counts: dict[str, int]
    models: list[dict[str, Any]]
    imbalance: dict[str, dict[str, int]]
    messages: list[str] = field(default_factory=list)
    resized: list[tuple[str, str]] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    oof_proba: np.ndarray | None = None  # (n, classes) out-of-fold, NaN rows for unlabelled

    def sorted_issues(self) -> list[Issue]:
        """By kind (in :data:`KINDS` order), then score descending, then item name."""
        order = {k: n for n, k in enumerate(KINDS)}
        return sorted(self.issues, key=lambda i: (order[i.kind], -i.score, i.item))

    def summary(self) -> dict[str, Any]:
        return {
            "counts": {k: self.counts.get(k, 0) for k in KINDS},
            "models": self.models,
            "class_balance": self.imbalance,
            "messages": self.messages,
            "resized": [{"item": n, "why": w} for n, w in self.resized],
            "left_out": [{"item": n, "why": w} for n, w in self.left_out],
        }


def query_rows(n_train: int) -> int:
    """Queries per kNN chunk: the distance block (queries x training rows, float32) stays
    near 80 MB however large the project, and a chunk is a cancellation point."""
    return int(max(64, min(2000, 20_000_000 // max(1, n_train))))


def fold_of(n: int, folds: int, seed: int) -> np.ndarray:
    """Fold per position: a seeded shuffle of positions, independent of any label."""
    return np.random.default_rng(seed).permutation(n) % folds


def knn_proba(
    nn: L2Neighbors, y_train: np.ndarray, X: np.ndarray, k: int, n_classes: int
) -> np.ndarray:
    """Distance-weighted vote fractions of the k nearest training rows (a smoothed kNN)."""
    k = min(k, len(y_train))
    dist, ind = nn.kneighbors(X, k)
    # 1/(d + eps): an exact match dominates without a division by zero; eps relative to scale
    eps = 1e-3 * (float(np.median(dist)) + 1e-12)
    w = 1.0 / (dist + eps)
    P = np.zeros((len(X), n_classes))
    rows = np.arange(len(X))
    for j in range(k):
        np.add.at(P, (rows, y_train[ind[:, j]]), w[:, j])
    P /= P.sum(axis=1, keepdims=True)
    return P


def out_of_fold_proba(
    X: np.ndarray, y: np.ndarray, n_classes: int, settings: AuditSettings
) -> Job[np.ndarray]:
    """Out-of-fold kNN probabilities for labelled rows (y >= 0); an item never judges itself."""
    n = len(X)
    P = np.full((n, n_classes), np.nan)
    fold = fold_of(n, settings.folds, settings.seed)
    labelled = y >= 0
    # counted in items judged, not folds: a fold of MNIST's 70 000 takes minutes, and a bar
    # counting folds stood still at 0 % through the first of them
    total, done = int(labelled.sum()), 0
    for f in range(settings.folds):
        said = f"label check: kNN, fold {f + 1} of {settings.folds}"
        yield Progress(done, total, said)
        train = np.flatnonzero(labelled & (fold != f))
        test = np.flatnonzero(labelled & (fold == f))
        if len(test) == 0 or len(train) == 0:
            done += len(test)
            continue
        nn = L2Neighbors(X[train])
        step = query_rows(len(train))
        for s in range(0, len(test), step):
            yield Progress(done + s, total, said)
            part = test[s : s + step]
            P[part] = knn_proba(nn, y[train], X[part], settings.k, n_classes)
        done += len(test)
    return P


def what_is_missing(labels: np.ndarray, class_names: list[str], folds: int) -> str | None:
    """Why the labels cannot be cross-validated (fewer than 2 classes, too few labels), or None."""
    counts = np.bincount(labels[labels >= 0], minlength=len(class_names))
    present = int((counts > 0).sum())
    if present < 2:
        return (
            f"label check needs at least two classes with labels (found {present}); "
            "label items of at least two classes"
        )
    if int(counts.sum()) < 2 * folds:
        return (
            f"label check needs at least {2 * folds} labelled items for {folds}-fold "
            f"cross-validation (found {int(counts.sum())}); label more items"
        )
    return None


def audit_job(items: LabelledItems, settings: AuditSettings | None = None) -> Job[AuditReport]:
    """Run the whole audit; nothing in the catalog changes (the result is only a report)."""
    s = settings or AuditSettings()
    fs = items.features
    X, y, names = fs.X, items.labels, fs.names
    classes = items.class_names
    n = len(X)
    issues: list[Issue] = []
    messages: list[str] = []
    models: list[dict[str, Any]] = []
    ids = items.item_ids
    P: np.ndarray | None = None

    def cls(c: int) -> str:
        return classes[c] if 0 <= c < len(classes) else ""

    # -- labels ---------------------------------------------------------------------------
    missing = what_is_missing(y, classes, s.folds) if n else "no readable items"
    if missing:
        messages.append(missing)
    else:
        P = yield from out_of_fold_proba(X, y, len(classes), s)
        lab = np.flatnonzero(y >= 0)
        given_p = P[lab, y[lab]]
        suggested = P[lab].argmax(axis=1)
        accuracy = float((suggested == y[lab]).mean())
        models.append(
            {
                "model": "knn",
                "k": s.k,
                "weights": "1/(distance + eps)",
                "metric": "l2",
                "features": f"pixels {fs.size[0]}x{fs.size[1]}, intensity per modality",
                "cv_folds": s.folds,
                "cv_accuracy": round(accuracy, 6),
                "labelled_items": int(len(lab)),
            }
        )
        counts = np.bincount(y[lab], minlength=len(classes))
        judged = counts >= MIN_JUDGED_PER_CLASS
        unjudged = [f"'{cls(c)}' ({counts[c]})" for c in np.flatnonzero(~judged & (counts > 0))]
        if unjudged:
            messages.append(
                f"labels not checked in classes with fewer than {MIN_JUDGED_PER_CLASS} "
                f"labelled items: {', '.join(unjudged)}; label more items of these classes"
            )
        if accuracy < WEAK_MODEL_ACCURACY:
            messages.append(
                f"the label check's model is right on only {accuracy:.0%} of the labelled "
                f"items ({len(lab)} labels): most 'label' rows are likely right labels it cannot "
                "tell yet; label more items before trusting them"
            )
        flagged = (suggested != y[lab]) & (given_p < s.label_threshold) & judged[y[lab]]
        for j in np.flatnonzero(flagged):
            i = lab[j]
            issues.append(
                Issue(
                    names[i],
                    "label",
                    round(1.0 - float(given_p[j]), 6),
                    cls(int(y[i])),
                    cls(int(suggested[j])),
                    item_id=int(ids[i]),
                )
            )

    # -- exact duplicates -------------------------------------------------------------------
    yield Progress(0, 0, "duplicates: equal pixels")
    first: dict[str, int] = {}
    exact_pairs: set[tuple[int, int]] = set()
    for i, h in enumerate(fs.pixel_hashes):
        if h in first:
            exact_pairs.add((first[h], i))
        else:
            first[h] = i

    # -- near duplicates: nearest neighbour of every item among all the others --------------
    near_pairs: dict[tuple[int, int], float] = {}
    nn_dist = np.full(n, np.nan)
    nn_idx = np.zeros(n, dtype=np.int64)
    if n >= 3:
        nn_all = L2Neighbors(X)
        step = query_rows(n)
        for start in range(0, n, step):
            yield Progress(start, n, "duplicates: nearest neighbours")
            part = slice(start, min(n, start + step))
            d, ind = nn_all.kneighbors(X[part], 2)
            own = np.arange(part.start, part.stop)
            # the first neighbour is the item itself unless an exact copy ties before it
            pick = np.where(ind[:, 0] == own, 1, 0)
            nn_idx[part] = ind[np.arange(len(own)), pick]
            nn_dist[part] = d[np.arange(len(own)), pick]
        typical = float(np.median(nn_dist[nn_dist > 0])) if (nn_dist > 0).any() else 0.0
        limit = s.near_ratio * typical
        for i in np.flatnonzero(nn_dist <= limit):
            j = int(nn_idx[i])
            pair = (min(i, j), max(i, j))
            if pair not in exact_pairs:
                # score: closeness, 1 for identical features, 0 at the threshold
                near_pairs[pair] = round(1.0 - float(nn_dist[i]) / limit, 6) if limit else 1.0
    pairs = {p: 1.0 for p in exact_pairs} | near_pairs
    for (a, b), score in pairs.items():
        split_a, split_b = items.splits[a], items.splits[b]
        leak = bool(split_a) and bool(split_b) and split_a != split_b
        # the item listed is the one to act on: of a leak, the one in the evaluation split
        if leak:
            item_i, rel_i = (a, b) if _eval_rank(split_a) > _eval_rank(split_b) else (b, a)
        else:
            item_i, rel_i = max(a, b), min(a, b)
        issues.append(
            Issue(
                names[item_i],
                "leak" if leak else "duplicate",
                score,
                cls(int(y[item_i])),
                "",
                names[rel_i],
                item_id=int(ids[item_i]),
                related_id=int(ids[rel_i]),
            )
        )

    # -- outliers: far from every labelled neighbour ------------------------------------------
    lab_rows = np.flatnonzero(y >= 0)
    nn_lab: L2Neighbors | None = None
    if len(lab_rows) >= 3:
        said = "outliers: nearest labelled neighbours"
        yield Progress(0, 0, said)
        # An item whose nearest neighbour (found above) is labelled already has its nearest
        # labelled neighbour: only the others are searched again. In a fully labelled
        # project that is none (MNIST's 70 000: this stage took longer than all the others).
        dist = np.where(y[nn_idx] >= 0, nn_dist, np.nan)
        todo = np.flatnonzero(np.isnan(dist))
        if len(todo):
            nn_lab = L2Neighbors(X[lab_rows])
        step = query_rows(len(lab_rows))
        for start in range(0, len(todo), step):
            yield Progress(start, len(todo), said)
            part = todo[start : start + step]
            d, ind = nn_lab.kneighbors(X[part], 2)
            is_self = lab_rows[ind[:, 0]] == part
            dist[part] = np.where(is_self, d[:, 1], d[:, 0])
        q1, med, q3 = np.percentile(dist, (25, 50, 75))
        fence = q3 + s.outlier_fence * (q3 - q1)
        for i in np.flatnonzero(dist > fence):
            issues.append(
                Issue(
                    names[i],
                    "outlier",
                    round(float(dist[i] / (med or 1.0)), 6),
                    cls(int(y[i])),
                    item_id=int(ids[i]),
                )
            )

    # -- unlabelled: suggested class from all labels ----------------------------------------
    unl = np.flatnonzero(y < 0)
    if len(unl):
        suggestion = np.zeros((len(unl), max(1, len(classes))))
        if len(lab_rows) and classes:
            said = f"unlabelled: suggestions for {len(unl):,} items"
            yield Progress(0, 0, said)
            if nn_lab is None:
                nn_lab = L2Neighbors(X[lab_rows])
            step = query_rows(len(lab_rows))
            for start in range(0, len(unl), step):
                yield Progress(start, len(unl), said)
                part = unl[start : start + step]
                suggestion[start : start + len(part)] = knn_proba(
                    nn_lab, y[lab_rows], X[part], s.k, len(classes)
                )
        for row, i in enumerate(unl):
            c = int(suggestion[row].argmax())
            conf = float(suggestion[row, c])
            issues.append(
                Issue(
                    names[i],
                    "unlabelled",
                    round(conf, 6),
                    "",
                    cls(c) if conf > 0 else "",
                    item_id=int(ids[i]),
                )
            )

    counts = {k: 0 for k in KINDS}
    for issue in issues:
        counts[issue.kind] += 1
    imbalance: dict[str, dict[str, int]] = {}
    for split in sorted(set(items.splits.tolist())):
        in_split = y[items.splits == split]
        imbalance[split or "unassigned"] = {
            c: int((in_split == n_).sum()) for n_, c in enumerate(classes)
        } | {"unlabelled": int((in_split < 0).sum())}
    for split, per in imbalance.items():
        labelled = [v for c, v in per.items() if c != "unlabelled"]
        if labelled and max(labelled) > 0 and min(labelled) * 5 < max(labelled):
            messages.append(
                f"split {split}: classes are imbalanced (smallest {min(labelled)}, "
                f"largest {max(labelled)} items)"
            )
    yield Progress(1, 1, "audit done")
    return AuditReport(
        issues=issues,
        counts=counts,
        models=models,
        imbalance=imbalance,
        messages=messages,
        resized=list(fs.resized),
        left_out=list(fs.left_out),
        oof_proba=P,
    )


def _eval_rank(split: str) -> int:
    return {"train": 0, "val": 1, "test": 2}.get(split, 0)
