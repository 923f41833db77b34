"""Two or more filter columns that rarely meet in the sort order: train items never have two or
three boxes, rejected simulated items are few. A sort by box count merges the filters' pair
index ranges value by value (ranges.intersection) and a sort by a target reads the filters'
combinations straight into the targets (or, by id, alone), in exactly the order of the plain
SQL, without testing every item of the rarer filter. Figures at a million items:
tests/benchmarks/bench_catalog.py --grid."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.core.catalog import NONE, NewItem, open_project
from tests.test_catalog_scale import BROWSER_SORTS, _reference
from tests.test_catalog_v9 import _plan, _statements, _steps

N = 12_000


@pytest.fixture(scope="module")
def correlated(tmp_path_factory):
    """Splits by id modulo 3 (every 17th item none), boxes on every fifth item, 1 + id % 3 of
    them: one box only in train, two only in val, three only in test (as in the benchmark's
    catalog); 60 % accepted; every tenth item simulated; targets with many ties."""
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("correlated") / "p"
    reviews = rng.choice(["accepted", "rejected", "unreviewed"], N, p=[0.6, 0.1, 0.3])
    with open_project(root, create=True) as p:
        with p.transaction() as tx:
            tx.add_items(
                [
                    NewItem(
                        # names repeat (ties by id), each about three times
                        name=f"img{i % 4001:05d}" if i % 7 else f"scan{i % 300:05d}",
                        hash=f"{i:032x}",
                        path=f"images/{i}.png",
                        width=8,
                        height=8,
                        label=None if i % 23 == 0 else str(i % 5),
                        annotator="ann" if i % 4 else None,
                        split=None if i % 17 == 0 else ("train", "val", "test")[i % 3],
                        provenance_kind="simulated" if i % 10 == 0 else "acquired",
                        targets={"size": float(i % 50)},
                    )
                    for i in range(N)
                ]
            )
            tx.db.executemany(
                "UPDATE items SET review = ? WHERE id = ?",
                [(str(reviews[i]), i + 1) for i in range(N)],
            )
            tx.db.executemany(
                "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (?, 'spot', 1, 1, 2, 2)",
                [(i + 1,) for i in range(0, N, 5) for _ in range(1 + i % 3)],
            )
    return root


FILTERS = [
    {"split": "train", "review": "accepted"},
    {"split": "test", "review": "accepted", "provenance": "acquired"},  # three ranges
    {"split": "train", "review": "accepted", "name": "img0"},  # tested on the merged ids
    {"split": "val", "review": "accepted", "annotator": "ann"},
    {"split": NONE, "review": "accepted"},  # "no split" is a range too
    {"label": "2", "review": "rejected"},
    {"review": "rejected", "provenance": "simulated"},
    {"review": "rejected", "provenance": "simulated", "label": NONE},
]


def test_correlated_filters_page_like_plain_sql_for_every_sort(correlated):
    with open_project(correlated) as p:
        for f in FILTERS:
            total = p.count(f)
            assert total > 0, f
            for sort in [s for key in BROWSER_SORTS + ["target:size"] for s in (key, "-" + key)]:
                for offset, limit in ((0, 50), (0, 200), (37, 100), (max(0, total - 30), 50)):
                    expected = _reference(p.db, f, sort, offset, limit)
                    got = p.page_ids(f, sort, offset, limit).tolist()
                    assert got == expected, (f, sort, offset, limit)


def test_a_box_count_sort_merges_the_filters_ranges_instead_of_testing_each_item(correlated):
    """Accepted train items by box count, most first: the old walk read the accepted items
    with three boxes (all in test) and then those with two (all in val), a row each, before
    the first match. The merged ranges read index entries only, and fewer steps than that
    walk's first (empty) value alone, for the whole page."""
    f = {"split": "train", "review": "accepted"}
    with open_project(correlated) as p:
        seen = _statements(p.db, lambda: p.page_ids(f, "-n_boxes", 0, 50))
        merged = [s for s in seen if "INTERSECT" in s and "LIMIT" in s]
        assert merged, seen
        plan = _plan(p.db, merged[0])
        assert "MERGE (INTERSECT)" in plan and "TEMP B-TREE" not in plan, plan
        assert "COVERING INDEX items_split_n_boxes" in plan, plan
        assert "COVERING INDEX items_review_n_boxes" in plan, plan
        old_walk = _steps(
            p.db,
            lambda: p.db.execute(
                "SELECT COUNT(*) FROM items INDEXED BY items_review_n_boxes "
                "WHERE review = 'accepted' AND n_boxes = 3 AND +split = 'train'"
            ).fetchall(),
        )
        reads = _steps(p.db, lambda: [p.db.execute(sql).fetchall() for sql in merged])
        assert reads < old_walk, (reads, old_walk)


def test_a_target_sort_of_few_combinations_merges_their_target_ranges(correlated):
    """Rejected simulated items by target: each of their combinations is one range of the
    targets' (name, combination, value) index (schema v13), and SQLite merges the ranges in
    target order: no item row is read and the matches are not sorted (before: each match's
    target looked up, then all of them sorted)."""
    f = {"review": "rejected", "provenance": "simulated"}
    with open_project(correlated) as p:
        for sort in ("-target:size", "target:size"):
            seen = _statements(p.db, lambda s=sort: p.page_ids(f, s, 0, 50))
            pages = [s for s in seen if "targets_facets_value" in s and "LIMIT" in s]
            assert pages, seen
            plan = _plan(p.db, pages[-1])
            assert "MERGE (UNION ALL)" in plan and "TEMP B-TREE" not in plan, plan
            assert "COVERING INDEX targets_facets_value" in plan and "items" not in plan, plan


def test_many_matches_of_small_ranges_are_merged_in_the_plain_order(correlated, monkeypatch):
    """At a million items the 5 000 rejected simulated items are merged from their pair ranges
    (150 000 entries at most) by box count or name instead of sorted one by one; here the
    threshold is lowered to this catalog's size so that the same plan runs, and gives the plain
    SQL's order (descending names: each run of equal names in id order)."""
    from qbi_desktop.core.catalog import pages

    monkeypatch.setattr(pages, "MANY_MATCHES", 10)
    with open_project(correlated) as p:
        for f in (
            {"review": "rejected", "provenance": "simulated"},
            {"review": "rejected", "provenance": "simulated", "annotator": "ann"},
            {"split": "test", "review": "accepted", "provenance": "acquired"},
        ):
            for sort in ("n_boxes", "-n_boxes", "name", "-name"):
                # pages of 7 rows: a run of equal names often straddles a page's end
                for offset in (0, 3, 7, 13, 40, 97):
                    expected = _reference(p.db, f, sort, offset, 7)
                    got = p.page_ids(f, sort, offset, 7).tolist()
                    assert got == expected, (f, sort, offset)
                seen = _statements(p.db, lambda f=f, s=sort: p.page_ids(f, s, 0, 7))
                assert any("INTERSECT" in s for s in seen), seen
