"""core.catalog.own_order: the Browser's filters and sorts by one annotator's own opinions.

The oracle is the catalog's own query: a copy of the project whose item columns (label, who
labelled, review, targets, boxes, masks) are set to Ada's opinions must give, with the ordinary
``queries.id_array``, exactly what ``own_order.id_array(original, "Ada", ...)`` gives - for every
filter and sort key, alone and combined with the item's own fields (split, name, ids).
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pytest

from qbi_desktop.core.catalog import (
    NewItem,
    open_project,
    opinions,
    own_order,
    own_pages,
    own_walks,
)
from qbi_desktop.core.catalog.queries import NONE, Filters, id_array

N = 240
AT = "2026-12-05T18:00:00+00:00"


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """(the original catalog, the copy whose items hold Ada's own annotation)."""
    base = tmp_path_factory.mktemp("own")
    rng = np.random.default_rng(15)
    root = base / "proj"
    with open_project(root, create=True) as project:
        with project.transaction() as tx:
            ids = tx.add_items(
                [
                    NewItem(f"item{i:03d}", f"h{i}", path=base / f"i{i}.png", width=8, height=8)
                    for i in range(N)
                ]
            )
            db = tx.db
            # the items' own columns: everyone's latest edit (here: Cleo's, or an import's)
            for i in ids:
                if rng.random() < 0.7:
                    tx.set_label([i], str(rng.choice(["a", "b", "c"])), "Cleo")
                if rng.random() < 0.4:
                    tx.set_review([i], str(rng.choice(["accepted", "rejected"])), "Cleo", None)
                db.execute(
                    "UPDATE items SET split = ? WHERE id = ?",
                    (str(rng.choice(["train", "test"])), i),
                )
                if rng.random() < 0.5:
                    db.execute(
                        "INSERT INTO targets(item_id, name, value) VALUES (?, 'depth', ?)",
                        (i, float(rng.integers(0, 5))),
                    )
                if rng.random() < 0.3:
                    db.execute(
                        "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (?, 'o', 1, 1, 2, 2)",
                        (i,),
                    )
            # each person's own: Ada and Bob annotate different, overlapping subsets
            for who in ("Ada", "Bob"):
                for i in ids:
                    if rng.random() < 0.6:
                        # ties are common (3 classes): the id tie-break is tested too
                        opinions.record(db, [i], who, "label", str(rng.choice(["a", "b", "c"])), AT)
                    if rng.random() < 0.3:
                        states = ["accepted", "rejected", "needs_edit", "unreviewed"]
                        state = str(rng.choice(states))
                        opinions.record(db, [i], who, "review", state, AT)
                    if rng.random() < 0.5:
                        opinions.record(
                            db, [i], who, "target", float(rng.integers(0, 4)), AT, "depth"
                        )
                    if rng.random() < 0.2:
                        opinions.record(db, [i], who, "target", float(rng.random()), AT, "width")
                    if rng.random() < 0.3:
                        boxes = [["o", 0.0, 0.0, 1.0, 1.0]] * int(rng.integers(0, 4))
                        opinions.record(db, [i], who, "boxes", boxes, AT)
                    if rng.random() < 0.25:
                        opinions.record(db, [i], who, "mask", f"annotators/{who}/{i}.tif", AT)
    copy = base / "ada"
    copy.mkdir()
    shutil.copy(root / "catalog.sqlite", copy / "catalog.sqlite")
    _as_seen_by(copy / "catalog.sqlite", "Ada")
    return root, copy


def _as_seen_by(path, who: str) -> None:
    """Rewrite the item columns of the catalog at ``path`` to ``who``'s own opinions."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    db.execute("UPDATE items SET label = NULL, label_by = NULL, review = 'unreviewed'")
    db.execute("DELETE FROM targets")
    db.execute("DELETE FROM boxes")
    db.execute("DELETE FROM masks")
    rows = db.execute(
        "SELECT item_id, kind, name, value FROM opinions WHERE annotator = ?", (who,)
    ).fetchall()
    for item_id, kind, name, value in rows:
        value = json.loads(value)
        if kind == "label":
            db.execute(
                "UPDATE items SET label = ?, label_by = ? WHERE id = ?", (value, who, item_id)
            )
        elif kind == "review":
            db.execute("UPDATE items SET review = ? WHERE id = ?", (value, item_id))
        elif kind == "target":
            db.execute(
                "INSERT INTO targets(item_id, name, value) VALUES (?, ?, ?)", (item_id, name, value)
            )
        elif kind == "boxes":
            for b in value:
                db.execute(
                    "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (?, ?, ?, ?, ?, ?)",
                    (item_id, *b),
                )
        elif kind == "mask":
            db.execute(
                "INSERT INTO masks(item_id, path, updated) VALUES (?, ?, ?)", (item_id, value, AT)
            )
    db.execute("COMMIT")
    db.close()


FILTERS = [
    Filters(),
    Filters(label="a"),
    Filters(label=NONE),  # Ada's unlabelled items
    Filters(label=[NONE, "c"]),
    Filters(review="unreviewed"),
    Filters(review=["accepted", "needs_edit"]),
    Filters(annotator="Ada"),
    Filters(annotator=NONE),
    Filters(annotator="Cleo"),  # somebody else's labels: none of Ada's
    Filters(has_mask=True),
    Filters(has_mask=False),
    Filters(has_boxes=True),
    Filters(has_boxes=False),
    Filters(has_target="width"),
    Filters(label="b", split="train"),
    Filters(label=NONE, review="unreviewed", name="item1"),
    Filters(has_mask=True, ids=list(range(1, N, 3))),
    Filters(label=["a", "c"]),
    Filters(review="rejected"),
    Filters(review=["unreviewed", "needs_edit"]),
    Filters(has_target="depth"),
    Filters(annotator=["Ada", NONE], has_boxes=True),
    Filters(label="b", has_mask=False, split="test"),
]
SORTS = [
    None,
    "label",
    "-label",
    "review",
    "-review",
    "annotator",
    "-annotator",
    "has_mask",
    "-has_mask",
    "n_boxes",
    "-n_boxes",
    "target:depth",
    "-target:depth",
    "target:width",
    "-target:width",
    "name",
    "-split",
    ["label", "-target:depth"],
    ["-split", "label"],  # an item key first: the SQL way
]


@pytest.mark.parametrize("sort", SORTS, ids=str)
def test_own_order_equals_the_catalog_query_on_the_persons_own_annotations(projects, sort):
    root, copy = projects
    with open_project(root) as original, open_project(copy) as ada:
        for f in FILTERS:
            expected = id_array(ada.db, f, sort)
            got = own_order.id_array(original.db, "Ada", f, sort)
            assert got.tolist() == expected.tolist(), (f, sort)


#: (offset, limit) of Browser windows: the first screenful, small ones, one across the end
WINDOWS = [(0, 200), (0, 5), (3, 17), (100, 60), (230, 30), (400, 10)]


@pytest.mark.parametrize("few", [0, 10**9], ids=["walked", "matches sorted"])
@pytest.mark.parametrize("sort", SORTS, ids=str)
def test_a_page_is_that_part_of_the_whole_own_order_and_the_count_its_length(
    projects, sort, few, monkeypatch
):
    """The Browser's window while annotating blind (own_pages.page_ids) holds exactly the rows
    of the whole list at its place, the count (its worker's) is the list's length: found by
    walks of the order, and by sorting the matches of a filter that requires an opinion few
    items have (own_pages.FEW)."""
    monkeypatch.setattr(own_pages, "FEW", few)
    root, copy = projects
    with open_project(root) as original, open_project(copy) as ada:
        for f in FILTERS:
            expected = id_array(ada.db, f, sort).tolist()
            for offset, limit in WINDOWS:
                got = own_pages.page_ids(original.db, "Ada", f, sort, offset, limit)
                assert got.dtype == np.int64
                assert got.tolist() == expected[offset : offset + limit], (f, sort, offset)
            assert own_pages.count(original.db, "Ada", f) == len(expected), f


#: every sort of one's own, and filters on the same opinion (which narrow the walk)
OWN_SORTS = [s for s in SORTS if isinstance(s, str) and own_order._is_own(s)]
PLANNED = [
    Filters(),
    Filters(label="a"),
    Filters(label=[NONE, "c"]),
    Filters(review="accepted"),
    Filters(has_mask=True),
    Filters(has_boxes=True),
    Filters(has_target="depth"),
    Filters(split="train"),
]


def _select_plans(db: sqlite3.Connection, ask):
    """What ``ask()`` returns, and SQLite's plan of each SELECT it runs on ``db`` (each
    statement traced with its values written in)."""
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    try:
        answer = ask()
    finally:
        db.set_trace_callback(None)
    return answer, [
        " / ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql))
        for sql in statements
        if sql.lstrip().upper().startswith("SELECT")
    ]


@pytest.mark.parametrize("sort", OWN_SORTS)
def test_the_first_window_of_each_own_sort_walks_an_index(projects, sort, monkeypatch):
    """The Browser's first window of a sort by one's own opinions (descending ones and the
    review order too) is read by walking indexes in the list's order: no statement sorts
    its rows (USE TEMP B-TREE FOR ORDER BY), and the whole list is never built."""
    monkeypatch.setattr(own_pages, "FEW", 0)  # filters' matches are many, as at scale
    root, copy = projects
    with open_project(root) as original, open_project(copy) as ada:
        db = original.db
        for f in PLANNED:
            own_pages._last_whole = None
            got, plans = _select_plans(
                db, lambda f=f: own_pages.page_ids(db, "Ada", f, sort, 0, 50)
            )
            assert own_pages._last_whole is None, (f, sort)  # no whole list was sorted
            assert got.tolist() == id_array(ada.db, f, sort)[:50].tolist(), (f, sort)
            assert plans, (f, sort)
            for plan in plans:
                assert "TEMP B-TREE" not in plan, (f, sort, plan)
            bare = sort.lstrip("-")
            values_first = sort.startswith("-") or bare == "review"  # else the unset first
            if values_first and (bare in ("label", "review", "n_boxes") or ":" in bare):
                index = "opinions_by_box_count" if bare == "n_boxes" else "opinions_by_value"
                assert any(index in p for p in plans), (f, sort, plans)


@pytest.mark.parametrize("sort", OWN_SORTS)
def test_a_walk_past_its_budget_gives_way_to_the_matches_sorted(projects, sort, monkeypatch):
    """When the walk of a sort tests too many rows (a rare class of one's own found late in
    the order; here every walk is cut at once), the page comes from the matches of an opinion
    the filter requires, sorted by SQLite: the same rows, and no whole list is built."""
    from qbi_desktop.core.catalog import pages

    monkeypatch.setattr(own_pages, "FEW", 0)  # the matches are many: a walk is tried
    monkeypatch.setattr(pages, "CHECK_EVERY", 1)
    monkeypatch.setattr(own_pages, "WALK_BUDGET", -1.0)  # every walk expires at once
    root, copy = projects
    with open_project(root) as original, open_project(copy) as ada:
        for f in FILTERS:
            driven = own_walks.driver(f, "Ada") is not None
            expected = id_array(ada.db, f, sort).tolist()
            for offset, limit in WINDOWS:
                own_pages._last_whole = None
                got = own_pages.page_ids(original.db, "Ada", f, sort, offset, limit)
                assert got.tolist() == expected[offset : offset + limit], (f, sort, offset)
                if driven:
                    assert own_pages._last_whole is None, (f, sort)


def test_few_matches_are_read_as_one_index_range(projects, monkeypatch):
    """A filter on a class few items have (sorted at once, own_pages.FEW) reads its matches as
    one range of the value index, not by testing every opinion of that kind."""
    monkeypatch.setattr(own_pages, "FEW", 10**9)
    root, _copy = projects
    with open_project(root) as original:
        db = original.db
        for sort in ("-target:depth", "name"):
            _page, plans = _select_plans(
                db, lambda s=sort: own_pages.page_ids(db, "Ada", Filters(label="a"), s, 0, 50)
            )
            ranged = [p for p in plans if "INDEX opinions_by_value" in p and "<expr>>?" in p]
            assert len(ranged) == 2, (sort, plans)  # the matches counted, then read
            whole_kind = "opinions_own (annotator=? AND kind=? AND name=?)"
            assert not any(whole_kind in p for p in plans), (sort, plans)


def test_pages_follow_an_edit_of_ones_own_opinions(projects, tmp_path):
    """A sort read from the whole list (descending classes) is read again after an edit: the
    window never shows the order before it."""
    root, _copy = projects
    shutil.copytree(root, tmp_path / "p")
    with open_project(tmp_path / "p") as project:
        db = project.db
        before = own_pages.page_ids(db, "Ada", None, "-label", 0, 50).tolist()
        assert own_pages.page_ids(db, "Ada", None, "-label", 0, 50).tolist() == before
        last = int(own_order.id_array(db, "Ada", None, "-label")[-1])
        with project.transaction() as tx:
            opinions.record(tx.db, [last], "Ada", "label", "z", AT)  # now her first class
        after = own_pages.page_ids(db, "Ada", None, "-label", 0, 50).tolist()
        assert after[0] == last and after[1:] == before[:49]
        assert after == own_order.id_array(db, "Ada", None, "-label")[:50].tolist()


def test_someone_elses_latest_label_does_not_count_as_ones_own(projects):
    root, _copy = projects
    with open_project(root) as project:
        db = project.db
        latest = set(id_array(db, Filters(label=NONE)).tolist())  # nobody's label at all
        own = set(own_order.id_array(db, "Ada", Filters(label=NONE)).tolist())
        labels = opinions.table(db, "label")
        labelled_by_ada = {i for i, people in labels.items() if "Ada" in people}
        assert own == set(project.ids()) - labelled_by_ada
        assert own - latest  # items someone else labelled are still Ada's to label
        # a person nobody has heard of sees every item unlabelled, unreviewed, without boxes
        assert own_order.id_array(db, "Zoe", Filters(label=NONE)).size == N
        assert own_order.id_array(db, "Zoe", Filters(review="unreviewed")).size == N
        assert own_order.id_array(db, "Zoe", Filters(has_boxes=True)).size == 0


def test_an_unknown_sort_key_is_refused_by_name(projects):
    from qbi_desktop.core.errors import UserFacingError

    root, _copy = projects
    with open_project(root) as project, pytest.raises(UserFacingError, match="colour"):
        own_order.id_array(project.db, "Ada", None, "colour")
