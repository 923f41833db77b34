"""`qbi-desktop measure`: the Measure menu's figures from the command line.

``--rect X Y W H`` / ``--ellipse X Y W H`` print mean, std, min, max, count and SNR of the pixels
whose centres lie inside (viewer coordinates: pixel (row i, column j) covers [j, j+1) x [i, i+1));
``--line X0 Y0 X1 Y1`` prints the profile as CSV (distance, x, y, value), bilinear unless
``--nearest``. Same functions as the GUI (:mod:`qbi_desktop.core.measure`), on the raw values of
the file (counts; use `normalize` first for transmission or attenuation).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from qbi_desktop.commands import numbers
from qbi_desktop.core.errors import UserFacingError

PROG = "qbi-desktop measure"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `measure` sub-command."""
    parser = subparsers.add_parser(
        "measure",
        help="region statistics or a line profile of an image",
        description=(
            "Print the statistics of a rectangle or ellipse (mean, std (n-1), min, max, count, "
            "SNR = mean/std; NaN pixels left out and counted in nan_count; infinite pixels "
            "measured and counted in inf_count: min/max are then -inf/inf, the mean inf, -inf "
            "or undefined, the std undefined) or a line profile as CSV. An undefined figure "
            "prints empty (JSON null); an infinite one as inf or -inf (JSON: the strings "
            '"inf" and "-inf", as strict JSON has no infinity). '
            "Coordinates are pixels, x to the right and y down, pixel centres at i + 0.5."
        ),
    )
    parser.add_argument("image", metavar="IMAGE", help="image file (TIFF, PNG, NeXus...)")
    parser.add_argument(
        "--slice",
        type=numbers.whole(0, numbers.INT64_MAX, "a slice"),
        default=0,
        metavar="N",
        help="slice of a stack",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    for flag, help_text in (
        ("--rect", "rectangle: left, top, width, height"),
        ("--ellipse", "ellipse inscribed in the rectangle left, top, width, height"),
    ):
        what.add_argument(
            flag,
            nargs=4,
            type=numbers.real(what="a coordinate"),
            metavar=("X", "Y", "W", "H"),
            help=help_text,
        )
    what.add_argument(
        "--line",
        nargs=4,
        type=numbers.real(what="a coordinate"),
        metavar=("X0", "Y0", "X1", "Y1"),
        help="line profile",
    )
    parser.add_argument(
        "--nearest", action="store_true", help="profile: nearest pixel instead of bilinear"
    )
    parser.add_argument("--json", action="store_true", help="statistics as one JSON object")
    parser.set_defaults(func=run)


def _value(v: float) -> float | str | None:
    """A figure for JSON: a number; "inf"/"-inf" (strict JSON has no infinity, and
    ``float("inf")`` reads them back); None when undefined (NaN)."""
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _region(args: argparse.Namespace, shape: tuple[int, ...]):
    """The rectangle or ellipse: its kind, (x, y, w, h) and the rows and columns it covers;
    a negative size, or a region without a pixel of the image, is refused (it measured
    nothing, count 0, without a word)."""
    from qbi_desktop.core.measure import roi_bounds

    kind, flag = ("rectangle", "--rect") if args.rect is not None else ("ellipse", "--ellipse")
    rect = tuple(args.rect or args.ellipse)
    x, y, w, h = rect
    if w < 0 or h < 0:
        raise UserFacingError(
            f"{flag} {' '.join(f'{v:g}' for v in rect)}: the width and height must not be "
            "negative (give the left, top corner and the size)"
        )
    bounds = roi_bounds(shape[:2], rect)
    y0, y1, x0, x1 = bounds
    if y0 == y1 or x0 == x1:
        raise UserFacingError(
            f"{args.image}: {flag} {' '.join(f'{v:g}' for v in rect)} holds no pixel centre of "
            f"the {shape[1]} x {shape[0]} image"
        )
    return kind, rect, bounds


def run(args: argparse.Namespace) -> int:
    from qbi_desktop.core.io import open_image
    from qbi_desktop.core.measure import line_profile_of, roi_stats
    from qbi_desktop.core.regions import region_of

    try:
        source = open_image(args.image)
        try:
            n, shape = source.n_slices, source.slice_shape
            if not 0 <= args.slice < n:
                raise UserFacingError(
                    f"{args.image}: has {n} slice(s), --slice {args.slice} is not one"
                )
            if args.line is None:
                # only the pixels of the region are read (a tiled TIFF: only its tiles)
                kind, rect, (y0, y1, x0, x1) = _region(args, shape)
                image = region_of(source, args.slice, (y0, y1), (x0, x1))
            else:  # only the pixels near the line, piece by piece
                x0, y0, x1, y1 = args.line
                method = "nearest" if args.nearest else "bilinear"
                profile = line_profile_of(source, args.slice, (x0, y0), (x1, y1), method)
        finally:
            source.close()
            del source  # a PNG's decoded pixels go with it
        if args.line is None:
            x, y, w, h = rect
            stats = roi_stats(image, kind, (x - x0, y - y0, w, h))
        else:
            print("distance,x,y,value")
            for d, x, y, v in zip(
                profile.distance, profile.x, profile.y, profile.values, strict=True
            ):
                print(f"{d:.6g},{x:.6g},{y:.6g},{'' if math.isnan(v) else f'{v:.9g}'}")
            return 0
    except UserFacingError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{PROG}: not enough memory to read {args.image}", file=sys.stderr)
        return 2
    figures = {
        "kind": kind,
        "mean": _value(stats.mean),
        "std": _value(stats.std),
        "min": _value(stats.min),
        "max": _value(stats.max),
        "count": stats.count,
        "nan_count": stats.nan_count,
        "inf_count": stats.inf_count,
        "snr": _value(stats.snr),
    }
    if args.json:
        print(json.dumps(figures, allow_nan=False))
    else:
        for key, value in figures.items():
            print(f"{key:10s}{'' if value is None else value}")
    return 0
