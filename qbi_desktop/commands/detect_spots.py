"""`qbi-desktop detect-spots`: propose gamma spots for images, written as label-mask TIFFs.

Runs :func:`qbi_desktop.core.spots.detect_spots`, the same function as the Spots dock, and
saves each result with :func:`qbi_desktop.core.maskio.save_mask` as ``<stem>_spots.tif``
(0 = background, 1..n = spots; uint16 when there are more than 255 spots), the image's shape.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.maskio import save_mask
from qbi_desktop.core.spots import DEFAULTS, METHODS, detect_spots


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `detect-spots` sub-command."""
    med = DEFAULTS["median"]
    parser = subparsers.add_parser(
        "detect-spots",
        help="detect bright gamma spots and write them as label masks (<stem>_spots.tif)",
        description=(
            "For each IMAGE, detect bright outlier spots and write DIR/<stem>_spots.tif: a "
            "label mask of the image's shape, 0 = background, 1..n = one id per spot. Prints "
            "one line per image: file, spots found, time."
        ),
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (TIFF, PNG...)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument("--method", choices=METHODS, default="median", help="default: median")
    parser.add_argument(
        "--k", type=float, default=None, help=f"threshold in robust sigmas (default {med['k']})"
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help=f"median window span in pixels, odd (median method; default {med['size']})",
    )
    parser.add_argument(
        "--min-area", type=int, default=None, help=f"smallest spot, px (default {med['min_area']})"
    )
    parser.add_argument(
        "--max-area", type=int, default=None, help=f"largest spot, px (default {med['max_area']})"
    )
    parser.add_argument(
        "--quantile",
        type=float,
        default=None,
        help="morph method: quantile of the peak heights "
        f"(default {DEFAULTS['morph']['quantile']})",
    )
    parser.set_defaults(func=run)


def _read(path: Path) -> np.ndarray:
    try:
        from qbi_desktop.core.io import read_image
    except ImportError:  # pragma: no cover - io.py is the lead's; tifffile is the fallback
        read_image = None
    if read_image is not None:
        image = read_image(path)
    else:  # pragma: no cover
        import tifffile

        try:
            image = tifffile.imread(path)
        except Exception as e:
            raise ImageReadError(path, f"cannot be read as a TIFF image ({e})") from None
    image = np.asarray(image)
    if image.ndim != 2:
        raise ImageReadError(
            path, f"has shape {image.shape}; spot detection needs one 2-D greyscale image"
        )
    return image


def run(args: argparse.Namespace) -> int:
    params: dict = {"k": args.k, "min_area": args.min_area, "max_area": args.max_area}
    if args.method == "median":
        params["size"] = args.size
        if args.quantile is not None:
            print("qbi-desktop detect-spots: --quantile applies to --method morph", file=sys.stderr)
            return 2
    else:
        params["quantile"] = args.quantile
        if args.size is not None:
            print("qbi-desktop detect-spots: --size applies to --method median", file=sys.stderr)
            return 2
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(
            f"qbi-desktop detect-spots: {out}: cannot create the folder ({e.strerror})",
            file=sys.stderr,
        )
        return 2
    failures = 0
    for name in args.images:
        path = Path(name)
        t0 = time.perf_counter()
        try:
            image = _read(path)
            result = detect_spots(image, args.method, **params)
            target = out / f"{path.stem}_spots.tif"
            save_mask(target, result.labels)
        except UserFacingError as e:
            print(f"qbi-desktop detect-spots: {e}", file=sys.stderr)
            failures += 1
            continue
        seconds = time.perf_counter() - t0
        print(
            f"{path}: {len(result.candidates)} spots ({args.method}, "
            f"sigma {result.sigma:.4g}) -> {target} in {seconds:.2f} s"
        )
    return 2 if failures else 0
