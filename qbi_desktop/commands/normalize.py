"""`qbi-desktop normalize`: open-beam / dark-current normalisation of images to float32 TIFFs.

Runs :func:`qbi_desktop.core.radiography.normalise_files_job`, the same function as the
Radiography dock: T = (I - DC) / (OB - DC) (several --ob or --dc files are averaged), or with
--attenuation -ln T; writes DIR/<stem>.tif (float32, masked pixels NaN) with the references and
parameters in the TIFF's ImageDescription. Every input is checked before the first is written.
A numbered series (folder or pattern) gives every frame; a NeXus/HDF5 file every frame of its
image dataset (--dataset, default the NXdata signal), written as DIR/<file stem>_<frame>.tif,
and so does a multi-page TIFF image. A reference (--ob, --dc) holding several frames is averaged
(the mean of all its frames, each weighing as one single-frame file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qbi_desktop.commands import numbers
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Progress

PROG = "qbi-desktop normalize"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `normalize` sub-command."""
    parser = subparsers.add_parser(
        "normalize",
        help="normalise images with open-beam and dark-current references (float32 TIFFs)",
        description=(
            "For each IMAGE write DIR/<stem>.tif: the transmission T = (I - DC) / (OB - DC) as "
            "float32 (with --attenuation: -ln T). Pixels where the open beam is not above the "
            "dark current (or, for attenuation, the image is at or below it) are NaN and "
            "counted in the report. References and parameters are recorded in each output."
        ),
    )
    parser.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files (TIFF, PNG...), numbered series (a folder or a pattern such as "
        "'scan_####.tif') or NeXus/HDF5 files and multi-page TIFFs (one output per frame: "
        "DIR/<stem>_<frame>.tif)",
    )
    parser.add_argument(
        "--dataset",
        metavar="PATH",
        help="the image dataset of NeXus/HDF5 inputs (default: the NXdata signal)",
    )
    parser.add_argument(
        "--ob",
        nargs="+",
        required=True,
        metavar="FILE",
        help="open-beam image(s); all frames of all files are averaged (mean)",
    )
    parser.add_argument(
        "--dc",
        nargs="+",
        required=True,
        metavar="FILE",
        help="dark-current image(s); all frames of all files are averaged (mean)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument("--attenuation", action="store_true", help="write -ln T instead of T")
    parser.add_argument(
        "--dose-region",
        nargs=4,
        type=numbers.whole(0, numbers.INT64_MAX, "a row or column"),
        default=None,
        metavar=("Y0", "Y1", "X0", "X1"),
        help="dose correction: rows Y0:Y1, columns X0:X1 of an open part of the image (no "
        "sample) are scaled to the open beam's dose",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qbi_desktop.core.radiography import load_references, normalise_files_job
    from qbi_desktop.core.radiography.frames import expand_frames

    try:
        notes: list[str] = []
        # a multi-page TIFF is normalised frame by frame (as a NeXus stack is)
        frames = expand_frames(args.images, args.dataset, notes, pages=True)
        refs = load_references(args.ob, args.dc)  # several frames of a reference: averaged
        for note in notes + refs.notes():
            print(f"note: {note}", file=sys.stderr)
        if refs.bad_count:
            print(
                f"note: {refs.bad_count} pixel(s) where the open beam is not above the dark "
                "current are masked (NaN) in every output"
            )
        job = normalise_files_job(
            frames,
            refs,
            Path(args.out),
            attenuation=args.attenuation,
            dose_region=args.dose_region,
        )
        try:
            while True:
                progress: Progress = next(job)
                if progress.done:
                    print(f"[{progress.done}/{progress.total}] {progress.message}")
        except StopIteration as stop:
            results = stop.value
    except UserFacingError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{PROG}: not enough memory to normalise these images", file=sys.stderr)
        return 2
    unit = "attenuation" if args.attenuation else "transmission"
    print(f"{len(results)} image(s) written to {args.out} ({unit}, float32)")
    return 0
