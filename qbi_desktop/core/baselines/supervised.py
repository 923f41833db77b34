"""Classification and regression runs: fit, predict fold by fold, score."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from qbi_desktop.core.baselines.config import BaselineResult
from qbi_desktop.core.baselines.models import Standardized, _fit
from qbi_desktop.core.baselines.plan import _Counter, _standardize
from qbi_desktop.core.baselines.predict import _client, _predict
from qbi_desktop.core.jobs import Job, Progress

if TYPE_CHECKING:
    from qbi_desktop.core.baselines.plan import _Plan

# -- supervised runs ----------------------------------------------------------------------------


def _run_supervised(plan: _Plan, source: str) -> Job[BaselineResult]:
    c = plan.config
    assert plan.y is not None and plan.X is not None
    total = sum(f.test.size + (0 if c.eval == "train" else f.train_scored.size) for f in plan.folds)
    counter = _Counter(total)
    yield Progress(0, total, f"{len(plan.folds)} fold(s), {c.describe()}")
    test_idx, y_true, y_pred, fold_scores = [], [], [], []
    train_true, train_pred = [], []
    with _client(c.scheduler) as client:
        for k, fold in enumerate(plan.folds):
            tag = f"fold {k + 1}/{len(plan.folds)} " if len(plan.folds) > 1 else ""
            X_train = plan.feature_rows(fold.train)
            y_train = plan.y[fold.train]
            mean = std = None
            if _standardize(c):
                mean = X_train.mean(axis=0)
                std = X_train.std(axis=0)
                std[std == 0] = 1.0
                X_train = (X_train - mean) / std
            yield Progress(counter.done, total, f"{tag}fitting {c.describe()}")
            predictor, chunkable = yield from _fit(plan, X_train, y_train, counter)
            del X_train
            if mean is not None:
                predictor = Standardized(predictor, mean, std)
            pred = yield from _predict(
                plan,
                predictor,
                chunkable,
                plan.feature_rows(fold.test),
                counter,
                f"{tag}predicting test items",
                fold.train.size,
                client,
            )
            if c.eval == "train":
                tr_pred = pred
            else:
                tr_pred = yield from _predict(
                    plan,
                    predictor,
                    chunkable,
                    plan.feature_rows(fold.train_scored),
                    counter,
                    f"{tag}predicting training items (for the train score)",
                    fold.train.size,
                    client,
                )
            test_idx.append(fold.test)
            y_true.append(plan.y[fold.test])
            y_pred.append(pred)
            train_true.append(plan.y[fold.train_scored])
            train_pred.append(tr_pred)
            if len(plan.folds) > 1:
                fold_scores.append(_scores(plan, plan.y[fold.test], pred, y_train))
    return _supervised_result(
        plan,
        source,
        np.concatenate(test_idx),
        np.concatenate(y_true),
        np.concatenate(y_pred),
        np.concatenate(train_true),
        np.concatenate(train_pred),
        fold_scores,
    )


def _scores(plan: _Plan, y_true: np.ndarray, y_pred: np.ndarray, y_train: np.ndarray) -> dict:
    if plan.task == "regression":
        return regression_scores(y_true, y_pred)
    majority = int(np.bincount(y_train).argmax())  # same tie rule as DummyClassifier
    scores = classification_scores(y_true, y_pred)
    scores["majority_rate"] = float(np.mean(y_true == majority)) if y_true.size else math.nan
    return scores


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy (mean recall over classes present in ``y_true``), macro F1."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return {"accuracy": math.nan, "balanced_accuracy": math.nan, "macro_f1": math.nan}
    labels = np.union1d(y_true, y_pred)
    cm = _confusion(y_true, y_pred, labels)
    table = _per_class(cm)
    present = cm.sum(axis=1) > 0
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "balanced_accuracy": float(np.mean(table["recall"][present])),
        "macro_f1": float(np.mean(table["f1"][present])),
    }


def regression_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R^2 (R^2 is NaN for fewer than two items or constant truth)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if y_true.size == 0:
        return {"mae": math.nan, "rmse": math.nan, "r2": math.nan}
    err = y_pred - y_true
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    r2 = 1.0 - float(np.sum(err**2)) / ss_tot if y_true.size > 1 and ss_tot > 0 else math.nan
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": r2,
    }


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    pos = {int(v): i for i, v in enumerate(labels)}
    t = np.fromiter((pos[int(v)] for v in y_true), np.int64, len(y_true))
    p = np.fromiter((pos[int(v)] for v in y_pred), np.int64, len(y_pred))
    n = len(labels)
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)


def _per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def _supervised_result(
    plan: _Plan,
    source: str,
    test_idx: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    train_true: np.ndarray,
    train_pred: np.ndarray,
    fold_scores: list[dict],
) -> BaselineResult:
    c = plan.config
    all_train = np.unique(np.concatenate([f.train for f in plan.folds]))
    result = BaselineResult(
        config=c,
        task=plan.task,
        source=source,
        evaluation=plan.evaluation,
        scores={},
        train_scores={},
        n_train=int(np.mean([f.train.size for f in plan.folds]).round()),
        n_test=int(test_idx.size),
        n_train_scored=int(train_true.size // max(1, len(plan.folds))),
        duration=0.0,
        test_indices=test_idx,
        fold_scores=fold_scores,
        warnings=list(plan.warnings),
        resolved=dict(plan.resolved),
    )
    if plan.task == "regression":
        result.scores = regression_scores(y_true, y_pred)
        result.train_scores = regression_scores(train_true, train_pred)
        result.y_true, result.y_pred = y_true.astype(float), y_pred.astype(float)
    else:
        y_pred = y_pred.astype(np.int64)
        majority_train = plan.y[all_train] if len(plan.folds) > 1 else plan.y[plan.folds[0].train]
        result.scores = _scores(plan, y_true, y_pred, majority_train)
        result.train_scores = classification_scores(train_true, train_pred.astype(np.int64))
        present = np.union1d(np.union1d(y_true, y_pred), np.unique(plan.y[all_train]))
        cm = _confusion(y_true, y_pred, present)
        table = _per_class(cm)
        result.labels = [plan.class_names[int(i)] for i in present]
        result.confusion = cm
        result.per_class = [
            {
                "class": name,
                "precision": float(table["precision"][j]),
                "recall": float(table["recall"][j]),
                "f1": float(table["f1"][j]),
                "support": int(table["support"][j]),
            }
            for j, name in enumerate(result.labels)
        ]
        pos = np.searchsorted(present, y_true), np.searchsorted(present, y_pred)
        result.y_true, result.y_pred = pos[0], pos[1]
        wrong = np.flatnonzero(y_true != y_pred)
        result.misclassified = [
            {
                "index": int(test_idx[j]),
                "true": plan.class_names[int(y_true[j])],
                "pred": plan.class_names[int(y_pred[j])],
            }
            for j in wrong
        ]
    if fold_scores:
        for key in fold_scores[0]:
            values = np.asarray([f[key] for f in fold_scores], float)
            result.scores[key] = float(np.mean(values))
            result.scores[f"{key}_std"] = float(np.std(values))
    return result
