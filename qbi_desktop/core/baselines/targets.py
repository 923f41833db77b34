"""What a run predicts: the class labels, the chosen regression target's values, or the masks.

A project gives each task its own view (``for_task``): a regression reads the values of its
target, never the class indices (-1, 0, 1, ...) that a project with a few labels would otherwise
offer; a classification reads the labels, never measured values. Items without what the task
predicts are counted here so the run can leave them out and say how many.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qbi_desktop.core.baselines.config import BaselineConfig, _name
from qbi_desktop.core.errors import UserFacingError


def _class_targets(dataset: Any, task: str, config: BaselineConfig) -> tuple[np.ndarray, list[str]]:
    """Per-item class indices (-1 unlabeled) and class names, whatever the dataset gave."""
    raw = dataset.targets()
    n = len(dataset)
    if raw is None:
        raise UserFacingError(
            f"{_name(dataset)}: the dataset has no labels; label the items before a {task} run"
        )
    raw = np.asarray(raw)
    if len(raw) != n:
        raise UserFacingError(f"{_name(dataset)}: {len(raw)} targets for {n} items")
    if raw.ndim != 1:
        raise UserFacingError(f"{_name(dataset)}: class labels must be one per item")
    names = getattr(dataset, "class_names", None)
    if raw.dtype.kind == "f" and names is None and getattr(dataset, "task", None) == "regression":
        whole = raw[np.isfinite(raw)]
        if np.any(whole != np.round(whole)):
            raise UserFacingError(
                f"{_name(dataset)}: its targets are measured values (regression), not classes; "
                "run a regression, or give the items class labels"
            )
    if raw.dtype.kind == "f":
        nan = np.isnan(raw)
        if nan.any():
            raise UserFacingError(
                f"{_name(dataset)}: {int(nan.sum())} labels are NaN (first at item "
                f"{int(np.flatnonzero(nan)[0])}); a label must be a class"
            )
    if raw.dtype.kind in "iuf" and names is not None:
        return raw.astype(np.int64), [str(c) for c in names]
    # Arbitrary labels (e.g. strings from a catalog): encode; None/"" are unlabeled.
    keys = [None if v is None or v == "" else str(v) for v in raw.tolist()]
    classes = sorted({k for k in keys if k is not None})
    if names is not None and set(classes) <= {str(c) for c in names}:
        classes = [str(c) for c in names]
    lookup = {c: i for i, c in enumerate(classes)}
    return np.asarray([-1 if k is None else lookup[k] for k in keys], np.int64), classes


def _regression_targets(dataset: Any, config: BaselineConfig) -> np.ndarray:
    """Per-item values of the chosen regression target (NaN = no value). Class labels are
    refused: a class index (-1, 0, 1, ...) is a position in a list of names, not a measurement."""
    raw = dataset.targets()
    classes = getattr(dataset, "class_names", None)
    if classes is not None:
        raise UserFacingError(
            f"{_name(dataset)}: its targets are class labels ({len(classes)} classes), not "
            "values of a regression target, and a class index is no measurement; give items "
            "values of a target (Dataset > Regression Target...) or run a classification"
        )
    if raw is None:
        raise UserFacingError(
            f"{_name(dataset)}: the dataset has no regression targets; give items values of a "
            "target (Dataset > Regression Target...) or run a classification"
        )
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UserFacingError(f"{_name(dataset)}: regression targets must be numbers") from exc
    names = list(getattr(dataset, "target_names", None) or [])
    if values.ndim == 2:
        if config.target is not None:
            if config.target not in names:
                raise UserFacingError(f"target: {config.target!r} is not one of {names}")
            values = values[:, names.index(config.target)]
        elif values.shape[1] == 1:
            values = values[:, 0]
        else:
            raise UserFacingError(f"target: choose which target to predict, one of {names}")
    elif values.ndim != 1:
        raise UserFacingError(f"{_name(dataset)}: regression targets must be (N,) or (N, T)")
    elif config.target is not None and names and names != ["target"] and config.target != names[0]:
        raise UserFacingError(f"target: {config.target!r} is not one of {names}")
    if values.size and np.isnan(values).all():
        what = config.target or (names[0] if len(names) == 1 else "the target")
        raise UserFacingError(
            f"{_name(dataset)}: none of the {values.size} items has a value of {what!r}; "
            "give items values before a regression run"
        )
    return values


def _dataset_for_task(dataset: Any, task: str) -> Any:
    """The view of ``dataset`` whose targets are ``task``'s (a project gives its class labels,
    its regression targets or its masks, whichever the run needs; see CatalogDataset)."""
    for_task = getattr(dataset, "for_task", None)
    return for_task(task) if callable(for_task) else dataset


def _left_out_note(task: str, config: BaselineConfig, dataset: Any, k: int, of: int) -> str:
    if task == "regression":
        names = list(getattr(dataset, "target_names", None) or [])
        target = config.target or (names[0] if len(names) == 1 else "target")
        what = f"no {target!r} value"
    else:
        what = "no mask" if task == "segmentation" else "no class label"
    return f"{k} of {of} items have {what} and were left out"
