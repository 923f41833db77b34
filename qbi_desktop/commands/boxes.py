"""``qbi-desktop boxes``: list, add or clear the detection boxes of a project item, through the
same core functions as the canvas's Box tool (``core/annotation/boxes.py``). One catalog
transaction per run. A box is refused as the importers refuse one (exit code 2, nothing
written): a value that is not a plain finite number ("inf", "1e308" past the image, "1_0"), no
area, or sticking out of the image by more than half a pixel; less than that is clipped (and
said)."""

from __future__ import annotations

import argparse
import sys

from qbi_desktop.commands import names, numbers
from qbi_desktop.core.errors import UserFacingError, shown_name, terminal_safe


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("boxes", help="list, add or clear the boxes of a project item")
    p.add_argument("--project", required=True, help="project folder")
    p.add_argument("--item", required=True, type=numbers.item_id, help="item id")
    p.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="LABEL,X,Y,W,H",
        help="a box in pixels (top-left x, y, width, height); repeat for more",
    )
    p.add_argument("--clear", action="store_true", help="remove the item's boxes first")
    p.add_argument(
        "--annotator", type=names.annotator, help="who made the boxes (stored with each)"
    )
    p.set_defaults(func=run_boxes)


def run_boxes(args: argparse.Namespace) -> int:
    from qbi_desktop.core.annotation.boxes import edit_boxes, parse_box
    from qbi_desktop.core.catalog import open_project

    try:
        add = [parse_box(text, args.annotator) for text in args.add]
        # a listing only reads: it works on a project that cannot be written
        with open_project(args.project, read_only=not (add or args.clear)) as project:
            if add or args.clear:
                change, notes = edit_boxes(project, args.item, add, args.clear, args.annotator)
                for note in notes:
                    print(note)
                if not change.ids:
                    raise UserFacingError(f"item {args.item} is not in the project")
            boxes = project.boxes(args.item)
    except UserFacingError as exc:
        print(f"qbi-desktop boxes: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    for b in boxes:
        who = shown_name(b.annotator or "")
        print(f"{shown_name(b.label)}\t{b.x:g}\t{b.y:g}\t{b.w:g}\t{b.h:g}\t{who}")
    print(f"item {args.item}: {len(boxes)} box(es)")
    return 0
