"""Schema v11: whether an item has a mask is kept in ``items.has_mask`` by triggers on masks,
so a sort by "has a mask" is one range of an index per part, also under a filter whose items
all have masks (before, the items without one were found by testing each of the filter's
items: linear in the catalog, 27 ms at a million items; tests/benchmarks/bench_catalog.py
--grid, "origin=simulated", sort has_mask). The flag follows every way a mask comes and goes."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog.bulk import bulk_items
from tests.test_catalog_scale import _reference
from tests.test_catalog_v9 import V8, _steps

MASK_SORTS = ["has_mask", "-has_mask"]


@pytest.fixture(scope="module")
def masked(tmp_path_factory):
    """20 000 items; the simulated ones (every tenth) all have masks, and so do a few others;
    labels, splits and reviews cut across them."""
    root = tmp_path_factory.mktemp("masked") / "p"
    n = 20_000
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
                    for i in range(n)
                ]
            )
            tx.db.executemany(
                "UPDATE items SET review = 'rejected' WHERE id = ?", [(i,) for i in range(1, n, 4)]
            )
            tx.db.executemany(
                "INSERT INTO masks(item_id, path, updated) VALUES (?, ?, '2026-12-06')",
                [(i + 1, f"masks/{i + 1}.tif") for i in range(n) if i % 10 == 0 or i % 97 == 5],
            )
    return root


def _flags_match_masks(db: sqlite3.Connection) -> bool:
    wrong = db.execute(
        "SELECT COUNT(*) FROM items "
        "WHERE has_mask IS NOT EXISTS (SELECT 1 FROM masks WHERE masks.item_id = items.id)"
    ).fetchone()[0]
    return wrong == 0


def test_a_filter_whose_items_all_have_masks_pages_from_its_own_range(masked):
    """Simulated items sorted by "has a mask" (none without one, so the page starts with the
    masked ones): a few index entries instead of a test of every simulated item; every page
    in the plain SQL's order, also with a second filter column and later pages."""
    with open_project(masked) as p:
        assert _flags_match_masks(p.db)
        scan = _steps(
            p.db,
            lambda: p.db.execute(
                "SELECT COUNT(*) FROM items WHERE +provenance_kind = 'simulated'"
            ).fetchall(),
        )
        for f in (
            {"provenance": "simulated"},
            {"provenance": "simulated", "review": "rejected"},
            {"label": "3"},
            {},
        ):
            for sort in MASK_SORTS:
                for offset in (0, 150, 1990, 19_950):
                    expected = _reference(p.db, f, sort, offset, 200)
                    assert p.page_ids(f, sort, offset, 200).tolist() == expected, (f, sort)
                steps = _steps(p.db, lambda f=f, s=sort: p.page_ids(f, s, 0, 200))
                # a fraction of one pass; two columns: their pair ranges merged (index entries)
                assert steps * (4 if len(f) < 2 else 2) < scan, (f, sort, steps, scan)


def test_the_flag_follows_masks_painted_removed_and_items_deleted(masked, tmp_path):
    shutil.copytree(masked, tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        before = p.page_ids({"provenance": "simulated"}, "has_mask", 0, 3).tolist()
        assert before == [1, 11, 21]  # all masked: by id
        p.set_mask(11, None)  # removed: now the one simulated item without a mask
        assert p.page_ids({"provenance": "simulated"}, "has_mask", 0, 3).tolist() == [11, 1, 21]
        p.set_mask(11, np.ones((8, 8), np.uint8))  # painted again
        p.set_mask(2, np.ones((8, 8), np.uint8))  # a new one on an acquired item
        assert p.page_ids({"provenance": "simulated"}, "has_mask", 0, 3).tolist() == before
        assert p.page_ids({}, "-has_mask", 0, 3).tolist() == [1, 2, 6]
        with p.transaction() as tx:
            tx.db.execute("DELETE FROM items WHERE id = 1")  # its mask goes with it
            tx.db.execute("UPDATE masks SET item_id = 3 WHERE item_id = 2")  # moved by hand
        assert _flags_match_masks(p.db)
        for f in ({}, {"provenance": "simulated"}, {"label": "1", "split": "val"}):
            for sort in MASK_SORTS:
                expected = _reference(p.db, f, sort, 0, 100)
                assert p.page_ids(f, sort, 0, 100).tolist() == expected, (f, sort)


def test_masks_loaded_in_bulk_are_flagged(tmp_path):
    """A bulk load into an empty catalog drops the flag's triggers with the other derived ones
    and makes the flags once at its end."""
    with open_project(tmp_path / "p", create=True) as p:
        with p.transaction() as tx:
            with bulk_items(tx.db) as bulk:
                assert bulk
                tx.db.executemany(
                    "INSERT INTO items(name, hash, path, width, height, added) "
                    "VALUES (?, ?, ?, 8, 8, '2026-12-06')",
                    [(f"i{i}", f"{i:032x}", f"images/{i}.png") for i in range(50)],
                )
                names = [r[0] for r in tx.db.execute("SELECT name FROM sqlite_master")]
                assert "mask_counts_insert" not in names  # dropped for the load
                tx.db.executemany(
                    "INSERT INTO masks(item_id, path, updated) VALUES (?, ?, '2026-12-06')",
                    [(i, f"masks/{i}.tif") for i in range(5, 51, 5)],
                )
        assert _flags_match_masks(p.db)
        assert p.page_ids({}, "-has_mask", 0, 3).tolist() == [5, 10, 15]
        names = {r[0] for r in p.db.execute("SELECT name FROM sqlite_master")}
        assert {"mask_counts_insert", "items_has_mask", "items_label_has_mask"} <= names


def test_an_older_catalog_gets_its_masks_flagged(tmp_path):
    """A schema-8 catalog with masks (added to it as the schema-8 code would), flagged by the
    migration: the pages by "has a mask" are those the plain SQL gave before the update."""
    shutil.copytree(V8, tmp_path / "p")
    old = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    old.execute(
        "INSERT INTO masks(item_id, path, updated) "
        "SELECT id, 'masks/' || id || '.tif', '2026-12-06' FROM items WHERE id % 3 = 0"
    )
    old.commit()
    cases = [
        (f, sort)
        for f in ({}, {"provenance": "simulated"}, {"label": "cat"})
        for sort in MASK_SORTS
    ]
    before = [_reference(old, f, sort, 0, 20) for f, sort in cases]
    old.close()
    with open_project(tmp_path / "p") as p:
        assert _flags_match_masks(p.db)
        assert [p.page_ids(f, sort, 0, 20).tolist() for f, sort in cases] == before
