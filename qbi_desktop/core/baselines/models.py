"""Fitting the scikit-learn models (dummy, kNN, centroid, logistic regression)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.baselines.config import KNN_METRICS
from qbi_desktop.core.baselines.knn import KnnVoter, L2Neighbors
from qbi_desktop.core.baselines.plan import _Counter
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress

if TYPE_CHECKING:
    from qbi_desktop.core.baselines.plan import _Plan


class EstimatorPredictor:
    """``predict`` of a fitted scikit-learn estimator, as a picklable callable."""

    def __init__(self, estimator: Any):
        self.estimator = estimator

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.estimator.predict(X)


class Standardized:
    """Apply the training set's mean/std before predicting (for dask: one picklable object)."""

    def __init__(
        self, inner: Callable[[np.ndarray], np.ndarray], mean: np.ndarray, std: np.ndarray
    ):
        self.inner, self.mean, self.std = inner, mean, std

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.inner((X - self.mean) / self.std)

    def __getattr__(self, name: str) -> Any:
        # ``steps`` (a prediction that yields between its blocks) where the inner one has it
        if name == "steps" and hasattr(self.inner, "steps"):
            return lambda X: self.inner.steps((X - self.mean) / self.std)
        raise AttributeError(name)


def _fit(
    plan: _Plan, X: np.ndarray, y: np.ndarray, counter: _Counter
) -> Job[tuple[Callable, bool]]:
    """Fit the configured model; returns (predictor, chunkable)."""
    c = plan.config
    regression = plan.task == "regression"
    if c.model == "dummy":
        from sklearn.dummy import DummyClassifier, DummyRegressor

        if regression:
            est = DummyRegressor(strategy=c.strategy or "mean")
        else:
            est = DummyClassifier(strategy=c.strategy or "most_frequent", random_state=c.seed)
        est.fit(X[:, :1], y)  # a dummy ignores the features
        # One chunk: a seeded random dummy would repeat its sequence in every chunk.
        return _DummyPredictor(est), False
    if c.model == "knn":
        if c.metric == "l2":
            nn: Any = L2Neighbors(X, low_dims=True)
            for _ in nn.prepare(c.k):  # the filter's axes now, not in the first chunk
                yield Progress(counter.done, counter.total, "kNN: principal axes")
        else:
            from sklearn.neighbors import NearestNeighbors

            metric, p = KNN_METRICS[c.metric]
            nn = NearestNeighbors(n_neighbors=c.k, algorithm="brute", metric=metric, p=p or 2)
            nn.fit(X)
        n_classes = None if regression else len(plan.class_names)
        return KnnVoter(nn, y, c.k, c.weights, n_classes), True
    if c.model == "centroid":
        from sklearn.neighbors import NearestCentroid

        est = NearestCentroid(metric="manhattan" if c.metric == "l1" else "euclidean")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "zero standard deviation": harmless
            est.fit(X, y)
        return EstimatorPredictor(est), True
    if c.model == "logreg":
        est = yield from _fit_logreg(plan, X, y, counter)
        return EstimatorPredictor(est), True
    raise UserFacingError(f"model: {c.model!r} cannot be fitted")


class _DummyPredictor:
    def __init__(self, estimator: Any):
        self.estimator = estimator

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.estimator.predict(X[:, :1])


def _fit_logreg(plan: _Plan, X: np.ndarray, y: np.ndarray, counter: _Counter) -> Job[Any]:
    """Logistic regression fitted a few L-BFGS iterations at a time (warm start), so a long fit
    shows progress and can be cancelled between steps."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    c = plan.config
    step = 10
    est = LogisticRegression(C=c.C, max_iter=step, warm_start=True)
    done = 0
    while done < c.max_iter:
        est.max_iter = min(step, c.max_iter - done)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        ran = int(np.max(est.n_iter_))
        done += est.max_iter
        yield Progress(
            counter.done, counter.total, f"fitting logistic regression: {done} iterations"
        )
        if ran < est.max_iter:
            return est
    plan.warnings.append(
        f"logistic regression stopped after {c.max_iter} iterations without converging; "
        "its score may improve with more"
    )
    return est
