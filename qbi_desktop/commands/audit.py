"""`qbi-desktop audit`: find likely wrong labels, duplicates, leaks, outliers and unlabelled items.

The same core job as Dataset > Audit (:func:`qbi_desktop.core.quality.audit.audit_job`). Writes
``OUT/issues.csv`` (item,kind,score,given_label,suggested_label,related_item; sorted by kind, then
score descending) and ``OUT/summary.json``. The catalog is only read.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from qbi_desktop.commands import numbers
from qbi_desktop.core.errors import UserFacingError, shown_name, terminal_safe

HEADER = ("item", "kind", "score", "given_label", "suggested_label", "related_item")


def register(subparsers: Any) -> None:
    """Add the ``audit`` sub-command."""
    p = subparsers.add_parser(
        "audit",
        help="find likely wrong labels, duplicates, train/test leaks, outliers, unlabelled items",
        description=(
            "Audit a project's labels with out-of-fold kNN probabilities, exact and near "
            "duplicates (and leaks between splits), outliers and unlabelled items. Writes "
            "OUT/issues.csv and OUT/summary.json; the project is not changed."
        ),
    )
    p.add_argument("--project", required=True, metavar="DIR", help="project folder")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the two result files")
    p.add_argument(
        "--folds",
        type=numbers.whole(2, numbers.INT64_MAX, "folds"),
        default=5,
        help="cross-validation folds (default 5)",
    )
    p.add_argument(
        "--k", type=numbers.positive, default=10, help="neighbours of the kNN (default 10)"
    )
    p.add_argument("--seed", type=numbers.seed, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def issues_csv(report: Any) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for i in report.sorted_issues():
        writer.writerow(
            (i.item, i.kind, f"{i.score:.6g}", i.given_label, i.suggested_label, i.related_item)
        )
    return out.getvalue()


#: items left out that the console names (summary.json lists them all)
SHOWN_LEFT_OUT = 5

#: the files an audit writes into ``--out``
OUTPUTS = ("issues.csv", "summary.json")


def _own_report(path: Path) -> bool:
    """Whether ``path`` belongs to an earlier audit written there: its summary.json is one."""
    from qbi_desktop.core.outfolder import json_says

    return json_says(path.parent / "summary.json", lambda d: {"counts", "models"} <= d.keys())


def run(args: argparse.Namespace) -> int:
    from qbi_desktop.commands.out_folder import check_out_folder, make_out_folder
    from qbi_desktop.commands.progress import progress_printer
    from qbi_desktop.core.atomic import atomic_write_text
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.core.quality.audit import AuditSettings, audit_job
    from qbi_desktop.core.quality.features import project_items_job

    show = progress_printer(args.quiet)

    try:
        if args.folds < 2:
            raise UserFacingError(f"--folds: needs at least 2, got {args.folds}")
        if args.k < 1:
            raise UserFacingError(f"--k: needs at least 1, got {args.k}")
        out = check_out_folder(args.out, OUTPUTS, own=_own_report, command="audit")
        project = open_project(Path(args.project), read_only=True)
        try:
            items = run_job(project_items_job(project), on_progress=show)
            settings = AuditSettings(folds=args.folds, k=args.k, seed=args.seed)
            report = run_job(audit_job(items, settings), on_progress=show)
        finally:
            project.close()
        make_out_folder(out)
        atomic_write_text(out / "issues.csv", issues_csv(report))
        summary = report.summary()
        summary["project"] = str(project.root)
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    except UserFacingError as exc:
        print(f"qbi-desktop audit: {exc}", file=sys.stderr)
        return 2
    for message in report.messages:
        print(f"note: {message}", file=sys.stderr)
    counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
    print(f"audit of {len(items.names)} items: {counts}")
    if report.left_out:
        print(
            f"left out {len(report.left_out)} item(s) that could not be read or used "
            '(all listed in summary.json under "left_out"):'
        )
        for name, why in report.left_out[:SHOWN_LEFT_OUT]:
            print(f"  {shown_name(name)}: {terminal_safe(why)}")
        if len(report.left_out) > SHOWN_LEFT_OUT:
            print(f"  ... and {len(report.left_out) - SHOWN_LEFT_OUT} more")
    print(f"written to {out}")
    return 0
