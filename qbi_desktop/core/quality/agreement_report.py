"""The agreement report of a project: every kind several people annotated, per pair of
annotators, per annotator, and the items they disagree on most, first.

Reads each annotator's own annotations (:mod:`qbi_desktop.core.catalog.opinions`); the catalog is
not changed. Items only one person annotated are counted and listed as such (``single``), never
as agreement. Masks of different shapes are refused for that item, naming it and the people
(``problems``), and the rest of the report goes on.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.catalog import opinions
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.quality import agreement as ag

if TYPE_CHECKING:
    import sqlite3

    from qbi_desktop.core.catalog.project import Project


@dataclass(frozen=True)
class Disagreement:
    """One item where annotators differ: ``score`` 0 (agree) .. 1 (nothing in common); for
    targets the spread of their values as a share of the target's range over the project."""

    item: int
    name: str
    kind: str  # label, target:<name>, mask, boxes
    score: float
    annotators: tuple[str, ...]
    detail: str


@dataclass
class AgreementReport:
    annotators: list[str]
    #: one section per kind: "label", "target:<name>", "mask", "boxes"; plain JSON values
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: every item with two or more annotators and some disagreement, most disagreeing first
    items: list[Disagreement] = field(default_factory=list)
    #: per kind, the items only one person annotated (no agreement can be measured)
    single: dict[str, list[int]] = field(default_factory=dict)
    #: items left out and why (masks of different shapes, unreadable files)
    problems: list[str] = field(default_factory=list)
    #: for the pictures: (a, b) -> (labels, confusion matrix); (target, a, b) -> (mean, diff)
    confusions: dict[tuple[str, str], tuple[list[str], np.ndarray]] = field(default_factory=dict)
    differences: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict
    )

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "annotators": self.annotators,
                "sections": self.sections,
                "single_annotator_items": {k: len(v) for k, v in self.single.items()},
                "problems": self.problems,
                "most_disagreeing": [
                    {
                        "item": d.item,
                        "name": d.name,
                        "kind": d.kind,
                        "score": d.score,
                        "annotators": list(d.annotators),
                        "detail": d.detail,
                    }
                    for d in self.items[:100]
                ],
            }
        )


def _clean(value: Any) -> Any:
    """JSON has no nan: undefined figures become null."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return _clean(float(value))
    return value


def agreement(project: Project) -> AgreementReport:
    from qbi_desktop.core.jobs import run_job

    return run_job(agreement_job(project))


def agreement_job(project: Project) -> Job[AgreementReport]:
    """Job: the report of ``project`` (runs on a worker: it opens its own connection)."""
    db = project.connect()
    try:
        names = dict(db.execute("SELECT id, name FROM items").fetchall())
        report = AgreementReport(opinions.annotators(db))
        yield Progress(0, 4, "class labels")
        _labels(db, report, names)
        yield Progress(1, 4, "targets")
        for target in opinions.target_names(db):
            _targets(db, report, names, target)
        yield Progress(2, 4, "boxes")
        _boxes(db, report, names)
        yield Progress(3, 4, "masks")
        yield from _masks(project, db, report, names)
        report.items.sort(key=lambda d: (-d.score, d.item, d.kind))
        yield Progress(4, 4, f"{len(report.items)} items with disagreements")
        return report
    finally:
        with contextlib.suppress(Exception):
            db.close()


def _split(
    table: dict[int, dict[str, Any]], report: AgreementReport, kind: str
) -> dict[int, dict[str, Any]]:
    """Items with two or more annotators; the others are recorded as single."""
    single = sorted(i for i, by in table.items() if len(by) == 1)
    if single:
        report.single[kind] = single
    return {i: by for i, by in table.items() if len(by) >= 2}


def _pairs(people: list[str]) -> Iterator[tuple[str, str]]:
    return itertools.combinations(people, 2)


def _per_annotator(
    people: list[str], pairs: dict[str, dict[str, Any]], key: str, n: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """Each annotator's items and mean pairwise ``key`` figure with the others."""
    out = {}
    for person in people:
        values = [
            p[key]
            for name, p in pairs.items()
            if person in name.split(" | ") and p.get(key) is not None and not math.isnan(p[key])
        ]
        out[person] = {
            "items": n.get(person, 0),
            f"mean_{key}_with_others": float(np.mean(values)) if values else math.nan,
        }
    return out


def _pair_name(a: str, b: str) -> str:
    return f"{a} | {b}"


# -- class labels --------------------------------------------------------------------------------


def _labels(db: sqlite3.Connection, report: AgreementReport, names: dict[int, str]) -> None:
    table = opinions.table(db, "label")
    if not table:
        return
    shared = _split(table, report, "label")
    n_by = Counter(a for by in table.values() for a in by)  # items each person annotated
    people = sorted(n_by)
    section: dict[str, Any] = {
        "annotators": people,
        "items_with_two_or_more": len(shared),
        "items_with_one": len(report.single.get("label", [])),
    }
    pairs: dict[str, dict[str, Any]] = {}
    classes = sorted({str(v) for by in shared.values() for v in by.values()})
    for a, b in _pairs(people):
        both = [(str(by[a]), str(by[b])) for by in shared.values() if a in by and b in by]
        if not both:
            continue
        la, lb = [x for x, _ in both], [y for _, y in both]
        cm = ag.confusion(la, lb, classes)
        report.confusions[(a, b)] = (classes, cm)
        pairs[_pair_name(a, b)] = {
            "items": len(both),
            "percent_agreement": float(np.trace(cm) / cm.sum()),
            "cohen_kappa": ag.kappa_from_confusion(cm),
            "confusion": {"labels": classes, "rows": a, "columns": b, "counts": cm.tolist()},
        }
    section["pairs"] = pairs
    # Fleiss' kappa wants the same number of ratings per item (not the same people): the items
    # with the most common number of annotators
    sizes = Counter(len(by) for by in shared.values())
    raters = max(sizes, key=lambda k: (sizes[k], k)) if sizes else 0
    rated = [[str(v) for v in by.values()] for by in shared.values() if len(by) == raters]
    section["fleiss_kappa"] = (
        ag.fleiss_kappa(ag.fleiss_table(rated, classes)) if rated else math.nan
    )
    section["fleiss_items"] = len(rated)
    section["fleiss_annotators_per_item"] = raters
    agree_pairs = total_pairs = 0
    for item, by in shared.items():
        values = [str(v) for v in by.values()]
        pair_agree = [x == y for x, y in itertools.combinations(values, 2)]
        agree_pairs += sum(pair_agree)
        total_pairs += len(pair_agree)
        if not all(pair_agree):
            detail = ", ".join(f"{a}: {v}" for a, v in by.items())
            score = 1 - sum(pair_agree) / len(pair_agree)
            report.items.append(ag_item(item, names, "label", score, by, detail))
    section["percent_agreement"] = agree_pairs / total_pairs if total_pairs else math.nan
    section["per_annotator"] = _per_annotator(people, pairs, "cohen_kappa", n_by)
    report.sections["label"] = section


def ag_item(
    item: int, names: dict[int, str], kind: str, score: float, by: dict[str, Any], detail: str
) -> Disagreement:
    return Disagreement(item, str(names.get(item, item)), kind, float(score), tuple(by), detail)


# -- targets -------------------------------------------------------------------------------------


def _targets(
    db: sqlite3.Connection, report: AgreementReport, names: dict[int, str], target: str
) -> None:
    kind = f"target:{target}"
    table = opinions.table(db, "target", target)
    shared = _split(table, report, kind)
    n_by = Counter(a for by in table.values() for a in by)  # items each person annotated
    people = sorted(n_by)
    every = np.array([float(v) for by in table.values() for v in by.values()])
    # an item's spread as a share of the range of every value given: 0 (same) .. 1
    scale = float(every.max() - every.min()) if every.size > 1 else 0.0
    scale = scale or 1.0
    section: dict[str, Any] = {
        "annotators": people,
        "items_with_two_or_more": len(shared),
        "items_with_one": len(report.single.get(kind, [])),
    }
    pairs: dict[str, dict[str, Any]] = {}
    for a, b in _pairs(people):
        rows = [(float(by[a]), float(by[b])) for by in shared.values() if a in by and b in by]
        if not rows:
            continue
        x = np.array(rows)
        ba = ag.bland_altman(x[:, 0], x[:, 1])
        report.differences[(target, a, b)] = (x.mean(axis=1), x[:, 0] - x[:, 1])
        pairs[_pair_name(a, b)] = {
            "items": ba.n,
            "bias": ba.bias,
            "sd_of_differences": ba.sd,
            "limits_of_agreement": [ba.lower, ba.upper],
            "icc2_1": ag.icc(x).icc2,
            "mean_abs_difference": float(np.abs(x[:, 0] - x[:, 1]).mean()),
        }
    section["pairs"] = pairs
    complete = np.array(
        [[float(by[p]) for p in people] for by in shared.values() if len(by) == len(people)]
    )
    result = ag.icc(complete) if complete.size else ag.ICC(math.nan, math.nan, 0, len(people))
    section["icc2_1_absolute_agreement"] = result.icc2
    section["icc3_1_consistency"] = result.icc3
    section["icc_items"] = result.n_items
    section["per_annotator"] = _per_annotator(people, pairs, "icc2_1", n_by)
    report.sections[kind] = section
    for item, by in shared.items():
        values = [float(v) for v in by.values()]
        spread = max(values) - min(values)
        if spread > 0:
            detail = ", ".join(f"{a}: {float(v):g}" for a, v in by.items())
            report.items.append(ag_item(item, names, kind, spread / scale, by, detail))


# -- boxes ---------------------------------------------------------------------------------------


def _boxes(db: sqlite3.Connection, report: AgreementReport, names: dict[int, str]) -> None:
    table = opinions.table(db, "boxes")
    if not table:
        return
    shared = _split(table, report, "boxes")
    n_by = Counter(a for by in table.values() for a in by)  # items each person annotated
    people = sorted(n_by)
    sums: dict[tuple[str, str], list[float]] = {}
    for item, by in shared.items():
        f1s = []
        for a, b in _pairs(sorted(by)):
            m = ag.match_boxes([tuple(x) for x in by[a]], [tuple(x) for x in by[b]])
            s = sums.setdefault((a, b), [0, 0, 0, 0.0, 0])
            s[0] += m.n_a
            s[1] += m.n_b
            s[2] += m.matched
            if m.matched:
                s[3] += m.mean_iou * m.matched
            s[4] += 1
            f1s.append(m.f1)
        score = 1 - sum(f1s) / len(f1s)
        if score > 0:
            detail = ", ".join(f"{a}: {len(v)} boxes" for a, v in by.items())
            report.items.append(ag_item(item, names, "boxes", score, by, detail))
    pairs = {_pair_name(a, b): _object_figures(s) for (a, b), s in sorted(sums.items())}
    report.sections["boxes"] = {
        "annotators": people,
        "items_with_two_or_more": len(shared),
        "items_with_one": len(report.single.get("boxes", [])),
        "match_iou": ag.MATCH_IOU,
        "pairs": pairs,
        "per_annotator": _per_annotator(people, pairs, "f1", n_by),
    }


def _object_figures(s: list[float]) -> dict[str, Any]:
    n_a, n_b, matched, iou_sum, items = s
    total = n_a + n_b
    return {
        "items": int(items),
        "objects": [int(n_a), int(n_b)],
        "matched": int(matched),
        "f1": 1.0 if total == 0 else 2 * matched / total,
        "mean_iou_of_matches": iou_sum / matched if matched else math.nan,
    }


# -- masks ---------------------------------------------------------------------------------------


def mask_classes(db: sqlite3.Connection) -> tuple[dict[int, str], bool]:
    """What the project's mask values mean: {value: class name}, and whether masks are instance
    masks (each non-zero value one object of one class)."""
    import json

    meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
    if meta.get("mask_instances"):
        return {1: str(meta["mask_instances"])}, True
    classes = {}
    for key, name in (meta.get("mask_classes") or {}).items():
        with contextlib.suppress(ValueError):
            classes[int(key)] = str(name)
    return classes, False


def read_masks(
    project: Project, by: dict[str, str], item: int, name: str, instances: bool
) -> dict[str, np.ndarray]:
    """Every annotator's mask of one item, checked to have one shape (else a UserFacingError
    that names the item and who drew which shape)."""
    from qbi_desktop.core.errors import UserFacingError

    masks = {a: opinions.load_mask(project, path, item, a) for a, path in by.items()}
    shapes = {a: m.shape for a, m in masks.items()}
    if len(set(shapes.values())) > 1:
        said = ", ".join(f"{a}: {'x'.join(map(str, s))}" for a, s in shapes.items())
        raise UserFacingError(
            f"item {item} ({name}): the annotators' masks have different shapes ({said}); "
            "they cannot be compared"
        )
    if instances:
        masks = {a: (m != 0).astype(np.uint8) for a, m in masks.items()}
    return masks


def iter_masks(
    project: Project, shared: dict[int, dict[str, str]], names: dict[int, str], instances: bool
) -> Iterator[tuple[int, dict[str, str], dict[str, np.ndarray] | Exception]]:
    """Every item's masks (see :func:`read_masks`) in item order, or the error that refused
    them; the next items are read on two threads while the caller works on this one (file
    reading and decompression release the GIL), at most a few items ahead."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from qbi_desktop.core.errors import UserFacingError

    def read(item: int) -> dict[str, np.ndarray] | Exception:
        try:
            return read_masks(project, shared[item], item, str(names.get(item, item)), instances)
        except UserFacingError as exc:
            return exc

    items = iter(sorted(shared))
    with ThreadPoolExecutor(max_workers=2) as pool:
        ahead: deque = deque()
        for item in items:
            ahead.append((item, pool.submit(read, item)))
            if len(ahead) >= 3:
                break
        while ahead:
            item, future = ahead.popleft()
            nxt = next(items, None)
            if nxt is not None:
                ahead.append((nxt, pool.submit(read, nxt)))
            yield item, shared[item], future.result()


def _masks(
    project: Project, db: sqlite3.Connection, report: AgreementReport, names: dict[int, str]
) -> Iterator[Progress]:
    table = opinions.table(db, "mask")
    if not table:
        return
    shared = _split(table, report, "mask")
    n_by = Counter(a for by in table.values() for a in by)  # items each person annotated
    people = sorted(n_by)
    classes, instances = mask_classes(db)
    dice: dict[tuple[str, str], dict[int, list[tuple[float, float]]]] = {}
    objects: dict[tuple[str, str], dict[int, list[float]]] = {}
    compared: dict[tuple[str, str], int] = {}
    for n, (item, by, masks) in enumerate(iter_masks(project, shared, names, instances)):
        if n % 8 == 0:
            yield Progress(n, len(shared), f"masks: item {n + 1} of {len(shared)}")
        if isinstance(masks, Exception):
            report.problems.append(str(masks))
            continue
        item_dice = []
        for pair in _pairs(sorted(masks)):
            compared[pair] = compared.get(pair, 0) + 1
        objects_of: dict[tuple[str, int], tuple[np.ndarray, int]] = {}  # each labelled once
        for a, b in _pairs(sorted(masks)):
            for c, (d, iou) in ag.overlap_per_class(masks[a], masks[b]).items():
                dice.setdefault((a, b), {}).setdefault(c, []).append((d, iou))
                item_dice.append(d)
                for person in (a, b):
                    if (person, c) not in objects_of:
                        objects_of[(person, c)] = ag.components(masks[person] == c)
                m = ag.match_components(objects_of[(a, c)], objects_of[(b, c)])
                s = objects.setdefault((a, b), {}).setdefault(c, [0, 0, 0, 0.0, 0])
                s[0] += m.n_a
                s[1] += m.n_b
                s[2] += m.matched
                if m.matched:
                    s[3] += m.mean_iou * m.matched
                s[4] += 1
        score = 1 - float(np.mean(item_dice)) if item_dice else 0.0
        if score > 0:
            detail = f"mean Dice {1 - score:.3f} over {len(item_dice)} class/pair(s)"
            report.items.append(ag_item(item, names, "mask", score, by, detail))

    def class_name(c: int) -> str:
        return classes.get(c, str(c))

    pairs: dict[str, dict[str, Any]] = {}
    for (a, b), per_class in sorted(dice.items()):
        entry: dict[str, Any] = {"per_class": {}}
        for c, values in sorted(per_class.items()):
            arr = np.array(values)
            entry["per_class"][class_name(c)] = {
                "items": len(values),
                "dice": float(arr[:, 0].mean()),
                "iou": float(arr[:, 1].mean()),
                "objects": _object_figures(objects[(a, b)][c]),
            }
        all_dice = np.concatenate([np.array(v)[:, 0] for v in per_class.values()])
        entry["dice"] = float(all_dice.mean())
        entry["items"] = compared[(a, b)]
        pairs[_pair_name(a, b)] = entry
    report.sections["mask"] = {
        "annotators": people,
        "classes": {str(k): v for k, v in classes.items()},
        "instance_masks": instances,
        "items_with_two_or_more": len(shared),
        "items_with_one": len(report.single.get("mask", [])),
        "pairs": pairs,
        "per_annotator": _per_annotator(people, pairs, "dice", n_by),
    }
