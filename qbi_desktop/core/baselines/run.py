"""The entry point: one baseline run as a job."""

from __future__ import annotations

import time
from typing import Any

from qbi_desktop.core.baselines.config import BaselineConfig, BaselineResult
from qbi_desktop.core.baselines.plan import _plan
from qbi_desktop.core.baselines.segmentation import _run_segmentation
from qbi_desktop.core.baselines.supervised import _run_supervised
from qbi_desktop.core.jobs import Job


def run_baseline(config: BaselineConfig, dataset: Any) -> Job[BaselineResult]:
    """Run one baseline as a job: check everything, fit, predict in chunks, score.

    All bad-input errors are raised at the first ``next()`` before any progress is yielded.
    Closing the generator (what a GUI worker does on cancel) stops it at the next chunk.
    """
    started = time.perf_counter()
    plan = _plan(config, dataset)
    source = str(getattr(dataset, "source", "") or type(dataset).__name__)
    if plan.task == "segmentation":
        result = yield from _run_segmentation(plan, source)
    else:
        result = yield from _run_supervised(plan, source)
    result.duration = time.perf_counter() - started
    return result


def check_baseline(config: BaselineConfig, dataset: Any) -> list[str]:
    """Only the checks of :func:`run_baseline` (raising the same errors); returns its warnings."""
    return _plan(config, dataset).warnings
