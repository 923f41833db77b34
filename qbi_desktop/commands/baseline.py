"""`qbi-desktop baseline`: run a baseline model on a dataset and write its report folder.

The same core functions as the Baselines dock (:func:`qbi_desktop.core.baselines.run_baseline`,
:func:`qbi_desktop.core.report.write_report`), so a batch run and a click give the same numbers.

Example (the lecture's toy: 3-NN on the first 24 MNIST training images, tested on the rest)::

    qbi-desktop baseline --data mnist:DIR --model knn --k 3 --train-size 24 \\
        --test-on rest-of-train --report out/
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from qbi_desktop.commands import numbers
from qbi_desktop.core.baselines import (
    AUTO_RESIZE,
    DEFAULT_KNN_K,
    DUMMY_STRATEGIES,
    KNN_METRICS,
    MODELS,
    SPLITS,
    BaselineConfig,
)
from qbi_desktop.core.errors import UserFacingError


def register(subparsers: Any) -> None:
    """Add the ``baseline`` sub-command."""
    models = sorted({m for ms in MODELS.values() for m in ms})
    strategies = sorted({s for ss in DUMMY_STRATEGIES.values() for s in ss})
    p = subparsers.add_parser(
        "baseline",
        help="score a dummy / nearest-neighbour / centroid / logistic-regression baseline",
        description=(
            "Train and test a baseline model and write a report folder (metrics.json, "
            "metrics.csv, params.json, confusion_matrix.png). SOURCE is digits, mnist:DIR, "
            "npz:FILE or project:DIR."
        ),
    )
    p.add_argument(
        "--data", default="digits", metavar="SOURCE", help="data source (default: digits)"
    )
    p.add_argument("--model", default="knn", choices=models)
    p.add_argument("--task", default="auto", choices=["auto", *MODELS])
    p.add_argument(
        "--k",
        type=numbers.positive,
        default=DEFAULT_KNN_K,
        help=f"neighbours for knn (default {DEFAULT_KNN_K})",
    )
    p.add_argument("--metric", default="l2", choices=list(KNN_METRICS))
    p.add_argument("--weights", default="uniform", choices=["uniform", "distance"])
    p.add_argument("--strategy", choices=strategies, help="dummy strategy")
    p.add_argument(
        "--C",
        type=numbers.real(0, what="C", above=True),
        default=1.0,
        help="logreg inverse regularisation",
    )
    p.add_argument("--max-iter", type=numbers.positive, default=100, help="logreg iterations")
    p.add_argument(
        "--downsample", type=numbers.positive, default=1, help="block-mean factor (default 1)"
    )
    std = p.add_mutually_exclusive_group()
    std.add_argument("--standardize", dest="standardize", action="store_true", default=None)
    std.add_argument("--no-standardize", dest="standardize", action="store_false")
    p.add_argument(
        "--resize",
        metavar="HxW|auto",
        help=(
            "resize all images to this size; auto: images of one size stay as they are, images "
            "of different sizes go to the most common size scaled to at most 32 pixels a side "
            "(the size the Browser's suggestions use)"
        ),
    )
    p.add_argument("--split", default="auto", choices=SPLITS)
    p.add_argument(
        "--test-fraction",
        type=numbers.real(0, 1, "a fraction", above=True, below=True),
        default=0.25,
    )
    p.add_argument("--folds", type=numbers.whole(2, numbers.INT64_MAX, "folds"), default=5)
    p.add_argument("--seed", type=numbers.seed32, default=0)
    p.add_argument(
        "--eval",
        default="test",
        choices=["test", "train"],
        help="train = score on the training data (flagged as misleading)",
    )
    p.add_argument("--train-size", type=numbers.positive, help="use the FIRST N training items")
    p.add_argument("--test-size", type=numbers.positive, help="use the first N test items")
    p.add_argument(
        "--test-on",
        default="test",
        choices=["test", "rest-of-train"],
        help="rest-of-train: test on the training items after the first --train-size",
    )
    p.add_argument(
        "--target",
        help="regression target name (its values are predicted; implies --task regression)",
    )
    p.add_argument(
        "--drop-unlabeled",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "leave out items without the task's target (class label, value of --target, mask) "
            "and say how many (the default); --no-drop-unlabeled refuses them instead"
        ),
    )
    p.add_argument(
        "--allow-unseen-classes",
        action="store_true",
        help="score test classes missing from training (as errors) instead of stopping",
    )
    p.add_argument(
        "--train-score-max",
        type=numbers.positive,
        default=1000,
        help="training items scored for the side-by-side train score (default 1000)",
    )
    p.add_argument("--scheduler", metavar="ADDR", help="dask.distributed scheduler address")
    p.add_argument("--report", required=True, metavar="DIR", help="report folder to write")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _resize(text: str | None) -> tuple[int, int] | str | None:
    if text is None:
        return None
    if text.strip().lower() == AUTO_RESIZE:
        return AUTO_RESIZE
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserFacingError(
            f"--resize: expected HxW such as 28x28, or auto, got {text!r}"
        ) from None
    return h, w


def config_from_args(args: argparse.Namespace) -> BaselineConfig:
    return BaselineConfig(
        model=args.model,
        task=args.task,
        k=args.k,
        metric=args.metric,
        weights=args.weights,
        strategy=args.strategy,
        C=args.C,
        max_iter=args.max_iter,
        downsample=args.downsample,
        standardize=args.standardize,
        resize_to=_resize(args.resize),
        split=args.split,
        test_fraction=args.test_fraction,
        folds=args.folds,
        seed=args.seed,
        eval=args.eval,
        train_size=args.train_size,
        test_size=args.test_size,
        test_on=args.test_on,
        target=args.target,
        drop_unlabeled=args.drop_unlabeled,
        unseen_classes="warn" if args.allow_unseen_classes else "error",
        train_score_max=args.train_score_max,
        scheduler=args.scheduler,
    )


def run(args: argparse.Namespace) -> int:
    from qbi_desktop.commands.out_folder import check_can_write
    from qbi_desktop.commands.progress import progress_printer
    from qbi_desktop.core.baselines import run_baseline
    from qbi_desktop.core.datasets import open_source
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.core.report import check_report_folder, write_report

    show = progress_printer(args.quiet)

    try:
        config = config_from_args(args)
        report = check_report_folder(args.report)  # before the run, not after it
        check_can_write(report, "--report", staged=True)  # a read-only place: now, not later
        dataset = open_source(args.data)
        result = run_job(run_baseline(config, dataset), on_progress=show)
        folder = write_report(result, args.report)
    except UserFacingError as exc:
        print(f"qbi-desktop baseline: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    print(f"report written to {folder}")
    return 0
