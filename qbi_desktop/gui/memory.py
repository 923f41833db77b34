"""Large image buffers go back to the system when freed.

glibc serves a block of at least its mmap threshold (128 kB at start) with its own mapping, freed
at once; but after such a block is freed it raises the threshold to that block's size (up to
32 MB), so the next 8 MB slices of a stack come from the heap, where freed ones stay resident
(stepping through a 2048^2 scan kept ~150 MB more than it used). A fixed threshold turns that
off. Other C libraries: nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger("qbi_desktop")

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
THRESHOLD_BYTES = 4 << 20  # a 4 MB block or larger (a 2048^2 mask or slice): its own mapping


def return_large_blocks_to_os() -> bool:
    """Fix glibc's mmap threshold at :data:`THRESHOLD_BYTES`; True if it was set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES))
    except (OSError, AttributeError) as exc:  # musl has no mallopt: its allocator differs
        log.debug("mallopt not available: %s", exc)
        return False
