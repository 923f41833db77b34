"""Schema v13: each regression target keeps its item's item_counts combination, so a sort by
a target under filters on label, split, review, origin or annotator merges one range of the
targets' (name, combination, value) index per combination (before, each match's target was
looked up and all of them sorted: linear in the catalog, 6-14 ms at a million items;
tests/benchmarks/bench_catalog.py --grid, "review=rejected & origin=simulated", sort by
target). The combination follows every edit of those columns and every target written."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog.bulk import bulk_items
from tests.test_catalog_scale import _reference
from tests.test_catalog_v9 import V8, _plan, _statement_steps, _statements

N = 20_000
FILTERS = [
    {"review": "rejected", "provenance": "simulated"},
    {"label": "3"},
    {"split": ["train", "val"], "review": "accepted"},
    {"label": "none such"},
]


@pytest.fixture(scope="module")
def targeted(tmp_path_factory):
    """20 000 items, each with a "size" target (many ties) and some with a "depth"; labels,
    splits, reviews and origins cut across them; annotators on a few."""
    root = tmp_path_factory.mktemp("targeted") / "p"
    with open_project(root, create=True) as p:
        with p.transaction() as tx:
            tx.add_items(
                [
                    NewItem(
                        name=f"img{i:06d}",
                        hash=f"{i:032x}",
                        path=f"images/{i}.png",
                        width=8,
                        height=8,
                        label=str(i % 7),
                        split=("train", "val", "test")[i % 3],
                        provenance_kind="simulated" if i % 10 == 0 else "acquired",
                    )
                    for i in range(N)
                ]
            )
            tx.db.executemany(
                "UPDATE items SET review = ? WHERE id = ?",
                [(("rejected", "accepted")[i // 3 % 2], i) for i in range(1, N + 1, 3)],
            )
            tx.db.execute("UPDATE items SET label_by = 'ann' WHERE id % 11 = 0")
            tx.db.executemany(
                "INSERT INTO targets(item_id, name, value) VALUES (?, 'size', ?)",
                [(i, float((i * 7919) % 500)) for i in range(1, N + 1)],
            )
    return root


def _combinations_right(db: sqlite3.Connection) -> bool:
    wrong = db.execute(
        "SELECT COUNT(*) FROM targets t JOIN items i ON i.id = t.item_id WHERE t.facets IS NOT "
        "json_array(i.label, i.split, i.review, i.provenance_kind, i.label_by)"
    ).fetchone()[0]
    return wrong == 0


def test_a_target_sort_under_filter_columns_merges_their_ranges(targeted):
    """Every page by target, both directions, at several offsets, is the plain SQL's; the page
    reads a fraction of what looking up every match's target reads."""
    with open_project(targeted) as p:
        assert _combinations_right(p.db)
        for f in FILTERS:
            for sort in ("target:size", "-target:size"):
                for offset in (0, 40, 600):
                    expected = _reference(p.db, f, sort, offset, 30)
                    assert p.page_ids(f, sort, offset, 30).tolist() == expected, (f, sort)
        f = FILTERS[0]
        every = _statement_steps(
            p.db,
            "SELECT t.value FROM items CROSS JOIN targets t ON t.item_id = items.id "
            "AND t.name = 'size' WHERE review = 'rejected' AND provenance_kind = 'simulated'",
        )
        for sort in ("target:size", "-target:size"):
            seen = _statements(p.db, lambda s=sort: p.page_ids(f, s, 0, 30))
            (page,) = [s for s in seen if "UNION ALL" in s]
            assert _statement_steps(p.db, page) * 4 < every, (sort, page)


def test_the_combination_follows_edits_and_targets_written_again(targeted, tmp_path):
    shutil.copytree(targeted, tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        f = FILTERS[0]
        first = p.page_ids(f, "-target:size", 0, 5).tolist()
        with p.transaction() as tx:
            tx.db.execute("UPDATE items SET review = 'accepted' WHERE id = ?", (first[0],))
            tx.db.execute("UPDATE items SET provenance_kind = 'simulated' WHERE id = 2")
            tx.db.execute("UPDATE items SET review = 'rejected', label_by = 'bo' WHERE id = 2")
            tx.db.execute(  # a target set again (REPLACE) and one moved to another item
                "INSERT OR REPLACE INTO targets(item_id, name, value) VALUES (2, 'size', 9999)"
            )
            tx.db.execute("INSERT INTO targets(item_id, name, value) VALUES (5, 'depth', 1)")
            tx.db.execute("UPDATE targets SET item_id = 2 WHERE item_id = 5 AND name = 'depth'")
        assert _combinations_right(p.db)
        page = p.page_ids(f, "-target:size", 0, 5).tolist()
        assert page[0] == 2 and first[0] not in page
        for g in FILTERS:
            for sort in ("target:size", "-target:size"):
                assert p.page_ids(g, sort, 0, 40).tolist() == _reference(p.db, g, sort, 0, 40)


def test_targets_loaded_in_bulk_get_their_combinations(tmp_path):
    """A bulk load drops the triggers with the other derived ones; its end sets every
    target's combination."""
    with open_project(tmp_path / "p", create=True) as p:
        with p.transaction() as tx:
            with bulk_items(tx.db) as bulk:
                assert bulk
                tx.db.executemany(
                    "INSERT INTO items(name, hash, path, width, height, added, label) "
                    "VALUES (?, ?, ?, 8, 8, '2026-12-06', ?)",
                    [(f"i{i}", f"{i:032x}", f"images/{i}.png", str(i % 3)) for i in range(60)],
                )
                tx.db.executemany(
                    "INSERT INTO targets(item_id, name, value) VALUES (?, 'size', ?)",
                    [(i, float(100 - i)) for i in range(1, 61)],
                )
                names = [r[0] for r in tx.db.execute("SELECT name FROM sqlite_master")]
                assert "target_facets_counts_insert" not in names  # dropped for the load
        assert _combinations_right(p.db)
        assert p.page_ids({"label": "1"}, "target:size", 0, 3).tolist() == [59, 56, 53]
        names = {r[0] for r in p.db.execute("SELECT name FROM sqlite_master")}
        assert {"target_facets_counts_insert", "targets_facets_value_desc"} <= names


def test_an_older_catalog_gets_its_combinations(tmp_path):
    """A schema-8 catalog with targets: after its update, the pages by target under filter
    columns are those the plain SQL gave before it."""
    shutil.copytree(V8, tmp_path / "p")
    old = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    assert old.execute("SELECT COUNT(*) FROM targets WHERE name = 'size'").fetchone()[0] > 0
    cases = [
        (f, sort)
        for f in ({"label": "cat"}, {"provenance": "simulated"}, {"split": "train"})
        for sort in ("target:size", "-target:size")
    ]
    before = [_reference(old, f, sort, 0, 20) for f, sort in cases]
    old.close()
    with open_project(tmp_path / "p") as p:
        assert _combinations_right(p.db)
        assert [p.page_ids(f, sort, 0, 20).tolist() for f, sort in cases] == before


def test_the_update_gives_its_indexes_statistics_when_the_catalog_has_them(targeted, tmp_path):
    """A catalog with statistics (the project's PRAGMA optimize writes them) updated to v13:
    the new indexes get theirs at once. Without them SQLite took the (name, combination,
    value) index for a very selective one, and a sort by target read every target and
    sorted them (0.1-0.8 s at a million items) instead of walking (name, value)."""
    shutil.copytree(targeted, tmp_path / "p")
    db = sqlite3.connect(tmp_path / "p" / "catalog.sqlite", isolation_level=None)
    db.execute("ANALYZE")
    for index in ("targets_facets_value", "targets_facets_value_desc"):
        db.execute(f"DROP INDEX {index}")
    db.execute("DELETE FROM sqlite_stat1 WHERE idx LIKE 'targets_facets%'")
    db.execute("PRAGMA user_version = 12")
    db.close()
    with open_project(tmp_path / "p") as p:
        stats = {r[0] for r in p.db.execute("SELECT idx FROM sqlite_stat1")}
        assert {"targets_facets_value", "targets_facets_value_desc"} <= stats
        plan = _plan(
            p.db, "SELECT item_id FROM targets WHERE name = 'size' ORDER BY value, item_id"
        )
        assert "targets_name_value" in plan and "TEMP B-TREE" not in plan, plan
