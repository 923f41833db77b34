"""Suggestions while labelling: the incremental kNN equals a fresh one, and a project session
suggests, queues and says what it needs (scikit-learn's digits, real handwriting)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from qbi_desktop.core.baselines import L2Neighbors
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.quality.audit import knn_proba
from qbi_desktop.core.quality.labelling import (
    IncrementalKnn,
    LabellingSession,
    RecentAccuracy,
    queue_order,
)


def _digits():
    d = load_digits()
    return (d.data / 16).astype(np.float32), d.target


def test_incremental_knn_equals_a_model_fitted_from_scratch_after_adds_and_removals():
    X, y_true = _digits()
    n = len(X)
    knn = IncrementalKnn.from_matrix(X, k=10)
    y = np.full(n, -1)
    rng = np.random.default_rng(3)
    order = rng.permutation(n)
    for step, (a, b) in enumerate(((0, 30), (30, 35), (35, 200), (200, 210))):
        y[order[a:b]] = y_true[order[a:b]]
        if step == 2:
            y[order[3:8]] = -1  # labels taken back (undo): their neighbours are searched again
            y[order[10]] = (y_true[order[10]] + 1) % 10  # relabelled: no search needed
        run_job(knn.update_job(y))
        unl = np.flatnonzero(y < 0)
        train = np.flatnonzero(y >= 0)
        fresh = L2Neighbors(X[train])
        d, i = fresh.kneighbors(X[unl], 10)
        np.testing.assert_allclose(knn.top_d[unl], d, rtol=1e-9)  # the same neighbours
        # the same votes, up to the weights' epsilon (a share of the median distance)
        expected = knn_proba(fresh, y[train], X[unl], 10, 10)
        got = knn.proba(unl, 10)
        np.testing.assert_allclose(got, expected, atol=2e-3)
        margin = np.diff(np.sort(expected, axis=1)[:, -2:], axis=1)[:, 0]
        clear = margin > 1e-2
        assert clear.mean() > 0.9
        np.testing.assert_array_equal(got.argmax(1)[clear], expected.argmax(1)[clear])


def test_queue_order_puts_the_least_confident_first_with_every_tenth_drawn_at_random():
    rng = np.random.default_rng(0)
    rows = np.arange(1000, 2000)
    conf = rng.random(1000)
    order = queue_order(rows, conf, 0.1, seed=4)
    assert sorted(order.tolist()) == rows.tolist()  # every item exactly once
    c = dict(zip(rows.tolist(), conf.tolist(), strict=True))
    drawn = [c[r] for n, r in enumerate(order) if (n + 1) % 10 == 0]
    chosen = [c[r] for n, r in enumerate(order) if (n + 1) % 10]
    assert chosen == sorted(chosen)  # the model's picks: least confident first
    assert len(drawn) == 100 and max(drawn[:10]) > 0.5  # drawn from everywhere
    # the model's picks are the least confident of the items not drawn
    assert chosen == sorted(set(c.values()) - set(drawn))
    assert queue_order(rows, conf, 0.0).tolist() == rows[np.argsort(conf)].tolist()


def test_recent_accuracy_counts_only_the_last_labels_with_a_suggestion():
    acc = RecentAccuracy(size=4)
    assert acc.value is None
    given = (("1", "2"), ("1", "1"), (None, "3"), ("2", "2"), ("4", "4"), ("5", "5"))
    for suggested, label in given:
        acc.record(suggested, label)
    assert len(acc) == 4 and acc.value == 1.0  # the wrong one has dropped out


def _project(tmp_path, n=400, labelled=60):
    d = load_digits()
    x = (d.images[:n] * 16).clip(0, 255).astype(np.uint8)
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=x)
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "npz", [npz]))
    ids = project.ids()
    for i in range(labelled):
        project.set_label([ids[i]], str(d.target[i]))
    return project, ids, d.target[:n]


def test_session_suggests_for_every_unlabelled_item_and_queues_the_unsure_first(tmp_path):
    project, ids, truth = _project(tmp_path)
    session = LabellingSession(project.root)
    table = run_job(session.update_job(budget_s=60))
    assert table.message == "" and table.pending == 0
    assert table.labelled == 60 and table.unlabelled == 340 and table.trained_on == 60
    assert sorted(table.queue.tolist()) == sorted(ids[60:])
    right = [table.lookup(i)[0] == str(truth[n]) for n, i in enumerate(ids) if n >= 60]
    assert np.mean(right) > 0.7  # from 6 labels per class; chance is 0.1
    assert table.lookup(ids[0]) is None  # labelled: nothing to suggest
    conf = {i: table.lookup(i)[1] for i in ids[60:]}
    firsts = [conf[i] for n, i in enumerate(table.queue[:50]) if (n + 1) % 10]
    assert firsts == sorted(firsts) and max(firsts) < np.median(list(conf.values()))
    # a label given: the next update has learnt from it, in the same session
    project.set_label([ids[100]], str(truth[100]))
    again = run_job(session.update_job())
    assert again.trained_on == 61 and again.lookup(ids[100]) is None
    assert ids[100] not in again.queue.tolist()
    project.close()


def test_session_with_one_class_says_what_it_needs(tmp_path):
    project, ids, truth = _project(tmp_path, n=50, labelled=0)
    project.set_label(ids[:5], "7")
    table = run_job(LabellingSession(project.root).update_job(budget_s=60))
    assert "at least two classes" in table.message and "found 1" in table.message
    assert table.lookup(ids[10]) is None
    project.close()


def test_session_reads_features_for_a_budget_then_continues_where_it_stopped(tmp_path):
    project, ids, truth = _project(tmp_path, n=1500, labelled=20)
    session = LabellingSession(project.root)
    table = run_job(session.update_job(priority=ids[1300:1310], budget_s=0.0))
    # one chunk only: the labelled items and the ones the user looks at come first
    assert table.trained_on == 20 and 0 < table.pending < 1500 - 30
    assert all(table.lookup(i) is not None for i in ids[1300:1310])
    assert table.lookup(ids[1400]) is None  # not read yet
    assert table.queue[-1] not in ids[1300:1310]  # waiting items come last
    while table.pending:
        table = run_job(session.update_job(budget_s=0.0))
    assert all(table.lookup(i) is not None for i in ids[20:])
    project.close()


def test_items_of_other_sizes_and_depths_are_resized_and_named_an_unreadable_one_left_out(
    tmp_path,
):
    import tifffile

    src = tmp_path / "src"
    rng = np.random.default_rng(0)
    for cls, shift in (("dark", 0), ("bright", 40000)):
        for k in range(6):
            path = src / "train" / cls / f"{cls}{k}.tif"
            path.parent.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(path, (rng.integers(0, 20000, (16, 16)) + shift).astype(np.uint16))
    # a larger 8-bit image and an 8-bit one that will be damaged after the import
    tifffile.imwrite(src / "train" / "dark" / "big.tif", np.zeros((40, 40), np.uint8))
    tifffile.imwrite(src / "train" / "bright" / "gone.tif", np.full((16, 16), 200, np.uint8))
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "imagefolder", [src]))
    (src / "train" / "bright" / "gone.tif").write_bytes(b"not a tiff")
    by_name = {project.get(i)["name"]: i for i in project.ids()}
    big = next(n for n in by_name if "big" in n)
    gone = next(n for n in by_name if "gone" in n)
    project.set_label([by_name[big]], None)
    table = run_job(LabellingSession(project.root).update_job(budget_s=60))
    assert table.resized == 1 and table.resized_names[0][0] == big
    assert "resized from 40x40 to 16x16" in table.resized_names[0][1]
    assert [n for n, _ in table.left_out] == [gone]
    assert "could not be read" in table.left_out[0][1]
    # the resized item still gets a suggestion; the unreadable one is not counted as waiting
    assert table.lookup(by_name[big]) is not None and table.pending == 0
    project.close()
