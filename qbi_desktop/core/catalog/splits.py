"""Train/val/test splits: stratified by class, or by group so a specimen never spans splits.

The assignment functions are pure (arrays in, split names out, reproducible from the seed); the
``*_split`` functions read the project, assign, and write the split column in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.catalog.queries import where_clause
from qbi_desktop.core.catalog.schema import SPLITS
from qbi_desktop.core.errors import UserFacingError

if TYPE_CHECKING:
    from qbi_desktop.core.catalog.project import Project

DEFAULT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def _check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    unknown = set(fractions) - set(SPLITS)
    if unknown:
        raise UserFacingError(f"split names {sorted(unknown)} unknown; use {', '.join(SPLITS)}")
    values = {k: float(v) for k, v in fractions.items() if float(v) > 0}
    if any(float(v) < 0 for v in fractions.values()) or not values:
        raise UserFacingError(f"split fractions {dict(fractions)} must be >= 0 with one > 0")
    total = sum(values.values())
    if abs(total - 1.0) > 1e-6:
        raise UserFacingError(f"split fractions {dict(fractions)} add up to {total:g}, not 1")
    return {s: values[s] for s in SPLITS if s in values}


def _allocate(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Largest-remainder rounding: counts add up to n and follow the fractions closely."""
    raw = {s: n * f for s, f in fractions.items()}
    counts = {s: int(np.floor(v)) for s, v in raw.items()}
    left = n - sum(counts.values())
    for s in sorted(raw, key=lambda s: (raw[s] - counts[s], fractions[s]), reverse=True)[:left]:
        counts[s] += 1
    return counts


def stratified_assign(
    labels: Sequence[Any], fractions: Mapping[str, float] = DEFAULT_FRACTIONS, seed: int = 0
) -> np.ndarray:
    """Split names for each position: each class is divided by the fractions on its own."""
    fr = _check_fractions(fractions)
    labels = ["\0none" if v is None else str(v) for v in labels]
    out = np.empty(len(labels), dtype=object)
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    for label in sorted(by_class):
        members = np.asarray(by_class[label])
        rng.shuffle(members)
        start = 0
        for split, k in _allocate(len(members), fr).items():
            out[members[start : start + k]] = split
            start += k
    return out


def group_assign(
    groups: Sequence[Any], fractions: Mapping[str, float] = DEFAULT_FRACTIONS, seed: int = 0
) -> np.ndarray:
    """Split names per position so that all members of a group land in the same split.

    Groups are shuffled (seeded), then taken largest first and each given to the split furthest
    below its target size; so fractions are met as closely as group sizes allow.
    """
    fr = _check_fractions(fractions)
    members: dict[Any, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    keys = list(members)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(keys))
    keys = [keys[k] for k in order]
    keys.sort(key=lambda g: len(members[g]), reverse=True)  # stable: ties keep random order
    n = len(groups)
    target = {s: f * n for s, f in fr.items()}
    filled = dict.fromkeys(fr, 0)
    out = np.empty(n, dtype=object)
    for g in keys:
        split = max(fr, key=lambda s: (target[s] - filled[s], fr[s]))
        out[members[g]] = split
        filled[split] += len(members[g])
    return out


def _target_rows(project: Project, filters: Any) -> list[tuple]:
    where, params = where_clause(filters)
    return project.db.execute(
        f"SELECT id, label, metadata FROM items {where} ORDER BY id", params
    ).fetchall()


def stratified_split(
    project: Project,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    filters: Any = None,
) -> dict[str, int]:
    """Assign train/val/test to the (filtered) items, stratified by class; one transaction.

    Returns the number of items per split.
    """
    rows = _target_rows(project, filters)
    splits = stratified_assign([r[1] for r in rows], fractions, seed)
    return _write(project, [r[0] for r in rows], splits)


def group_split(
    project: Project,
    group_key: str,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    filters: Any = None,
) -> dict[str, int]:
    """Assign splits so that items sharing ``metadata[group_key]`` (e.g. specimen) stay
    together. Items without that key are refused: a missing group would silently leak."""
    rows = _target_rows(project, filters)
    groups = []
    missing = []
    for item_id, _label, meta in rows:
        value = json.loads(meta).get(group_key)
        if value is None:
            missing.append(item_id)
        groups.append(json.dumps(value, sort_keys=True))
    if missing:
        shown = ", ".join(map(str, missing[:10]))
        raise UserFacingError(
            f"group split by {group_key!r}: {len(missing)} item(s) have no {group_key!r} in "
            f"their metadata (items {shown}{', ...' if len(missing) > 10 else ''}); "
            "nothing was changed"
        )
    splits = group_assign(groups, fractions, seed)
    return _write(project, [r[0] for r in rows], splits)


def _write(project: Project, ids: list[int], splits: np.ndarray) -> dict[str, int]:
    with project.transaction() as tx:
        tx.set_splits(zip(ids, splits.tolist(), strict=True))
    names, counts = np.unique(splits.astype(str), return_counts=True) if len(ids) else ([], [])
    return {str(s): int(c) for s, c in zip(names, counts, strict=True)}
