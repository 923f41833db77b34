"""The catalog's page plans (counts from item_counts, grouped and walked pages, target pages) give
exactly the rows of the plain SQL order, for every Browser sort and filter, after edits; a bulk
import into an empty project ends with every index, trigger and count in place."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog import queries as q
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.idx import write_idx
from qbi_desktop.core.jobs import run_job

BROWSER_SORTS = [
    "id",
    "name",
    "label",
    "split",
    "review",
    "provenance",
    "annotator",
    "width",
    "has_mask",
    "n_boxes",
    "source",
]
FILTERS = [
    {},
    {"label": "3"},
    {"label": "3", "split": "test"},
    {"split": "train", "review": ["accepted", "rejected"]},
    {"label": q.NONE},
    {"annotator": "ann"},
    {"provenance": "simulated", "split": q.NONE},
    {"name": "img01"},
    {"has_mask": True, "label": "2"},
    {"has_boxes": False},
    {"duplicates": True},
    {"duplicates": True, "split": "train"},
    {"name": "img0012"},  # few names: through the name index
    {"name": "IMG0", "label": "2"},  # case folded like LIKE
    {"name": "r_00"},  # _ is a character, not a wildcard
    {"name": "zz%"},
    {"name": "_"},  # one character: no trigram, its share is sampled
]


def _plain(sql: str) -> str:
    """The SQL with the derived columns and tables (derived.py) replaced by what they stand
    for, computed from the boxes and items themselves."""
    return (
        sql.replace("items.n_boxes", "(SELECT COUNT(*) FROM boxes WHERE boxes.item_id = items.id)")
        .replace("items.has_mask", "EXISTS (SELECT 1 FROM masks WHERE masks.item_id = items.id)")
        .replace(
            "SELECT hash FROM duplicate_hashes",
            "SELECT hash FROM items GROUP BY hash HAVING COUNT(*) > 1",
        )
    )


def _reference(db: sqlite3.Connection, filters, sort, offset, limit) -> list[int]:
    """The order the plain SQL of order_clause gives (what every page plan must equal)."""
    where, wparams = q.where_clause(filters)
    joins, order, oparams = q.order_clause(sort)
    sql = _plain("SELECT items.id " + q._FROM + joins + where + order + "LIMIT ? OFFSET ?")
    assert "items_names" not in sql  # without the catalog, the plain LIKE
    return [r[0] for r in db.execute(sql, [*oparams, *wparams, limit, offset])]


@pytest.fixture
def project(tmp_path):
    rng = np.random.default_rng(1)
    n = 3000
    p = open_project(tmp_path / "p", create=True)
    reviews = ["unreviewed", "accepted", "rejected", "needs_edit"]
    with p.transaction() as tx:
        tx.add_items(
            [
                NewItem(
                    name=f"img{int(rng.integers(0, 400)):05d}",  # repeated names: ties by id
                    hash=f"{i % 2900:032x}",  # the last 100 repeat the first 100
                    path=f"images/i{i}.png",
                    width=int(rng.choice([8, 16, 28])),
                    height=8,
                    label=None if i % 11 == 0 else str(int(rng.integers(0, 5))),
                    annotator="ann" if i % 3 else "bob",
                    split=[None, "train", "val", "test"][int(rng.integers(0, 4))],
                    provenance_kind="simulated" if i % 7 == 0 else "acquired",
                    targets={"size": float(rng.integers(0, 50))},  # many equal values
                )
                for i in range(n)
            ]
        )
        tx.db.executemany(
            "UPDATE items SET review = ? WHERE id = ?",
            [(reviews[int(rng.integers(0, 4))], i) for i in range(1, n + 1)],
        )
        # masks on a tenth of the items, 1-4 boxes on a fifth (counts tie often)
        tx.db.executemany(
            "INSERT INTO masks(item_id, path, updated) VALUES (?, ?, '2026-12-05')",
            [(i, f"masks/{i}.tif") for i in range(3, n + 1, 10)],
        )
        tx.db.executemany(
            "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (?, 'spot', 1, 1, 2, 2)",
            [(i,) for i in range(2, n + 1, 5) for _ in range(1 + i % 4)],
        )
        # rows of array containers: their source is the container's file ("data/a.npz" sorts
        # before the images, "zz/b.idx" after; a.npz holds two arrays, one group of rows)
        for name, key, rows in (
            ("data/a.npz", "x", 150),
            ("data/a.npz", "y", 60),
            ("zz/b.idx", "", 90),
        ):
            file = p.root / name
            file.parent.mkdir(exist_ok=True)
            file.write_bytes(name.encode())
            cid = tx.add_container(file, "npz" if key else "idx", key, rows)
            tx.add_items(
                [
                    NewItem(
                        name=f"arr_{k:04d}" if k % 2 else f"arr{k:05d}",
                        hash=f"{k % 40:032x}",  # duplicates among themselves and the images
                        container=cid,
                        index=k,
                        width=28,
                        height=28,
                        label=str(k % 5),
                        split="train",
                    )
                    for k in range(rows)
                ]
            )
    yield p
    p.close()


def _check_all(p) -> None:
    for filters in FILTERS:
        where, params = q.where_clause(filters)
        expected_count = p.db.execute(_plain("SELECT COUNT(*) FROM items " + where), params)
        expected_count = expected_count.fetchone()[0]
        assert p.count(filters) == expected_count, filters
        for key in BROWSER_SORTS + ["target:size"]:
            for sort in (key, "-" + key):
                for offset in (0, 137, max(0, expected_count - 50)):
                    got = [r["id"] for r in p.query(filters, sort, offset, 100)]
                    expected = _reference(p.db, filters, sort, offset, 100)
                    assert got == expected, (filters, sort, offset)
                    assert p.page_ids(filters, sort, offset, 100).tolist() == expected


def test_every_browser_sort_and_filter_pages_like_plain_sql(project):
    _check_all(project)


def test_counts_follow_edits_deletes_and_targets(project):
    """Labels, splits and reviews change, items go, a target is removed from one item: the
    counts and every page still equal the plain SQL (the triggers keep item_counts true)."""
    ids = project.ids({"label": "3"})[:40]
    project.set_label(ids[:20], "4", "carol")
    project.set_review(ids[20:], "accepted", "carol")
    with project.transaction() as tx:
        tx.db.execute("UPDATE items SET split = 'val' WHERE id % 5 = 0")
        tx.db.execute("DELETE FROM items WHERE id % 13 = 0")
    _check_all(project)
    with project.transaction() as tx:  # one item without the target: the full ordering path
        tx.db.execute("DELETE FROM targets WHERE item_id = 2")
    for sort in ("target:size", "-target:size"):
        assert [r["id"] for r in project.query({"split": "train"}, sort, 0, 50)] == _reference(
            project.db, {"split": "train"}, sort, 0, 50
        )


def test_a_filtered_page_walks_the_sort_index_when_most_items_match(project):
    """label=3 & split=test, sorted by name: the plan walks the name index (no sort of all
    matches) when the matches are many, and the rows are the same either way."""
    f = q.as_filters({"split": ["train", "val", "test"]})
    from qbi_desktop.core.catalog.pages import _walk_pays

    assert _walk_pays(project.count(), project.count(f), 0, 100)
    assert not _walk_pays(project.count(), 5, 0, 100)


def _idx_pair(folder, n):
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 255, (n, 6, 6), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8))


def test_bulk_import_into_new_project_keeps_indexes_triggers_and_counts(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _idx_pair(src, 500)
    project = open_project(tmp_path / "p", create=True)

    def objects():
        return sorted(
            project.db.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
            ).fetchall()
        )

    before = objects()
    report = run_job(import_job(project, "mnist", [src]))
    assert report.added == 500
    assert objects() == before  # every index and trigger back, unchanged
    assert project.count() == 500 and project.count({"label": "3"}) == len(
        project.ids({"label": "3"})
    )
    from qbi_desktop.core.catalog.images import hash_array
    from qbi_desktop.core.idx import read_idx

    images = read_idx(src / "train-images-idx3-ubyte")
    stored = dict(project.db.execute("SELECT idx, hash FROM items"))
    assert stored[7] == hash_array(images[7]) and stored[499] == hash_array(images[499])
    # a second import into the now non-empty project goes through the triggers
    src2 = tmp_path / "src2"
    src2.mkdir()
    _idx_pair(src2, 20)
    run_job(import_job(project, "mnist", [src2]))
    assert project.count() == 520 == len(project.ids())
    project.close()


def test_cancelled_bulk_import_leaves_the_project_whole(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _idx_pair(src, 5000)
    project = open_project(tmp_path / "p", create=True)
    indexes = project.db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    job = import_job(project, "mnist", [src])
    for progress in job:  # stop after the first chunk was written
        if "2,000 of" in getattr(progress, "message", ""):
            break
    job.close()
    assert len(project) == 0 and project.count() == 0
    assert project.db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == indexes
    project.close()


def test_container_rows_written_in_bulk_equal_those_of_add_items(tmp_path):
    """The column-wise insert of an import writes exactly the item Writer.add_items writes for
    the same item (every column but the time stamp), targets included; its provenance is kept
    once in the container (the row stores '{}') and reads back the same."""
    from qbi_desktop.core.catalog.bulk import add_container_rows
    from qbi_desktop.core.catalog.derived import provenance_sql

    project = open_project(tmp_path / "p", create=True)
    source = tmp_path / "x-images-idx3-ubyte"
    source.write_bytes(b"")
    provenance = {"source": "npz", "imported_from": str(source)}
    with project.transaction() as tx:
        cid = tx.add_container(source, "npz", "x_train", 3)
        by_writer = tx.add_items(
            [
                NewItem(
                    name=f"x-{i}",
                    hash=f"h{i}",
                    container=cid,
                    index=i,
                    width=28,
                    height=14,
                    label=[None, "7", 'cat "b"'][i],
                    targets={"depth": 0.5 * i},
                    split="train",
                    annotator="ann",
                    provenance={**provenance, "index": i},
                )
                for i in range(3)
            ]
        )
        other = tmp_path / "y.npz"
        other.write_bytes(b"")
        cid2 = tx.add_container(other, "npz", "x_train", 3)
        in_bulk = add_container_rows(
            tx.db,
            cid2,
            [0, 1, 2],
            ["x-0", "x-1", "x-2"],
            ["h0", "h1", "h2"],
            (28, 14),
            [None, "7", 'cat "b"'],
            [{"depth": 0.0}, {"depth": 0.5}, {"depth": 1.0}],
            "train",
            "ann",
            provenance,
        )
    columns = [
        r[1] for r in project.db.execute("PRAGMA table_info(items)") if r[1] not in ("id", "added")
    ]
    for a, b in zip(by_writer, in_bulk, strict=True):
        row_a = project.db.execute(f"SELECT {', '.join(columns)} FROM items WHERE id = ?", (a,))
        row_b = project.db.execute(f"SELECT {', '.join(columns)} FROM items WHERE id = ?", (b,))
        differ = {
            c: (x, y)
            for c, x, y in zip(columns, row_a.fetchone(), row_b.fetchone(), strict=True)
            if c not in ("container_id", "provenance") and x != y
        }
        assert differ == {}
        assert project.targets(a) == project.targets(b)
        full = f"SELECT {provenance_sql()} FROM items WHERE id = ?"
        assert json.loads(project.db.execute(full, (a,)).fetchone()[0]) == json.loads(
            project.db.execute(full, (b,)).fetchone()[0]
        )
        assert project.get(a)["provenance_params"] == project.get(b)["provenance_params"]
        assert project.get(b)["provenance_params"]["index"] == in_bulk.index(b)
    stored = project.db.execute("SELECT provenance FROM items WHERE id = ?", (in_bulk[1],))
    assert stored.fetchone()[0] == "{}"
    project.close()


def test_container_rows_with_shared_values_equal_those_of_add_items(tmp_path):
    """Values every row shares (the annotator of all-labelled rows, no split) are written once
    into the insert: text with quotes comes back unchanged, the ids are the ones returned, and
    every column equals what Writer.add_items writes."""
    from qbi_desktop.core.catalog.bulk import add_container_rows

    project = open_project(tmp_path / "p", create=True)
    annotator = 'O\'Brien "rev" -- ; DROP TABLE items'
    with project.transaction() as tx:
        sources = []
        for name in ("a.npz", "b.npz"):
            sources.append(tmp_path / name)
            sources[-1].write_bytes(b"")
        cid = tx.add_container(sources[0], "npz", "x", 2)
        by_writer = tx.add_items(
            [
                NewItem(
                    name=f"x-{i}",
                    hash=f"h{i}",
                    container=cid,
                    index=i,
                    width=5,
                    height=7,
                    label=str(i),
                    annotator=annotator,
                    provenance={"source": "npz", "imported_from": "s", "index": i},
                )
                for i in range(2)
            ]
        )
        cid2 = tx.add_container(sources[1], "npz", "x", 2)
        in_bulk = add_container_rows(
            tx.db,
            cid2,
            [0, 1],
            ["x-0", "x-1"],
            ["h0", "h1"],
            (5, 7),
            ["0", "1"],
            None,
            None,
            annotator,
            {"source": "npz", "imported_from": "s"},
        )
    assert in_bulk == [by_writer[-1] + 1, by_writer[-1] + 2]
    columns = [
        r[1]
        for r in project.db.execute("PRAGMA table_info(items)")
        if r[1] not in ("id", "added", "container_id", "provenance")
    ]
    select = f"SELECT {', '.join(columns)} FROM items WHERE id = ?"
    for a, b in zip(by_writer, in_bulk, strict=True):
        assert project.db.execute(select, (a,)).fetchone() == (
            project.db.execute(select, (b,)).fetchone()
        )
        assert project.get(b)["annotator"] == annotator
        assert project.get(b)["split"] is None
    project.close()


V5 = Path(__file__).parent / "data" / "catalog_v5"  # made by the schema-5 code (make_v5.py)


def test_a_version_5_catalog_migrates_to_paged_sorts_and_shared_provenance(tmp_path):
    """A catalog written by the schema-5 code (an MNIST-style import with ten repeated images,
    six image files, boxes on three items) opens: box counts, duplicated hashes and the name
    index are made from its rows, the import's provenance moves to its container and reads
    back as before, the CHECKs still hold, and the triggers keep it all true after edits."""
    import shutil

    from qbi_desktop.core.catalog import SCHEMA_VERSION, Box, schema

    shutil.copytree(V5, tmp_path / "p")
    old = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    assert schema.schema_version(old) == 5
    before = {i: json.loads(text) for i, text in old.execute("SELECT id, provenance FROM items")}
    old.close()
    assert before[3]["index"] == 2 and before[3]["source"] == "idx"
    p = open_project(tmp_path / "p")
    assert schema.schema_version(p.db) == SCHEMA_VERSION == 14
    # provenance: kept once for the 40 imported rows, the same for every item as before
    assert {i: p.get(i)["provenance_params"] for i in before} == before
    shared = p.db.execute("SELECT COUNT(*) FROM items WHERE provenance = '{}'").fetchone()[0]
    assert shared == 40
    from qbi_desktop.core.formats.common import export_rows  # what every export writes

    assert {r["id"]: json.loads(r["provenance"]) for r in export_rows(p, p.db)} == before
    # box counts, duplicates and names answer like the plain SQL
    assert [r["id"] for r in p.query(sort="-n_boxes", limit=4)] == [41, 1, 5, 2]
    assert (
        p.count({"duplicates": True})
        == 26
        == len(_reference(p.db, {"duplicates": True}, "id", 0, 100))
    )
    assert [r["name"] for r in p.query({"name": "SCAN_00"}, "-name", 0, 3)] == [
        "scan_005.tif",
        "scan_004.tif",
        "scan_003.tif",
    ]
    for filters in ({}, {"duplicates": True}, {"name": "ain-0"}):
        for sort in ("source", "-source", "n_boxes", "-n_boxes", "label"):
            got = [r["id"] for r in p.query(filters, sort, 0, 100)]
            assert got == _reference(p.db, filters, sort, 0, 100), (filters, sort)
    with pytest.raises(sqlite3.IntegrityError):  # the CHECKs of the items table still hold
        p.db.execute("UPDATE items SET split = 'nonsense' WHERE id = 1")
    # the triggers after the migration
    p.set_boxes(2, [Box("spot", 1, 1, 2, 2)] * 5, "ann")
    p.remove_items([31])  # repeated image 31 = image 1: that hash is no longer duplicated
    with p.transaction() as tx:
        tx.db.execute("UPDATE items SET name = 'renamed' WHERE id = 7")
    assert [r["id"] for r in p.query(sort="-n_boxes", limit=2)] == [2, 41]
    assert p.count({"duplicates": True}) == 24
    assert p.ids({"name": "renamed"}) == [7] and p.count({"name": "train-images"}) == 38
    image = p.image(3)
    assert image.shape == (6, 6)
    p.close()
    # run again over its own result (a version number set back): nothing changes
    db = sqlite3.connect(tmp_path / "p" / "catalog.sqlite")
    db.execute("PRAGMA user_version = 6")
    db.close()
    with open_project(tmp_path / "p") as p:
        assert p.count({"duplicates": True}) == 24 and p.ids({"name": "renamed"}) == [7]
        assert p.get(5)["provenance_params"] == before[5]


def test_a_name_filter_reads_the_name_index_only_when_few_names_match(project, monkeypatch):
    """'img0012' (a hundred names): its candidates come from the trigram index; with the
    thresholds below that (as if a page were filled from a hundredth of the items by testing
    them), the same filter tests every name along the sort order instead. The
    pages are the plain SQL's either way, 'r_00' (a literal _) and case included."""
    from qbi_desktop.core.catalog import count_cache, names

    for few, first_page, indexed in ((names.FEW, 1000, True), (50, 1, False)):
        monkeypatch.setattr(names, "FEW", few)
        monkeypatch.setattr(names, "FIRST_PAGE", first_page)
        count_cache.clear()
        term, _ = names.condition(project.db, "img0012")
        assert ("items_names" in term) is indexed
        plan = " ".join(
            r[3]
            for r in project.db.execute(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM items "
                + q.where_clause({"name": "img0012"}, project.db)[0],
                q.where_clause({"name": "img0012"}, project.db)[1],
            )
        )
        assert ("VIRTUAL TABLE" in plan) is indexed, plan
        for filters in ({"name": "img0012"}, {"name": "R_00", "split": "train"}, {"name": "mg0"}):
            assert project.count(filters) == len(_reference(project.db, filters, "id", 0, 10**6))
            for sort in ("id", "-name", "label", "-source", "n_boxes"):
                for offset in (0, 40):
                    got = [r["id"] for r in project.query(filters, sort, offset, 60)]
                    assert got == _reference(project.db, filters, sort, offset, 60), (
                        few,
                        filters,
                        sort,
                    )


def test_a_name_the_index_cannot_count_is_planned_from_a_sample(project, monkeypatch):
    """'_' (one character, no trigram) is in one name of 22 and '0' in nearly all: the sampled
    estimates are near the true counts, and a substring no item holds is estimated at none
    (its page sorts the matches instead of walking the whole sort order testing every item).
    A walk that runs past its time budget (a sampled estimate, or any walk expected to be
    short) gives way to the sorted matches: the same rows."""
    from qbi_desktop.core.catalog import count_cache, names, pages

    count_cache.clear()
    for text in ("_", "0", "9", "r0"):
        true = project.count({"name": text})
        assert abs(names.estimate(project.db, text) - true) <= 0.2 * true + 5, text
    assert names.estimate(project.db, "Q") == 0
    monkeypatch.setattr(pages, "WALK_BUDGET", 0.0)
    monkeypatch.setattr(pages, "CHECK_EVERY", 1)
    for filters in (
        {"name": "0"},
        {"name": "_", "split": "train"},
        {"name": "mg0"},
        {"provenance": "simulated"},  # an exact count, but where the matches lie is unknown
        {"split": "train", "review": "accepted"},
    ):
        count_cache.clear()
        for sort in ("id", "-name", "label", "-source", "n_boxes", "has_mask", "-target:size"):
            for offset in (0, 300):
                got = project.page_ids(filters, sort, offset, 60).tolist()
                assert got == _reference(project.db, filters, sort, offset, 60), (filters, sort)


def test_a_kept_count_is_given_only_while_the_catalog_is_unchanged(project):
    """A name filter's count is kept for the catalog's state: a change by another connection
    or by this one is counted again, never given from before."""
    from qbi_desktop.core.catalog import count_cache

    count_cache.clear()
    f = {"name": "img0"}
    n = project.count(f)
    assert project.count_is_quick(f) and project.count(f) == n
    other = project.connect()
    try:
        target = project.ids(f)[:3]
        other.execute(f"DELETE FROM items WHERE id IN ({','.join(map(str, target))})")
        other.commit()
    finally:
        other.close()
    assert project.count(f) == n - 3
    with project.transaction() as tx:
        tx.db.execute("UPDATE items SET name = 'renamed' WHERE id = ?", (project.ids(f)[0],))
    assert project.count(f) == n - 4


def test_new_catalogs_get_larger_pages_and_old_ones_keep_theirs(tmp_path):
    """A new project's catalog is made with NEW_PAGE_SIZE pages (fewer pages for an import to
    build and checkpoint) and is whole after an import; a catalog made with SQLite's default
    4 KiB pages keeps them when opened and written."""
    import shutil

    from qbi_desktop.core.catalog.connection import NEW_PAGE_SIZE

    project = open_project(tmp_path / "new", create=True)
    with project.transaction() as tx:
        tx.add_items([NewItem(name=f"n{i}", hash=f"h{i}", path=f"/x/{i}.tif") for i in range(500)])
    assert project.db.execute("PRAGMA page_size").fetchone()[0] == NEW_PAGE_SIZE > 4096
    assert project.db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    project.close()
    shutil.copytree(V5, tmp_path / "old")
    assert (
        sqlite3.connect(tmp_path / "old" / "catalog.sqlite")
        .execute("PRAGMA page_size")
        .fetchone()[0]
        == 4096
    )
    old = open_project(tmp_path / "old")
    with old.transaction() as tx:
        tx.set_label([1], "relabelled", "ann")
    assert old.db.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert old.get(1)["label"] == "relabelled"
    old.close()


def test_an_array_imported_again_adds_back_only_the_removed_items_as_they_were(tmp_path):
    """Items removed from an imported NPZ (here and there within one write block) come back
    from a second import with the names, labels and pixel hashes they had; the rest is kept."""
    images = np.random.default_rng(3).integers(0, 255, (2500, 4, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=images, y_train=np.arange(2500) % 7)
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "npz", [tmp_path / "d.npz"]))
    select = "SELECT idx, name, label, hash, split FROM items ORDER BY idx"
    before = project.db.execute(select).fetchall()
    removed = [row[0] + 1 for row in before if row[0] in (0, 5, 1999, 2000, 2499)]
    assert project.remove_items(removed) == 5
    report = run_job(import_job(project, "npz", [tmp_path / "d.npz"]))
    assert report.added == 5
    assert project.db.execute(select).fetchall() == before
    project.close()
