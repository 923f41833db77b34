"""Consensus of several annotators, written as the item's annotation with its provenance.

Classes: majority vote; a tie is flagged and the item left as it is (a person decides).
Targets: the mean or the median. Masks: STAPLE (per class, one against the rest; each pixel
takes the class with the highest posterior when it is at least 0.5) or a plain majority vote.
Only items two or more people annotated get a consensus. The item's annotation is written with
the annotator ``"consensus of A, B, C by STAPLE"`` (so the Browser and the history show where it
came from) and the project's metadata key ``consensus`` records, per kind, the method and the
annotators, for exports (Data Package) to state.
"""

from __future__ import annotations

import contextlib
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from qbi_desktop.core.catalog import opinions
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.quality.staple import staple

if TYPE_CHECKING:
    from qbi_desktop.core.catalog.project import Project

TARGET_METHODS = ("mean", "median")
MASK_METHODS = ("staple", "majority")
_METHOD_WORDS = {
    "majority": "majority vote",
    "staple": "STAPLE",
    "mean": "mean",
    "median": "median",
}
#: Items written per transaction (a cancelled job keeps whole chunks).
_CHUNK = 500


def provenance(annotators: Sequence[str], method: str) -> str:
    """``consensus of A, B, C by STAPLE``: who the consensus is written as."""
    return f"{opinions.CONSENSUS_PREFIX}{', '.join(sorted(annotators))} by {_METHOD_WORDS[method]}"


def majority(values: Sequence[str]) -> tuple[str | None, bool]:
    """The most frequent class and whether there was a tie (then ``None``)."""
    counts = Counter(values).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None, True
    return counts[0][0], False


def mask_consensus(
    masks: Sequence[np.ndarray], classes: Sequence[int], method: str = "staple"
) -> tuple[np.ndarray, dict[int, Any]]:
    """One label mask from several; per class the STAPLE result (or None for majority)."""
    shape = masks[0].shape
    best = np.zeros(shape, np.float32)
    out = np.zeros(shape, np.uint16 if max(classes, default=0) > 255 else np.uint8)
    details: dict[int, Any] = {}
    for c in classes:
        layers = [m == c for m in masks]
        if method == "staple":
            result = staple(layers)
            probability = result.probability
            details[c] = result
        else:
            probability = (np.sum(layers, axis=0) / len(layers)).astype(np.float32)
            # a strict majority: half of an even number of votes is not enough
            probability = np.where(probability > 0.5, probability, 0).astype(np.float32)
            details[c] = None
        take = (probability >= 0.5) & (probability > best)
        out[take] = c
        best[take] = probability[take]
    return out, details


@dataclass
class ConsensusResult:
    labels_written: int = 0
    ties: list[int] = field(default_factory=list)  # items whose vote was tied: left alone
    targets_written: int = 0
    masks_written: int = 0
    #: item -> {annotator: (sensitivity, specificity)} of the first class STAPLE saw
    staple: dict[int, dict[str, tuple[float, float]]] = field(default_factory=dict)
    #: items with one annotator only, per kind (no consensus made)
    single: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: item -> consensus probability map of its first class (STAPLE only, when asked for)
    probability: dict[int, np.ndarray] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "labels_written": self.labels_written,
            "ties": self.ties,
            "targets_written": self.targets_written,
            "masks_written": self.masks_written,
            "single_annotator_items": self.single,
            "problems": self.problems,
            "staple": {
                str(i): {a: {"sensitivity": s, "specificity": p} for a, (s, p) in by.items()}
                for i, by in self.staple.items()
            },
        }


def build_consensus_job(
    project: Project,
    *,
    kinds: Sequence[str] = ("label", "target", "mask"),
    target_method: str = "mean",
    mask_method: str = "staple",
    keep_probability: bool = False,
) -> Job[ConsensusResult]:
    """Job: write the consensus of every item two or more people annotated (see the module)."""
    if target_method not in TARGET_METHODS:
        raise UserFacingError(f"target consensus {target_method!r}: use one of {TARGET_METHODS}")
    if mask_method not in MASK_METHODS:
        raise UserFacingError(f"mask consensus {mask_method!r}: use one of {MASK_METHODS}")
    for kind in kinds:
        if kind not in ("label", "target", "mask"):
            raise UserFacingError(f"consensus of {kind!r}: only label, target and mask")
    return _job(project, tuple(kinds), target_method, mask_method, keep_probability)


def build_consensus(project: Project, **options: Any) -> ConsensusResult:
    from qbi_desktop.core.jobs import run_job

    return run_job(build_consensus_job(project, **options))


def _job(
    project: Project,
    kinds: tuple[str, ...],
    target_method: str,
    mask_method: str,
    keep_probability: bool,
) -> Job[ConsensusResult]:
    from qbi_desktop.core.catalog.project import now

    db = project.connect()
    result = ConsensusResult()
    record: dict[str, Any] = {}
    try:
        if "label" in kinds:
            yield Progress(0, 0, "class labels")
            shared = _shared(opinions.table(db, "label"), result, "label")
            writes = []
            for item, by in shared.items():
                label, tie = majority([str(v) for v in by.values()])
                if tie:
                    result.ties.append(item)
                else:
                    writes.append((item, label, provenance(by, "majority")))
            for start in range(0, len(writes), _CHUNK):
                with project.transaction(db) as tx:
                    for item, label, who in writes[start : start + _CHUNK]:
                        tx.set_label([item], label, who)
            result.labels_written = len(writes)
            if shared:
                record["label"] = _method(shared, "majority vote")
        if "target" in kinds:
            yield Progress(0, 0, "targets")
            reduce = statistics.fmean if target_method == "mean" else statistics.median
            for name in opinions.target_names(db):
                shared = _shared(opinions.table(db, "target", name), result, f"target:{name}")
                items = list(shared.items())
                for start in range(0, len(items), _CHUNK):
                    with project.transaction(db) as tx:
                        for item, by in items[start : start + _CHUNK]:
                            value = float(reduce([float(v) for v in by.values()]))
                            tx.set_targets(item, {name: value}, provenance(by, target_method))
                result.targets_written += len(items)
                if shared:
                    record[f"target:{name}"] = _method(shared, target_method)
        if "mask" in kinds:
            yield from _masks(project, db, result, mask_method, keep_probability, record)
        if record:
            with project.transaction(db) as tx:
                old = db.execute("SELECT value FROM meta WHERE key = 'consensus'").fetchone()
                import json

                merged = {**(json.loads(old[0]) if old else {}), **record}
                for entry in record.values():
                    entry["at"] = now()
                tx.set_metadata(consensus=merged)
        yield Progress(1, 1, "consensus written")
        return result
    finally:
        with contextlib.suppress(Exception):
            db.close()


def _shared(
    table: dict[int, dict[str, Any]], result: ConsensusResult, kind: str
) -> dict[int, dict[str, Any]]:
    single = sum(1 for by in table.values() if len(by) == 1)
    if single:
        result.single[kind] = single
    return {i: by for i, by in table.items() if len(by) >= 2}


def _method(shared: dict[int, dict[str, Any]], method: str) -> dict[str, Any]:
    people = sorted({a for by in shared.values() for a in by})
    return {"method": _METHOD_WORDS.get(method, method), "annotators": people, "items": len(shared)}


def _masks(
    project: Project,
    db: Any,
    result: ConsensusResult,
    method: str,
    keep_probability: bool,
    record: dict[str, Any],
) -> Job[None]:
    from qbi_desktop.core.quality.agreement_report import iter_masks, mask_classes

    shared = _shared(opinions.table(db, "mask"), result, "mask")
    classes, instances = mask_classes(db)
    names = dict(db.execute("SELECT id, name FROM items").fetchall())
    for n, (item, _by, masks) in enumerate(iter_masks(project, shared, names, instances)):
        yield Progress(n, len(shared), f"mask consensus: item {n + 1} of {len(shared)}")
        if isinstance(masks, Exception):
            result.problems.append(str(masks))
            continue
        people = list(masks)
        present = sorted({int(v) for m in masks.values() for v in np.unique(m) if v != 0})
        wanted = present or sorted(classes) or [1]
        mask, details = mask_consensus([masks[a] for a in people], wanted, method)
        if instances:  # each object its own number again
            mask = ndimage.label(mask > 0, structure=np.ones((3, 3), bool))[0]
        first = details.get(wanted[0])
        if first is not None:
            result.staple[item] = {
                a: (float(first.sensitivity[i]), float(first.specificity[i]))
                for i, a in enumerate(people)
            }
            if keep_probability:
                result.probability[item] = first.probability
        with project.transaction(db) as tx:
            tx.set_mask(item, mask, provenance(people, method))
        result.masks_written += 1
    if shared:
        record["mask"] = _method(shared, method)
    yield Progress(len(shared), len(shared), "mask consensus done")
