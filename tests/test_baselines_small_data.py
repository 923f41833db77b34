"""The first baseline on a small or skewed project: a new user's first project has a handful of
items in a few classes. Every way scikit-learn can refuse such data reaches the user as what is
wrong and what to do with the form's controls (Test fraction, Folds, Split, k), with numbers,
and where a split that works exists on Split: Auto, the run takes it and says so.

Real projects on disk (16-bit TIFFs, labels in the catalog), run through the real core."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.baselines import BaselineConfig, run_baseline
from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog.images import hash_file
from qbi_desktop.core.datasets import open_source
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job

SKLEARN_WORDS = ("test_size", "train_size", "n_samples", "least populated", "n_splits")


def _project(tmp_path, labels, targets=None, splits=None, name="proj"):
    """A project of 16-bit radiograph-like images, one per entry of ``labels`` (None: no class
    label); the classes differ in brightness. ``targets``: {index: thickness}."""
    rng = np.random.default_rng(3)
    data = tmp_path / f"{name}_files"
    data.mkdir()
    project = open_project(tmp_path / name, create=True)
    levels = {name: 8000 + 12000 * i for i, name in enumerate(sorted({x for x in labels if x}))}
    items = []
    for i, label in enumerate(labels):
        image = (levels.get(label, 30000) + rng.integers(0, 2000, (20, 20))).astype(np.uint16)
        path = data / f"plate_{i:03d}.tif"
        tifffile.imwrite(path, image)
        items.append(
            NewItem(
                name=path.name,
                hash=hash_file(path),
                path=path,
                width=20,
                height=20,
                label=label,
                split=splits[i] if splits else None,
                targets={"thickness": targets[i]} if targets and i in targets else {},
            )
        )
    with project.transaction() as tx:
        tx.add_items(items)
    return open_source(f"project:{project.root}")


def _refusal(config, dataset) -> str:
    with pytest.raises(UserFacingError) as caught:
        run_job(run_baseline(config, dataset))
    text = str(caught.value)
    assert not any(word in text for word in SKLEARN_WORDS), text
    return text


# the walkthrough's project: 9 items, 8 labelled in 3 classes, one without a label
WALKTHROUGH = ["edge", "edge", "edge", "flat", "flat", "flat", "dark", "dark", None]


def test_the_first_baseline_on_split_auto_raises_the_test_fraction_and_says_so(tmp_path):
    dataset = _project(tmp_path, WALKTHROUGH)
    result = run_job(run_baseline(BaselineConfig(model="knn", k=3), dataset))  # the defaults
    assert result.n_test == 3 and result.n_train == 5
    # every class is tested, and the run says why the fraction is not the 0.25 asked for
    assert set(result.y_true.tolist()) == {0, 1, 2}
    note = next(w for w in result.warnings if w.startswith("Test fraction raised"))
    assert "from 0.25 to 0.26" in note and "3 classes" in note and "8 items" in note
    assert result.config.test_fraction == 0.26  # the record repeats the run that ran
    assert "1 of 9 items have no class label and were left out" in result.warnings


def test_an_explicit_random_split_names_the_fraction_that_works_and_the_other_ways(tmp_path):
    dataset = _project(tmp_path, WALKTHROUGH)
    text = _refusal(BaselineConfig(model="knn", k=3, split="random"), dataset)
    assert "Test fraction 0.25 of 8 items puts 2 in test" in text
    assert "one item of each of the 3 classes" in text
    assert "raise Test fraction to at least 0.26" in text
    assert "label more items" in text and "k-fold cross-validation" in text
    # and the fraction it names works
    result = run_job(
        run_baseline(BaselineConfig(model="knn", k=3, split="random", test_fraction=0.26), dataset)
    )
    assert set(result.y_true.tolist()) == {0, 1, 2}


def test_a_test_fraction_too_large_for_the_training_set_names_the_largest_that_works(tmp_path):
    dataset = _project(tmp_path, WALKTHROUGH)
    text = _refusal(BaselineConfig(model="knn", k=1, split="random", test_fraction=0.8), dataset)
    assert "lower Test fraction to at most 0.62" in text
    regression = _project(tmp_path, [None] * 5, targets={i: 1.0 + i for i in range(5)}, name="r")
    config = BaselineConfig(
        model="knn", k=1, task="regression", target="thickness", split="random", test_fraction=0.95
    )
    assert "lower Test fraction to at most 0.8" in _refusal(config, regression)


@pytest.mark.parametrize("seed", range(6))
def test_a_class_with_a_single_item_is_learned_and_never_tested(tmp_path, seed):
    """One 'dark' plate among 8: a random split that put it in test failed with "classes in the
    test set but not in the training set" (and an option the form does not have)."""
    dataset = _project(tmp_path, ["edge"] * 4 + ["flat"] * 4 + ["dark"])
    result = run_job(
        run_baseline(BaselineConfig(model="knn", k=1, split="random", seed=seed), dataset)
    )
    dark = result.labels.index("dark")
    assert dark not in result.y_true.tolist()
    assert any("'dark'" in w and "kept in training" in w for w in result.warnings)


def test_k_fold_keeps_a_single_item_class_in_training_of_every_fold(tmp_path):
    dataset = _project(tmp_path, ["edge"] * 5 + ["flat"] * 5 + ["dark"])
    result = run_job(run_baseline(BaselineConfig(model="knn", k=1, split="kfold"), dataset))
    assert result.n_test == 10  # every item but the single 'dark' one tested once
    assert any("'dark'" in w and "kept in training" in w for w in result.warnings)


def test_fewer_items_than_folds_says_how_many_folds_fit(tmp_path):
    dataset = _project(tmp_path, ["edge", "flat", "edge", "flat"])
    text = _refusal(BaselineConfig(model="knn", k=1, split="kfold", folds=5), dataset)
    assert "Folds 5" in text and "there are 4" in text and "lower Folds to 4 or fewer" in text
    result = run_job(
        run_baseline(BaselineConfig(model="knn", k=1, split="kfold", folds=4), dataset)
    )
    assert result.n_test == 4


def test_every_class_with_a_single_item_cannot_be_tested_and_says_what_to_label(tmp_path):
    dataset = _project(tmp_path, ["edge", "flat", "dark"])
    for split in ("auto", "random", "kfold"):
        text = _refusal(BaselineConfig(model="knn", k=1, split=split, folds=2), dataset)
        assert "every class has a single item" in text
        assert "label at least one more item of each class" in text


def test_no_labelled_item_asks_for_labels_not_for_the_box_already_ticked(tmp_path):
    dataset = _project(tmp_path, [None] * 6)
    text = _refusal(BaselineConfig(model="knn", k=1, task="classification"), dataset)
    assert "6 of 6 items have no class label" in text and "label items" in text
    assert "leave unlabeled items out" not in text  # it is already chosen (the default)


def test_one_class_only_says_to_label_another(tmp_path):
    dataset = _project(tmp_path, ["edge"] * 6 + [None])
    for split in ("auto", "kfold"):
        text = _refusal(BaselineConfig(model="knn", k=1, split=split, folds=3), dataset)
        assert "all 6 labelled items used are of a single class ('edge')" in text
        assert "label items of another class" in text


def test_k_larger_than_the_training_set_names_the_largest_k(tmp_path):
    dataset = _project(tmp_path, ["edge"] * 3 + ["flat"] * 3)
    text = _refusal(BaselineConfig(model="knn", k=5, split="random", test_fraction=0.34), dataset)
    assert "only 3 items" in text and "lower k to 3 or fewer" in text


def test_a_single_item_with_a_value_cannot_be_split(tmp_path):
    dataset = _project(tmp_path, [None] * 3, targets={0: 2.5})
    config = BaselineConfig(model="knn", k=1, task="regression", target="thickness")
    text = _refusal(config, dataset)
    assert "cannot split 1 item into training and test" in text and "label more items" in text


def test_test_classes_missing_from_training_name_the_split_not_a_hidden_option(tmp_path):
    """Dataset splits with 'dark' only in test: the form has no "allow unseen classes"; the
    message says where to put the items (the command line keeps its option)."""
    from qbi_desktop.gui.docks.baselines import in_form_terms

    labels = ["edge", "flat"] * 3 + ["dark", "dark"]
    splits = ["train"] * 6 + ["test", "test"]
    dataset = _project(tmp_path, labels, splits=splits)
    text = _refusal(BaselineConfig(model="knn", k=1), dataset)
    assert "'dark' (2 items)" in text and "train split (Dataset > Split)" in text
    assert "--allow-unseen-classes" in text  # the command line's way
    form = in_form_terms(text)
    assert "allow unseen" not in form and "train split (Dataset > Split)" in form
