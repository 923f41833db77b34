"""Run one real job of the app and SIGKILL this very process in the middle of it.

    python -m tests.hostile.kill_driver WHEN JOB ARGS...

WHEN says where this process SIGKILLs itself (a real ``kill -9``: no ``finally``, no atexit,
no flush), deterministic for a given seed:
    step:N      at the N-th Progress the job yields
    fsync:N     right after the N-th ``os.fsync``/``os.fdatasync`` returns (a file is on disk,
                not yet renamed into place)
    replace:N   right after the N-th ``os.replace``/``os.rename``
    open:N      right after the N-th file is opened for writing (created, nothing in it yet)
    ms:N        from a timer thread N ms into the job (wherever it is; not deterministic)
    count       no kill: run the job and print how many of each there were, as JSON
If the job ends first the driver prints ``finished N`` (N = progress steps seen) and exits 0,
so a caller can tell a kill from a job too short.

JOB is one of
    import PROJECT KIND IMAGES_DIR SOURCE...   core.formats.import_job (what the dialog runs)
    export PROJECT KIND OUT                     core.formats.export_job
    decode IMAGE                                core.io.open_image + decode_plane_job
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _job(name: str, args: list[str]):
    if name == "import":
        from qbi_desktop.core.catalog import open_project
        from qbi_desktop.core.formats import import_job

        project_dir, kind, images, *sources = args
        project = open_project(project_dir, create=True)
        options = {"images_dir": images} if images != "-" else {}
        return import_job(project, kind, sources, **options)
    if name == "export":
        from qbi_desktop.core.catalog import open_project
        from qbi_desktop.core.formats import export_job

        project_dir, kind, out = args
        return export_job(open_project(project_dir), kind, Path(out))
    if name == "decode":
        from qbi_desktop.core.io import decode_plane_job, open_image

        return decode_plane_job(open_image(args[0]), 0)
    raise SystemExit(f"unknown job {name}")


COUNTS = {"step": 0, "fsync": 0, "replace": 0, "open": 0}


def _kill_after_nth_open(n: int) -> None:
    """Like :func:`_kill_after_nth` for ``open()`` calls that write (n = 0: only count)."""
    import builtins
    import io

    real = builtins.open

    def wrapped(file, mode="r", *a, **kw):
        f = real(file, mode, *a, **kw)
        if any(c in mode for c in "wxa+"):
            COUNTS["open"] += 1
            if n and COUNTS["open"] >= n:
                _die()
        return f

    builtins.open = wrapped
    io.open = wrapped


def _kill_after_nth(names: tuple[str, ...], n: int, key: str = "") -> None:
    """Wrap the ``os`` functions ``names`` so that the n-th call (counted together) returns
    and then the process is killed (n = 0: only count them, in COUNTS[key])."""
    count = [0]
    for name in names:
        real = getattr(os, name)

        def wrapped(*a, _real=real, **kw):
            result = _real(*a, **kw)
            count[0] += 1
            if key:
                COUNTS[key] += 1
            elif count[0] >= n:
                _die()
            return result

        setattr(os, name, wrapped)


def main(argv: list[str]) -> int:
    when, name, *args = argv
    how, _, n = when.partition(":") if ":" in when or when == "count" else ("step", "", when)
    job = _job(name, args)
    kill_at = None
    if how == "ms":
        timer = threading.Timer(int(n) / 1000, _die)
        timer.daemon = True
        timer.start()
    elif how == "fsync":
        _kill_after_nth(("fsync", "fdatasync"), int(n))
    elif how == "replace":
        _kill_after_nth(("replace", "rename"), int(n))
    elif how == "open":
        _kill_after_nth_open(int(n))
    elif how == "count":
        _kill_after_nth_open(0)
        _kill_after_nth(("fsync", "fdatasync"), 0, "fsync")
        _kill_after_nth(("replace", "rename"), 0, "replace")
    else:
        kill_at = int(n)
    steps = 0
    print("started", flush=True)
    try:
        while True:
            next(job)
            steps += 1
            if kill_at is not None and steps >= kill_at:
                _die()
    except StopIteration:
        pass
    time.sleep(0)  # a pending timer may still fire: the job ended first
    COUNTS["step"] = steps
    print(f"finished {steps}", flush=True)
    if how == "count":
        print(json.dumps(COUNTS), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
