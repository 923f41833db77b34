"""Splits for small and skewed datasets, and what to do when none fits, in the form's words.

A new user's first project has a handful of items in a few classes. scikit-learn's splitters
refuse such data with their own words ("The test_size = 2 should be greater or equal to the
number of classes = 3"); here every such case is checked *before* scikit-learn is called:

- a class with a single item (or original) can be learned or tested, not both: it is kept in
  training, and the run says so;
- a stratified test set needs one item of each class, and so does the training set: a Test
  fraction that gives fewer is raised (or lowered) when the split was left on Auto, and the run
  says so; with Split: Random the message names the smallest (largest) Test fraction that works;
- k-fold cross-validation needs at least Folds items (originals): the message names the most
  folds the data allows.

The messages name the form's controls (Test fraction, Folds, Split, k) and the numbers; the
command line has options of the same names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from qbi_desktop.core.errors import UserFacingError

#: the command line's way to score classes the training set lacks (the dock has no such control;
#: it strips this hint, see ``gui.docks.baselines.in_form_terms``)
UNSEEN_HINT = ", or allow unseen classes to score them as errors (--allow-unseen-classes)"

#: the dock's Test fraction box: 2 decimals, 0.05 to 0.95
FRACTION_STEP = 0.01
FRACTION_RANGE = (0.05, 0.95)


def _plural(k: int, noun: str) -> str:
    return f"{k} {noun}{'' if k == 1 else 's'}"


def _quoted(names: Sequence[str]) -> str:
    shown = [repr(str(n)) for n in names[:4]]
    return ", ".join(shown) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def n_test_items(n: int, fraction: float) -> int:
    """How many of ``n`` items a Test fraction puts in test (scikit-learn's rule: rounded up)."""
    return math.ceil(fraction * n - 1e-9)


def fraction_bounds(n: int, need_test: int, need_train: int) -> tuple[float, float] | None:
    """The smallest and largest Test fraction (in the dock's steps of 0.01, within its range)
    that give at least ``need_test`` test and ``need_train`` training items of ``n``; None when
    no step does."""
    lo_step, hi_step = (round(v / FRACTION_STEP) for v in FRACTION_RANGE)
    fits = [
        s * FRACTION_STEP
        for s in range(lo_step, hi_step + 1)
        if n_test_items(n, s * FRACTION_STEP) >= need_test
        and n - n_test_items(n, s * FRACTION_STEP) >= need_train
    ]
    return (round(fits[0], 2), round(fits[-1], 2)) if fits else None


def keep_single_in_train(
    labels: np.ndarray, class_names: Sequence[str], notes: list[str], noun: str = "item"
) -> np.ndarray:
    """Mask of the units whose class has a single unit: they go to training (a class needs one
    unit on each side to be learned *and* tested), with a note naming them. Refused when every
    class has a single unit (nothing could be tested)."""
    counts = np.bincount(labels, minlength=len(class_names))
    single = counts[labels] == 1
    if single.size and single.all():
        raise UserFacingError(
            f"cannot test {_plural(labels.size, noun)}: every class has a single {noun} "
            f"({_quoted([class_names[int(c)] for c in np.unique(labels)])}), and a model "
            "cannot be tested on a class it never learned; label at least one more item of "
            "each class"
        )
    if single.any():
        names = [class_names[int(c)] for c in np.unique(labels[single])]
        notes.append(
            f"{_plural(len(names), 'class')} with a single {noun} ({_quoted(names)}): kept in "
            f"training, not tested; label more items of {'it' if len(names) == 1 else 'them'} "
            "to test them too"
        )
    return single


def split_units(
    n: int,
    labels: np.ndarray | None,
    class_names: Sequence[str],
    fraction: float,
    seed: int,
    notes: list[str],
    *,
    adjust: bool,
    noun: str = "item",
) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """A random train/test split of ``n`` units (items, or originals with their copies),
    stratified by ``labels`` (classification) when every tested class has two units.

    Returns (train units, test units, stratified, the Test fraction used). ``adjust`` (Split:
    Auto) lets it move a Test fraction that cannot work to the nearest one that does, with a
    note; otherwise such a fraction is refused with the fraction to choose.
    """
    from sklearn.model_selection import train_test_split

    units = np.arange(n)
    kept = units[:0]
    need = 1
    if labels is not None:
        single = keep_single_in_train(labels, class_names, notes, noun)
        kept, units = units[single], units[~single]
        need = int(np.unique(labels[units]).size)
    m = units.size
    if m < 2:
        raise UserFacingError(
            f"cannot split {_plural(m, noun)} into training and test; label more items, or "
            "choose k-fold cross-validation"
        )
    n_test = n_test_items(m, fraction)
    bounds = fraction_bounds(m, need, need)
    if n_test < need or m - n_test < need:
        what = (
            f"one item of each of the {need} classes on both sides"
            if labels is not None
            else "at least one item on each side"
        )
        if bounds is not None and adjust:
            new = bounds[0] if n_test < need else bounds[1]
            notes.append(
                f"Test fraction {'raised' if new > fraction else 'lowered'} from {fraction:g} "
                f"to {new:g}: with {_plural(m, noun)} a stratified split needs {what}"
                if labels is not None
                else f"Test fraction {'raised' if new > fraction else 'lowered'} from "
                f"{fraction:g} to {new:g}: with {_plural(m, noun)} a split needs {what}"
            )
            fraction = new
        else:
            gives = (
                f"Test fraction {fraction:g} of {_plural(m, noun)} puts {n_test} in test and "
                f"{m - n_test} in training, too few for {what}"
            )
            if bounds is None:
                fix = "label more items, or choose k-fold cross-validation"
            elif n_test < need:
                fix = (
                    f"raise Test fraction to at least {bounds[0]:g}, label more items, or "
                    "choose k-fold cross-validation"
                )
            else:
                fix = f"lower Test fraction to at most {bounds[1]:g}, or label more items"
            raise UserFacingError(f"{gives}: {fix}")
    strat = labels[units] if labels is not None else None
    try:
        train, test = train_test_split(units, test_size=fraction, random_state=seed, stratify=strat)
    except ValueError as exc:  # not expected after the checks above: still in the user's words
        raise UserFacingError(
            f"cannot split {_plural(m, noun)} with Test fraction {fraction:g}; label more items, "
            "or choose k-fold cross-validation"
        ) from exc
    return np.sort(np.concatenate([train, kept])), np.sort(test), strat is not None, fraction


def too_few_for_folds(folds: int, available: int, noun: str = "item", extra: str = "") -> str:
    """Why k-fold cross-validation with ``folds`` folds cannot run on ``available`` units."""
    if available >= 2:
        fix = f"lower Folds to {available} or fewer, or label more items"
    else:
        fix = "label more items"
    return (
        f"{folds}-fold cross-validation (Folds {folds}) needs at least {_plural(folds, noun)}, "
        f"there {'is' if available == 1 else 'are'} {available}{extra}: {fix}"
    )
