"""Long-running work as generators: the one protocol shared by the GUI workers and the CLI.

A job is a generator that yields :class:`Progress` between chunks of work and ``return``s its
result. Whoever drives it decides what cancellation means: the GUI worker simply stops iterating
and closes the generator (so ``finally`` blocks in the job run), the CLI prints the progress.
Because a job only advances when asked for its next chunk, cancellation takes effect at the next
chunk boundary without any shared flag.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """How far a job has got: ``done`` of ``total`` units (0 = unknown), and what it is doing."""

    done: int
    total: int = 0
    message: str = ""
    detail: Any = None  # optional machine-readable payload, e.g. the region just decoded

    @property
    def fraction(self) -> float | None:
        return None if self.total <= 0 else min(1.0, self.done / self.total)


Job = Generator[Progress, None, T]


class Cancelled(Exception):
    """Raised by :func:`run_job` when the caller's ``should_stop`` asked to stop."""


def run_job(
    job: Job[T],
    on_progress: Callable[[Progress], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> T:
    """Drive a job to completion and return its result.

    ``on_progress`` sees every Progress; ``should_stop`` is asked between chunks, and a True
    closes the job and raises :class:`Cancelled`.
    """
    try:
        while True:
            progress = next(job)
            if on_progress is not None:
                on_progress(progress)
            if should_stop is not None and should_stop():
                job.close()
                raise Cancelled()
    except StopIteration as stop:
        return stop.value


def as_job(fn: Callable[..., T], *args: Any, message: str = "", **kwargs: Any) -> Job[T]:
    """Wrap a plain function as a one-step job, so anything can run on a worker."""
    yield Progress(0, 1, message)
    return fn(*args, **kwargs)
