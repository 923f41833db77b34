"""Splits that keep an item with its augmented copies, and why a test set came out empty.

A project's augmented copy is a near-duplicate of its original (``parent_id``); a random split or
a k-fold that puts one in train and the other in test scores a model on images it has as good as
seen. Datasets that know their items' lineage give ``groups()`` (one key per item; a copy has its
original's key, see ``CatalogDataset.groups``); the random split and k-fold then split *groups*
(as scikit-learn's ``GroupShuffleSplit`` / ``StratifiedGroupKFold`` do), stratified by each
group's class, and the run's description says so. Datasets without copies split exactly as before.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from qbi_desktop.core.baselines.small_data import (
    keep_single_in_train,
    split_units,
    too_few_for_folds,
)
from qbi_desktop.core.errors import UserFacingError


def item_groups(dataset: Any) -> np.ndarray | None:
    """Per dataset index, the group (original) each item belongs to; None when the dataset does
    not say or when no two items share one (then nothing needs grouping)."""
    fn = getattr(dataset, "groups", None)
    if not callable(fn):
        return None
    groups = np.asarray(fn())
    if groups.shape != (len(dataset),) or np.unique(groups).size == groups.size:
        return None
    return groups


def _units(pool: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct groups of ``pool`` (in order of first appearance) and, per pool item, the
    position of its group among them."""
    keys = groups[pool]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # units in pool order: reproducible, seed-driven
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse], order


def _unit_labels(y: np.ndarray, unit_of: np.ndarray, n_units: int) -> np.ndarray:
    """A group's class: the most common class among its items (a copy keeps its original's)."""
    labels = np.empty(n_units, np.int64)
    for u in range(n_units):
        labels[u] = np.bincount(y[unit_of == u]).argmax()
    return labels


def describe_groups(pool: np.ndarray, groups: np.ndarray) -> str:
    n_units = np.unique(groups[pool]).size
    return (
        f"grouped by original ({pool.size} items in {n_units} groups: augmented copies stay "
        "with their original)"
    )


def group_random_split(
    pool: np.ndarray,
    groups: np.ndarray,
    y: np.ndarray | None,
    test_fraction: float,
    seed: int,
    notes: list[str],
    class_names: Sequence[str] = (),
    *,
    adjust: bool = False,
) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """Train and test dataset indices: whole groups go to one side; stratified by the groups'
    classes when ``y`` is given (a class with a single original is kept in training). Returns
    (train, test, stratified, the Test fraction used; see ``small_data.split_units``)."""
    unit_of, _ = _units(pool, groups)
    n_units = int(unit_of.max()) + 1 if unit_of.size else 0
    if n_units < 2:
        raise UserFacingError(
            f"cannot split these {pool.size} items: they are one original and its augmented "
            "copies, which stay on one side of the split (testing on a copy of a training image "
            "says nothing about new images); label items from other originals"
        )
    labels = _unit_labels(y[pool], unit_of, n_units) if y is not None else None
    train_units, test_units, stratified, used = split_units(
        n_units, labels, class_names, test_fraction, seed, notes, adjust=adjust, noun="original"
    )
    train = np.sort(pool[np.isin(unit_of, train_units)])
    test = np.sort(pool[np.isin(unit_of, test_units)])
    return train, test, stratified, used


def group_kfold(
    pool: np.ndarray,
    groups: np.ndarray,
    y: np.ndarray | None,
    folds: int,
    seed: int,
    notes: list[str],
    class_names: Sequence[str] = (),
) -> list[tuple[np.ndarray, np.ndarray]]:
    """k folds of dataset indices (train, test) in which no group spans both sides; stratified
    (``StratifiedGroupKFold``) when ``y`` is given and each class has ``folds`` groups. A class
    with a single original is in training in every fold (it cannot be tested)."""
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    unit_of, _ = _units(pool, groups)
    n_units = int(unit_of.max()) + 1 if unit_of.size else 0
    kept = pool[:0]
    labels = None
    if y is not None and n_units:
        labels = _unit_labels(y[pool], unit_of, n_units)
        single = keep_single_in_train(labels, class_names, notes, "original")
        kept = pool[single[unit_of]]
        pool, unit_of, labels = pool[~single[unit_of]], unit_of[~single[unit_of]], labels[~single]
        n_units = labels.size
    if n_units < folds:
        raise UserFacingError(
            too_few_for_folds(
                folds,
                n_units,
                "original",
                f" ({pool.size} items: augmented copies count with their original)",
            )
        )
    strat = False
    if labels is not None:
        strat = bool(np.bincount(labels).max() >= folds)
        if not strat:
            notes.append("too few originals per class to stratify the folds; plain group k-fold")
    splitter = (
        StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        if strat
        else GroupKFold(folds, shuffle=True, random_state=seed)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "least populated class has only n members"
        pairs = list(splitter.split(pool, y[pool] if strat else None, unit_of))
    return [(np.sort(np.concatenate([pool[a], kept])), pool[b]) for a, b in pairs]


def leaks_across_splits(groups: np.ndarray | None, train: np.ndarray, test: np.ndarray) -> str:
    """A note when test items share their original with training items (the dataset's own
    splits, made before copies were, or by hand); empty when none do."""
    if groups is None or train.size == 0 or test.size == 0:
        return ""
    shared = np.isin(groups[test], groups[train])
    if not shared.any():
        return ""
    return (
        f"{int(shared.sum())} of {test.size} test items are augmented copies (or originals) of "
        "training items: near-duplicates on both sides flatter the score; choose a random split "
        "or k-fold (they keep copies with their original), or split the project again"
    )


def empty_test_message(
    dataset_splits: np.ndarray | None,
    labelled: np.ndarray,
    test_before: np.ndarray | None,
    how: str,
) -> str:
    """Why "the test set is empty", and what to do about it."""
    if test_before is None or test_before.size == 0 or not how.startswith("dataset splits"):
        return "the test set is empty"
    splits = [] if dataset_splits is None else [str(s).lower() for s in dataset_splits]
    have = np.flatnonzero(labelled)
    where: dict[str, int] = {}
    for i in have:
        key = splits[int(i)] if splits and splits[int(i)] else "no split"
        where[key] = where.get(key, 0) + 1
    listed = ", ".join(f"{k} in {s}" for s, k in where.items()) or "none"
    return (
        f"the test set is empty: none of the {test_before.size} items of the dataset's test "
        f"split is labelled (labelled items: {listed}), and unlabelled items are left out. "
        "Choose Split: Random or k-fold, or split the project again (Dataset > Split) so that "
        "labelled items are in test too"
    )
