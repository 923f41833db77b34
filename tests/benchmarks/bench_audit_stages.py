"""Where a whole-project audit spends its time, stage by stage, printed as medians.

The audit of all of MNIST (60 000 training + 10 000 test digits, ../shared/data/mnist) as
Dataset > Audit… and ``qbi-desktop audit`` run it: reading the items, features (from the
project's feature cache after the first round), the cross-validated label check, duplicates,
outliers, unlabelled items. A stage's time is the time between the first progress report that
names it and the first report of the next stage; the longest gap between two reports (how long
a Cancel may wait) is printed too. The machine's load average is printed beside the figures:
on a shared machine they are only comparable at a similar load.

Run: .venv/bin/python tests/benchmarks/bench_audit_stages.py [--mnist DIR] [--project DIR]
     [--rounds 2]
(--project: audit that project instead of importing MNIST into a temporary one.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from qbi_desktop.core.catalog import open_project  # noqa: E402
from qbi_desktop.core.formats import import_job  # noqa: E402
from qbi_desktop.core.jobs import run_job  # noqa: E402
from qbi_desktop.core.quality.audit import audit_job  # noqa: E402
from qbi_desktop.core.quality.features import project_items_job  # noqa: E402

STAGES = ("Reading", "features", "label check", "duplicates", "outliers", "unlabelled")


def _stage(message: str) -> str:
    return next((s for s in STAGES if message.startswith(s)), "end")


def audit_once(root: Path) -> tuple[dict[str, float], float, float]:
    """(seconds per stage, total seconds, longest gap between two reports)."""
    times: dict[str, float] = {}
    state = {"stage": "start", "at": time.perf_counter(), "last": time.perf_counter()}
    gaps = [0.0]

    def seen(progress) -> None:
        now = time.perf_counter()
        gaps.append(now - state["last"])
        state["last"] = now
        stage = _stage(progress.message)
        if stage != state["stage"]:
            times[state["stage"]] = times.get(state["stage"], 0.0) + now - state["at"]
            state["stage"], state["at"] = stage, now

    start = time.perf_counter()
    project = open_project(root)
    try:

        def job():
            items = yield from project_items_job(project)
            return (yield from audit_job(items))

        run_job(job(), on_progress=seen)
    finally:
        project.close()
    end = time.perf_counter()
    times[state["stage"]] = times.get(state["stage"], 0.0) + end - state["at"]
    return times, end - start, max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--project", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.project
        if root is None:
            root = Path(tmp) / "mnist70k"
            with open_project(root, create=True) as project:
                run_job(import_job(project, "mnist", [args.mnist]))
        rounds = [audit_once(root) for _ in range(args.rounds)]
    load = os.getloadavg()[0]
    print(f"audit of {root.name}: {args.rounds} round(s); load average {load:.1f} at the end")
    print(f"  first round (feature cache as found): {rounds[0][1]:.1f} s")
    later = rounds[1:] or rounds
    print(f"  median of the {'later' if rounds[1:] else ''} rounds: "
          f"{statistics.median(r[1] for r in later):.1f} s")  # fmt: skip
    for stage in ("start", *STAGES):
        values = [r[0][stage] for r in later if stage in r[0]]
        if values:
            print(f"    {stage:12s} {statistics.median(values):8.2f} s")
    print(f"  longest wait between two reports: {statistics.median(r[2] for r in later):.2f} s")


if __name__ == "__main__":
    main()
