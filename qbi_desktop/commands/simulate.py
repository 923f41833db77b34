"""`qbi-desktop simulate`: write simulated neutron radiographs with their exact ground truth.

Runs the same job as the app's demo and Simulate dock
(:func:`qbi_desktop.core.simulate.write_simulated_set`); the file naming is documented there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qbi_desktop.commands import numbers
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Progress, run_job
from qbi_desktop.core.simulate import (
    JSON_NAME,
    MAX_SIDE,
    MIN_SIDE,
    SimulationParams,
    write_simulated_set,
)

#: images one run may write (a typo of a few zeros would plan for ever)
MAX_SIMULATED = 100_000


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `simulate` sub-command."""
    parser = subparsers.add_parser(
        "simulate",
        help="write simulated neutron radiographs with ground-truth spot and object labels",
        description=(
            "Write N simulated 16-bit neutron radiographs (sim_0000.tif, ...) with their spot "
            "label images (sim_0000_spots.tif), object label images (sim_0000_objects.tif) "
            f"and {JSON_NAME} (parameters, seeds, per-spot records) into DIR."
        ),
    )
    parser.add_argument(
        "--count",
        type=numbers.whole(1, MAX_SIMULATED, "images"),
        default=1,
        metavar="N",
        help="images (default 1)",
    )
    parser.add_argument(
        "--size",
        type=numbers.whole(MIN_SIDE, MAX_SIDE, "a side"),
        default=None,
        metavar="PX",
        help="square image side in pixels (default 2048, or the size in --params)",
    )
    parser.add_argument(
        "--seed", type=numbers.seed, default=0, metavar="S", help="seed (default 0)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument(
        "--params",
        metavar="FILE.json",
        default=None,
        help="JSON object of SimulationParams fields (missing fields keep their defaults)",
    )
    parser.set_defaults(func=run)


def _load_params(path: str | None, size: int | None) -> SimulationParams:
    values: dict = {}
    if path is not None:
        from qbi_desktop.core.jsonfile import read_json

        values = read_json(path, "the parameters")
        if not isinstance(values, dict):
            raise UserFacingError(f"{path}: expected a JSON object of parameter fields")
    if size is not None:  # its range is checked by argparse
        values = {**values, "height": size, "width": size}
    try:
        return SimulationParams.from_dict(values)
    except UserFacingError as exc:
        raise UserFacingError(f"{path}: {exc}" if path else str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    """Write the set, printing one line per image and a summary; 2 on bad input."""
    try:
        params = _load_params(args.params, args.size)
        out = Path(args.out)
        job = write_simulated_set(out, args.count, args.seed, params)

        def report(progress: Progress) -> None:
            if progress.done > 0:  # one Progress after each image, naming it
                print(progress.message, flush=True)

        paths = run_job(job, on_progress=report)
    except UserFacingError as exc:
        print(f"qbi-desktop simulate: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            "qbi-desktop simulate: not enough memory for images of this size; try a smaller --size",
            file=sys.stderr,
        )
        return 2
    doc = json.loads((out / JSON_NAME).read_text(encoding="utf-8"))
    spots = sum(entry["spot_count"] for entry in doc["images"])
    print(
        f"{len(paths)} simulated radiograph(s) of {params.height}x{params.width} pixels, "
        f"{spots} spots in all, seed {args.seed}; parameters and ground truth in "
        f"{out / JSON_NAME}"
    )
    return 0
