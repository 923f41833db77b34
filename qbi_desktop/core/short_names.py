"""Short names that still tell files apart: ``edge.tif`` alone, ``edge.tif — run1`` and
``edge.tif — run2`` when two open files share a name (lists of open images, window titles)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import PurePath

SEPARATOR = " — "


def distinct_names(paths: Sequence[str | PurePath]) -> list[str]:
    """One label per path: the file name, followed by as many trailing parent folders as it
    takes to tell same-named files apart (the same for every file of such a group); identical
    paths are numbered ``(2)``, ``(3)``..."""
    paths = [PurePath(p) for p in paths]
    labels = [p.name or str(p) for p in paths]
    groups: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        groups[label].append(index)
    for name, members in groups.items():
        if len(members) < 2:
            continue
        parents = [paths[i].parent.parts for i in members]
        depth = max(len(p) for p in parents)
        for k in range(1, depth + 1):
            tails = [p[-k:] for p in parents]
            if len(set(tails)) == len(tails):
                break
        for i, parent in zip(members, parents, strict=True):
            tail = parent[-k:] if parent else ()
            folder = str(PurePath(*tail)) if tail else ""
            labels[i] = f"{name}{SEPARATOR}{folder}" if folder else name
        seen: dict[str, int] = defaultdict(int)
        for i in members:
            seen[labels[i]] += 1
            if seen[labels[i]] > 1:
                labels[i] = f"{labels[i]} ({seen[labels[i]]})"
    return labels
