"""Schema v12: whether an item's hash occurs more than once is kept in ``items.is_dup`` by
triggers, with an index of the duplicates alone per Browser sort key, so the "Duplicates"
filter reads a page of its own entries in any sort order (before, each duplicated hash was
looked up in the hash index and the matches sorted: linear in the catalog, 5-6 ms at a
million items; tests/benchmarks/bench_catalog.py --grid, rows "duplicates"). The flag follows
every way a copy comes and goes."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog.bulk import bulk_items
from tests.test_catalog_scale import BROWSER_SORTS, _reference
from tests.test_catalog_v9 import V8, _statement_steps, _statements

N = 20_000


def _item(i: int, hash_of: int) -> NewItem:
    return NewItem(
        name=f"img{(i * 7919) % N:06d}",  # names in another order than the ids
        hash=f"{hash_of:032x}",
        path=f"images/{i}.png",
        width=8 + i % 3,
        height=8,
        label=str(i % 7),
        split=("train", "val", "test")[i % 3],
        provenance_kind="simulated" if i % 10 == 0 else "acquired",
    )


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """20 000 items of which 3 700 are copies: 1 800 pairs and 25 groups of four, spread over
    the ids; labels, splits, widths, masks and boxes cut across them."""
    root = tmp_path_factory.mktemp("copies") / "p"
    groups = {i: 10**6 + i // 2 for i in range(0, 3600)}  # pairs: items 0-1, 2-3, ...
    groups |= {i: 2 * 10**6 + i % 25 for i in range(10_000, 20_000, 100)}  # 4 of each
    with open_project(root, create=True) as p:
        with p.transaction() as tx:
            tx.add_items([_item(i, groups.get(i * 37 % N, i)) for i in range(N)])
            tx.db.executemany(
                "INSERT INTO masks(item_id, path, updated) VALUES (?, ?, '2026-12-06')",
                [(i, f"masks/{i}.tif") for i in range(1, N + 1, 3)],
            )
            tx.db.executemany(
                "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (?, 'spot', 1, 1, 2, 2)",
                [(i,) for i in range(2, N + 1, 5) for _ in range(1 + i % 3)],
            )
    return root


def _flags_right(db: sqlite3.Connection) -> bool:
    wrong = db.execute(
        "SELECT COUNT(*) FROM items WHERE is_dup IS NOT "
        "(hash IN (SELECT hash FROM items GROUP BY hash HAVING COUNT(*) > 1))"
    ).fetchone()[0]
    return wrong == 0


def test_the_duplicates_page_from_their_own_index_in_every_sort(copies):
    """Every Browser sort, both directions, pages at the start, middle and end: the plain
    SQL's order, read from a few entries of the duplicates' index (a fraction of a pass over
    them), also with a second filter."""
    with open_project(copies) as p:
        assert _flags_right(p.db)
        assert p.count({"duplicates": True}) == 3700
        for f in ({"duplicates": True}, {"duplicates": True, "label": "3"}):
            for key in BROWSER_SORTS:
                for sort in (key, "-" + key):
                    for offset in (0, 150, 3690):
                        expected = _reference(p.db, f, sort, offset, 20)
                        assert p.page_ids(f, sort, offset, 20).tolist() == expected, (f, sort)
        whole = _statement_steps(
            p.db, "SELECT COUNT(*) FROM items INDEXED BY items_dups WHERE is_dup = 1"
        )
        for key in ("id", "name", "label", "split", "review", "width", "n_boxes", "has_mask"):
            for sort in (key, "-" + key):
                reads = [
                    s
                    for s in _statements(
                        p.db, lambda s=sort: p.page_ids({"duplicates": True}, s, 0, 20)
                    )
                    if "INDEXED BY items_dups" in s
                ]
                # the page's own entries (descending by a key with ties: value by value), not a
                # pass over the duplicates (nor, as before, a lookup of each duplicated hash and
                # a sort)
                assert reads and sum(_statement_steps(p.db, s) for s in reads) * 5 < whole, (
                    sort,
                    reads,
                )


def test_the_flag_follows_copies_added_deleted_and_rehashed(copies, tmp_path):
    shutil.copytree(copies, tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        first = p.page_ids({"duplicates": True}, "id", 0, 5000).tolist()
        lone = next(i for i in range(1, N) if i not in first)
        lone_hash = p.db.execute("SELECT hash FROM items WHERE id = ?", (lone,)).fetchone()[0]
        with p.transaction() as tx:
            tx.add_items([NewItem(name="copy", hash=lone_hash, path="images/copy.png")])
        assert lone in p.page_ids({"duplicates": True}, "id", 0, 5000).tolist()  # a pair formed
        assert _flags_right(p.db)
        with p.transaction() as tx:
            tx.add_items([NewItem(name="third", hash=lone_hash, path="images/third.png")])
            tx.db.execute("DELETE FROM items WHERE id = ?", (lone,))  # the group stays (2)
        assert _flags_right(p.db)
        with p.transaction() as tx:
            tx.db.execute("DELETE FROM items WHERE name = 'third'")  # the last one left
        assert _flags_right(p.db)
        assert p.page_ids({"duplicates": True}, "id", 0, 5000).tolist() == first
        other = next(i for i in range(lone + 1, N) if i not in first)
        with p.transaction() as tx:
            # one of the copies given a hash of its own, another item given a copy's hash
            tx.db.execute("UPDATE items SET hash = 'own' WHERE id = ?", (first[0],))
            tx.db.execute(
                "UPDATE items SET hash = (SELECT hash FROM items WHERE id = ?) WHERE id = ?",
                (first[5], other),
            )
        assert _flags_right(p.db)
        assert other in p.page_ids({"duplicates": True}, "id", 0, 5000).tolist()
        for sort in ("name", "-width", "label"):
            expected = _reference(p.db, {"duplicates": True}, sort, 0, 50)
            assert p.page_ids({"duplicates": True}, sort, 0, 50).tolist() == expected


def test_copies_loaded_in_bulk_are_flagged(tmp_path):
    """A bulk load into an empty catalog drops the item triggers with the other derived ones
    and flags the copies once at its end."""
    with open_project(tmp_path / "p", create=True) as p:
        with p.transaction() as tx:
            with bulk_items(tx.db) as bulk:
                assert bulk
                tx.db.executemany(
                    "INSERT INTO items(name, hash, path, width, height, added) "
                    "VALUES (?, ?, ?, 8, 8, '2026-12-06')",
                    [(f"i{i}", f"{i % 45:032x}", f"images/{i}.png") for i in range(50)],
                )
                names = [r[0] for r in tx.db.execute("SELECT name FROM sqlite_master")]
                assert "duplicate_counts_flag_insert" not in names  # dropped for the load
        assert _flags_right(p.db)
        assert p.page_ids({"duplicates": True}, "-name", 0, 3).tolist() == [50, 49, 48]
        names = {r[0] for r in p.db.execute("SELECT name FROM sqlite_master")}
        assert {"duplicate_counts_flag_insert", "items_dups", "items_dups_name"} <= names


def test_an_older_catalog_gets_its_copies_flagged(tmp_path):
    """A schema-8 catalog with copies (made as the schema-8 code would), flagged by the
    migration: its duplicate pages are those the plain SQL gave before the update."""
    shutil.copytree(V8, tmp_path / "p")
    old = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    old.execute(
        "UPDATE items SET hash = (SELECT hash FROM items i WHERE i.id = items.id - 1) "
        "WHERE id % 4 = 0"
    )
    old.commit()
    cases = [({"duplicates": True}, sort) for sort in ("id", "-name", "label", "-n_boxes")]
    before = [_reference(old, f, sort, 0, 20) for f, sort in cases]
    assert all(before)
    old.close()
    with open_project(tmp_path / "p") as p:
        assert _flags_right(p.db)
        assert [p.page_ids(f, sort, 0, 20).tolist() for f, sort in cases] == before


def test_flag_triggers_dropped_by_hand_are_made_again_with_the_flags(copies, tmp_path):
    """The flag's triggers dropped with an SQLite tool, then a copy added while they are gone:
    the next open makes them again and flags the copy (the page by id lists it)."""
    shutil.copytree(copies, tmp_path / "p")
    db = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    for name in ("duplicate_flags_insert", "duplicate_counts_flag_insert"):
        db.execute(f"DROP TRIGGER {name}")
    db.execute(
        "INSERT INTO items(name, hash, path, width, height, added) "
        "SELECT 'copy', hash, 'images/copy.png', 8, 8, added FROM items WHERE id = 2"
    )
    db.commit()
    assert not _flags_right(db)
    db.close()
    with open_project(tmp_path / "p") as p:
        assert _flags_right(p.db)
        names = {r[0] for r in p.db.execute("SELECT name FROM sqlite_master")}
        assert {"duplicate_flags_insert", "duplicate_counts_flag_insert"} <= names
        assert p.page_ids({"duplicates": True}, "-id", 0, 1).tolist() == [N + 1]
