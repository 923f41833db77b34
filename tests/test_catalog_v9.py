"""Schema v9: a filter on one value of label, split, review or origin with a sort by name or
box count is one range of a (filter column, sort key) index, wherever the matches lie in the
whole order; a sort by a width every item shares is the id order. The medians at 100 000 and
1 000 000 items: tests/benchmarks/bench_catalog.py --grid. Tested on a catalog written by the
schema-8 code, and on one whose rare class lies at the far end of the name order."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from qbi_desktop.core.catalog import NONE, SCHEMA_VERSION, NewItem, open_project, schema
from qbi_desktop.core.catalog.indexes_v9 import PAIR_FILTERS, PAIR_KEYS, pair_index

V8 = Path(__file__).parent / "data" / "catalog_v8"  # made by the schema-8 code (make_v8.py)

FILTERS = [
    {},
    {"label": "bird"},  # five items, the last by name, the largest targets
    {"label": "bird", "split": "test"},
    {"provenance": "simulated"},  # the items with boxes
    {"review": "accepted"},
    {"split": NONE},
    {"label": "cat", "review": "rejected"},
    {"duplicates": True, "label": "cat"},
    {"name": "scan_05", "split": "train"},
]
SORTS = ["id", "name", "width", "n_boxes", "label", "split", "review", "provenance"]


def _plan(db: sqlite3.Connection, sql: str) -> str:
    return " ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql))


def _statements(db: sqlite3.Connection, ask) -> list[str]:
    """The SQL (with its values) that ``ask()`` runs on ``db``."""
    seen: list[str] = []
    db.set_trace_callback(seen.append)
    try:
        ask()
    finally:
        db.set_trace_callback(None)
    return seen


def test_a_version_8_catalog_gets_the_pair_indexes_and_pages_the_same(tmp_path):
    from tests.test_catalog_scale import _reference

    shutil.copytree(V8, tmp_path / "p")
    old = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    assert schema.schema_version(old) == 8
    cases = [
        (f, sort, offset)
        for f in FILTERS
        for key in SORTS + ["target:size"]
        for sort in (key, "-" + key)
        for offset in (0, 3)
    ]
    # the order the plain SQL gives, on the catalog as the schema-8 code left it
    before = [_reference(old, f, sort, offset, 7) for f, sort, offset in cases]
    old.close()
    assert before[cases.index(({"label": "bird"}, "-name", 0))] == [48, 35, 22, 9, 56]

    with open_project(tmp_path / "p") as p:
        assert schema.schema_version(p.db) == SCHEMA_VERSION == 14
        names = {r[0] for r in p.db.execute("SELECT name FROM sqlite_master")}
        wanted = {pair_index(c, k) for c in PAIR_FILTERS for k in PAIR_KEYS}
        assert len(wanted) == 8 and wanted | {"items_facets"} <= names
        after = [p.page_ids(f, sort, offset, 7).tolist() for f, sort, offset in cases]
        assert after == before
        # the page is one walk of the pair index: no sort of the label's items
        for sort, index in (("name", "items_label_name"), ("-name", "items_label_name")):
            seen = _statements(p.db, lambda s=sort: p.page_ids({"label": "bird"}, s, 0, 200))
            walks = [s for s in seen if f"INDEXED BY {index}" in s]
            assert walks, seen
            plan = _plan(p.db, walks[0])
            assert f"COVERING INDEX {index} (label=?)" in plan, plan
            assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
        # descending box count among the simulated items: each count's items in id order
        seen = _statements(p.db, lambda: p.page_ids({"provenance": "simulated"}, "-n_boxes"))
        steps = [s for s in seen if "INDEXED BY items_prov_n_boxes" in s]
        assert steps and all("TEMP B-TREE" not in _plan(p.db, s) for s in steps), steps
        # an edit after the migration is seen by the next page
        p.set_label([1], "bird", "Ada")
        assert p.page_ids({"label": "bird"}, "-name", 0, 2).tolist() == [48, 35]
        assert 1 in p.page_ids({"label": "bird"}, "name", 0, 9).tolist()

    # run again over its own result (a version number set back): nothing changes
    db = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    db.execute("PRAGMA user_version = 8")
    db.close()
    with open_project(tmp_path / "p") as p:
        assert p.page_ids({"label": "bird"}, "-name", 0, 2).tolist() == [48, 35]


@pytest.fixture(scope="module")
def late(tmp_path_factory):
    """20 000 items; the class "late" holds the last 3 000 by id and by name (15 %: enough that
    walking the name order and testing each item looked worth it before v9); every fifth
    item of origin "simulated" has boxes, some widths are unknown."""
    root = tmp_path_factory.mktemp("late") / "p"
    n, late_from = 20_000, 17_000
    with open_project(root, create=True) as p:
        with p.transaction() as tx:
            tx.add_items(
                [
                    NewItem(
                        name=f"img{i:06d}",
                        hash=f"{i:032x}",
                        path=f"images/{i}.png",
                        width=None if i % 13 == 0 else 8 + i % 5,
                        height=8,
                        label="late" if i >= late_from else str(i % 10),
                        split=("train", "val", "test")[i % 3],
                        provenance_kind="simulated" if i % 10 == 0 else "acquired",
                    )
                    for i in range(n)
                ]
            )
            tx.db.executemany(
                "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (?, 'spot', 1, 1, 2, 2)",
                [(i + 1,) for i in range(0, n, 10) for _ in range(1 + i % 3)],
            )
    return root


def _statement_steps(db: sqlite3.Connection, sql: str) -> int:
    """SQLite's virtual machine steps (in tens) of one statement: the rows it reads."""
    calls = [0]

    def tick() -> int:
        calls[0] += 1
        return 0

    db.set_progress_handler(tick, 10)
    try:
        db.execute(sql).fetchall()
    finally:
        db.set_progress_handler(None, 0)
    return calls[0]


def _steps(db: sqlite3.Connection, ask) -> int:
    """SQLite's virtual machine steps (in thousands) of the queries ``ask()`` runs, each run
    again on its own (the page plans set a progress handler of their own): the rows it reads."""
    queries = [s for s in _statements(db, ask) if s.startswith("SELECT")]
    calls = [0]

    def tick() -> int:
        calls[0] += 1
        return 0

    db.set_progress_handler(tick, 1000)
    try:
        for sql in queries:
            db.execute(sql).fetchall()
    finally:
        db.set_progress_handler(None, 0)
    return calls[0]


def test_a_class_at_the_far_end_of_the_sort_order_is_read_from_its_own_range(late):
    """Before v9, "label late, sort by name" walked the name index testing each item's label:
    17 000 items before the first match. Now the page reads its own 200 entries, in the order
    of the plain SQL (both directions, later pages, NULL widths, ties by id)."""
    from tests.test_catalog_scale import _reference

    with open_project(late) as p:
        scan = _steps(
            p.db,
            lambda: p.db.execute("SELECT COUNT(*) FROM items WHERE +label = 'late'").fetchall(),
        )
        for f in (
            {"label": "late"},
            {"label": "late", "split": "val"},
            {"provenance": "simulated"},
            {"label": "4", "split": "val"},  # few: from items_facets' combinations
        ):
            for key in ("name", "width", "n_boxes", "id", "split"):
                for sort in (key, "-" + key):
                    for offset in (0, 150, 2900):
                        expected = _reference(p.db, f, sort, offset, 200)
                        assert p.page_ids(f, sort, offset, 200).tolist() == expected, (f, sort)
                    if key == "width":
                        continue  # widths of many values have no pair index (indexes_v9.py)
                    steps = _steps(p.db, lambda f=f, s=sort: p.page_ids(f, s, 0, 200))
                    # a fraction of one pass; two columns: their matches (up to 1 000), sorted
                    assert steps * (4 if len(f) == 1 else 2) < scan, (f, sort, steps, scan)


def test_two_filter_columns_with_few_matches_read_their_combinations(late):
    """Label 4 among the val items: 567 of 20 000. The matches come from the combinations
    item_counts lists (ranges of items_facets), whatever the sort, instead of testing every
    item of label 4 or of the split."""
    with open_project(late) as p:
        for sort in ("name", "-n_boxes", "review", "-has_mask", "source"):
            seen = _statements(p.db, lambda s=sort: p.page_ids({"label": "4", "split": "val"}, s))
            reads = [s for s in seen if "INDEXED BY items_facets" in s]
            assert reads, (sort, seen)
            plan = _plan(p.db, reads[0])
            assert "COVERING INDEX items_facets (label=? AND split=? AND review=?" in plan, plan


def test_a_pair_index_dropped_by_hand_leaves_the_pages_right(late, tmp_path):
    """A catalog missing one of its pair indexes (removed with an SQLite tool) still pages in
    the plain SQL's order, through the sort key's own index, instead of failing with "no such
    index"."""
    from tests.test_catalog_scale import _reference

    shutil.copytree(late, tmp_path / "p")
    db = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    db.execute("DROP INDEX items_label_name")
    db.close()
    with open_project(tmp_path / "p") as p:
        for sort in ("name", "-name"):
            got = p.page_ids({"label": "late"}, sort, 0, 50).tolist()
            assert got == _reference(p.db, {"label": "late"}, sort, 0, 50)


def test_a_sort_by_a_width_every_item_shares_reads_the_id_order(late, tmp_path):
    """An array import gives every item one width: a sort by it is the id order, so a filter
    on a class at the far end reads that class's own range, not every item before it."""
    from tests.test_catalog_scale import _reference

    shutil.copytree(late, tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        with p.transaction() as tx:
            tx.db.execute("UPDATE items SET width = 28")
        scan = _steps(
            p.db, lambda: p.db.execute("SELECT COUNT(*) FROM items WHERE +label = 'late'")
        )
        for f in ({"label": "late"}, {"label": "late", "split": "val"}):
            for sort in ("width", "-width"):
                for offset in (0, 150, 2900):
                    expected = _reference(p.db, f, sort, offset, 200)
                    assert p.page_ids(f, sort, offset, 200).tolist() == expected, (f, sort)
                steps = _steps(p.db, lambda f=f, s=sort: p.page_ids(f, s, 0, 200))
                assert steps * (4 if len(f) == 1 else 2) < scan, (f, sort, steps, scan)
        with p.transaction() as tx:  # one item of another width: sorted by width again
            tx.db.execute("UPDATE items SET width = 30 WHERE id = 17500")
        assert p.page_ids({"label": "late"}, "-width", 0, 2).tolist() == [17500, 17001]


def test_a_rare_name_of_one_character_is_tested_along_the_name_index(late, tmp_path):
    """One or two characters, which the trigram index cannot answer, held by two names, in a
    catalog without schema v10's tail index (dropped by hand; with it: test_catalog_v10.py):
    every name is tested once, in the narrow name index, whatever the sort (before, a sort by
    box count, mask or width read every row of the table: twice the time at a million
    items)."""
    from tests.test_catalog_scale import _reference

    shutil.copytree(late, tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        with p.transaction() as tx:
            tx.db.execute("UPDATE items SET name = 'Qz' || name WHERE id IN (5, 17001)")
            tx.db.execute("DROP INDEX items_name_tail")
        for sort in ("n_boxes", "-has_mask", "width", "-label", "source", "target:size"):
            for text in ("q", "QZ"):
                expected = _reference(p.db, {"name": text}, sort, 0, 50)
                assert p.page_ids({"name": text}, sort, 0, 50).tolist() == expected
                assert sorted(expected) == [5, 17001]
            seen = _statements(p.db, lambda s=sort: p.page_ids({"name": "q"}, s, 0, 50))
            scans = [s for s in seen if "LIKE" in s and "LIMIT" in s]
            assert scans, seen
            plan = _plan(p.db, scans[-1])
            assert "COVERING INDEX items_name" in plan, plan
            assert re.search(r"SCAN items(?! USING)", plan) is None, plan  # no row of the table


def test_a_sort_by_a_source_every_item_shares_reads_the_id_order(tmp_path):
    """One array import: every item's source is the container's file, so a sort by source is
    the id order, and a rare filter reads its own range instead of sorting its matches by
    source; an image file added later makes the sources differ again (files by path)."""
    from tests.test_catalog_scale import _reference

    n = 20_000
    with open_project(tmp_path / "p", create=True) as p:
        (p.root / "data").mkdir()
        (p.root / "data" / "big.idx").write_bytes(b"idx")
        with p.transaction() as tx:
            cid = tx.add_container(p.root / "data" / "big.idx", "idx", "", n)
            tx.add_items(
                [
                    NewItem(
                        name=f"row{k:06d}",
                        hash=f"{k:032x}",
                        container=cid,
                        index=k,
                        width=28,
                        height=28,
                        label="late" if k >= n - 20 else str(k % 10),
                        split=("train", "val", "test")[k % 3],
                        provenance_kind="simulated" if k % 10 == 0 else "acquired",
                    )
                    for k in range(n)
                ]
            )
        scan = _steps(
            p.db, lambda: p.db.execute("SELECT COUNT(*) FROM items WHERE +label = 'late'")
        )
        for f in ({"label": "late"}, {"label": "late", "split": "val"}, {"label": "3"}):
            for sort in ("source", "-source"):
                for offset in (0, 150, 1990):
                    expected = _reference(p.db, f, sort, offset, 200)
                    assert p.page_ids(f, sort, offset, 200).tolist() == expected, (f, sort)
                steps = _steps(p.db, lambda f=f, s=sort: p.page_ids(f, s, 0, 200))
                assert steps * (4 if len(f) == 1 else 2) < scan, (f, sort, steps, scan)
        with p.transaction() as tx:
            tx.add_items([NewItem(name="a", hash="f" * 32, path="a.png", width=8, height=8)])
        for f in ({}, {"label": "late"}):
            for sort in ("source", "-source"):
                expected = _reference(p.db, f, sort, 0, 50)
                assert p.page_ids(f, sort, 0, 50).tolist() == expected, (f, sort)
        assert p.page_ids({}, "source", 0, 1).tolist() == [n + 1]  # "a.png" before "data/..."
