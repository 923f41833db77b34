"""Acting on audit rows: accept a suggestion, keep, reject, merge a duplicate, move a leaked
item to its twin's split - each one transaction, recorded with provenance "audit" in the item's
history, and taken back exactly by Project.revert (the Browser's undo)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.quality.audit import audit_job
from qbi_desktop.core.quality.features import project_items_job
from qbi_desktop.core.quality.review import allowed, apply_action


@pytest.fixture
def audited(tmp_path):
    d = load_digits()
    x = (d.images[:400] * 16).clip(0, 255).astype(np.uint8)
    y = d.target[:400].copy()
    y[5] = (y[5] + 3) % 10  # a wrong label
    x[399] = x[10]  # an exact copy of item 10 ...
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=x, y_train=y)
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "npz", [npz]))
    ids = project.ids()
    project.set_split(ids[:300], "train")
    project.set_split(ids[300:], "test")  # ... in the test split: a leak
    project.set_label([ids[50]], None)  # an unlabelled item
    report = run_job(audit_job(run_job(project_items_job(project))))
    yield project, ids, y, d.target[:400], report
    project.close()


def _row(report, kind, item_id):
    return next(i for i in report.issues if i.kind == kind and i.item_id == item_id)


def _state(project, item_id):
    item = project.get(item_id)
    return item["label"], item["split"], item["review"], item["notes"]


def test_accepting_a_suggestion_relabels_and_undo_restores_it(audited):
    project, ids, given, truth, report = audited
    row = _row(report, "label", ids[5])
    suggested = row.suggested_label
    assert suggested != str(given[5]) and "accept" in allowed(row)
    before = _state(project, ids[5])
    change = apply_action(project, row, "accept", "ana")
    assert project.get(ids[5])["label"] == suggested
    assert change.what == f"label '{suggested}' (audit)"
    history = project.history(ids[5])
    assert [h["what"] for h in history[-2:]] == ["label", "audit"]
    assert "accepted suggestion" in history[-1]["value"] and history[-1]["annotator"] == "ana"
    project.revert(change, "ana")
    assert _state(project, ids[5]) == before


def test_keep_and_reject_set_the_review_and_undo_restores_it(audited):
    project, ids, given, truth, report = audited
    row = _row(report, "label", ids[5])
    for action, state in (("keep", "accepted"), ("reject", "rejected")):
        before = _state(project, ids[5])
        change = apply_action(project, row, action, "ana")
        assert project.get(ids[5])["review"] == state
        assert project.get(ids[5])["label"] == str(given[5])  # the label is left as given
        assert project.history(ids[5])[-1]["what"] == "audit"
        project.revert(change)
        assert _state(project, ids[5]) == before


def test_a_leaked_copy_moves_to_its_twins_split_or_merges_into_it(audited):
    project, ids, given, truth, report = audited
    leak = _row(report, "leak", ids[399])
    assert leak.related_id == ids[10] and {"move", "merge"} <= set(allowed(leak))
    before = _state(project, ids[399])
    change = apply_action(project, leak, "move")
    assert project.get(ids[399])["split"] == "train"
    assert "moved to split train" in project.history(ids[399])[-1]["value"]
    project.revert(change)
    assert _state(project, ids[399]) == before

    change = apply_action(project, leak, "merge", "ana")
    item = project.get(ids[399])
    assert (
        item["review"] == "rejected"
        and item["notes"] == f"duplicate of {leak.related_item} (audit)"
    )
    assert project.get(ids[10])["review"] != "rejected"  # the one kept
    assert len(project) == 400  # nothing deleted
    project.revert(change)
    assert _state(project, ids[399]) == before


def test_an_action_that_does_not_fit_the_row_is_refused_and_changes_nothing(audited):
    project, ids, given, truth, report = audited
    unlabelled = _row(report, "unlabelled", ids[50])
    before = [_state(project, i) for i in ids]
    with pytest.raises(UserFacingError, match="'move' does not apply"):
        apply_action(project, unlabelled, "move")
    project.remove_items([ids[50]])
    with pytest.raises(UserFacingError, match="no longer in the project"):
        apply_action(project, unlabelled, "accept")
    assert [_state(project, i) for i in ids if i != ids[50]] == before[:50] + before[51:]
