"""`qbi-desktop agreement`: how far do the annotators of a project agree, and (if asked) their
consensus written as the items' annotation.

The same core jobs as Dataset > Agreement (:mod:`qbi_desktop.core.quality.agreement_report`,
:mod:`~qbi_desktop.core.quality.consensus`, :mod:`~qbi_desktop.core.quality.calibration`).
Writes into OUT, each file atomically:

- ``report.json``: every figure per kind (label, target:<name>, mask, boxes), per pair and per
  annotator, the items annotated by one person only, the problems;
- ``pairs.csv``: one row per kind and pair (items, agreement, kappa / ICC / Dice / F1 ...);
- ``disagreements.csv``: items where annotators differ, most disagreeing first;
- ``single_annotator.csv``: items only one person annotated (no agreement measured);
- ``confusion_<A>_<B>.png`` and ``bland_altman_<target>_<A>_<B>.png``;
- ``calibration.json`` / ``calibration.csv`` when annotators drew masks on simulated items;
- with ``--consensus``: ``consensus.json`` and, for STAPLE, ``probability/<item>.tif``.

Without ``--consensus`` the catalog is only read.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from qbi_desktop.core.errors import UserFacingError


def register(subparsers: Any) -> None:
    """Add the ``agreement`` sub-command."""
    p = subparsers.add_parser(
        "agreement",
        help="agreement between annotators (kappa, ICC, Dice, F1), consensus, calibration",
        description=(
            "Measure how far the annotators of a project agree: class labels (percent "
            "agreement, Cohen's and Fleiss' kappa, confusion matrices), targets (ICC, "
            "Bland-Altman), masks (Dice, IoU, matched objects) and boxes (F1 at IoU 0.5), per "
            "pair and per annotator, most disagreeing items first; annotators' masks of "
            "simulated items are scored against the exact truth. With --consensus, also write "
            "the consensus (majority vote, mean/median, STAPLE) as the items' annotation."
        ),
    )
    p.add_argument("--project", required=True, metavar="DIR", help="project folder")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the report files")
    p.add_argument(
        "--consensus",
        action="store_true",
        help="write the consensus of items two or more people annotated into the project",
    )
    p.add_argument("--target-method", choices=("mean", "median"), default="mean")
    p.add_argument("--mask-method", choices=("staple", "majority"), default="staple")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def pairs_csv(sections: dict[str, dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("kind", "annotator_a", "annotator_b", "items", "figure", "value"))
    for kind, section in sections.items():
        for pair, figures in section.get("pairs", {}).items():
            a, b = pair.split(" | ", 1)
            for name, value in _flat(figures):
                if name in ("items",) or name.startswith("confusion"):
                    continue
                w.writerow((kind, a, b, figures.get("items", ""), name, _number(value)))
    return out.getvalue()


def _flat(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            rows += [(f"{prefix}{key}[{i}]", v) for i, v in enumerate(value)]
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def disagreements_csv(report: Any) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("item", "name", "kind", "score", "annotators", "detail"))
    for d in report.items:
        w.writerow((d.item, d.name, d.kind, f"{d.score:.6g}", "; ".join(d.annotators), d.detail))
    return out.getvalue()


def single_csv(report: Any) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(("kind", "item"))
    for kind, items in report.single.items():
        for item in items:
            w.writerow((kind, item))
    return out.getvalue()


def calibration_csv(calibration: Any) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    head = ("sensitivity", "precision", "object_sensitivity", "object_precision")
    w.writerow(("annotator", "items", *head, "boundary_bias_px"))
    for annotator, c in sorted(calibration.per_annotator.items()):
        d = c.to_dict()
        w.writerow(
            (annotator, c.items, *(_number(d[k]) for k in head), _number(d["boundary_bias_px"]))
        )
    return out.getvalue()


def write_pictures(report: Any, out: Any) -> list[Path]:
    """The confusion matrices and Bland-Altman plots of ``report`` as PNGs in ``out``: a
    folder (each file written atomically) or a :class:`~qbi_desktop.core.outfolder.StagedFolder`
    (the report's files appear together)."""
    from qbi_desktop.core.atomic import atomic_write_bytes
    from qbi_desktop.core.catalog.opinions import annotator_folder
    from qbi_desktop.core.outfolder import StagedFolder
    from qbi_desktop.core.quality.agreement_pictures import (
        bland_altman_image,
        pair_confusion_image,
    )
    from qbi_desktop.core.report import _png

    def write(name: str, data: bytes) -> Path:
        if isinstance(out, StagedFolder):
            return out.write_bytes(name, data)
        atomic_write_bytes(Path(out) / name, data)
        return Path(out) / name

    written = []
    for (a, b), (labels, cm) in report.confusions.items():
        name = f"confusion_{annotator_folder(a)}_{annotator_folder(b)}.png"
        written.append(write(name, _png(pair_confusion_image(cm, labels, a, b))))
    for (target, a, b), (mean, diff) in report.differences.items():
        folder = annotator_folder(target)
        name = f"bland_altman_{folder}_{annotator_folder(a)}_{annotator_folder(b)}.png"
        title = f"{target}: {a} minus {b} ({mean.size} items)"
        written.append(write(name, _png(bland_altman_image(mean, diff, title=title))))
    return written


#: the files an agreement report writes into ``--out`` (:data:`PATTERNS`: those named after
#: annotators and items)
OUTPUTS = (
    "report.json",
    "pairs.csv",
    "disagreements.csv",
    "single_annotator.csv",
    "calibration.json",
    "calibration.csv",
    "consensus.json",
)
PATTERNS = ("confusion_*.png", "bland_altman_*.png", "probability/*.tif")


def _earlier_files(out: Path) -> list[str]:
    """The files of an earlier report in ``out`` (checked to be ours before the run), which
    this run's report replaces: those it does not write again are removed with the commit."""
    from qbi_desktop.core.outfolder import would_replace

    return [str(p.relative_to(out)) for p in would_replace(out, OUTPUTS, PATTERNS)]


def _own_report(path: Path) -> bool:
    """Whether ``path`` belongs to an earlier agreement report there: its report.json is one."""
    from qbi_desktop.core.outfolder import json_says

    base = path.parent.parent if path.parent.name == "probability" else path.parent
    return json_says(base / "report.json", lambda d: {"annotators", "sections"} <= d.keys())


def run(args: argparse.Namespace) -> int:
    from qbi_desktop.commands.out_folder import check_out_folder
    from qbi_desktop.commands.progress import progress_printer
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.catalog.images import tiff_bytes
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.core.outfolder import StagedFolder
    from qbi_desktop.core.quality.agreement_report import _clean, agreement_job
    from qbi_desktop.core.quality.calibration import calibration_job
    from qbi_desktop.core.quality.consensus import build_consensus_job

    show = progress_printer(args.quiet)
    try:
        out = check_out_folder(args.out, OUTPUTS, PATTERNS, _own_report, "agreement")
        # only --consensus writes to the project (the report goes to --out)
        project = open_project(Path(args.project), read_only=not args.consensus)
        try:
            report = run_job(agreement_job(project), on_progress=show)
            calibration = run_job(calibration_job(project), on_progress=show)
            consensus = None
            if args.consensus:
                consensus = run_job(
                    build_consensus_job(
                        project,
                        target_method=args.target_method,
                        mask_method=args.mask_method,
                        keep_probability=True,
                    ),
                    on_progress=show,
                )
        finally:
            project.close()
        summary = report.to_dict()
        summary["project"] = str(project.root)
        # staged beside --out and moved there together: a picture that fails leaves no half
        # report (nor a mix of this run's files and an earlier one's)
        staged = StagedFolder(out, "--out")
        with staged.guarded(drop=_earlier_files(out)):
            staged.write_text("report.json", json.dumps(summary, indent=2) + "\n")
            staged.write_text("pairs.csv", pairs_csv(summary["sections"]))
            staged.write_text("disagreements.csv", disagreements_csv(report))
            staged.write_text("single_annotator.csv", single_csv(report))
            write_pictures(report, staged)
            if calibration.per_item:
                text = json.dumps(_clean(calibration.to_dict()), indent=2) + "\n"
                staged.write_text("calibration.json", text)
                staged.write_text("calibration.csv", calibration_csv(calibration))
            if consensus is not None:
                text = json.dumps(_clean(consensus.summary()), indent=2) + "\n"
                staged.write_text("consensus.json", text)
                for item, probability in consensus.probability.items():
                    staged.write_bytes(f"probability/{item}.tif", tiff_bytes(probability))
    except UserFacingError as exc:
        print(f"qbi-desktop agreement: {exc}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(f"note: {problem}", file=sys.stderr)
    if not report.sections:
        print("note: no item has annotations by two or more named annotators", file=sys.stderr)
    for kind, items in report.single.items():
        print(f"note: {len(items)} item(s) have a {kind} by one annotator only", file=sys.stderr)
    people = ", ".join(report.annotators) or "none"
    print(f"agreement of {len(report.annotators)} annotator(s) ({people}): {_headline(summary)}")
    if consensus is not None:
        print(
            f"consensus written: {consensus.labels_written} labels ({len(consensus.ties)} ties "
            f"left alone), {consensus.targets_written} targets, {consensus.masks_written} masks"
        )
    print(f"written to {out}")
    return 0


def _headline(summary: dict[str, Any]) -> str:
    parts = []
    for kind, section in summary["sections"].items():
        if kind == "label":
            value = section.get("fleiss_kappa")
            parts.append(f"labels: Fleiss' kappa {_number(value) or 'n/a'}")
        elif kind.startswith("target:"):
            value = section.get("icc2_1_absolute_agreement")
            parts.append(f"{kind[7:]}: ICC {_number(value) or 'n/a'}")
        else:
            figure = "dice" if kind == "mask" else "f1"
            values = [p.get(figure) for p in section.get("pairs", {}).values()]
            values = [v for v in values if v is not None]
            mean = sum(values) / len(values) if values else None
            parts.append(f"{kind}: mean {figure} {_number(mean) or 'n/a'}")
    return "; ".join(parts) or "nothing to compare"
