"""Suggestions and the "label next" order on scikit-learn's digits (real handwritten digits)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from qbi_desktop.core.quality.suggest import Suggester, label_next_order, simulate_labeller


def _digits():
    d = load_digits()
    return (d.data / 16).astype(np.float32), d.target


def test_suggestions_from_few_labels_are_mostly_right_and_confidence_means_something():
    X, y = _digits()
    labels = np.full(len(y), -1)
    given = np.random.default_rng(0).choice(len(y), 200, replace=False)
    labels[given] = y[given]
    model = Suggester(X, 10)
    model.fit(labels)
    todo = np.flatnonzero(labels < 0)
    s = model.suggest(todo)
    right = s.suggested == y[todo]
    assert right.mean() > 0.9
    # confident suggestions are right more often than unsure ones
    sure = s.confidence >= np.median(s.confidence)
    assert right[sure].mean() > right[~sure].mean()


def test_queue_puts_least_confident_first_with_a_share_of_random_items():
    X, y = _digits()
    labels = np.full(len(y), -1)
    labels[:100] = y[:100]
    model = Suggester(X, 10)
    model.fit(labels)
    s = model.suggest(np.flatnonzero(labels < 0))
    order = label_next_order(s, random_share=0.1, seed=1)
    assert sorted(order.tolist()) == sorted(s.rows.tolist())  # every item exactly once
    conf = dict(zip(s.rows.tolist(), s.confidence.tolist(), strict=True))
    first = [conf[r] for r in order[:100]]
    # 90 of the first 100 are the 90 least confident items, in order
    by_model = [c for n, c in enumerate(first) if (n + 1) % 10]
    assert by_model == sorted(conf.values())[:90]
    randoms = [c for n, c in enumerate(first) if (n + 1) % 10 == 0]
    assert max(randoms) > sorted(conf.values())[200]  # drawn from everywhere
    plain = label_next_order(s, random_share=0.0)
    assert [conf[r] for r in plain] == sorted(conf.values())


def test_simulated_labeller_needs_few_keys_and_reports_accuracy():
    X, y = _digits()
    queue = simulate_labeller(X, y, 10, order="queue", checkpoints=(100, 1000))
    rand = simulate_labeller(X, y, 10, order="random", checkpoints=(100, 1000))
    assert queue.labelled == rand.labelled == len(y)
    assert queue.keys_per_item < 1.15 and rand.keys_per_item < 1.15
    # the queue teaches the model faster: better on what is left after 1000 labels
    assert queue.remaining_accuracy[1000] >= rand.remaining_accuracy[1000]
    assert set(queue.recent_accuracy) == {100, 1000}
