"""``qbi-desktop label|target|classes``: class labels, regression targets and the class list of a
project from the command line, through the same core functions as the Browser's keys
(``core/catalog/classes.py``, ``core/catalog/targets.py``). Each change is one catalog
transaction; bad input exits with code 2 and a message, nothing half-written."""

from __future__ import annotations

import argparse
import sys

from qbi_desktop.commands import names, numbers
from qbi_desktop.core.errors import UserFacingError, shown_name, terminal_safe

MAX_IDS = 10_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("label", help="set or clear the class label of project items")
    p.add_argument("--project", required=True, help="project folder")
    p.add_argument("--ids", required=True, help="item ids: 1,4,10-20")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--class", dest="class_name", help="the class to give (new ones are added)")
    what.add_argument("--clear", action="store_true", help="clear the label")
    p.add_argument("--annotator", type=names.annotator, help="who gave the label (stored with it)")
    p.set_defaults(func=run_label)

    p = subparsers.add_parser(
        "target", help="define a regression target, or set/clear its value on items"
    )
    p.add_argument("--project", required=True, help="project folder")
    p.add_argument("--name", required=True, help="the target's name, e.g. count")
    p.add_argument("--define", action="store_true", help="store the definition given below")
    p.add_argument("--unit", default="", help="with --define: unit, e.g. cells")
    p.add_argument(
        "--min",
        type=numbers.real(what="a value"),
        dest="low",
        help="with --define: lowest allowed value",
    )
    p.add_argument(
        "--max",
        type=numbers.real(what="a value"),
        dest="high",
        help="with --define: highest allowed value",
    )
    p.add_argument(
        "--decimals",
        type=numbers.whole(0, 12, "decimals"),
        help="with --define: values rounded to this many",
    )
    p.add_argument(
        "--changes-with",
        default="crop_zoom",
        help="with --define: augmentation that changes the value, comma-separated from "
        "crop_zoom, rotation_flip, intensity ('' for none; default crop_zoom)",
    )
    p.add_argument("--ids", help="item ids to set the value on: 1,4,10-20")
    value = p.add_mutually_exclusive_group()
    value.add_argument("--value", help="the value (checked against the definition)")
    value.add_argument("--clear", action="store_true", help="remove the value")
    p.add_argument("--annotator", type=names.annotator, help="who typed the value (stored with it)")
    p.set_defaults(func=run_target)

    p = subparsers.add_parser(
        "classes", help="list classes with counts; rename, merge or order them"
    )
    p.add_argument("--project", required=True, help="project folder")
    p.add_argument("--rename", metavar="OLD=NEW", help="rename a class on every item")
    p.add_argument("--merge", metavar="A,B=INTO", help="merge classes into one (new or existing)")
    p.add_argument(
        "--order",
        metavar="A,B,C",
        help="the class list (key 0 = first); each class once, only classes the project has "
        "(or given to --add)",
    )
    p.add_argument("--add", metavar="A,B", help="add new (empty) classes to the class list")
    p.add_argument("--annotator", type=names.annotator, help="who made the change (item histories)")
    p.set_defaults(func=run_classes)


def parse_ids(text: str, largest: int | None = None) -> list[int]:
    """ "1,4,10-20" -> ids; refuses anything else with a message. ``largest``: the project's
    largest item id, named when a range goes beyond it."""
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                lo, hi = (int(x) for x in part.split("-", 1))
            else:
                lo = hi = int(part)
        except ValueError:
            raise UserFacingError(f"--ids: {part!r} is not an id or a range like 10-20") from None
        if hi < lo:
            raise UserFacingError(f"--ids: {part!r} ends before it starts (a range like 10-20)")
        if largest is not None and hi > largest and hi - lo >= MAX_IDS:
            raise UserFacingError(
                f"--ids: {part!r} goes beyond the largest item id of the project, {largest:,}"
            )
        if hi - lo >= MAX_IDS:
            raise UserFacingError(f"--ids: {part!r} holds more than {MAX_IDS:,} ids")
        if not 1 <= lo <= hi <= numbers.INT64_MAX:  # SQLite's ids; each part's own ends
            raise UserFacingError(f"--ids: {part!r} is not an item id (1 to {numbers.INT64_MAX:,})")
        out.extend(range(lo, hi + 1))
        if len(out) > MAX_IDS:
            raise UserFacingError(f"--ids: more than {MAX_IDS:,} ids")
    if not out:
        raise UserFacingError("--ids: give at least one item id")
    return out


def _refused(command: str, exc: Exception) -> int:
    print(f"qbi-desktop {command}: {terminal_safe(exc)}", file=sys.stderr)
    return 2


def _largest(project) -> int:
    """The project's largest item id (0: none)."""
    return int(project.db.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0])


def _existing(project, ids: list[int]) -> list[int]:
    from qbi_desktop.core.catalog.edits import capture

    found, _ = capture(project.db, "label", ids)
    missing = sorted(set(ids) - set(found))
    if missing:
        raise UserFacingError(
            f"{project.root}: item(s) {', '.join(map(str, missing[:10]))} not in the project"
        )
    return list(found)


def run_label(args: argparse.Namespace) -> int:
    from qbi_desktop.core.catalog import classes, open_project

    try:
        with open_project(args.project) as project:
            ids = _existing(project, parse_ids(args.ids, _largest(project)))
            name = None if args.clear else classes.check_name(args.class_name)
            if name is not None and name not in classes.class_list(project):
                classes.add_class(project, name)
                print(f"new class {name!r} added to the class list")
            change = project.set_label(ids, name, args.annotator)
    except UserFacingError as exc:
        return _refused("label", exc)
    print(f"{change.what}: {change.changed} of {len(change.ids)} item(s) changed")
    return 0


def run_target(args: argparse.Namespace) -> int:
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.catalog import targets as T

    try:
        if not args.define and args.ids is None:
            raise UserFacingError("give --define (with --unit/--min/--max/--decimals) or --ids")
        if args.ids is not None and args.value is None and not args.clear:
            raise UserFacingError("--ids: give --value or --clear")
        with open_project(args.project) as project:
            if args.define:
                families = tuple(f.strip() for f in args.changes_with.split(",") if f.strip())
                definition = T.TargetDef(
                    args.name, args.unit, args.low, args.high, args.decimals, families
                )
                outside = T.define(project, definition)
                print(f"target {definition.title()}: {definition.range_text()}")
                if outside:
                    print(
                        f"{len(outside)} item(s) hold values outside this range (kept): "
                        f"{', '.join(map(str, outside[:20]))}"
                    )
            if args.ids is not None:
                ids = _existing(project, parse_ids(args.ids, _largest(project)))
                change = T.set_value(
                    project, ids, args.name, None if args.clear else args.value, args.annotator
                )
                print(f"{change.what}: {change.changed} of {len(change.ids)} item(s) changed")
    except UserFacingError as exc:
        return _refused("target", exc)
    return 0


def run_classes(args: argparse.Namespace) -> int:
    from qbi_desktop.core.catalog import classes as C
    from qbi_desktop.core.catalog import open_project

    changes = any(v is not None for v in (args.order, args.rename, args.merge)) or bool(args.add)
    try:
        # a listing only reads: it works on a project that cannot be written
        with open_project(args.project, read_only=not changes) as project:
            adding = [C.check_name(c) for c in (args.add or "").split(",") if c.strip()]
            adding = [c for c in dict.fromkeys(adding) if c not in C.class_list(project)]
            if args.order is not None:  # one write: a refused order adds nothing either
                order = args.order.split(",")
                C.order_classes(project, order, adding)
            for name in adding:
                C.add_class(project, name)
                print(f"class {name!r} added (no items yet)")
            if args.rename is not None:
                old, sep, new = args.rename.partition("=")
                if not sep:
                    raise UserFacingError(f"--rename {args.rename!r}: write OLD=NEW")
                change = C.rename_class(project, old.strip(), new, args.annotator)
                print(f"{change.what}: {len(change.ids)} item(s)")
            if args.merge is not None:
                sources, sep, into = args.merge.rpartition("=")
                if not sep or not sources.strip():
                    raise UserFacingError(f"--merge {args.merge!r}: write A,B=INTO")
                names = [s.strip() for s in sources.split(",") if s.strip()]
                change = C.merge_classes(project, names, into, args.annotator)
                print(f"{change.what}: {len(change.ids)} item(s)")
            counts = C.class_counts(project)
            for n, name in enumerate(C.class_list(project, counts)):
                key = str(n) if n < 10 else "-"
                print(f"{key:>2}  {shown_name(name)}  {counts.get(name, 0)}")
    except UserFacingError as exc:
        return _refused("classes", exc)
    return 0
