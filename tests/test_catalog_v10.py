"""Schema v10: "name contains" one or two characters takes its candidates from the trigram
index's vocabulary and the index of the names' last two characters when few names hold them,
and gives exactly the rows of ``name LIKE '%text%'`` (ASCII case folded, % and _ literal)
whatever the sort; at a million items a text no name holds costs a few index steps instead of
a test of every name (tests/benchmarks/bench_catalog.py --grid, filter "name 'x'")."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from qbi_desktop.core.catalog import NewItem, open_project, schema
from qbi_desktop.core.catalog import queries as q
from tests.test_catalog_scale import BROWSER_SORTS, _plain, _reference
from tests.test_catalog_v9 import V8, _statements, _steps

#: Names that hold the texts below at every kind of place: first, inside, second to last,
#: last, as the whole name of one or two characters, in either case, next to non-ASCII.
RARE = [
    "x", "X", "ax", "xa", "aXb", "abX", "abXc", "XYZabc", "zzxy", "a%b", "a_b", "Äx", "xÄ",
    "ä", "B7", "q9", "%", "_", "\\", "a\\b", "", "Kx", "k",
]  # fmt: skip
TEXTS = ["x", "X", "xy", "XY", "bx", "Xc", "%", "_", "\\", "a%", "ä", "Äx", "q", "zq", "k", "7"]


def catalog_of(root, names: list[str]):
    """A catalog of items with these names (widths, labels, splits and a target that vary with
    the position, so that every Browser sort has ties to break), and a box on every 7th item."""
    with open_project(root, create=True) as p:
        with p.transaction() as tx:
            tx.add_items(
                [
                    NewItem(
                        name=name,
                        hash=f"{i:032x}",
                        path=f"images/{i}.png",
                        width=8 + i % 3,
                        height=8,
                        label=str(i % 4),
                        split=("train", "val", "test")[i % 3],
                        targets={"size": float(i % 17)},
                    )
                    for i, name in enumerate(names)
                ]
            )
            tx.db.executemany(
                "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (?, 'spot', 1, 1, 2, 2)",
                [(i,) for i in range(1, len(names) + 1, 7)],
            )
    return root


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    names = [f"img{i:05d}" for i in range(3000)]
    for k, name in enumerate(RARE):
        names[127 * k + 11] = name
    return catalog_of(tmp_path_factory.mktemp("short") / "p", names)


def test_short_texts_page_and_count_like_plain_sql_for_every_sort(short):
    with open_project(short) as p:
        for text in TEXTS:
            for f in ({"name": text}, {"name": text, "split": "train"}):
                where, params = q.where_clause(f)
                expected_count = p.db.execute(
                    _plain("SELECT COUNT(*) FROM items " + where), params
                ).fetchone()[0]
                assert p.count(f) == expected_count, f
                for key in BROWSER_SORTS + ["target:size"]:
                    for sort in (key, "-" + key):
                        for offset in (0, 3):
                            expected = _reference(p.db, f, sort, offset, 50)
                            got = p.page_ids(f, sort, offset, 50).tolist()
                            assert got == expected, (f, sort, offset)
        # what LIKE finds, spelt out: "x" is in these names and no other
        x = {r[0] for r in p.db.execute("SELECT name FROM items WHERE name LIKE '%x%'")}
        assert x == {"x", "X", "ax", "xa", "aXb", "abX", "abXc", "XYZabc", "zzxy", "Äx", "xÄ",
                     "Kx"}  # fmt: skip


def test_a_renamed_item_is_found_by_its_new_last_character(short, tmp_path):
    shutil.copytree(short, tmp_path / "p")
    with open_project(tmp_path / "p") as p:
        assert p.page_ids({"name": "w"}, "name").tolist() == []
        with p.transaction() as tx:
            tx.db.execute("UPDATE items SET name = 'img0004W' WHERE id = 5")
            tx.db.execute("INSERT INTO items(name, hash, path, added) VALUES ('w', 'h', 'w', '')")
        new = p.db.execute("SELECT id FROM items WHERE name = 'w'").fetchone()[0]
        assert p.page_ids({"name": "w"}, "-name").tolist() == [new, 5]
        assert p.page_ids({"name": "4w"}, "name").tolist() == [5]


def test_a_text_few_names_hold_reads_candidates_not_every_name(short):
    """The page of "q" (one name of 3 000) reads its candidates: fewer steps than one test of
    every name, and no scan of the table or of the name index."""
    with open_project(short) as p:
        scan = _steps(
            p.db,
            lambda: p.db.execute(
                "SELECT COUNT(*) FROM items INDEXED BY items_name WHERE name LIKE '%q%'"
            ).fetchall(),
        )
        for sort in ("name", "-n_boxes", "label", "target:size"):
            seen = _statements(p.db, lambda s=sort: p.page_ids({"name": "q"}, s, 0, 50))
            reads = [s for s in seen if "LIKE" in s and "LIMIT" in s]
            assert reads and all("items_name_tail" in s for s in reads), seen
            assert all("items_names_terms" in s for s in reads), seen
            steps = _steps(p.db, lambda s=sort: p.page_ids({"name": "q"}, s, 0, 50))
            assert steps * 2 < scan, (sort, steps, scan)


def test_a_version_8_catalog_gets_the_tail_index(tmp_path):
    shutil.copytree(V8, tmp_path / "p")
    old = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    before = _reference(old, {"name": "a"}, "-name", 0, 20)
    old.close()
    with open_project(tmp_path / "p") as p:
        assert schema.schema_version(p.db) == schema.SCHEMA_VERSION == 14
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'items_name_tail'"
        assert p.db.execute(sql).fetchone() is not None
        assert p.page_ids({"name": "a"}, "-name", 0, 20).tolist() == before


def test_a_short_text_few_names_hold_is_planned_from_its_candidates_not_a_sample(
    short, monkeypatch
):
    """How many items "q" keeps, for the page plan, is the number of its candidates (one name
    of 3 000), not a share measured on a sample of the items (whose cost grows with the
    catalog's file); a text more names hold than short_names.FEW is still sampled."""
    from qbi_desktop.core.catalog import count_cache, names, short_names

    with open_project(short) as p:
        count_cache.clear()
        seen = _statements(p.db, lambda: p.page_ids({"name": "q"}, "-n_boxes", 0, 50))
        assert not any("TOTAL(items.name LIKE" in s for s in seen), seen
        assert names.estimate(p.db, "q") == 1
        monkeypatch.setattr(short_names, "FEW", 100)
        count_cache.clear()
        seen = _statements(p.db, lambda: p.page_ids({"name": "0"}, "-n_boxes", 0, 50))
        assert any("TOTAL(items.name LIKE" in s for s in seen)  # in nearly every name
        expected = _reference(p.db, {"name": "0"}, "-n_boxes", 0, 50)
        assert p.page_ids({"name": "0"}, "-n_boxes", 0, 50).tolist() == expected
