"""``qbi-desktop augment``: write K augmented copies of a dataset (the Augment dock's batch job).

    qbi-desktop augment --pipeline p.json --input PATH --output DIR --copies K
                        [--seed S] [--workers N] [--scheduler tcp://host:8786] [--masks DIR]
    qbi-desktop augment --pipeline p.json --input PROJECT --into-project --copies K [--items all]

PATH is a folder of images or an .npz/.npy file; a project folder augments its items (augmented
ones left out) into --output, or with --into-project adds the copies to the project as items with
their provenance (parent, parameters, seed). Of a project, only the training items (and items
without a split) are augmented unless --items all: copies of val/test images would score a model
on near-duplicates. A stack (multi-page TIFF) is augmented slice by slice, every slice with the
parameters drawn for its copy, and written as a stack.

Running the same command again after an interruption resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from qbi_desktop.commands import numbers
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.limits import MAX_COPIES


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "augment",
        help="write augmented copies of a dataset (resumable; processes or a dask cluster)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pipeline", required=True, help="pipeline JSON (saved from the Augment dock)")
    p.add_argument(
        "--input",
        required=True,
        help="folder of images, an .npz/.npy array file, or a project folder (its items)",
    )
    p.add_argument(
        "--output",
        default=None,
        help="output folder (created; resumed if it holds this run); optional with --into-project",
    )
    p.add_argument(
        "--into-project",
        action="store_true",
        help="(project input) add the copies to the project as augmented items with provenance",
    )
    p.add_argument(
        "--items",
        choices=["train", "all"],  # core.augment.catalog_source.ITEMS (not imported: start-up)
        default="train",
        help="(project input) which items to augment: train = training items only (and items "
        "without a split), val/test are not augmented (the default); all = every item, copies "
        "of val/test items go to val/test (near-duplicates in scoring)",
    )
    p.add_argument(
        "--copies",
        required=True,
        type=numbers.whole(1, MAX_COPIES, "copies"),
        help="augmented copies per item",
    )
    p.add_argument("--seed", type=numbers.seed, default=None, help="override the pipeline's seed")
    p.add_argument(
        "--workers",
        type=numbers.workers,
        default=1,
        help="worker processes on this machine (default 1)",
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
    from qbi_desktop.core.augment.options import changing_options
    from qbi_desktop.core.catalog.project import CATALOG
    from qbi_desktop.core.jobs import run_job

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if args.scheduler is None and args.workers > (cpus or 1):  # more only wait for a core
        print(
            f"note: --workers {args.workers}: this machine has {cpus or 1} CPU core(s) for us; "
            f"using {cpus or 1} worker process(es)",
            file=sys.stderr,
        )
        args.workers = cpus or 1
    try:
        pipeline = Pipeline.load(args.pipeline)
        is_project = (Path(args.input) / CATALOG).is_file()
        if args.into_project and not is_project:
            raise UserFacingError(f"--into-project: {args.input} is not a project folder")
        if args.output is None and not args.into_project:
            raise UserFacingError("--output: say where to write the copies (or --into-project)")
        if not changing_options(pipeline.options):
            print(
                f"note: {args.pipeline}: the pipeline changes nothing (no geometry, intensity or "
                "noise step): every copy equals its original",
                file=sys.stderr,
            )
        last = [-1]

        def show(progress) -> None:
            # One line per ~5 %, so logs of long runs stay readable.
            step = max(1, progress.total // 20) if progress.total else 1
            if progress.done // step != last[0] or progress.done == progress.total:
                last[0] = progress.done // step
                print(f"augment: {progress.message}", file=sys.stderr)

        if is_project:
            result = _augment_project(args, pipeline, show)
        else:
            result = run_job(
                augment_dataset(
                    open_source(args.input, args.masks),
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
    batch = getattr(result, "batch", result)
    added = getattr(result, "new_ids", None)
    print(
        f"{batch.written} written, {batch.skipped} already there, {batch.total} in total -> "
        f"{batch.output}" + ("" if added is None else f"; {len(added)} items added to the project")
    )
    return 0


def _say_left_out(left_out: int) -> None:
    if left_out:
        print(
            f"note: {left_out} val/test items were not augmented (only training items are, "
            "unless --items all)",
            file=sys.stderr,
        )


def _augment_project(args, pipeline, show):
    """A project's items (augmented ones left out), into a folder or back into the project."""
    from qbi_desktop.core.augment.batch import augment_dataset
    from qbi_desktop.core.augment.catalog_source import ProjectSource, augment_into_project_job
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.jobs import run_job

    options = dict(seed=args.seed, workers=args.workers, scheduler=args.scheduler)
    if args.into_project:
        job = augment_into_project_job(
            args.input, pipeline, args.copies, output=args.output, items=args.items, **options
        )
        result = run_job(job, on_progress=show)
        _say_left_out(result.left_out)
        return result
    project = open_project(args.input, read_only=True)  # the copies go to --output
    source = ProjectSource.from_project(project, items=args.items)
    _say_left_out(source.left_out)
    try:
        job = augment_dataset(source, pipeline, args.output, args.copies, **options)
        return run_job(job, on_progress=show)
    finally:
        source.close()
        project.close()
