"""Schema v8: a person's own opinions are read in item order from one covering index, so blind
mode's sorts by one's own label or target read no table row (tests/benchmarks/
bench_catalog_own.py prints the medians). Tested on a catalog written by the schema-7 code."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np

from qbi_desktop.core.catalog import SCHEMA_VERSION, open_project, own_order, schema

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
        assert schema.schema_version(p.db) == SCHEMA_VERSION == 8
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
