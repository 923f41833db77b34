"""`qbi-desktop detect-spots`: propose gamma spots for images, written as label-mask TIFFs.

Runs :func:`qbi_desktop.core.spots.detect_spots`, the same function as the Spots dock, and
saves each result with :func:`qbi_desktop.core.maskio.save_mask` as ``<stem>_spots.tif``
(0 = background, 1..n = spots; uint16 when there are more than 255 spots), the image's shape.

``--hot-pixels-from`` takes other frames of the same detector: their hot pixels
(:func:`qbi_desktop.core.spots.hot_pixel_map`, computed once) cannot start a spot in any IMAGE.
On the real radiographs this removes ~6800 of ~7500 single-frame candidates.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.maskio import save_mask
from qbi_desktop.core.spots import DEFAULTS, METHODS, detect_spots, hot_pixel_map


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
    parser.add_argument(
        "--hot-pixels-from",
        nargs="+",
        default=None,
        metavar="FILE",
        help="two or more other frames of the same detector: pixels bright in them (hot "
        "pixels) cannot start a spot in any IMAGE",
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


def load_hot_pixels(names: list[str]) -> np.ndarray:
    """The hot-pixel map of the frames ``names`` (>= 2 files of one shape), as a bool mask.

    Why two or more: with one frame its gamma spots would be taken for hot pixels; the
    per-pixel median over several frames keeps only what is bright in most of them.
    """
    if len(names) < 2:
        raise UserFacingError(
            f"--hot-pixels-from: needs at least 2 other frames of the same detector, got "
            f"{len(names)} ({', '.join(names)})"
        )
    frames: list[np.ndarray] = []
    for name in names:
        frame = _read(Path(name))
        if frames and frame.shape != frames[0].shape:
            raise UserFacingError(
                f"--hot-pixels-from: {name}: has shape {frame.shape}, but {names[0]} has "
                f"{frames[0].shape}; the frames must come from the same detector"
            )
        frames.append(frame)
    return hot_pixel_map(np.stack(frames))


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
    hot = None
    if args.hot_pixels_from is not None:
        try:
            hot = load_hot_pixels(args.hot_pixels_from)
        except UserFacingError as e:
            print(f"qbi-desktop detect-spots: {e}", file=sys.stderr)
            return 2
    failures = 0
    for name in args.images:
        path = Path(name)
        t0 = time.perf_counter()
        try:
            image = _read(path)
            if hot is not None and hot.shape != image.shape:
                raise UserFacingError(
                    f"{path}: has shape {image.shape}, but the hot-pixel frames "
                    f"({args.hot_pixels_from[0]}, ...) have {hot.shape}"
                )
            result = detect_spots(image, args.method, exclude=hot, **params)
            target = out / f"{path.stem}_spots.tif"
            save_mask(target, result.labels)
        except UserFacingError as e:
            print(f"qbi-desktop detect-spots: {e}", file=sys.stderr)
            failures += 1
            continue
        seconds = time.perf_counter() - t0
        excluded = "" if hot is None else f", {int(hot.sum())} hot pixels excluded"
        print(
            f"{path}: {len(result.candidates)} spots ({args.method}, "
            f"sigma {result.sigma:.4g}{excluded}) -> {target} in {seconds:.2f} s"
        )
    return 2 if failures else 0
