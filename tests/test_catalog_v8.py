"""Schema v8: a person's own opinions are read in item order from one covering index, so blind
mode's sorts by one's own label or target read no table row (tests/benchmarks/
bench_catalog_own.py prints the medians), and boxes are counted per class by triggers (the
class picker). Tested on a catalog written by the schema-7 code."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np

from qbi_desktop.core.catalog import SCHEMA_VERSION, Box, open_project, own_order, schema
from qbi_desktop.core.catalog import classes as C

V7 = Path(__file__).parent / "data" / "catalog_v7"  # made by the schema-7 code (make_v7.py)


def _plan(db: sqlite3.Connection, sql: str, params) -> str:
    return " ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql, params))


def test_a_version_7_catalog_gets_the_own_opinions_index_and_lists_the_same(tmp_path):
    shutil.copytree(V7, tmp_path / "p")
    old = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    assert schema.schema_version(old) == 7
    # what each person's own sorts gave under schema 7
    cases = [
        ("Ada", {}, "label"),
        ("Ada", {}, "-label"),
        ("Bob", {}, "target:size"),
        ("Ada", {}, "-target:size"),
        ("Bob", {"label": "cat"}, "id"),
        ("Ada", {"label": ""}, "review"),
    ]
    before = [own_order.id_array(old, who, f, s).tolist() for who, f, s in cases]
    old.close()
    assert before[0][:3] == [4, 8, 12]  # Ada's unlabelled items first
    assert before[2][:4] == [3, 6, 9, 12] and before[2][4:] == [1, 2, 4, 5, 7, 8, 10, 11]

    with open_project(tmp_path / "p") as p:
        assert schema.schema_version(p.db) == SCHEMA_VERSION == 14
        after = [own_order.id_array(p.db, who, f, s).tolist() for who, f, s in cases]
        assert after == before
        # the person's values are read in item order from the index alone
        sql = (
            "SELECT item_id, value FROM opinions WHERE annotator = ? AND kind = ? "
            "AND name = ? ORDER BY item_id"
        )
        plan = _plan(p.db, sql, ("Ada", "target", "size"))
        assert "COVERING INDEX opinions_own" in plan and "TEMP B-TREE" not in plan, plan
        names = {r[0] for r in p.db.execute("SELECT name FROM sqlite_master")}
        assert "opinions_annotator" not in names  # its two columns start the new index
        # boxes counted per class from the v7 rows (Ada: two on item 2, one on item 5)
        assert C.box_counts(p) == {"spot": 3}
        p.set_boxes(5, [Box("crack", 1, 1, 2, 2), Box("crack", 3, 3, 2, 2)], "Ada")
        p.set_boxes(2, [], "Ada")
        assert C.box_counts(p) == {"crack": 2} == _grouped(p.db)
        counts = C.class_counts(p)  # from the item count table
        assert counts == _labels(p.db) and sum(counts.values()) == 11  # item 12: nobody's
        # an edit after the migration is seen by the next list
        p.set_label([4], "aardvark", "Ada")
        assert own_order.id_array(p.db, "Ada", {}, "label")[:3].tolist() == [8, 12, 4]
    # run again over its own result (a version number set back): nothing changes
    db = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    db.execute("PRAGMA user_version = 7")
    db.close()
    with open_project(tmp_path / "p") as p:
        got = own_order.id_array(p.db, "Bob", {}, "target:size")
        assert np.array_equal(got, before[2])
        assert C.box_counts(p) == {"crack": 2}


def _grouped(db: sqlite3.Connection) -> dict[str, int]:
    return dict(db.execute("SELECT label, COUNT(*) FROM boxes GROUP BY label").fetchall())


def _labels(db: sqlite3.Connection) -> dict[str, int]:
    rows = db.execute("SELECT label, COUNT(*) FROM items WHERE label IS NOT NULL GROUP BY label")
    return dict(rows.fetchall())


def test_own_sorts_of_accented_cased_and_numeric_values_match_sqlites_order(tmp_path):
    """The person's labels and targets ranked in numpy (as fixed-width text or numbers) come out
    in the order SQLite sorts them: capitals before small letters, accents and symbols by code
    point, whole and fractional targets together, ties by id."""
    labels = ["zebra", "Zebra", "Äpfel", "apple", "éclair", "b", "B", "✓ done", "z", "apple"]
    sizes = [3, 2.5, -1, 10, 2.5, 0, 7, 1e6, -0.5, 3]
    from qbi_desktop.core.catalog import NewItem

    with open_project(tmp_path / "p", create=True) as p:
        with p.transaction() as tx:
            ids = tx.add_items(
                [NewItem(f"i{i}", f"h{i}", path=tmp_path / f"{i}.png") for i in range(12)]
            )
        for i, (label, size) in zip(ids, zip(labels, sizes, strict=True), strict=False):
            p.set_label([i], label, "Ada")
            p.set_target([i], "size", size, "Ada")
        for sort in ("label", "-label", "target:size", "-target:size", "review"):
            fast = own_order.id_array(p.db, "Ada", {}, sort).tolist()
            sql = own_order._by_sql(p.db, "Ada", own_order.as_filters({}), sort).tolist()
            assert fast == sql, sort
        assert own_order.id_array(p.db, "Ada", {}, "label").tolist()[:4] == [
            ids[10],
            ids[11],
            ids[6],
            ids[1],
        ]
