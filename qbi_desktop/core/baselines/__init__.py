"""Baselines: what a model that learns nothing scores, what nearest neighbours score, honestly.

One entry point, :func:`run_baseline`, is a job (a generator yielding
:class:`~qbi_desktop.core.jobs.Progress`, returning a :class:`BaselineResult`). It

1. checks the configuration and the data *before any work* and raises a
   :class:`~qbi_desktop.core.errors.UserFacingError` with a clear message for: one class, classes
   in the test set that the training set lacks, unlabeled items, images of different sizes (unless
   ``resize_to`` is a size or ``"auto"``), k larger than the training set, NaN targets;
2. splits the data so the score cannot mislead: the dataset's own splits, a stratified random
   split with a seed, or k-fold cross-validation (mean +/- std); evaluating on the training data
   happens only when asked for (``eval="train"``) and then the result carries a warning;
3. fits the model, then predicts in chunks (sized to take ~``chunk_seconds`` each, so a GUI worker
   that closes the generator stops within one chunk), locally or on a dask.distributed cluster;
4. scores test *and* training data side by side (the training score on a seeded sample of at most
   ``train_score_max`` items, since kNN on the full training set would cost more than the test).

Features are the raw pixels flattened (as in the lecture), optionally block-mean downsampled by an
integer factor and standardised. Models are scikit-learn estimators; kNN classification computes
the neighbours with scikit-learn's brute-force search and takes the vote itself (same tie rule as
scikit-learn: the smallest class index wins), which lets one search serve several k.

Decision on unseen classes: a class that occurs in the test set but not in the training set is an
*error* by default (no model can predict it, the score would be silently capped); set
``unseen_classes="warn"`` to score anyway, those items then count as errors and a warning says so.

Modules: ``config`` (configuration, result, names offered), ``plan`` (checks, splits, folds),
``features`` (images to feature rows), ``knn`` (our exact kNN) and ``knn_filter`` (its
low-dimensional filter for large, wide training sets), ``models`` (fitting), ``predict`` (chunked
prediction, local or dask), ``supervised`` and ``segmentation`` (the runs and their scores),
``run`` (the entry point), ``worker_jobs`` (runs for a worker process that opens the data itself).
"""

from qbi_desktop.core.baselines.config import (
    AUTO_RESIZE,
    DEFAULT_KNN_K,
    DUMMY_STRATEGIES,
    GIL_BLOCK_BYTES,
    KNN_METRICS,
    MODELS,
    RESIZE_HINT,
    SCHEDULER_TIMEOUT_S,
    SPLITS,
    TRAIN_EVAL_WARNING,
    BaselineConfig,
    BaselineResult,
)
from qbi_desktop.core.baselines.features import auto_size, image_features, take_rows
from qbi_desktop.core.baselines.knn import KnnVoter, L2Neighbors
from qbi_desktop.core.baselines.models import EstimatorPredictor, Standardized
from qbi_desktop.core.baselines.run import check_baseline, run_baseline
from qbi_desktop.core.baselines.segmentation import object_matches, segmentation_scores
from qbi_desktop.core.baselines.supervised import classification_scores, regression_scores

__all__ = [
    "AUTO_RESIZE",
    "DEFAULT_KNN_K",
    "DUMMY_STRATEGIES",
    "GIL_BLOCK_BYTES",
    "KNN_METRICS",
    "MODELS",
    "RESIZE_HINT",
    "SCHEDULER_TIMEOUT_S",
    "SPLITS",
    "TRAIN_EVAL_WARNING",
    "BaselineConfig",
    "BaselineResult",
    "EstimatorPredictor",
    "KnnVoter",
    "L2Neighbors",
    "Standardized",
    "auto_size",
    "check_baseline",
    "classification_scores",
    "image_features",
    "object_matches",
    "regression_scores",
    "run_baseline",
    "segmentation_scores",
    "take_rows",
]
