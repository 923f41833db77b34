"""One annotator's own view of the items (no Qt): what "Annotate blind" shows, and the item sets
behind the Browser's "by annotator" and "needs a second opinion" choices.

The item's columns hold the latest edit by anyone (or a consensus). Blind labelling must show a
person only their own work, so :func:`own_rows` replaces the label, review, targets, box count and
mask flag of catalog rows (``Project.query`` dicts) by that person's opinions
(:mod:`qbi_desktop.core.catalog.opinions`): what they never gave shows as unset.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from qbi_desktop.core.catalog import opinions

#: who simulated items' truth is written as (core.catalog.simulated's default annotator)
SIMULATOR = "simulator"

#: kinds that make an item "annotated" by someone (a review decision is not an annotation)
ANNOTATION_KINDS = ("label", "target", "boxes", "mask")


def own_rows(db: sqlite3.Connection, rows: Sequence[dict[str, Any]], annotator: str) -> None:
    """Rewrite ``rows`` in place to show only ``annotator``'s own annotations."""
    by_id = {int(r["id"]): r for r in rows}
    for row in rows:
        row.update(label=None, annotator=None, review="unreviewed", targets={}, n_boxes=0)
        row["has_mask"] = False
    if not by_id:
        return
    ids = list(by_id)
    for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        query = db.execute(
            f"SELECT item_id, kind, name, value FROM opinions WHERE annotator = ? "
            f"AND item_id IN ({marks})",
            [annotator, *chunk],
        )
        for item_id, kind, name, value in query:
            row = by_id[int(item_id)]
            decoded = json.loads(value)
            if kind == "label":
                row["label"] = decoded
                row["annotator"] = annotator
            elif kind == "review":
                row["review"] = decoded
            elif kind == "target":
                row["targets"][name] = decoded
            elif kind == "boxes":
                row["n_boxes"] = len(decoded)
            elif kind == "mask":
                row["has_mask"] = True


def own_opinion(db: sqlite3.Connection, item_id: int, annotator: str) -> dict[str, Any]:
    """``annotator``'s own annotation of one item (empty when they gave none)."""
    return opinions.for_item(db, item_id).get(annotator, {})


def items_by(db: sqlite3.Connection, annotator: str) -> list[int]:
    """Items ``annotator`` annotated (label, target, boxes or mask), by id."""
    marks = ",".join("?" * len(ANNOTATION_KINDS))
    rows = db.execute(
        f"SELECT DISTINCT item_id FROM opinions WHERE annotator = ? AND kind IN ({marks}) "
        "ORDER BY item_id",
        [annotator, *ANNOTATION_KINDS],
    )
    return [int(r[0]) for r in rows]


def needing_second_opinion(db: sqlite3.Connection) -> list[int]:
    """Items exactly one person annotated (any kind): the ones a second annotator should see."""
    marks = ",".join("?" * len(ANNOTATION_KINDS))
    rows = db.execute(
        f"SELECT item_id FROM opinions WHERE kind IN ({marks}) GROUP BY item_id "
        "HAVING COUNT(DISTINCT annotator) = 1 ORDER BY item_id",
        list(ANNOTATION_KINDS),
    )
    return [int(r[0]) for r in rows]


def others(db: sqlite3.Connection, annotator: str) -> list[str]:
    """Everyone but ``annotator`` who annotated this project (its metadata's list, else the
    opinions): a project with anyone here is shared."""
    row = db.execute("SELECT value FROM meta WHERE key = 'annotators'").fetchone()
    people = set(json.loads(row[0])) if row is not None else set()
    people.update(opinions.annotators(db))
    machine = {annotator, SIMULATOR}  # the simulator's truth is nobody's opinion to hide
    return sorted(p for p in people if p not in machine and not opinions.is_consensus(p))


def own_mask(project, item_id: int, annotator: str, shape=None):
    """``annotator``'s own mask of an item as an array (None when they drew none): what Annotate
    shows in blind mode instead of the item's mask (which may be someone else's, or the truth
    of a calibration set)."""
    row = project.db.execute(
        "SELECT json_extract(value, '$') FROM opinions WHERE item_id = ? AND annotator = ? "
        "AND kind = 'mask'",
        (item_id, annotator),
    ).fetchone()
    if row is None:
        return None
    return opinions.load_mask(project, row[0], item_id, annotator, shape)


def own_boxes(project, item_id: int, annotator: str) -> list:
    """``annotator``'s own boxes of an item (blind mode's box overlay)."""
    from qbi_desktop.core.catalog.project import Box

    row = project.db.execute(
        "SELECT value FROM opinions WHERE item_id = ? AND annotator = ? AND kind = 'boxes'",
        (item_id, annotator),
    ).fetchone()
    if row is None:
        return []
    return [Box(str(b[0]), *map(float, b[1:5]), annotator=annotator) for b in json.loads(row[0])]
