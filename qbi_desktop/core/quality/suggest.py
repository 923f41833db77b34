"""Suggestions while labelling and the "label next" order.

:class:`Suggester` is the project's exact kNN fitted on the labels given so far: for each
unlabelled item a suggested class and its confidence (the distance-weighted vote share).
:func:`label_next_order` puts the least confident items first, with a share of randomly chosen
items mixed in (superintendent's idea) so the measured suggestion accuracy stays an honest
estimate rather than the accuracy on the hardest items only. :func:`simulate_labeller` replays
a labeller on a fully labelled set, for the benchmark.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from qbi_desktop.core.baselines import L2Neighbors
from qbi_desktop.core.quality.audit import knn_proba, query_rows


@dataclass
class Suggestions:
    rows: np.ndarray  # feature rows suggested for
    suggested: np.ndarray  # class index per row (-1: no model yet)
    confidence: np.ndarray  # vote share of the suggested class, 0 without a model


class Suggester:
    """kNN (k nearest, weights 1/distance) on the labelled rows of ``X``."""

    def __init__(self, X: np.ndarray, n_classes: int, k: int = 10):
        self.X, self.n_classes, self.k = X, n_classes, k
        self.nn: L2Neighbors | None = None
        self.y_train = np.zeros(0, dtype=np.int64)

    def fit(self, labels: np.ndarray) -> None:
        """Refit on ``labels`` (class index per row, -1 = unlabelled)."""
        rows = np.flatnonzero(labels >= 0)
        self.nn = L2Neighbors(self.X[rows]) if len(rows) else None
        self.y_train = labels[rows]

    def suggest(self, rows: np.ndarray, chunk: int | None = None) -> Suggestions:
        rows = np.asarray(rows, dtype=np.int64)
        suggested = np.full(len(rows), -1, dtype=np.int64)
        confidence = np.zeros(len(rows))
        if self.nn is not None and len(rows):
            chunk = chunk or query_rows(len(self.y_train))
            for s in range(0, len(rows), chunk):
                part = rows[s : s + chunk]
                P = knn_proba(self.nn, self.y_train, self.X[part], self.k, self.n_classes)
                suggested[s : s + len(part)] = P.argmax(axis=1)
                confidence[s : s + len(part)] = P.max(axis=1)
        return Suggestions(rows, suggested, confidence)


def label_next_order(
    suggestions: Suggestions, random_share: float = 0.1, seed: int = 0
) -> np.ndarray:
    """Rows to label next: least confident first, every ``1/random_share``-th pick random."""
    by_confidence = suggestions.rows[np.argsort(suggestions.confidence, kind="stable")]
    if random_share <= 0 or len(by_confidence) < 2:
        return by_confidence
    shuffled = np.random.default_rng(seed).permutation(by_confidence)
    every = max(2, round(1 / random_share))
    out: list[int] = []
    taken: set[int] = set()
    a = b = 0
    while len(out) < len(by_confidence):
        source_random = (len(out) + 1) % every == 0
        if source_random:
            while shuffled[b] in taken:
                b += 1
            pick = int(shuffled[b])
        else:
            while by_confidence[a] in taken:
                a += 1
            pick = int(by_confidence[a])
        taken.add(pick)
        out.append(pick)
    return np.asarray(out, dtype=np.int64)


@dataclass
class SimulationResult:
    keys: int
    labelled: int
    #: suggestion accuracy on the last 100 labels given, at each checkpoint
    recent_accuracy: dict[int, float] = field(default_factory=dict)
    #: the model's accuracy on every item not yet labelled, at each checkpoint
    remaining_accuracy: dict[int, float] = field(default_factory=dict)

    @property
    def keys_per_item(self) -> float:
        return self.keys / max(1, self.labelled)


def simulate_labeller(
    X: np.ndarray,
    y_true: np.ndarray,
    n_classes: int,
    order: str = "queue",
    checkpoints: tuple[int, ...] = (100, 1000, 5000),
    refresh: float = 0.05,
    batch: int = 10,
    random_share: float = 0.1,
    seed: int = 0,
    k: int = 10,
) -> SimulationResult:
    """Label every row in queue or random order: a right suggestion costs 1 key (Enter), a
    wrong one or none 2 (a number key, then Enter). The model is refitted after every
    ``max(batch, refresh * labelled)`` labels, as a background worker would."""
    n = len(X)
    labels = np.full(n, -1, dtype=np.int64)
    model = Suggester(X, n_classes, k)
    rng = np.random.default_rng(seed)
    result = SimulationResult(keys=0, labelled=0)
    recent: deque[bool] = deque(maxlen=100)
    queue = rng.permutation(n) if order == "random" else np.arange(n)
    current: dict[int, int] = {}
    pos = 0
    while result.labelled < n:
        if order == "queue" or not current:
            todo = np.flatnonzero(labels < 0)
            s = model.suggest(todo)
            current = dict(zip(s.rows.tolist(), s.suggested.tolist(), strict=True))
            if order == "queue":
                queue = label_next_order(s, random_share, seed=int(rng.integers(1 << 31)))
                pos = 0
        step = max(batch, int(refresh * result.labelled))
        for _ in range(step):
            if result.labelled == n:
                break
            while labels[queue[pos]] >= 0:
                pos += 1
            row = int(queue[pos])
            pos += 1
            right = current.get(row, -1) == y_true[row]
            result.keys += 1 if right else 2
            recent.append(bool(right))
            labels[row] = y_true[row]
            result.labelled += 1
            if result.labelled in checkpoints:
                result.recent_accuracy[result.labelled] = float(np.mean(recent))
                todo = np.flatnonzero(labels < 0)
                if len(todo):
                    left = model.suggest(todo)
                    result.remaining_accuracy[result.labelled] = float(
                        np.mean(left.suggested == y_true[todo])
                    )
        model.fit(labels)
        if order == "random":
            todo = np.flatnonzero(labels < 0)
            s = model.suggest(todo)
            current = dict(zip(s.rows.tolist(), s.suggested.tolist(), strict=True))
    return result
