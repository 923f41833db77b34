"""The suggestion model choice (kNN or logistic regression, kept in the project) and labels given
while a suggestion was shown, on the record. Real MNIST digits, real catalogs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import need

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.idx import read_idx
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.quality.label_provenance import Shown, label_items
from qbi_desktop.core.quality.labelling import LabellingSession
from qbi_desktop.core.quality.suggest_models import set_model, stored_model

N, LABELLED = 3000, 1000


@pytest.fixture(scope="module")
def mnist_project(tmp_path_factory):
    """3 000 of MNIST's test digits, the first 1 000 labelled."""
    folder = need(__import__("pathlib").Path(__file__).parents[2] / "shared" / "data" / "mnist")
    x = read_idx(folder / "t10k-images-idx3-ubyte.gz")[:N]
    y = read_idx(folder / "t10k-labels-idx1-ubyte.gz")[:N].astype(int)
    tmp = tmp_path_factory.mktemp("models")
    np.savez(tmp / "m.npz", x_train=x)
    root = tmp / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [tmp / "m.npz"]))
        ids = project.ids()
        for c in range(10):
            chosen = [ids[i] for i in range(LABELLED) if y[i] == c]
            project.set_label(chosen, str(c))
    return root, ids, y


def _suggest(root, **kw):
    session = LabellingSession(root, **kw)
    table = run_job(session.update_job(budget_s=600))
    while table.pending:
        table = run_job(session.update_job(budget_s=600))
    return table


def _accuracy(table, ids, y):
    truth = {i: str(y[n]) for n, i in enumerate(ids)}
    said = [table.class_names[c] for c in table.suggested]
    return np.mean([s == truth[int(i)] for s, i in zip(said, table.ids, strict=True)])


def test_logistic_regression_suggests_mnist_digits_about_as_well_as_knn(mnist_project):
    root, ids, y = mnist_project
    logistic = _suggest(root, model="logistic")
    assert logistic.model == "logistic" and logistic.trained_on == LABELLED
    assert len(logistic.ids) == N - LABELLED and (logistic.suggested >= 0).all()
    acc = _accuracy(logistic, ids, y)
    assert acc > 0.8  # 1 000 labels, raw pixels: ~0.86
    # confidence means something: the most confident half is right more often
    truth = np.array([str(y[ids.index(int(i))]) for i in logistic.ids])
    right = np.array([logistic.class_names[c] for c in logistic.suggested]) == truth
    order = np.argsort(-logistic.confidence)
    assert right[order[: len(order) // 2]].mean() > right[order[len(order) // 2 :]].mean()
    knn = _suggest(root, model="knn")
    assert knn.model == "knn" and abs(_accuracy(knn, ids, y) - acc) < 0.1


def test_the_model_choice_is_kept_in_the_project(mnist_project, tmp_path):
    root, ids, y = mnist_project
    with open_project(root) as project:
        assert stored_model(project.db) == "knn"  # the default
        set_model(project, "logistic")
        with pytest.raises(UserFacingError, match="'forest' is unknown"):
            set_model(project, "forest")
    try:
        assert _suggest(root).model == "logistic"  # a session without a choice reads it
    finally:
        with open_project(root) as project:
            set_model(project, "knn")
    with open_project(root) as project:
        assert stored_model(project.db) == "knn"
        project.db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('suggestion_model', ?)",
            (json.dumps(["hand", "edited"]),),
        )
        assert stored_model(project.db) == "knn"  # nonsense in the file: the default
        project.db.execute("DELETE FROM meta WHERE key = 'suggestion_model'")


def test_labels_given_over_a_suggestion_say_whether_it_was_taken(tmp_path):
    root = tmp_path / "p"
    np.savez(tmp_path / "a.npz", x_train=np.zeros((4, 8, 8), np.uint8))
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [tmp_path / "a.npz"]))
        a, b, c, d = project.ids()
        shown = {a: Shown("3", 0.934, "kNN"), b: Shown("3", 0.5, "logistic regression")}
        change = label_items(project, [a, b, c], "3", "ann", shown)
        assert change.ids == (a, b, c)
        label_items(project, [b], "5", "ann", {b: Shown("3", 0.5, "logistic regression")})
        label_items(project, [d], None, "ann", {d: Shown("1", 0.9, "kNN")})
        log = {
            i: [(h["what"], h["value"], h["annotator"]) for h in project.history(i)]
            for i in (a, b, c, d)
        }
    assert log[a][-1] == ("suggestion", "suggestion accepted (kNN, confidence 0.93)", "ann")
    assert log[b][-1] == (
        "suggestion",
        "suggestion rejected: logistic regression suggested '3' (confidence 0.50), given '5'",
        "ann",
    )
    assert [w for w, _v, _a in log[c]] == ["label"]  # no suggestion shown: nothing said
    assert all(w != "suggestion" for w, _v, _a in log[d])  # clearing says nothing either
    with open_project(root) as project:
        project.revert(change)  # undo takes the label back
        assert project.get(a)["label"] is None
