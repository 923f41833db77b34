"""``qbi-desktop augment``: write K augmented copies of a dataset (the Augment dock's batch job).

    qbi-desktop augment --pipeline p.json --input PATH --output DIR --copies K
                        [--seed S] [--workers N] [--scheduler tcp://host:8786] [--masks DIR]

Running the same command again after an interruption resumes where it stopped.
"""

from __future__ import annotations

import argparse
import sys

from qbi_desktop.core.errors import UserFacingError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "augment",
        help="write augmented copies of a dataset (resumable; processes or a dask cluster)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pipeline", required=True, help="pipeline JSON (saved from the Augment dock)")
    p.add_argument("--input", required=True, help="folder of images, or an .npz/.npy array file")
    p.add_argument(
        "--output", required=True, help="output folder (created; resumed if it holds this run)"
    )
    p.add_argument("--copies", required=True, type=int, help="augmented copies per item")
    p.add_argument("--seed", type=int, default=None, help="override the pipeline's seed")
    p.add_argument(
        "--workers", type=int, default=1, help="worker processes on this machine (default 1)"
    )
    p.add_argument(
        "--scheduler", default=None, help="dask.distributed scheduler address, e.g. tcp://host:8786"
    )
    p.add_argument(
        "--masks", default=None, help="folder of masks matched to the images by file name"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from qbi_desktop.core.augment import Pipeline
    from qbi_desktop.core.augment.batch import augment_dataset, open_source
    from qbi_desktop.core.jobs import run_job

    try:
        pipeline = Pipeline.load(args.pipeline)
        source = open_source(args.input, args.masks)
        last = [-1]

        def show(progress) -> None:
            # One line per ~5 %, so logs of long runs stay readable.
            step = max(1, progress.total // 20) if progress.total else 1
            if progress.done // step != last[0] or progress.done == progress.total:
                last[0] = progress.done // step
                print(f"augment: {progress.message}", file=sys.stderr)

        result = run_job(
            augment_dataset(
                source,
                pipeline,
                args.output,
                args.copies,
                seed=args.seed,
                workers=args.workers,
                scheduler=args.scheduler,
            ),
            on_progress=show,
        )
    except UserFacingError as exc:
        print(f"qbi-desktop augment: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "qbi-desktop augment: interrupted; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    print(
        f"{result.written} written, {result.skipped} already there, {result.total} in total -> "
        f"{result.output}"
    )
    return 0
