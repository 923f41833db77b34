"""Progress of a long command on stderr: at most one line a second, nothing with --quiet."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


def progress_printer(quiet: bool) -> Callable[[Any], None]:
    """An ``on_progress`` callback for :func:`qbi_desktop.core.jobs.run_job`."""
    last = [0.0]

    def show(progress: Any) -> None:
        now = time.monotonic()
        if quiet or now - last[0] < 1.0:
            return
        last[0] = now
        frac = progress.fraction
        head = f"{100 * frac:5.1f} % " if frac is not None else ""
        print(f"  {head}{progress.message}", file=sys.stderr, flush=True)

    return show
