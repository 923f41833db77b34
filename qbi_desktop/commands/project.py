"""``qbi-desktop import|export|split|info``: build, write out, split and summarise a project
catalog from the command line, with the same core jobs as the Browser dock."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from qbi_desktop.commands import names, numbers
from qbi_desktop.core.errors import UserFacingError, shown_name, terminal_safe
from qbi_desktop.core.jobs import Progress, run_job


def register(subparsers: argparse._SubParsersAction) -> None:
    from qbi_desktop.core.formats import EXPORTERS, IMPORTERS

    p = subparsers.add_parser("import", help="import a dataset into a project (created if needed)")
    p.add_argument("--project", required=True, help="project folder")
    p.add_argument("--kind", required=True, choices=sorted(IMPORTERS))
    p.add_argument("--images", help="images folder (sheet, masks, coco)")
    p.add_argument(
        "--annotator", type=names.annotator, help="name stored with every label/mask/box imported"
    )
    # A sheet's text layout, when detection cannot tell (default: detected)
    p.add_argument("--encoding", help="sheet: text encoding, e.g. utf-8, windows-1252")
    p.add_argument(
        "--separator",
        choices=[",", ";", "tab", "comma", "semicolon"],
        metavar="SEP",
        help="sheet: column separator, ',' ';' or tab (also: comma, semicolon)",
    )
    p.add_argument(
        "--decimal",
        choices=[".", ",", "point", "comma"],
        metavar="MARK",
        help="sheet: decimal mark of numbers, '.' or ',' (also: point, comma)",
    )
    p.add_argument(
        "--dataset",
        metavar="PATH",
        help="nexus: the image dataset inside the file, e.g. /entry/data/data "
        "(default: the NXdata signal)",
    )
    p.add_argument(
        "--update-originals",
        action="store_true",
        help="files that are copies (same pixels) of items already in the project, e.g. an "
        "export edited in another tool, put their labels, boxes, masks and targets onto "
        "those items instead of being added as new items",
    )
    p.add_argument(
        "--edited-table",
        action="store_true",
        help="datapackage: import an items.csv edited since the export (its checksum no "
        "longer matches), read as it is with a note; one cut short is still refused",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.set_defaults(func=run_import)

    p = subparsers.add_parser("export", help="export a project to a dataset convention")
    p.add_argument("--project", required=True, help="project folder")
    p.add_argument("--kind", required=True, choices=sorted(EXPORTERS))
    p.add_argument("--out", required=True, help="output folder (must be new or empty)")
    p.add_argument("--split", action="append", help="only these splits (repeatable)")
    p.add_argument(
        "--datapackage", action="store_true", help="also write a checksummed datapackage.json"
    )
    p.add_argument(
        "--leave-out-rejected",
        action="store_true",
        help="leave out the items reviewed as rejected (the report counts them either way)",
    )
    p.add_argument(
        "--leave-out-unlabelled",
        action="store_true",
        help="leave out the items without a class (else an imagefolder or datapackage export "
        "puts them in unlabelled/, beside the split folders)",
    )
    p.add_argument(
        "--leave-out-unannotated",
        action="store_true",
        help="leave out the items with no boxes and no mask (coco, labelme; masks: no mask); "
        "else they are written as images with no objects, which those tools read as "
        "confirmed background images",
    )
    p.add_argument(
        "--annotations",
        choices=("item", "every"),
        default="item",
        help="item: each item's annotation (the consensus once built, else the latest edit); "
        "every: also each annotator's own annotations, in annotators/",
    )
    p.set_defaults(func=run_export)

    p = subparsers.add_parser(
        "split",
        help="assign train/val/test (asks for --replace before changing an existing split)",
    )
    p.add_argument("--project", required=True, help="project folder")
    p.add_argument(
        "--fractions",
        default="train=0.7,val=0.15,test=0.15",
        help="split=fraction pairs adding up to 1 (default train=0.7,val=0.15,test=0.15)",
    )
    p.add_argument("--seed", type=numbers.seed, default=0)
    p.add_argument("--group", metavar="KEY", help="keep items sharing metadata KEY together")
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace an existing split (it is kept: --restore-previous brings it back)",
    )
    p.add_argument(
        "--restore-previous",
        action="store_true",
        help="bring back the split the last split replaced",
    )
    p.set_defaults(func=run_split)

    p = subparsers.add_parser("info", help="item counts per class and split of a project")
    p.add_argument("--project", required=True, help="project folder")
    p.add_argument(
        "--min-count",
        type=numbers.whole(0, numbers.INT64_MAX, "a count"),
        default=10,
        help="warn below this many per class",
    )
    p.set_defaults(func=run_info)

    p = subparsers.add_parser(
        "repair",
        help="mend a damaged project catalog whose rows still read: a new copy with its "
        "indexes rebuilt (the damaged file is kept beside it)",
    )
    p.add_argument("--project", required=True, help="project folder")
    p.set_defaults(func=run_repair)


def _progress(progress: Progress) -> None:
    if sys.stderr.isatty() and progress.total:
        message = terminal_safe(progress.message)
        print(f"\r{message}: {progress.done}/{progress.total}", end="", file=sys.stderr)


def _tell_swept(swept: object) -> None:
    """Say what an open removed of a run that stopped (killed, crashed) before this one."""
    if swept:
        print(f"qbi-desktop: {swept}", file=sys.stderr)


def run_import(args: argparse.Namespace) -> int:
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.formats import import_job

    if args.dataset and args.kind != "nexus":
        print("qbi-desktop import: --dataset applies to --kind nexus", file=sys.stderr)
        return 2
    root = Path(args.project).absolute()
    try:
        before = _before_creation(root)
    except UserFacingError as exc:  # a name too long, a link loop: named, nothing made
        print(f"qbi-desktop import: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    added = 0
    try:
        with open_project(root, create=True) as project:
            if not project.created:  # another process made it meanwhile: never ours to remove
                before = None
            _tell_swept(project.swept)
            options = {"annotator": args.annotator}
            if args.update_originals:
                options["update_originals"] = True
            if args.edited_table:
                options["edited_table"] = True
            if args.images:
                options["images_dir"] = args.images
            for name in ("encoding", "separator", "decimal", "dataset"):
                if getattr(args, name, None):
                    options[name] = getattr(args, name)
            try:
                report = run_job(import_job(project, args.kind, args.sources, **options), _progress)
            except BaseException:
                try:
                    added = len(project)
                except Exception:  # cannot tell: keep the project
                    added = -1
                raise
    except BaseException as exc:
        refused = isinstance(exc, UserFacingError)
        if refused:
            print(f"qbi-desktop import: {terminal_safe(exc)}", file=sys.stderr)
        # A project this command created for an import that did not happen is not left behind.
        undone = _undo_creation(root, before) if added == 0 else None
        if undone:
            print(f"qbi-desktop import: {undone}", file=sys.stderr)
        if refused:
            return 2
        raise
    print(terminal_safe(report))
    return 0


#: What opening a project with ``create=True`` and importing into it may make in its folder.
_PROJECT_PARTS = (
    "catalog.sqlite",
    "catalog.sqlite-wal",
    "catalog.sqlite-shm",
    "catalog.sqlite-journal",
    "catalog.sqlite-open",
    "catalog.sqlite-swept",
    "masks",
    "images",
    "cache",
    "sources",
)


@dataclass
class _Before:
    """What a project folder held before an import that creates the project there."""

    names: set[str]  # entries of the folder (empty when the folder is new)
    missing: list[Path]  # folders that did not exist: the project folder, then its parents


def _before_creation(root: Path) -> _Before | None:
    """The state of ``root`` before the command creates a project there; None when a project
    is already there (an existing project is never removed)."""
    from qbi_desktop.core.catalog.project import CATALOG
    from qbi_desktop.core.outfolder import exists

    if exists(root / CATALOG):
        return None
    missing = []
    folder = root
    while not exists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    names = {p.name for p in root.iterdir()} if root.is_dir() else set()
    return _Before(names, missing)


def _undo_creation(root: Path, before: _Before | None) -> str | None:
    """Remove what a failed import made to create its project, and nothing else (nothing that
    was there before, nothing that is not a project part, no folder that is not empty then);
    a note of what was removed, or None when nothing was."""
    if before is None:
        return None
    removed = False
    for name in _PROJECT_PARTS:
        path = root / name
        if name in before.names or not (path.exists() or path.is_symlink()):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        removed = True
    gone = []
    for folder in before.missing:
        try:
            folder.rmdir()  # only when empty: anything else that appeared there stays
        except OSError:
            break
        gone.append(folder)
    if root in gone:
        return f"nothing was imported; removed the project folder {root} this command created"
    if removed:
        return f"nothing was imported; removed the project files this command created in {root}"
    return None


def run_export(args: argparse.Namespace) -> int:
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.formats import export_job
    from qbi_desktop.core.formats.selection import export_filters
    from qbi_desktop.core.outfolder import probe

    try:
        probe(args.out)  # a path no file system holds: named before the project is opened
        with open_project(args.project, read_only=True) as project:
            _tell_swept(project.swept)
            filters = export_filters(
                {"split": args.split} if args.split else None,
                leave_out_unannotated=args.leave_out_unannotated,
            )
            job = export_job(
                project,
                args.kind,
                args.out,
                filters=filters,
                datapackage=args.datapackage,
                leave_out_rejected=args.leave_out_rejected,
                leave_out_unlabelled=args.leave_out_unlabelled,
                annotations=args.annotations,
            )
            report = run_job(job, _progress)
    except UserFacingError as exc:
        print(f"qbi-desktop export: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    print(terminal_safe(report))
    return 0


def _fractions(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if name.strip() in out:  # a second value would silently replace the first
            raise UserFacingError(f"--fractions: {name.strip()!r} is given twice")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise UserFacingError(f"--fractions: {part!r} is not split=fraction (train=0.7)")
    return out


def run_split(args: argparse.Namespace) -> int:
    from qbi_desktop.core.catalog import open_project, splits

    try:
        with open_project(args.project) as project:
            if args.restore_previous:
                change = splits.restore_previous(project)
                print(f"previous split restored: {change.changed} assignment(s) changed")
                return 0
            fractions = _fractions(args.fractions)
            if args.group:
                plan = splits.plan_group(project, args.group, fractions, args.seed)
            else:
                plan = splits.plan_stratified(project, fractions, args.seed)
            if plan.replaces and not args.replace:
                raise UserFacingError(
                    f"{plan.question()} Nothing was changed; run again with --replace to "
                    "replace it."
                )
            change = splits.apply_plan(project, plan)
    except UserFacingError as exc:
        print(f"qbi-desktop split: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {v}" for k, v in plan.counts("new").items())
    print(f"split written: {counts} ({change.changed} assignment(s) changed)")
    if plan.replaces:
        print("the previous split is kept: --restore-previous brings it back")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from qbi_desktop.core.catalog import stats

    try:
        info = stats.project_info(args.project, args.min_count)
        report, meta, n = info["report"], info["metadata"], info["count"]
    except UserFacingError as exc:
        print(f"qbi-desktop info: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    title = f" - {shown_name(meta['title'])}" if meta.get("title") else ""
    print(f"{terminal_safe(args.project)}: {n} item(s){title}")
    counts = report["counts"]
    splits = [s for s in counts if s != "all"]
    labels = sorted({label for s in splits for label in counts[s]})
    # a name is one cell of one line: its newline or escape sequence is shown, not obeyed
    width = max([len("class"), *(len(shown_name(x)) for x in labels)])
    print("class".ljust(width) + "".join(f"{s:>12}" for s in [*splits, "all"]))
    for label in labels:
        cells = [counts[s].get(label, 0) for s in [*splits, "all"]]
        print(shown_name(label).ljust(width) + "".join(f"{c:>12}" for c in cells))
    for split, ratio in report["imbalance"].items():
        if ratio is not None:
            print(f"imbalance {split}: {ratio:.2f}")
    for warning in report["warnings"]:
        print(f"warning: {terminal_safe(warning['message'])}")
    return 0


def run_repair(args: argparse.Namespace) -> int:
    from qbi_desktop.core.catalog.repair import repair_catalog

    try:
        result = repair_catalog(args.project)
    except UserFacingError as exc:
        print(f"qbi-desktop repair: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    if not result.repaired:
        print(
            f"{result.catalog}: the catalog is whole (SQLite's integrity check passes); nothing "
            "needs repair and it was not changed"
        )
    else:
        items = result.rows.get("items", 0)
        print(
            f"{result.catalog}: repaired, {items:,} item(s); the damaged catalog is kept as "
            f"{result.damaged}"
        )
    if result.note:
        print(terminal_safe(result.note))
    return 0
