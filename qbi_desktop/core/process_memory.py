"""How a compute child process (job_process.py) holds the memory it frees: it keeps it for its
next allocation during a job and gives it back to the system after the job.

Why: glibc's malloc maps each large block (over 32 MiB at most) on its own and unmaps it when
freed, and trims the heap's top whenever enough of it is free. Numerical jobs allocate and free
large temporaries at every chunk: a kNN chunk's scores are ~100-250 MB. So every chunk faulted
its pages in afresh (14 600 minor faults a second, a third of a core in the kernel zeroing and
unmapping pages), and on a virtual machine that churn also stalled the GUI process: with two
busy processes, its heartbeat had gaps over 50 ms in about a third of the runs, none with the
memory kept. Kept memory costs nothing more than the job's peak, which it reached anyway, and
the job's end returns it (``malloc_trim``).

Limits: a block over 64 MiB allocated on a thread other than the main one still gets a mapping
of its own (glibc's thread arenas are at most that large); the kNN search allocates its scores on
the job's own thread. Elsewhere than glibc (musl, macOS, Windows) both functions do nothing.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_KEEP_TOP = 2**31 - 1  # the largest trim threshold mallopt takes (an int): in effect, never


@functools.cache
def _glibc() -> Any | None:
    # confstr, not platform.libc_ver(): that one reads the whole executable, which in the
    # packaged app is the bundle's
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return None
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except (AttributeError, ValueError, OSError):  # no confstr (Windows) or no such name
        return None


def keep_freed_memory() -> bool:
    """From now on this process's freed memory stays with it, ready for the next allocation: no
    block gets a mapping of its own, the heap is not trimmed. True where that took effect."""
    libc = _glibc()
    if libc is None:
        return False
    done = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_TOP) == 1
    if not done:
        log.info("malloc kept its defaults: mallopt refused")
    return done


def give_back_memory() -> None:
    """Return the free memory this process keeps to the system (after a job)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
