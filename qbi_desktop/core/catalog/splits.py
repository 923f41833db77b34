"""Train/val/test splits: stratified by class, or by group so a specimen never spans splits.
Either way an augmented copy stays in its original's split.

The assignment functions are pure (arrays in, split names out, reproducible from the seed). A
split is planned first (:func:`plan_stratified`, :func:`plan_group`): the plan says how many
existing assignments it would change, so nobody replaces an official split (MNIST's 60 000 /
10 000) without being asked. :func:`apply_plan` keeps the assignment it replaces as a snapshot in
the catalog and writes the new one, in one transaction; :func:`restore_previous` brings the last
snapshot back exactly. The ``*_split`` functions plan and apply in one call and refuse to
replace an existing split unless told to.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.catalog.edits import Change
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
    # NaN is neither > 0 nor < 0: it was dropped silently and its split left empty
    if not all(math.isfinite(float(v)) for v in fractions.values()):
        raise UserFacingError(f"split fractions {dict(fractions)} must be finite numbers")
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
    labels: Sequence[Any],
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    groups: Sequence[Any] | None = None,
) -> np.ndarray:
    """Split names for each position, stratified by class.

    The labelled items are divided as one set: the splits get the fractions of all of them, and
    each class gets its share of each split as closely as whole items allow (a class's share
    rounded per class alone gave classes of one or two items nothing outside train, so a few
    small classes put *every* labelled item in train). A class with any item has one in train.
    Unlabelled items are divided by the fractions on their own: they are not a class competing
    for the labelled items' places. With ``groups`` (an augmented copy's original), the items of
    a group are one unit and go to one split together.
    """
    fr = _check_fractions(fractions)
    n = len(labels)
    keys = ["\0none" if v is None else str(v) for v in labels]
    if groups is None:
        members = [[i] for i in range(n)]
    else:
        by_group: dict[Any, list[int]] = {}
        for i, g in enumerate(groups):
            by_group.setdefault(g, []).append(i)
        members = list(by_group.values())
    unit_keys = [_unit_key([keys[i] for i in m]) for m in members]
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=object)
    by_class: dict[str, list[int]] = {}
    for u, key in enumerate(unit_keys):
        by_class.setdefault(key, []).append(u)
    shuffled = {}
    for key in sorted(by_class):  # the same draws, in the same order, for the same input
        units = np.asarray(by_class[key])
        rng.shuffle(units)
        shuffled[key] = units
    unlabelled = shuffled.pop("\0none", None)
    if unlabelled is not None:
        start = 0
        for split, k in _allocate(len(unlabelled), fr).items():
            for u in unlabelled[start : start + k]:
                out[members[u]] = split
            start += k
    if shuffled:
        table = _joint_allocation({k: len(v) for k, v in shuffled.items()}, fr, rng)
        for key, units in shuffled.items():
            start = 0
            for split, k in table[key].items():
                for u in units[start : start + k]:
                    out[members[u]] = split
                start += k
    return out


def _unit_key(keys: list[str]) -> str:
    """A group's class: the most common label among its labelled items (unlabelled if none)."""
    labelled = [k for k in keys if k != "\0none"]
    if not labelled:
        return "\0none"
    values, counts = np.unique(labelled, return_counts=True)
    return str(values[int(np.argmax(counts))])


def _joint_allocation(
    sizes: dict[str, int], fr: dict[str, float], rng: np.random.Generator
) -> dict[str, dict[str, int]]:
    """Per class, items per split: split totals follow the fractions of all labelled items
    (largest remainders), each class's share is its size times the fraction rounded down plus
    what the totals still need, given where the rounding lost most; one in train at least;
    between equal claims of val and test, test (the items a score is computed on)."""
    totals = _allocate(sum(sizes.values()), fr)
    classes = sum(1 for n in sizes.values() if n)
    if totals.get("test") == 0 and sum(sizes.values()) > classes:
        # a few labelled items: 15 % of 4 rounds to none, but a score needs a labelled test
        # item; one comes from val, or from train when train keeps one item of each class
        donor = (
            "val" if totals.get("val") else "train" if totals.get("train", 0) > classes else None
        )
        if donor is not None:
            totals[donor] -= 1
            totals["test"] += 1
    cells = {c: {s: int(np.floor(n * f)) for s, f in fr.items()} for c, n in sizes.items()}
    if "train" in fr:
        for c, n in sizes.items():
            if n and cells[c]["train"] == 0:
                cells[c]["train"] = 1  # fits: the rounded-down shares leave at least one over
    col_left = {s: totals[s] - sum(cells[c][s] for c in cells) for s in fr}
    row_left = {c: n - sum(cells[c].values()) for c, n in sizes.items()}
    ties = {(c, s): float(rng.random()) for c in sizes for s in fr}
    while any(row_left.values()):
        c, s = max(
            ((c, s) for c in sizes if row_left[c] > 0 for s in fr),
            key=lambda cs: (
                col_left[cs[1]] > 0,
                round(sizes[cs[0]] * fr[cs[1]] - cells[cs[0]][cs[1]], 9),
                cs[1] == "test",  # a tie between val and test: the score needs test items
                ties[cs],
            ),
        )
        cells[c][s] += 1
        row_left[c] -= 1
        col_left[s] -= 1
    return cells


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
        f"SELECT id, label, metadata, split FROM items {where} ORDER BY id", params
    ).fetchall()


SNAPSHOTS_KEPT = 10  # older snapshots are dropped when a new one is made


@dataclass(frozen=True)
class SplitPlan:
    """A split computed but not yet written: the items, their new and their current splits."""

    ids: tuple[int, ...]
    new: tuple[str | None, ...]
    current: tuple[str | None, ...]
    description: str  # "stratified split train 0.7, val 0.15, test 0.15 (seed 0)"

    @property
    def changes(self) -> int:
        """Items whose split would be different."""
        return sum(a != b for a, b in zip(self.new, self.current, strict=True))

    @property
    def replaces(self) -> int:
        """Items that have a split now and would get a different one (what must be asked)."""
        return sum(c is not None and a != c for a, c in zip(self.new, self.current, strict=True))

    def counts(self, which: str = "new") -> dict[str, int]:
        values = self.new if which == "new" else self.current
        out: dict[str, int] = {}
        for v in values:
            key = v or "unassigned"
            out[key] = out.get(key, 0) + 1
        order = [*SPLITS, "unassigned"]
        return {k: out[k] for k in order if k in out}

    def question(self) -> str:
        """The sentence to ask before writing a plan that replaces assignments."""
        now = ", ".join(f"{k} {v:,}" for k, v in self.counts("current").items())
        new = ", ".join(f"{k} {v:,}" for k, v in self.counts("new").items())
        return (
            f"The project already has a split ({now}). The {self.description} would change "
            f"{self.changes:,} of {len(self.ids):,} assignments ({new}). The current split is "
            "kept: Dataset > Restore Previous Split (or Undo in the Browser) brings it back."
        )


def _describe(kind: str, fractions: Mapping[str, float], seed: int) -> str:
    fr = ", ".join(f"{k} {v:g}" for k, v in _check_fractions(fractions).items())
    return f"{kind} split {fr} (seed {seed})"


def plan_stratified(
    project: Project,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    filters: Any = None,
) -> SplitPlan:
    """Stratified by class (see :func:`stratified_assign`); an augmented copy goes where its
    original goes (``parent_id`` chains), so no split tests on copies of training images."""
    from qbi_desktop.core.catalog.lineage import root_ids

    rows = _target_rows(project, filters)
    roots = root_ids(project.db, [int(r[0]) for r in rows])
    grouped = len(set(roots)) < len(roots)
    new = stratified_assign([r[1] for r in rows], fractions, seed, roots if grouped else None)
    kind = "stratified" + (" (copies with their original)" if grouped else "")
    return _plan(rows, new, _describe(kind, fractions, seed))


def plan_group(
    project: Project,
    group_key: str,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    filters: Any = None,
) -> SplitPlan:
    """Items sharing ``metadata[group_key]`` (e.g. specimen) stay together; an augmented copy
    has its original's. Items without that key are refused: a missing group would silently
    leak."""
    from qbi_desktop.core.catalog.lineage import root_ids

    rows = _target_rows(project, filters)
    roots = root_ids(project.db, [int(r[0]) for r in rows])
    groups = []
    missing = []
    root_meta: dict[int, dict] = {}
    for (item_id, _label, meta, _split), root in zip(rows, roots, strict=True):
        value = json.loads(meta).get(group_key)
        if value is None and root != item_id:  # an augmented copy: its original's specimen
            if root not in root_meta:
                row = project.db.execute("SELECT metadata FROM items WHERE id = ?", (root,))
                root_meta[root] = json.loads(row.fetchone()[0])
            value = root_meta[root].get(group_key)
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
    new = group_assign(groups, fractions, seed)
    return _plan(rows, new, _describe(f"group ({group_key})", fractions, seed))


def _plan(rows: list[tuple], new: np.ndarray, description: str) -> SplitPlan:
    return SplitPlan(
        tuple(int(r[0]) for r in rows),
        tuple(new.tolist()),
        tuple(r[3] for r in rows),
        description,
    )


def apply_plan(project: Project, plan: SplitPlan) -> Change:
    """Write a planned split in one transaction, after keeping the whole current assignment as
    a snapshot (when anything assigned changes). The returned Change undoes it."""
    with project.transaction() as tx:
        if plan.replaces:
            _save_snapshot(tx.db, f"before the {plan.description}")
        return tx.set_splits(zip(plan.ids, plan.new, strict=True), what=plan.description)


def stratified_split(
    project: Project,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    filters: Any = None,
    replace: bool = False,
) -> dict[str, int]:
    """Assign train/val/test to the (filtered) items, stratified by class; one transaction.

    Refuses to change existing assignments unless ``replace`` (the old split is then kept as a
    snapshot). Returns the number of items per split.
    """
    return _apply_checked(project, plan_stratified(project, fractions, seed, filters), replace)


def group_split(
    project: Project,
    group_key: str,
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    filters: Any = None,
    replace: bool = False,
) -> dict[str, int]:
    """Like :func:`stratified_split`, keeping the items of each ``metadata[group_key]``
    together (see :func:`plan_group`)."""
    plan = plan_group(project, group_key, fractions, seed, filters)
    return _apply_checked(project, plan, replace)


def _apply_checked(project: Project, plan: SplitPlan, replace: bool) -> dict[str, int]:
    if plan.replaces and not replace:
        raise UserFacingError(
            f"{plan.question()} Nothing was changed; pass replace=True (CLI: --replace) to "
            "replace it."
        )
    apply_plan(project, plan)
    return {k: v for k, v in plan.counts("new").items() if k != "unassigned"}


# -- snapshots of replaced splits ------------------------------------------------------------


@dataclass(frozen=True)
class SplitSnapshot:
    id: int
    made: str
    note: str
    counts: dict[str, int]  # items per split ("unassigned" for none)


def _current_assignment(db: Any) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for item_id, split in db.execute("SELECT id, split FROM items ORDER BY id"):
        out.setdefault(split or "", []).append(int(item_id))
    return out


def _save_snapshot(db: Any, note: str) -> None:
    from qbi_desktop.core.catalog.project import now

    data = json.dumps(_current_assignment(db), separators=(",", ":"))
    db.execute(
        "INSERT INTO split_snapshots(made, note, splits) VALUES (?, ?, ?)", (now(), note, data)
    )
    db.execute(
        "DELETE FROM split_snapshots WHERE id NOT IN "
        f"(SELECT id FROM split_snapshots ORDER BY id DESC LIMIT {SNAPSHOTS_KEPT})"
    )


def snapshots(project: Project) -> list[SplitSnapshot]:
    """The kept splits, newest first."""
    out = []
    for sid, made, note, data in project.db.execute(
        "SELECT id, made, note, splits FROM split_snapshots ORDER BY id DESC"
    ):
        groups = json.loads(data)
        counts = {(k or "unassigned"): len(v) for k, v in groups.items()}
        out.append(SplitSnapshot(int(sid), made, note, counts))
    return out


def restore_previous(project: Project) -> Change:
    """Bring back the newest snapshot exactly (items added since keep their split); the split
    it replaces becomes the newest snapshot, so restoring twice swaps back. One transaction."""
    with project.transaction() as tx:
        row = tx.db.execute(
            "SELECT id, note, splits FROM split_snapshots ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise UserFacingError(
                f"{project.root}: there is no previous split to restore (one is kept each time "
                "a split replaces another)"
            )
        sid, note, data = row
        groups = json.loads(data)
        tx.db.execute("DELETE FROM split_snapshots WHERE id = ?", (sid,))
        _save_snapshot(tx.db, "before restoring the split kept " + note)
        assignment = [
            (int(i), split or None)
            for split, ids in groups.items()
            if split == "" or split in SPLITS
            for i in ids
        ]
        return tx.set_splits(assignment, what="restore previous split")
