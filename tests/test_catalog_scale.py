"""The catalog's page plans (counts from item_counts, grouped and walked pages, target pages) give
exactly the rows of the plain SQL order, for every Browser sort and filter, after edits; a bulk
import into an empty project ends with every index, trigger and count in place."""

from __future__ import annotations

import sqlite3

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
]


def _reference(db: sqlite3.Connection, filters, sort, offset, limit) -> list[int]:
    """The order the plain SQL of order_clause gives (what every page plan must equal)."""
    where, wparams = q.where_clause(filters)
    joins, order, oparams = q.order_clause(sort)
    sql = "SELECT items.id " + q._FROM + joins + where + order + "LIMIT ? OFFSET ?"
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
                    hash=f"{i:032x}",
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
    yield p
    p.close()


def _check_all(p) -> None:
    for filters in FILTERS:
        expected_count = p.db.execute(
            "SELECT COUNT(*) FROM items " + q.where_clause(filters)[0], q.where_clause(filters)[1]
        ).fetchone()[0]
        assert p.count(filters) == expected_count, filters
        for key in BROWSER_SORTS + ["target:size"]:
            for sort in (key, "-" + key):
                for offset in (0, 137, max(0, expected_count - 50)):
                    got = [r["id"] for r in p.query(filters, sort, offset, 100)]
                    assert got == _reference(p.db, filters, sort, offset, 100), (
                        filters,
                        sort,
                        offset,
                    )


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
    """The column-wise insert of an import writes exactly the row Writer.add_items writes for
    the same item (every column but the time stamp), targets included."""
    from qbi_desktop.core.catalog.bulk import add_container_rows

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
            if c != "container_id" and x != y
        }
        assert differ == {}
        assert project.targets(a) == project.targets(b)
    project.close()
