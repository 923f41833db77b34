"""`qbi-desktop clean-spots`: replace gamma spots by the local background in every frame.

Runs :func:`qbi_desktop.core.radiography.clean.clean_series_job`, the same job as the
Radiography dock's "Clean spots of a series…": DIR/<stem>.tif is the cleaned frame in the
input's pixel type (identical outside the spots), DIR/<stem>_spots.tif the spot labels. Frames
already done in DIR are skipped (run the same command again to resume). Hot pixels come from
--hot-pixels-from, else from the frames themselves (3 or more), else from a dark frame beside
them. Frames run on local processes, or on a dask.distributed cluster with --scheduler.
A numbered series (folder or pattern) gives every frame; a NeXus/HDF5 file every frame of its
image dataset (--dataset, default the NXdata signal), written as DIR/<file stem>_<frame>.tif
(hot pixels then from 4 frames spread over the stack).
"""

from __future__ import annotations

import argparse
import os
import sys

from qbi_desktop.commands import numbers
from qbi_desktop.core.errors import UserFacingError

PROG = "qbi-desktop clean-spots"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `clean-spots` sub-command."""
    parser = subparsers.add_parser(
        "clean-spots",
        help="replace gamma spots by the local background (DIR/<stem>.tif, <stem>_spots.tif)",
        description=(
            "For each IMAGE detect the gamma spots, replace their pixels by the local "
            "background estimate and write DIR/<stem>.tif (the input's pixel type, identical "
            "outside the spots) and DIR/<stem>_spots.tif (0 = background, 1..n = spots). "
            "Frames already cleaned in DIR are skipped, so an interrupted run resumes."
        ),
    )
    parser.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="frames (TIFF, PNG...), numbered series (a folder or a pattern such as "
        "'scan_####.tif') or NeXus/HDF5 files (every frame: DIR/<stem>_<frame>.tif)",
    )
    parser.add_argument(
        "--dataset",
        metavar="PATH",
        help="the image dataset of NeXus/HDF5 inputs (default: the NXdata signal)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument(
        "--hot-pixels-from",
        nargs="+",
        default=None,
        metavar="FILE",
        help="a dark-current frame or other frames of the camera (default: the frames "
        "themselves when there are 3 or more, else a dark frame beside them)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR",
        help="run the frames on a dask.distributed cluster, e.g. tcp://host:8786",
    )
    parser.add_argument(
        "--workers",
        type=numbers.workers,
        default=None,
        help="local processes (default: one per CPU core)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qbi_desktop.core.radiography.clean import clean_series_job
    from qbi_desktop.core.radiography.frames import expand_frames

    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        print(f"{PROG}: --workers must be 1 or more, got {workers}", file=sys.stderr)
        return 2
    if args.scheduler is not None and "://" not in args.scheduler:
        print(
            f"{PROG}: --scheduler {args.scheduler!r} is not an address like tcp://host:8786",
            file=sys.stderr,
        )
        return 2
    try:
        notes: list[str] = []
        frames = expand_frames(args.images, args.dataset, notes)  # a missing frame is named
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    except UserFacingError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    job = clean_series_job(
        frames,
        args.out,
        hot_pixels_from=args.hot_pixels_from,
        workers=workers,
        scheduler=args.scheduler,
    )
    try:
        while True:
            progress = next(job)
            print(f"[{progress.done}/{progress.total}] {progress.message}", flush=True)
    except StopIteration as stop:
        run_ = stop.value
    except UserFacingError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{PROG}: not enough memory to clean these frames", file=sys.stderr)
        return 2
    hot = f"; hot pixels from {run_.hot_source} ({run_.hot_pixels})" if run_.hot_source else ""
    print(
        f"{len(run_.frames)} frame(s) cleaned, {run_.skipped} already done, {run_.spots} spots "
        f"replaced -> {run_.out}{hot}"
    )
    return 0
