"""Suggestions computed in a child process: the child's job reads what the GUI committed, says
"nothing new" when the catalog has not changed, never writes the catalog, starts afresh after a
cancelled update, and its table crosses the pipe whole (scikit-learn's digits, real handwriting).
"""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.job_process import ProcessWorker
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.quality import suggest_process
from qbi_desktop.core.quality.labelling import LabellingSession
from qbi_desktop.core.quality.suggest_process import change_stamp, suggestion_job


@pytest.fixture
def project(tmp_path):
    d = load_digits()
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=(d.images[:300] * 16).clip(0, 255).astype(np.uint8))
    p = open_project(tmp_path / "proj", create=True)
    run_job(import_job(p, "npz", [npz]))
    ids = p.ids()
    for i in range(40):
        p.set_label([ids[i]], str(d.target[i]))
    yield p, ids, d.target[:300]
    p.close()
    for entry in suggest_process._SESSIONS.values():
        entry.session.close()
    suggest_process._SESSIONS.clear()


def test_the_job_sees_committed_labels_and_says_when_nothing_changed(project):
    p, ids, truth = project
    root = str(p.root)
    stamp = change_stamp(p.db)
    table = run_job(suggestion_job(root, ids[200:210], "knn", stamp, budget_s=60))
    assert table.labelled == 40 and table.pending == 0
    right = [table.lookup(i)[0] == str(truth[n]) for n, i in enumerate(ids) if n >= 40]
    assert np.mean(right) > 0.7
    # the same catalog state and model, every feature read: nothing new to send
    assert change_stamp(p.db) == stamp
    assert run_job(suggestion_job(root, (), "knn", stamp)) is None
    # a label committed on the asking side's connection moves the stamp; the child reads it
    p.set_label([ids[100]], str(truth[100]))
    newer = change_stamp(p.db)
    assert newer != stamp
    table = run_job(suggestion_job(root, (), "knn", newer))
    assert table.labelled == 41 and table.lookup(ids[100]) is None
    # another model is another answer, from the same catalog state
    table = run_job(suggestion_job(root, (), "logistic", newer))
    assert table.model == "logistic" and table.trained_on == 41
    # a label committed by another connection (another window, the audit) moves it too
    other = open_project(p.root)
    other.set_label([ids[101]], str(truth[101]))
    other.close()
    assert change_stamp(p.db) != newer
    assert run_job(suggestion_job(root, (), "logistic", change_stamp(p.db))).labelled == 42


def test_the_childs_catalog_connection_cannot_write(project):
    p, ids, truth = project
    run_job(suggestion_job(str(p.root), (), "knn", None))
    (entry,) = suggest_process._SESSIONS.values()
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
        entry.session._project.db.execute("UPDATE items SET label = 'x'")
    assert p.get(ids[0])["label"] == str(truth[0])


def test_a_cancelled_update_is_followed_by_a_fresh_session_with_the_same_answers(project):
    p, ids, truth = project
    root = str(p.root)
    job = suggestion_job(root, (), "knn", None, budget_s=60)
    next(job)
    next(job)
    job.close()  # cancelled half-way (a project closed, the window closed)
    assert not suggest_process._SESSIONS  # its state is not trusted again
    p.set_label([ids[50]], str(truth[50]))
    table = run_job(suggestion_job(root, (), "knn", change_stamp(p.db), budget_s=60))
    fresh = run_job(LabellingSession(p.root).update_job(budget_s=60))
    np.testing.assert_array_equal(table.ids, fresh.ids)
    np.testing.assert_array_equal(table.suggested, fresh.suggested)
    np.testing.assert_allclose(table.confidence, fresh.confidence)


def test_the_table_made_in_a_child_process_arrives_whole(project):
    p, ids, truth = project
    worker = ProcessWorker("suggest-test")
    try:
        table = run_job(worker.run(suggestion_job, str(p.root), ids[200:210], "knn", None, 60.0))
        pid = worker.pid
    finally:
        worker.close()
    assert pid != os.getpid()
    here = run_job(LabellingSession(p.root).update_job(budget_s=60))
    np.testing.assert_array_equal(table.ids, here.ids)
    np.testing.assert_array_equal(table.suggested, here.suggested)
    assert table.class_names == here.class_names and table.labelled == 40


def _child_priority() -> tuple[int, str | None]:
    """Job run in the child: its nice value and its autogroup line (None without one)."""
    try:
        with open("/proc/self/autogroup") as f:
            group = f.read().split()[-1]
    except OSError:
        group = None
    return os.getpriority(os.PRIO_PROCESS, 0), group
    yield  # a job: a generator


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no nice values on this system")
def test_a_request_with_nice_lowers_the_child_for_good(project):
    p, ids, truth = project
    worker = ProcessWorker("suggest-nice", own_session=True)
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        table = run_job(worker.run(suggestion_job, str(p.root), (), "knn", None, 60.0))
        assert run_job(worker.run(_child_priority))[0] == ours  # nothing asked: as started
        lowered = run_job(worker.run(suggestion_job, str(p.root), (), "knn", None, 60.0, nice=7))
        nice, group = run_job(worker.run(_child_priority))
        # a later request without it does not raise it again (it could not: unprivileged)
        run_job(worker.run(suggestion_job, str(p.root), (), "knn", None, 60.0))
        after = run_job(worker.run(_child_priority))
    finally:
        worker.close()
    assert nice == max(ours, 7) and after == (nice, group)
    if group is not None:  # Linux autogroup: the child leads its own session, its group too
        assert group == "7"
    # and it still answers the same
    np.testing.assert_array_equal(lowered.suggested, table.suggested)
    assert os.getpriority(os.PRIO_PROCESS, 0) == ours  # this process is left as it was
