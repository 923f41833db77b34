"""Planning a run: checking the configuration and the data, choosing the split and folds."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qbi_desktop.core.baselines.config import (
    AUTO_RESIZE,
    DUMMY_STRATEGIES,
    KNN_METRICS,
    MODELS,
    SPLITS,
    TRAIN_EVAL_WARNING,
    BaselineConfig,
    _item_names,
    _name,
)
from qbi_desktop.core.baselines.features import _load_inputs, _masks, take_rows
from qbi_desktop.core.baselines.grouping import (
    describe_groups,
    empty_test_message,
    group_kfold,
    group_random_split,
    item_groups,
    leaks_across_splits,
)
from qbi_desktop.core.baselines.small_data import (
    UNSEEN_HINT,
    keep_single_in_train,
    split_units,
    too_few_for_folds,
)
from qbi_desktop.core.baselines.targets import (
    _class_targets,
    _dataset_for_task,
    _left_out_note,
    _regression_targets,
)
from qbi_desktop.core.errors import UserFacingError

# -- the run ----------------------------------------------------------------------------------


@dataclass
class _Fold:
    train: np.ndarray  # dataset indices
    test: np.ndarray
    train_scored: np.ndarray  # subset of train scored for the side-by-side training score


@dataclass
class _Plan:
    task: str
    config: BaselineConfig
    folds: list[_Fold]
    evaluation: str
    y: np.ndarray | None  # classification: class indices; regression: values (per dataset index)
    class_names: list[str]
    features: dict[int, np.ndarray] = field(default_factory=dict)  # dataset index -> row
    X: np.ndarray | None = None  # feature rows for `rows` (dataset indices, sorted)
    rows: np.ndarray | None = None
    images: Any = None  # segmentation: images and masks per dataset index
    masks: Any = None
    warnings: list[str] = field(default_factory=list)
    resolved: dict[str, Any] = field(default_factory=dict)
    groups: np.ndarray | None = None  # per dataset index: the original an item descends from

    def feature_rows(self, indices: np.ndarray) -> np.ndarray:
        """Feature rows of dataset ``indices`` (read-only use): a view when they are a run of
        consecutive rows (a dataset's train or test split usually is), else a blockwise copy."""
        assert self.X is not None and self.rows is not None
        return take_rows(self.X, np.searchsorted(self.rows, indices))


# -- planning and validation --------------------------------------------------------------------


#: a side images may be resized to for features (one 8192 x 8192 image is 256 MB of float32)
MAX_RESIZE_SIDE = 8192


def _validate_config(c: BaselineConfig) -> None:
    if c.task not in ("auto", *MODELS):
        raise UserFacingError(f"task: {c.task!r} is not one of auto, {', '.join(MODELS)}")
    all_models = sorted({m for ms in MODELS.values() for m in ms})
    if c.model not in all_models:
        raise UserFacingError(f"model: {c.model!r} is not one of {', '.join(all_models)}")
    if c.metric not in KNN_METRICS:
        raise UserFacingError(f"metric: {c.metric!r} is not one of {', '.join(KNN_METRICS)}")
    if c.model == "centroid" and c.metric not in ("l1", "l2"):
        raise UserFacingError("metric: nearest centroid supports l1 and l2 only")
    if c.weights not in ("uniform", "distance"):
        raise UserFacingError(f"weights: {c.weights!r} is not uniform or distance")
    if c.k < 1:
        raise UserFacingError(f"k: must be at least 1, not {c.k}")
    if c.split not in SPLITS:
        raise UserFacingError(f"split: {c.split!r} is not one of {', '.join(SPLITS)}")
    if c.eval not in ("test", "train"):
        raise UserFacingError(f"eval: {c.eval!r} is not test or train")
    if c.test_on not in ("test", "rest-of-train"):
        raise UserFacingError(f"test_on: {c.test_on!r} is not test or rest-of-train")
    if c.test_on == "rest-of-train" and c.train_size is None:
        raise UserFacingError("test_on rest-of-train needs a train size (the first N items)")
    if c.test_on == "rest-of-train" and c.eval == "train":
        raise UserFacingError("choose either eval on train or test on the rest of the training set")
    if not 0 < c.test_fraction < 1:
        raise UserFacingError(f"test fraction: must be between 0 and 1, not {c.test_fraction}")
    if c.split == "kfold" and c.folds < 2:
        raise UserFacingError(
            f"folds: k-fold cross-validation needs at least 2 folds, not {c.folds}"
        )
    if c.split == "kfold" and (c.test_on != "test" or c.eval == "train"):
        raise UserFacingError("k-fold cross-validation tests on each fold in turn; no test_on/eval")
    for name in ("train_size", "test_size"):
        value = getattr(c, name)
        if value is not None and value < 1:
            raise UserFacingError(f"{name.replace('_', ' ')}: must be at least 1, not {value}")
    if c.downsample < 1:
        raise UserFacingError(f"downsample: must be a whole factor >= 1, not {c.downsample}")
    if c.unseen_classes not in ("error", "warn"):
        raise UserFacingError("unseen_classes: use error or warn")
    if (
        c.resize_to is not None
        and c.resize_to != AUTO_RESIZE
        and (
            isinstance(c.resize_to, str)
            or len(c.resize_to) != 2
            or not 1 <= min(c.resize_to) <= max(c.resize_to) <= MAX_RESIZE_SIDE
        )
    ):
        raise UserFacingError(
            f"resize to: need (height, width) of 1 to {MAX_RESIZE_SIDE} pixels or 'auto', got "
            f"{c.resize_to!r}"
        )
    if c.chunk_rows is not None and c.chunk_rows < 1:
        raise UserFacingError("chunk rows: must be at least 1")
    if not c.C > 0 or c.max_iter < 1:  # "not >": NaN is refused too
        raise UserFacingError("logistic regression: C must be > 0 and max_iter >= 1")


def _infer_task(config: BaselineConfig, dataset: Any) -> str:
    if config.task != "auto":
        task = config.task
    elif config.model in MODELS["segmentation"]:
        task = "segmentation"
    elif config.target is not None and config.model in MODELS["regression"]:
        task = "regression"  # a regression target was named: its values are what to predict
    else:
        task = getattr(dataset, "task", None)
        if task not in MODELS:
            targets = dataset.targets()
            if targets is None:
                task = "segmentation" if getattr(dataset, "masks", None) else "classification"
            elif getattr(dataset, "class_names", None) is not None:
                task = "classification"
            else:
                task = "regression" if np.asarray(targets).dtype.kind == "f" else "classification"
    if config.model not in MODELS[task]:
        raise UserFacingError(
            f"model: {config.model!r} does not do {task}; choose one of {', '.join(MODELS[task])}"
        )
    strategies = DUMMY_STRATEGIES.get(task, ())
    if (
        config.model == "dummy"
        and config.strategy is not None
        and config.strategy not in strategies
    ):
        raise UserFacingError(
            f"strategy: {config.strategy!r} is not a {task} dummy strategy "
            f"({', '.join(strategies)})"
        )
    return task


def _plan(config: BaselineConfig, dataset: Any) -> _Plan:
    _validate_config(config)
    n = len(dataset)
    if n == 0:
        raise UserFacingError(f"{_name(dataset)}: the dataset is empty")
    task = _infer_task(config, dataset)
    dataset = _dataset_for_task(dataset, task)
    # The result records the configuration with its defaults resolved, so it reproduces exactly.
    strategy = config.strategy
    if config.model == "dummy" and strategy is None:
        strategy = DUMMY_STRATEGIES[task][0]
    resize_to = config.resize_to
    if task == "segmentation" and resize_to == AUTO_RESIZE:
        resize_to = None  # segmentation works on the images as they are
    config = dataclasses.replace(
        config,
        task=task,
        strategy=strategy,
        standardize=_standardize(config),
        resize_to=resize_to,
    )
    plan = _Plan(task, config, [], "", None, [])
    labelled = np.ones(n, bool)
    if task == "classification":
        y, names = _class_targets(dataset, task, config)
        plan.y, plan.class_names = y, names
        labelled = y >= 0
    elif task == "regression":
        y = _regression_targets(dataset, config)
        plan.y = y
        labelled = ~np.isnan(y)
    else:
        plan.masks = _masks(dataset)
        labelled = np.asarray([m is not None for m in plan.masks])

    plan.groups = item_groups(dataset)
    train_pool, test_pool, how = _pools(config, dataset, plan, n)
    # Unlabeled items among those used: refuse (or drop when asked) before anything else.
    used = np.union1d(train_pool, test_pool) if test_pool is not None else train_pool
    unlabeled = used[~labelled[used]]
    if unlabeled.size:
        what = {"classification": "no class label", "segmentation": "no mask"}.get(
            task, "no target value (NaN)"
        )
        if not config.drop_unlabeled or not labelled[train_pool].any():
            first = _item_names(dataset, unlabeled[:5])
            if config.drop_unlabeled:  # already chosen: none is labelled where it must be
                fix = {
                    "regression": "give items a value (at least 2)",
                    "segmentation": "paint masks on items (at least 2)",
                }.get(task, "label items (at least 2 of each of 2 classes)")
            else:
                fix = (
                    "give every item a value, or choose to leave items without one out"
                    if task == "regression"
                    else "label them, or choose to leave unlabeled items out"
                )
            where = _labelled_per_split(dataset, labelled, train_pool, used, task)
            if where and labelled.any():
                fix = (
                    "paint masks on training items, or put items with masks in the train split"
                    if task == "segmentation"
                    else "label training items, or put labelled items in the train split"
                )
            raise UserFacingError(
                f"{_name(dataset)}: {unlabeled.size} of {used.size} items have {what} "
                f"({first}{', ...' if unlabeled.size > 5 else ''}){where}; {fix}"
            )
        plan.warnings.append(_left_out_note(task, config, dataset, unlabeled.size, used.size))
        train_pool = train_pool[labelled[train_pool]]
        test_before = test_pool
        test_pool = test_pool[labelled[test_pool]] if test_pool is not None else None
        if test_pool is not None and test_pool.size == 0 and test_before.size:
            raise UserFacingError(
                f"{_name(dataset)}: "
                + empty_test_message(dataset.splits(), labelled, test_before, how)
            )

    try:
        plan.folds, plan.evaluation = _folds(config, plan, train_pool, test_pool, how)
    except UserFacingError as exc:
        # the split's refusals speak of the items: say whose (the file or project run on)
        text = str(exc)
        source = _name(dataset)
        if not text.startswith(f"{source}:"):
            text = f"{source}: {text}"
        left_out = [w for w in plan.warnings if w.endswith("and were left out")]
        if left_out:
            text = f"{text} ({left_out[0]})"
        if text == str(exc):
            raise
        raise UserFacingError(text) from exc
    for fold in plan.folds:
        _check_fold(config, plan, fold, dataset)
    if task == "regression":
        plan.warnings.extend(_constant_target_notes(config, dataset, plan))
    if config.eval == "train":
        plan.warnings.append(TRAIN_EVAL_WARNING)
    _load_inputs(config, dataset, plan)
    plan.resolved = {
        "task": task,
        "standardize": _standardize(config),
        "n_items": n,
        "evaluation": plan.evaluation,
    }
    if config.resize_to == AUTO_RESIZE:  # what "auto" chose: None = the images as they are
        size = plan.config.resize_to
        plan.resolved["resize_to"] = list(size) if size is not None else None
    return plan


def _labelled_per_split(
    dataset: Any, labelled: np.ndarray, train_pool: np.ndarray, used: np.ndarray, task: str
) -> str:
    """When no training item is labelled: where the labelled items are (per split, and how
    many of them this run does not use), so "8 of 8 items have no mask" is not the whole story."""
    if task == "regression" or labelled[train_pool].any():
        return ""
    noun = "a mask" if task == "segmentation" else "a class label"
    have = np.flatnonzero(labelled)
    if have.size == 0:
        return f"; no item has {noun} yet"
    raw = dataset.splits()
    splits = [str(raw[int(i)]) if raw is not None else "" for i in have]
    counts: dict[str, int] = {}
    for split in splits:
        key = f"split '{split}'" if split else "no split"
        counts[key] = counts.get(key, 0) + 1
    listed = ", ".join(f"{k} in {where}" for where, k in counts.items())
    unused = np.setdiff1d(have, used).size
    if unused == have.size:
        tail = ", which this run does not use" if have.size == 1 else ", none used by this run"
    elif unused:
        tail = f", {unused} of them not used by this run"
    else:
        tail = ""
    return (
        f"; none of the {train_pool.size} training items has {noun}, "
        f"{have.size} item{'s' if have.size > 1 else ''} elsewhere "
        f"{'do' if have.size > 1 else 'does'}: {listed}{tail}"
    )


def _pools(
    config: BaselineConfig, dataset: Any, plan: _Plan, n: int
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Training pool and test pool (None = to be split) as dataset indices, and how."""
    splits = dataset.splits() if config.split in ("auto", "dataset") else None
    if splits is not None:
        splits = np.asarray([str(s).lower() for s in splits])
        if not np.any(splits == "train"):
            splits = None
    if config.split == "dataset" and splits is None:
        raise UserFacingError(
            f"{_name(dataset)}: the dataset has no train/test splits; choose a random split or "
            "k-fold cross-validation"
        )
    if splits is None:
        how = "kfold" if config.split == "kfold" else "random"
        return np.arange(n), None, how
    train = np.flatnonzero(splits == "train")
    test = np.flatnonzero(splits == "test")
    name = "test"
    if test.size == 0:
        test = np.flatnonzero(np.isin(splits, ("val", "valid", "validation")))
        name = "validation"
    if config.test_on != "test" or config.eval == "train":
        test = test[:0]  # the test split is not used: it needs no labels either
    elif test.size == 0:
        raise UserFacingError(
            f"{_name(dataset)}: the dataset's splits have no test (or validation) items"
        )
    unassigned = int(np.sum(~np.isin(splits, ("train", "test", "val", "valid", "validation"))))
    if unassigned:
        plan.warnings.append(f"{unassigned} items without a train/test split were not used")
    leak = leaks_across_splits(plan.groups, train, test)
    if leak:
        plan.warnings.append(leak)
    return train, test, f"dataset splits (train / {name})"


def _folds(
    config: BaselineConfig,
    plan: _Plan,
    train_pool: np.ndarray,
    test_pool: np.ndarray | None,
    how: str,
) -> tuple[list[_Fold], str]:
    # Imported only where needed: importing scikit-learn's model_selection (scipy.stats & co)
    # holds the GIL for ~80 ms, a visible stall of the GUI thread while a run starts; a run on
    # the dataset's own splits (MNIST) needs none of it.
    classification = plan.task == "classification"
    if classification:
        _check_two_classes(
            plan, np.concatenate([train_pool, test_pool]) if test_pool is not None else train_pool
        )
    if how == "kfold":
        from sklearn.model_selection import KFold, StratifiedKFold

        pool = train_pool[: config.train_size] if config.train_size else train_pool
        groups = plan.groups
        if groups is not None and np.unique(groups[pool]).size < pool.size:
            y = plan.y if classification else None
            pairs = group_kfold(
                pool, groups, y, config.folds, config.seed, plan.warnings, plan.class_names
            )
            folds = [_Fold(a, b, _score_sample(config, a)) for a, b in pairs]
            return folds, (
                f"{config.folds}-fold cross-validation {describe_groups(pool, groups)} "
                f"(seed {config.seed})"
            )
        kept = pool[:0]
        if classification and pool.size:
            # a class with one item can be learned or tested, not both: learned in every fold
            single = keep_single_in_train(plan.y[pool], plan.class_names, plan.warnings)
            kept, pool = pool[single], pool[~single]
        if pool.size < config.folds:
            extra = f" besides the {kept.size} kept in training" if kept.size else ""
            raise UserFacingError(too_few_for_folds(config.folds, pool.size, extra=extra))
        strat = classification and np.bincount(plan.y[pool]).max() >= config.folds
        if classification and not strat:
            plan.warnings.append("too few items per class to stratify the folds; plain k-fold")
        splitter = (StratifiedKFold if strat else KFold)(
            config.folds, shuffle=True, random_state=config.seed
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "least populated class has only n members"
            pairs = list(splitter.split(pool, plan.y[pool] if strat else None))
        folds = []
        for a, b in pairs:
            train = np.sort(np.concatenate([pool[a], kept]))
            folds.append(_Fold(train, pool[b], _score_sample(config, train)))
        return folds, f"{config.folds}-fold cross-validation (seed {config.seed})"

    if test_pool is None:
        # A random split of everything, stratified by class where possible; on Split: Auto a
        # Test fraction too small (large) for the classes is moved to one that works.
        pool = train_pool
        groups = plan.groups
        grouped = groups is not None and np.unique(groups[pool]).size < pool.size
        adjust = config.split == "auto"
        if grouped:
            assert groups is not None
            train, test, stratified, used = group_random_split(
                pool,
                groups,
                plan.y if classification else None,
                config.test_fraction,
                config.seed,
                plan.warnings,
                plan.class_names,
                adjust=adjust,
            )
        else:
            labels = plan.y[pool] if classification else None
            a, b, stratified, used = split_units(
                pool.size,
                labels,
                plan.class_names,
                config.test_fraction,
                config.seed,
                plan.warnings,
                adjust=adjust,
            )
            train, test = pool[a], pool[b]
        if used != config.test_fraction:  # the result records the fraction that ran
            plan.config = config = dataclasses.replace(config, test_fraction=used)
        how = (
            f"{'stratified ' if stratified else ''}random split"
            f"{' ' + describe_groups(pool, groups) if grouped else ''}, "
            f"{used:.0%} test (seed {config.seed})"
        )
    else:
        train, test = train_pool, test_pool

    if config.train_size is not None:
        if config.train_size > train.size:
            raise UserFacingError(
                f"train size: {config.train_size} requested, the training set has {train.size}"
            )
        rest = train[config.train_size :]
        train = train[: config.train_size]
        how += f", first {train.size} training items"
        if config.test_on == "rest-of-train":
            if rest.size == 0:
                raise UserFacingError("test on rest of train: no training items are left over")
            test = rest
            how += ", tested on the remaining training items"
    if config.eval == "train":
        test = train
        how += ", EVALUATED ON THE TRAINING DATA"
    if config.test_size is not None:
        test = test[: config.test_size]
    if test.size == 0:
        raise UserFacingError("the test set is empty")
    scored = train if config.eval == "train" else _score_sample(config, train)
    return [_Fold(train, test, scored)], how


def _score_sample(config: BaselineConfig, train: np.ndarray) -> np.ndarray:
    limit = config.train_score_max
    if limit is None or train.size <= limit:
        return train
    if limit <= 0:
        return train[:0]
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(train, limit, replace=False))


def _check_two_classes(plan: _Plan, used: np.ndarray) -> None:
    """A classifier needs two classes among the items a run uses: say which one there is."""
    assert plan.y is not None
    present = np.unique(plan.y[used][plan.y[used] >= 0])
    if present.size == 1:
        only = plan.class_names[int(present[0])]
        raise UserFacingError(
            f"all {used.size} labelled items used are of a single class ({only!r}): a "
            "classifier needs at least two classes; label items of another class"
        )


def _check_fold(config: BaselineConfig, plan: _Plan, fold: _Fold, dataset: Any) -> None:
    if fold.train.size == 0:
        raise UserFacingError("the training set is empty; label more items")
    if config.model == "knn" and config.k > fold.train.size:
        raise UserFacingError(
            f"k: {config.k} neighbours requested but the training set has only "
            f"{fold.train.size} items: lower k to {fold.train.size} or fewer, or label more items"
        )
    if plan.task != "classification":
        return
    train_classes = np.unique(plan.y[fold.train])
    if train_classes.size < 2:
        only = plan.class_names[int(train_classes[0])] if train_classes.size else "none"
        raise UserFacingError(
            f"{_name(dataset)}: the training set has a single class ({only!r}); a classifier "
            "needs at least two: label more items of the other classes, or put some of them "
            "in the train split"
        )
    unseen = np.setdiff1d(np.unique(plan.y[fold.test]), train_classes)
    if unseen.size:
        counts = {plan.class_names[c]: int(np.sum(plan.y[fold.test] == c)) for c in unseen}
        listed = ", ".join(f"{name!r} ({k} items)" for name, k in counts.items())
        message = (
            f"classes in the test set but not in the training set: {listed}; no model can "
            "predict them"
        )
        if config.unseen_classes == "error":
            raise UserFacingError(
                f"{_name(dataset)}: {message}. Put some of their items in the train split "
                f"(Dataset > Split), or choose Split: Random or k-fold{UNSEEN_HINT}"
            )
        if message not in plan.warnings:
            plan.warnings.append(message + " (they count as errors)")


def _constant_target_notes(config: BaselineConfig, dataset: Any, plan: _Plan) -> list[str]:
    """Why a regression score of 0 error says nothing: the target never changes (all items used,
    or all test items). Without it "MAE 0, RMSE 0, R² -" reads as a perfect model."""
    assert plan.y is not None
    used = np.unique(np.concatenate([np.concatenate([f.train, f.test]) for f in plan.folds]))
    test = np.unique(np.concatenate([f.test for f in plan.folds]))
    names = list(getattr(dataset, "target_names", None) or [])
    what = config.target or (names[0] if len(names) == 1 else "target")
    values = plan.y[used]
    if values.size and np.all(values == values[0]):
        v = f"{float(values[0]):g}"
        return [
            f"every {what} value is {v} (all {values.size} items): R² is undefined and a model "
            f"has nothing to learn; answering {v} always scores MAE 0, so this score says "
            "nothing about a model"
        ]
    values = plan.y[test]
    if config.eval != "train" and values.size > 1 and np.all(values == values[0]):
        return [
            f"every test item's {what} is {float(values[0]):g} ({values.size} items): R² is "
            "undefined on the test items; look at MAE and RMSE"
        ]
    return []


def _standardize(config: BaselineConfig) -> bool:
    return config.model == "logreg" if config.standardize is None else bool(config.standardize)


# -- chunked prediction -------------------------------------------------------------------------


class _Counter:
    """Progress over all the rows a run predicts (test and training-score rows of all folds)."""

    def __init__(self, total: int):
        self.done, self.total = 0, total
