"""`qbi-desktop detect-spots`: propose gamma spots for images, written as label-mask TIFFs.

Runs :func:`qbi_desktop.core.spots.detect_spots`, the same function as the Spots dock, and
saves each result with :func:`qbi_desktop.core.maskio.save_mask` as ``<stem>_spots.tif``
(0 = background, 1..n = spots; uint16 when there are more than 255 spots), the image's shape.
A file is one 2-D image: a file holding a stack (a multi-page TIFF, a hyperstack) is refused,
naming how many images it holds, as `clean-spots` does (a NeXus/HDF5 stack or a numbered series
gives one mask per frame); a TIFF with further, separate images (other series) is measured on
its first and the line says so.

Hot pixels (:mod:`qbi_desktop.core.spots.hot_pixels`): by default each IMAGE's references are
found beside it, 2+ other frames of its numbered series or else a dark-current frame
(:func:`~qbi_desktop.core.spots.auto_hot_pixels_job`, as the Spots dock does), and their
excess is subtracted before detecting; ``--hot-pixels-from`` names the references instead (a
dark frame alone is enough), ``--no-hot-pixels`` turns this off. On the real radiographs the
series takes a frame's ~7 500 proposals down to ~840 for ~750 gamma spots (object F1 0.17 ->
0.91). Each line says which references were used, and when most proposals are still lone
bright pixels (hot pixels) it says so.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from qbi_desktop.commands import numbers
from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.maskio import save_mask
from qbi_desktop.core.radiography.frames import (
    STACK_HOT_FRAMES,
    Frame,
    check_outputs,
    expand_frames,
    stack_hot_pixels,
)
from qbi_desktop.core.spots import (
    DEFAULTS,
    METHODS,
    HotPixels,
    auto_hot_pixels_job,
    detect_spots,
    hot_pixels_job,
)
from qbi_desktop.core.spots.params import MAX_MEDIAN_SIZE


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `detect-spots` sub-command."""
    med = DEFAULTS["median"]
    parser = subparsers.add_parser(
        "detect-spots",
        help="detect bright gamma spots and write them as label masks (<stem>_spots.tif)",
        description=(
            "For each IMAGE, detect bright outlier spots and write DIR/<stem>_spots.tif: a "
            "label mask of the image's shape, 0 = background, 1..n = one id per spot. Prints "
            "one line per image: file, spots found, time. An IMAGE file is one 2-D image: a "
            "file holding a stack of images (multi-page TIFF) is refused; give its frames as "
            "a numbered series or a NeXus/HDF5 file (one mask per frame)."
        ),
    )
    parser.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files (TIFF, PNG...), numbered series (a folder or a pattern such as "
        "'scan_####.tif') or NeXus/HDF5 files (one mask per frame: DIR/<stem>_<frame>_spots.tif)",
    )
    parser.add_argument(
        "--dataset",
        metavar="PATH",
        help="the image dataset of NeXus/HDF5 inputs (default: the NXdata signal)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument("--method", choices=METHODS, default="median", help="default: median")
    parser.add_argument(
        "--k",
        type=numbers.real(0, what="k", above=True),
        default=None,
        help=f"threshold in robust sigmas (default {med['k']})",
    )
    parser.add_argument(
        "--size",
        type=numbers.whole(3, MAX_MEDIAN_SIZE, "a window span"),
        default=None,
        help=f"median window span in pixels, odd (median method; default {med['size']})",
    )
    parser.add_argument(
        "--min-area",
        type=numbers.positive,
        default=None,
        help=f"smallest spot, px (default {med['min_area']})",
    )
    parser.add_argument(
        "--max-area",
        type=numbers.positive,
        default=None,
        help=f"largest spot, px (default {med['max_area']})",
    )
    parser.add_argument(
        "--quantile",
        type=numbers.real(0, 1, "a quantile", above=True, below=True),
        default=None,
        help="morph method: quantile of the peak heights "
        f"(default {DEFAULTS['morph']['quantile']})",
    )
    hot = parser.add_mutually_exclusive_group()
    hot.add_argument(
        "--hot-pixels-from",
        nargs="+",
        default=None,
        metavar="FILE",
        help="a dark-current frame, or other frames of the same detector: their hot pixels "
        "are removed from every IMAGE (default: found beside each IMAGE, other frames of "
        "its numbered series or a dark frame such as dc.tif)",
    )
    hot.add_argument(
        "--no-hot-pixels",
        action="store_true",
        help="do not look for hot-pixel references beside the images",
    )
    parser.add_argument(
        "--skip-lone-pixels",
        action="store_true",
        help="leave out proposals that are one lone bright pixel (what hot pixels look like; "
        "also drops the ~10 %% of gamma spots that are one sharp pixel)",
    )
    parser.set_defaults(func=run)


def _check_single(frame: Frame) -> str:
    """Refuse a file that holds a stack (only its first image would be searched and the rest
    silently dropped), naming the file and how many images it holds; a note when the TIFF
    holds further, separate images (other series) besides the one searched."""
    if frame.index is not None:  # one frame of a NeXus stack
        return ""
    from qbi_desktop.core.io import open_image

    source = open_image(frame.path)
    try:
        n, stack, axes = source.n_slices, source.stack_shape, source.axes
        shape, series = source.slice_shape, int(source.metadata.get("series", 1) or 1)
        other_pages = int(source.metadata.get("other_series_pages", 0) or 0)
    finally:
        source.close()
    if n > 1:
        dims = " x ".join(str(int(d)) for d in (*stack, *shape))
        raise ImageReadError(
            frame.path,
            f"holds {n} images ({dims}, axes {axes}); spot detection needs one 2-D image per "
            "file: give the frames as a numbered series (one file each) or a NeXus/HDF5 stack",
        )
    if series > 1:
        return f"the file holds {series} separate images (TIFF series); only the first was searched"
    if other_pages:
        return (
            f"the file holds {other_pages} more page(s) in further TIFF series (separate "
            "images); only the first was searched"
        )
    return ""


def _read(frame: Frame) -> np.ndarray:
    image = frame.read()
    if image.ndim != 2:
        raise ImageReadError(
            frame.path, f"has shape {image.shape}; spot detection needs one 2-D greyscale image"
        )
    return image


def load_hot_pixels(names: list[str]) -> HotPixels:
    """The hot pixels of the reference frames ``names`` (a dark frame, or frames of one
    shape), as :func:`~qbi_desktop.core.spots.hot_pixels_job` reads them."""
    try:
        return run_job(hot_pixels_job(names))
    except UserFacingError as e:
        raise UserFacingError(f"--hot-pixels-from: {e}") from None


def _named(path: Path, message: str) -> str:
    """The message, starting with the file it is about."""
    if str(path) in message:
        return message
    return f"{path}: {message.removeprefix('image: ')}"


def _detect_one(frame: Frame, args: argparse.Namespace, params: dict, hot, stacks: dict) -> str:
    """Detect spots in one frame, write its mask; the report line. ``stacks`` keeps the hot
    pixels found for each NeXus dataset (from its own frames) across its frames."""
    t0 = time.perf_counter()
    path = frame.path
    series_note = _check_single(frame)
    image = _read(frame)
    note = ""
    if hot is not None and hot.shape != image.shape:
        raise UserFacingError(
            f"{frame.describe()}: has shape {image.shape}, but the hot-pixel frames "
            f"({args.hot_pixels_from[0]}, ...) have {hot.shape}"
        )
    if hot is None and not args.no_hot_pixels and frame.index is not None:
        key = (path, frame.dataset)
        if key not in stacks:
            stacks[key] = stack_hot_pixels(args.frames_of[key])
        hot = stacks[key]
        if hot is not None:
            note = f"hot pixels from {STACK_HOT_FRAMES} frames of {path.name} {frame.dataset}"
    elif hot is None and not args.no_hot_pixels:
        found = run_job(auto_hot_pixels_job(path, image.shape))
        hot = found.hot
        note = found.note if (found.hot is not None or found.problems) else ""
    result = detect_spots(image, args.method, exclude=hot, **params)
    target = Path(args.out) / f"{frame.stem}_spots.tif"
    save_mask(target, result.labels)
    seconds = time.perf_counter() - t0
    extra = f", {result.hot_pixels} hot pixels excluded" if hot is not None else ""
    if result.nonfinite:
        extra += f", {result.nonfinite} NaN/infinite pixels treated as background"
    line = (
        f"{frame.describe()}: {len(result.candidates)} spots ({args.method}, "
        f"sigma {result.sigma:.4g}{extra}) -> {target} in {seconds:.2f} s"
    )
    if series_note:
        line += f"\n  note: {series_note}"
    if note:
        line += f"\n  {note}"
    if result.looks_like_hot_pixels():
        line += (
            f"\n  note: {result.isolated} of the {len(result.candidates)} proposals are lone "
            "bright pixels, like a camera's hot pixels: give a dark frame or other frames of "
            "the series with --hot-pixels-from, or add --skip-lone-pixels"
        )
    return line


#: why a mask already in --out is never replaced
MASKS_KEPT = (
    "perhaps corrected by hand since it was made (detect-spots cannot tell its own masks from "
    "edited ones)"
)


def run(args: argparse.Namespace) -> int:
    params: dict = {"k": args.k, "min_area": args.min_area, "max_area": args.max_area}
    if args.skip_lone_pixels:
        params["lone"] = "drop"
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
    try:
        notes: list[str] = []
        frames = expand_frames(args.images, args.dataset, notes)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        # no mask lands on an input, another mask or a dark frame it is cleaned with
        hot_frames = [(p, "hot-pixel frame") for p in args.hot_pixels_from or ()]
        # nor replaces a mask already there (perhaps corrected by hand): detect-spots keeps no
        # record in its masks to tell its own from one edited since
        check_outputs(frames, out, ["_spots.tif"], hot_frames, why=MASKS_KEPT)
    except UserFacingError as e:
        print(f"qbi-desktop detect-spots: {e}", file=sys.stderr)
        return 2
    args.frames_of = {}  # (file, dataset) -> the frames of that NeXus dataset
    for frame in frames:
        if frame.index is not None:
            args.frames_of.setdefault((frame.path, frame.dataset), []).append(frame)
    stacks: dict = {}
    failures = 0
    for frame in frames:
        path = frame.path
        try:
            print(_detect_one(frame, args, params, hot, stacks))
        except UserFacingError as e:
            where = frame.describe() if frame.index is not None else path
            print(f"qbi-desktop detect-spots: {_named(where, str(e))}", file=sys.stderr)
            failures += 1
        except MemoryError:
            print(
                f"qbi-desktop detect-spots: {path}: not enough memory to detect spots in it",
                file=sys.stderr,
            )
            failures += 1
        except Exception as e:  # noqa: BLE001 - one bad file must not end the batch in a traceback
            print(
                f"qbi-desktop detect-spots: {path}: spot detection failed "
                f"({type(e).__name__}: {e})",
                file=sys.stderr,
            )
            failures += 1
    return 2 if failures else 0
