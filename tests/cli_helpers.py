"""Set-up shared by the tests that run the command line as a user does: ``python -m
qbi_desktop`` in a child process, its exit code, stdout and stderr returned."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``qbi-desktop argv`` in a child process (stdin closed: a command that would ask for
    input ends instead of waiting); ``timeout`` seconds at most."""
    return subprocess.run(
        [sys.executable, "-m", "qbi_desktop", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
