"""The audit core on scikit-learn's bundled digits imported into a real project (NPZ import):
planted label flips and planted duplicates/leaks are found, a clean set raises nothing, and an
item's own label never reaches the model that judges it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.quality.audit import AuditSettings, audit_job, out_of_fold_proba
from qbi_desktop.core.quality.features import project_items_job


def _digits(classes=range(10)):
    d = load_digits()
    keep = np.isin(d.target, list(classes))
    return (d.images[keep] * 16).clip(0, 255).astype(np.uint8), d.target[keep]


def _project(tmp_path, x_train, y_train, x_test=None, y_test=None):
    arrays = {"x_train": x_train, "y_train": y_train}
    if x_test is not None:
        arrays |= {"x_test": x_test, "y_test": y_test}
    npz = tmp_path / "digits.npz"
    np.savez(npz, **arrays)
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "npz", [npz]))
    return project


def _audit(project, **settings):
    items = run_job(project_items_job(project))
    return items, run_job(audit_job(items, AuditSettings(**settings)))


def test_planted_label_flips_are_found_with_the_true_class_suggested(tmp_path):
    x, y = _digits()
    rng = np.random.default_rng(3)
    flipped = rng.choice(len(y), 40, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, 10, len(flipped))) % 10
    project = _project(tmp_path, x, noisy)
    items, report = _audit(project)
    rows = [i for i in report.sorted_issues() if i.kind == "label"]
    # item names as the Browser shows them, in catalog order
    names = items.names
    top = {r.item for r in rows[:40]}
    planted = {names[i] for i in flipped}
    assert len(top & planted) >= 34  # >= 85 % of the top 40 are planted flips
    found = {r.item: r for r in rows}
    right = sum(found[names[i]].suggested_label == str(y[i]) for i in flipped if names[i] in found)
    assert right >= 34  # the suggestion is the digit's real class
    assert all(r.given_label != r.suggested_label for r in rows)
    assert report.models[0]["model"] == "knn" and 0.9 < report.models[0]["cv_accuracy"] < 0.98


def test_clean_set_gives_no_confident_label_issue(tmp_path):
    x, y = _digits(classes=(0, 1, 6, 7))
    project = _project(tmp_path, x, y)
    _, report = _audit(project)
    assert report.counts["label"] <= 2
    assert not [i for i in report.issues if i.kind == "label" and i.score > 0.8]
    assert report.counts["duplicate"] == 0 and report.counts["leak"] == 0


def test_planted_duplicates_and_leaks_are_found(tmp_path):
    x, y = _digits()
    rng = np.random.default_rng(5)
    train, test = np.arange(0, 1400), np.arange(1400, len(y))
    copies = rng.choice(train, 12, replace=False)
    noised = np.clip(x[copies].astype(int) + rng.integers(-3, 4, x[copies].shape), 0, 255)
    x_test = np.concatenate([x[test], noised.astype(np.uint8), x[copies[:3]]])
    y_test = np.concatenate([y[test], y[copies], y[copies[:3]]])
    x_train = np.concatenate([x[train], x[train[:4]]])  # 4 exact copies inside train
    y_train = np.concatenate([y[train], y[train[:4]]])
    project = _project(tmp_path, x_train, y_train, x_test, y_test)
    items, report = _audit(project)
    names = items.names
    n_train = len(x_train)
    leaks = [i for i in report.issues if i.kind == "leak"]
    planted = {names[n_train + len(test) + j] for j in range(15)}
    leak_items = {i.item for i in leaks}
    assert planted <= leak_items
    assert len(leak_items - planted) <= 2
    for leak in leaks:
        if leak.item in planted:
            j = names.index(leak.item) - n_train - len(test)
            assert leak.related_item == names[int(copies[j % 12] if j < 12 else copies[j - 12])]
    dups = {(i.item, i.related_item) for i in report.issues if i.kind == "duplicate"}
    for j in range(4):
        assert (names[len(train) + j], names[int(train[j])]) in dups


def test_an_items_own_label_never_reaches_its_model(tmp_path):
    x, y = _digits()
    X = x.reshape(len(x), -1).astype(np.float32) / 255
    settings = AuditSettings()
    base = run_job(out_of_fold_proba(X, y, 10, settings))
    for i in (0, 17, 901):
        changed = y.copy()
        changed[i] = (y[i] + 5) % 10
        again = run_job(out_of_fold_proba(X, changed, 10, settings))
        np.testing.assert_array_equal(again[i], base[i])
        # while the changed label does reach other items' models (so the check can fail)
        assert not np.array_equal(np.delete(again, i, 0), np.delete(base, i, 0))
    # the out-of-fold model truly differs from one that saw the item
    assert np.mean(base[np.arange(len(y)), y] < 0.999) > 0.05


@pytest.mark.parametrize("labels", [[0] * 30, [0, 1] + [-1] * 28])
def test_too_few_labels_or_one_class_say_what_is_needed(tmp_path, labels):
    x, _ = _digits()
    x = x[:30]
    arrays = {"x_train": x}
    project = open_project(tmp_path / "proj", create=True)
    npz = tmp_path / "d.npz"
    np.savez(npz, **arrays)
    run_job(import_job(project, "npz", [npz]))
    ids = project.ids()
    for i, label in zip(ids, labels, strict=True):
        if label >= 0:
            project.set_label([i], str(label))
    _, report = _audit(project)
    assert report.counts["label"] == 0
    text = " ".join(report.messages)
    assert ("two classes" in text) if len(set(labels) - {-1}) < 2 else ("labelled items" in text)
    assert report.counts["unlabelled"] == sum(v < 0 for v in labels)


def test_items_of_other_sizes_and_depths_are_resized_and_named(tmp_path):
    import tifffile

    x, y = _digits(classes=(0, 1))
    project = _project(tmp_path, x[:60], y[:60])
    big = tmp_path / "big.tif"
    tifffile.imwrite(big, (np.kron(x[0], np.ones((4, 4))) * 200).astype(np.uint16))
    from qbi_desktop.core.catalog import NewItem
    from qbi_desktop.core.catalog.images import hash_file

    with project.transaction() as tx:
        tx.add_items([NewItem(name="big.tif", hash=hash_file(big), path=big, label="0")])
    _, report = _audit(project)
    assert ("big.tif", "resized from 32x32 to 8x8") in report.resized
    assert report.summary()["resized"] == [{"item": "big.tif", "why": "resized from 32x32 to 8x8"}]


def test_an_unreadable_item_is_left_out_and_named_with_the_reason(tmp_path):
    import tifffile

    from qbi_desktop.core.catalog import NewItem
    from qbi_desktop.core.catalog.images import hash_file

    x, y = _digits(classes=(0, 1))
    project = _project(tmp_path, x[:60], y[:60])
    gone = tmp_path / "gone.tif"
    tifffile.imwrite(gone, x[0])
    with project.transaction() as tx:
        tx.add_items([NewItem(name="gone.tif", hash=hash_file(gone), path=gone, label="0")])
    gone.write_bytes(b"not a tiff")
    items, report = _audit(project)
    assert "gone.tif" not in items.names and len(items.names) == 60
    ((name, why),) = report.left_out
    assert name == "gone.tif" and "could not be read" in why
    assert report.summary()["left_out"] == [{"item": "gone.tif", "why": why}]


def test_a_class_with_too_few_labels_is_not_judged_and_the_report_says_so(tmp_path):
    """One labelled '7': no model that leaves it out knows a 7, so it was flagged as a wrong
    label with certainty. Its class is named as not checked instead."""
    x, y = _digits()
    rows = np.concatenate(
        [np.flatnonzero(y == 0)[:15], np.flatnonzero(y == 1)[:15], np.flatnonzero(y == 7)[:1]]
    )
    project = _project(tmp_path, x[rows], y[rows])
    _, report = _audit(project)
    assert not [i for i in report.issues if i.kind == "label" and i.given_label == "7"]
    text = " ".join(report.messages)
    assert "'7' (1)" in text and "label more items" in text


def test_labels_a_weak_model_disagrees_with_come_with_a_warning(tmp_path):
    x, _ = _digits(classes=(0, 1, 2, 3))
    labels = np.random.default_rng(5).integers(0, 4, len(x))  # labels unrelated to the pixels
    project = _project(tmp_path, x, labels)
    _, report = _audit(project)
    assert report.models[0]["cv_accuracy"] < 0.5
    assert any("right on only" in m for m in report.messages)


def test_outliers_are_far_from_their_nearest_labelled_neighbour_with_unlabelled_items_about(
    tmp_path,
):
    # The outlier distances reuse the duplicate search where an item's nearest neighbour is
    # labelled; they must equal a brute-force nearest *labelled* neighbour everywhere, also
    # for items whose nearest neighbour is unlabelled. Planted: strange images, some labelled.
    from sklearn.metrics import pairwise_distances

    x, y = _digits()
    x, y = x[:400].copy(), y[:400].copy()
    rng = np.random.default_rng(3)
    x[:6] = rng.integers(0, 255, (6, 8, 8), dtype=np.uint8)  # noise: far from every digit
    project = _project(tmp_path, x, y)
    ids = project.ids()
    project.set_label(ids[3:6] + ids[200:330], None)  # three noise items and many digits
    items, report = _audit(project)
    X, lab = items.features.X.astype(np.float64), np.flatnonzero(items.labels >= 0)
    d = pairwise_distances(X, X[lab])
    d[lab, np.arange(len(lab))] = np.inf  # a labelled item is not its own neighbour
    nearest = d.min(axis=1)
    q1, med, q3 = np.percentile(nearest, (25, 50, 75))
    fence = q3 + AuditSettings().outlier_fence * (q3 - q1)
    expected = {items.names[i]: nearest[i] / med for i in np.flatnonzero(nearest > fence)}
    got = {i.item: i.score for i in report.issues if i.kind == "outlier"}
    assert set(got) == set(expected) and {items.names[i] for i in range(6)} <= set(got)
    assert all(abs(got[k] - expected[k]) < 1e-5 for k in got)
