"""Which original each item descends from: augmented copies point at their parent (``parent_id``),
copies of copies at a copy. A split that puts an item and its copy on both sides of the train/test
line tests on near-duplicates of training images, so splits group items by their root."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def root_ids(db: Any, ids: Sequence[int]) -> list[int]:
    """The root of each item's ``parent_id`` chain (the item itself when it has no parent, or
    when its parent is gone). A cycle (never written by the app) ends at the item where it
    closes, so every item still gets one root."""
    parents = {int(i): p for i, p in db.execute("SELECT id, parent_id FROM items")}
    roots: dict[int, int] = {}
    out = []
    for item in ids:
        chain = []
        node = int(item)
        while node not in roots:
            parent = parents.get(node)
            if parent is None or parent not in parents or node in chain:
                roots[node] = node
                break
            chain.append(node)
            node = int(parent)
        root = roots[node]
        for visited in chain:
            roots[visited] = root
        out.append(root)
    return out
