"""Many boxes added with new items (Writer.add_items) are counted once after the insert instead
of by a trigger per box (bulk.box_inserts): the counts the Browser and the class picker read
are right after it, after a failed insert (rolled back, triggers back in place) and for later
edits that the triggers count again."""

from __future__ import annotations

import pytest

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.bulk import BULK_BOXES
from qbi_desktop.core.catalog.classes import box_counts
from qbi_desktop.core.catalog.project import Box, NewItem


def _boxes(n: int, label: str) -> list[Box]:
    return [Box(label, float(i % 50), float(i % 40), 3.0, 2.0) for i in range(n)]


def _n_boxes(p) -> dict[str, int]:
    return {row["name"]: row["n_boxes"] for row in p.query(limit=None)}


def test_counts_after_a_bulk_insert_a_failed_one_and_later_edits(tmp_path):
    with open_project(tmp_path / "p", create=True) as p:
        with p.transaction() as tx:
            tx.add_items([NewItem("first", "h1", tmp_path / "first.png", boxes=_boxes(3, "cell"))])
        assert box_counts(p) == {"cell": 3}

        bad = _boxes(BULK_BOXES + 10, "spot")
        bad[-1] = Box("spot", 1.0, 1.0, -2.0, 1.0)  # refused by the catalog's check
        with (
            pytest.raises(Exception, match=r"CHECK constraint failed: \(?w >= 0"),
            p.transaction() as tx,
        ):
            tx.add_items([NewItem("bad", "h2", tmp_path / "bad.png", boxes=bad)])
        assert box_counts(p) == {"cell": 3} and _n_boxes(p) == {"first": 3}

        with p.transaction() as tx:
            ids = tx.add_items(
                [
                    NewItem(
                        "many",
                        "h3",
                        tmp_path / "many.png",
                        boxes=_boxes(BULK_BOXES, "spot") + _boxes(7, "cell"),
                    ),
                    NewItem("few", "h4", tmp_path / "few.png", boxes=_boxes(2, "spot")),
                ]
            )
        assert box_counts(p) == {"cell": 10, "spot": BULK_BOXES + 2}
        assert _n_boxes(p) == {"first": 3, "many": BULK_BOXES + 7, "few": 2}

        with p.transaction() as tx:  # an edit afterwards: counted by the triggers again
            tx.set_boxes(ids[1], _boxes(5, "crack"), None)
        assert box_counts(p) == {"cell": 10, "spot": BULK_BOXES, "crack": 5}
        assert _n_boxes(p)["few"] == 5
