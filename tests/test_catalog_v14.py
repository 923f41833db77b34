"""Schema v14: each regression target keeps whether its item is a duplicate, so the
"Duplicates" filter sorted by a target reads one range of the duplicates' targets index (before,
each duplicate's target was looked up and all of them sorted: the duplicates are a fixed share
of a catalog, 1.9 ms at a million items with growth exponent ~0.5;
tests/benchmarks/bench_catalog.py --grid, row "duplicates", sort by target). The flag follows
every way a copy comes and goes and every target written."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog.bulk import bulk_items
from tests.test_catalog_scale import _reference
from tests.test_catalog_v9 import V8, _statement_steps, _statements

N = 20_000
DUPS = {"duplicates": True}


def _item(i: int) -> NewItem:
    # items 0-1, 2-3, ... up to 3 000 are pairs of copies, spread over the ids
    j = i * 37 % N
    return NewItem(
        name=f"img{i:06d}",
        hash=f"{10**6 + j // 2 if j < 3000 else j:032x}",
        path=f"images/{i}.png",
        width=8,
        height=8,
        label=str(i % 7),
    )


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """20 000 items of which 3 000 are copies, each with a "size" target (many ties)."""
    root = tmp_path_factory.mktemp("copies14") / "p"
    with open_project(root, create=True) as p:
        with p.transaction() as tx:
            tx.add_items([_item(i) for i in range(N)])
            tx.db.executemany(
                "INSERT INTO targets(item_id, name, value) VALUES (?, 'size', ?)",
                [(i, float((i * 7919) % 300)) for i in range(1, N + 1)],
            )
    return root


def _flags_right(db: sqlite3.Connection) -> bool:
    wrong = db.execute(
        "SELECT COUNT(*) FROM targets t JOIN items i ON i.id = t.item_id "
        "WHERE t.is_dup IS NOT i.is_dup"
    ).fetchone()[0]
    return wrong == 0


def _pages_right(p) -> None:
    n = p.count(DUPS)
    for sort in ("target:size", "-target:size"):
        for offset in (0, 150, max(0, n - 10)):
            expected = _reference(p.db, DUPS, sort, offset, 20)
            assert p.page_ids(DUPS, sort, offset, 20).tolist() == expected, (sort, offset)


def test_the_duplicates_by_target_page_from_their_own_index(copies):
    """Both directions, pages at the start, middle and end: the plain SQL's order (ties in id
    order), read from a few entries of the duplicates' targets index."""
    with open_project(copies) as p:
        assert _flags_right(p.db)
        assert p.count(DUPS) == 3000
        _pages_right(p)
        every = _statement_steps(
            p.db,
            "SELECT t.value FROM items INDEXED BY items_dups CROSS JOIN targets t "
            "ON t.item_id = items.id AND t.name = 'size' WHERE items.is_dup = 1",
        )
        for sort in ("target:size", "-target:size"):
            seen = _statements(p.db, lambda s=sort: p.page_ids(DUPS, s, 0, 20))
            (page,) = [s for s in seen if "INDEXED BY targets_dups_value" in s]
            assert _statement_steps(p.db, page) * 20 < every, (sort, page)


def test_the_flag_follows_copies_and_targets(copies, tmp_path):
    """A copy added makes both items' targets duplicates, removing it clears the other's, a
    rehash either way, a target set again or moved to another item: the flags stay the items'
    and the pages the plain SQL's."""
    shutil.copytree(copies, tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        lone = p.db.execute("SELECT id, hash FROM items WHERE is_dup = 0 LIMIT 1").fetchone()
        pair = p.db.execute(
            "SELECT id, hash FROM items WHERE is_dup = 1 ORDER BY id LIMIT 1"
        ).fetchone()
        with p.transaction() as tx:
            tx.add_items(
                [NewItem(name="copy", hash=lone[1], path="images/c.png", width=8, height=8)]
            )
            copy_id = tx.db.execute("SELECT id FROM items WHERE name = 'copy'").fetchone()[0]
            tx.db.execute(
                "INSERT INTO targets(item_id, name, value) VALUES (?, 'size', -1)", (copy_id,)
            )
        assert _flags_right(p.db)
        assert p.page_ids(DUPS, "target:size", 0, 1).tolist() == [copy_id]
        assert p.db.execute(
            "SELECT is_dup FROM targets WHERE item_id = ?", (lone[0],)
        ).fetchone() == (1,)
        with p.transaction() as tx:
            tx.db.execute("DELETE FROM items WHERE id = ?", (copy_id,))
            tx.db.execute("UPDATE items SET hash = 'other' WHERE id = ?", (pair[0],))  # pair ends
            tx.db.execute("UPDATE items SET hash = ? WHERE id = 5", (lone[1],))  # a new pair
            tx.db.execute(
                "INSERT OR REPLACE INTO targets(item_id, name, value) VALUES (5, 'size', 9999)"
            )
            tx.db.execute("INSERT INTO targets(item_id, name, value) VALUES (7, 'depth', 1)")
            tx.db.execute("UPDATE targets SET item_id = 5 WHERE item_id = 7 AND name = 'depth'")
            tx.db.execute("UPDATE targets SET is_dup = 1 WHERE item_id = 9")  # by hand: undone
        assert _flags_right(p.db)
        assert p.page_ids(DUPS, "-target:size", 0, 1).tolist() == [5]
        _pages_right(p)


def test_targets_loaded_in_bulk_get_their_flags(tmp_path):
    """A bulk load drops the triggers with the other derived ones; its end sets every target's
    flag."""
    with open_project(tmp_path / "p", create=True) as p:
        with p.transaction() as tx:
            with bulk_items(tx.db) as bulk:
                assert bulk
                tx.db.executemany(
                    "INSERT INTO items(name, hash, path, width, height, added) "
                    "VALUES (?, ?, ?, 8, 8, '2026-12-06')",
                    [(f"i{i}", f"{i % 40:032x}", f"images/{i}.png") for i in range(60)],
                )
                tx.db.executemany(
                    "INSERT INTO targets(item_id, name, value) VALUES (?, 'size', ?)",
                    [(i, float(100 - i)) for i in range(1, 61)],
                )
                names = [r[0] for r in tx.db.execute("SELECT name FROM sqlite_master")]
                assert "target_dups_counts_insert" not in names  # dropped for the load
        assert _flags_right(p.db)
        # items 1-20 and 41-60 share hashes: the largest targets are items 1, 2, 3
        assert p.page_ids(DUPS, "-target:size", 0, 3).tolist() == [1, 2, 3]
        names = {r[0] for r in p.db.execute("SELECT name FROM sqlite_master")}
        assert {"target_dups_counts_item", "targets_dups_value_desc"} <= names


def test_an_older_catalog_gets_the_flags_and_a_dropped_trigger_comes_back(tmp_path):
    """A schema-8 catalog with copies and targets: after its update, its duplicates by target
    are the pages the plain SQL gave before it. A trigger dropped by hand is made again at the
    next open, with the flags it keeps."""
    shutil.copytree(V8, tmp_path / "p")
    old = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    old.execute(  # one more copy, of item 1, with a target
        "INSERT INTO items(name, hash, path, width, height, added) SELECT 'copy', hash, "
        "'images/copy.png', width, height, added FROM items WHERE id = 1"
    )
    copy_id = old.execute("SELECT id FROM items WHERE name = 'copy'").fetchone()[0]
    old.execute("INSERT INTO targets(item_id, name, value) VALUES (?, 'size', 0.5)", (copy_id,))
    old.commit()
    cases = [("target:size", 0), ("-target:size", 0)]
    before = [_reference(old, DUPS, sort, offset, 5) for sort, offset in cases]
    old.close()
    with open_project(tmp_path / "p") as p:
        assert _flags_right(p.db)
        assert [p.page_ids(DUPS, s, o, 5).tolist() for s, o in cases] == before
        assert copy_id in p.page_ids(DUPS, "target:size", 0, 1000).tolist()
    db = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    db.execute("DROP TRIGGER target_dups_counts_item")
    db.execute("UPDATE items SET hash = 'unique' WHERE name = 'copy'")  # the flags drift
    db.commit()
    assert not _flags_right(db)
    db.close()
    with open_project(tmp_path / "p") as p:
        assert _flags_right(p.db)
        assert copy_id not in p.page_ids(DUPS, "target:size", 0, 1000).tolist()
