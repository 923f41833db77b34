"""Baseline runs as jobs for a worker process (core/job_process.py's ``ProcessWorker``).

Why a process: numpy and scikit-learn hold the interpreter lock between their releases; a run on
a GUI worker *thread* kept the GUI thread waiting up to ~0.8 s at a time during a full MNIST kNN
run on a busy machine. In a child process it shares nothing with the GUI.

Only the source spec and the configuration cross to the child; it opens the data itself and
keeps the last :data:`CACHED_SOURCES` sources in memory, so a second run on MNIST does not read
it again. A project is read afresh for each run (it changes as people label it). What comes back
is a :class:`SourceRun`: the result (plain arrays and lists: scores, confusion matrix,
predictions) and the pid of the process that computed it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from qbi_desktop.core.baselines.config import BaselineConfig, BaselineResult
from qbi_desktop.core.baselines.run import run_baseline
from qbi_desktop.core.datasets import open_source
from qbi_desktop.core.jobs import Job, Progress

CACHED_SOURCES = 2  # data sources kept in memory between runs (digits, MNIST, NPZ; not projects)
_sources: dict[str, Any] = {}  # spec -> dataset, the most recently used last


@dataclass(frozen=True)
class SourceRun:
    """A finished run: its result and the process it ran in."""

    result: BaselineResult
    pid: int


def _cacheable(spec: str) -> bool:
    return spec.strip().partition(":")[0].lower() != "project"


def is_cached(spec: str) -> bool:
    """True when this process holds ``spec``'s data from an earlier run."""
    return spec in _sources


def open_cached(spec: str) -> Any:
    """The dataset of ``spec``: the one kept from an earlier run, or opened now (and kept)."""
    dataset = _sources.pop(spec, None)
    if dataset is None:
        dataset = open_source(spec)
    if _cacheable(spec):
        _sources[spec] = dataset
        while len(_sources) > CACHED_SOURCES:
            _sources.pop(next(iter(_sources)))
    return dataset


def run_on_source(spec: str, config: BaselineConfig, label: str | None = None) -> Job[SourceRun]:
    """Open ``spec`` (unless kept from an earlier run) and run the baseline on it."""
    if not is_cached(spec):
        yield Progress(0, 0, f"reading {label or spec}")
    dataset = open_cached(spec)
    result = yield from run_baseline(config, dataset)
    return SourceRun(result, os.getpid())


def load_source(spec: str, label: str | None = None) -> Job[int]:
    """Read ``spec`` into this process's memory for the runs to come; its number of items."""
    yield Progress(0, 0, f"reading {label or spec}")
    dataset = open_cached(spec)
    images = getattr(dataset, "images", None)
    if callable(images):
        images()  # file-backed arrays are read now, not in the first run
    return len(dataset)
