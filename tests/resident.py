"""What a process holds in memory, from /proc (Linux): the whole resident set and the pages of
one mapped file, so tests and benchmarks can tell file pages from the rest."""

from __future__ import annotations

import os
from pathlib import Path


def status_bytes() -> dict[str, int]:
    """VmRSS, RssAnon and RssFile of this process in bytes (empty off Linux)."""
    fields: dict[str, int] = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(("VmRSS", "RssAnon", "RssFile")):
                    key, value = line.split(":")
                    fields[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return fields


def mapped_file_bytes(path: str | Path) -> int:
    """Resident bytes of every mapping of ``path`` in this process (smaps ``Rss``)."""
    target = os.path.realpath(path)
    total = 0
    current = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            parts = line.split()
            if parts and "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                current = parts[5] if len(parts) >= 6 else None  # a mapping's header line
            elif parts and parts[0] == "Rss:" and current == target:
                total += int(parts[1]) * 1024
    return total
