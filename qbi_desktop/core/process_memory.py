"""What a process does with the memory it frees (glibc's malloc); one policy per kind of process.

The GUI process (:func:`return_large_blocks_to_os`): glibc serves a block of at least its mmap
threshold (128 kB at start) with a mapping of its own, freed at once; but after such a block is
freed it raises the threshold to that block's size (up to 32 MB), so the next 8 MB slices of a
stack come from the heap, where freed ones stay resident (stepping through a 2048^2 scan kept
~150 MB more than it used). A fixed threshold turns that off.

A compute child (job_process.py; :func:`keep_freed_memory`, :func:`give_back_memory`): the
opposite. Numerical jobs allocate and free large temporaries at every chunk: a kNN chunk's scores
are ~100-250 MB. Each mapped and unmapped afresh, every chunk faulted its pages in again (14 600
minor faults a second, a third of a core in the kernel zeroing and unmapping pages), and on a
virtual machine that churn also stalled the GUI process: with two busy processes, its heartbeat
had gaps over 50 ms in about a third of the runs, none with the memory kept. So a child keeps
what it frees for the job's next allocation (no job goes beyond the peak it reached anyway) and
returns it at the job's end (``malloc_trim``).

Limits: in a child, a block over 64 MiB allocated on a thread other than the main one still gets
a mapping of its own (glibc's thread arenas are at most that large); the kNN search allocates its
scores on the job's own thread. Elsewhere than glibc (musl, macOS, Windows) nothing is done.
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
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_KEEP_TOP = 2**31 - 1  # the largest trim threshold mallopt takes (an int): in effect, never
LARGE_BLOCK_BYTES = 4 << 20  # GUI: a 4 MB block or larger (a 2048^2 mask or slice) is mapped


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


def supported() -> bool:
    """Whether this process's malloc is glibc's, whose policy these functions set."""
    return _glibc() is not None


def return_large_blocks_to_os() -> bool:
    """GUI process: fix glibc's mmap threshold at :data:`LARGE_BLOCK_BYTES`, so that freed
    image buffers leave the resident set at once; True if it was set."""
    libc = _glibc()
    return libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES) == 1


def keep_freed_memory() -> bool:
    """Compute child: from now on this process's freed memory stays with it, ready for the next
    allocation: no block gets a mapping of its own, the heap is not trimmed. True where that
    took effect."""
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
