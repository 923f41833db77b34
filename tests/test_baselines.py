"""Baselines: published and lecture numbers, the traps made visible, bad input, cancel, dask."""

from __future__ import annotations

import time

import numpy as np
import pytest

from qbi_desktop.core.baselines import (
    BaselineConfig,
    L2Neighbors,
    check_baseline,
    run_baseline,
)
from qbi_desktop.core.chunk_sizer import ChunkSizer
from qbi_desktop.core.datasets import ArrayDataset, digits_dataset, mnist_dataset
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Cancelled, Progress, run_job

try:
    from tests.conftest import MNIST, need
except ImportError:  # pragma: no cover
    from conftest import MNIST, need


@pytest.fixture(scope="module")
def mnist():
    return mnist_dataset(need(MNIST), "all")


@pytest.fixture(scope="module")
def digits():
    return digits_dataset()


def run(config: BaselineConfig, dataset, **kw):
    return run_job(run_baseline(config, dataset), **kw)


# -- published and lecture numbers ------------------------------------------------------------


def test_full_mnist_1nn_test_error_is_3_09_percent_and_train_score_shows_the_trap(mnist):
    ticks: list[float] = []
    result = run(
        BaselineConfig(model="knn", k=1),
        mnist,
        on_progress=lambda p: ticks.append(time.perf_counter()),
    )
    assert (result.n_train, result.n_test) == (60000, 10000)
    assert round(1 - result.scores["accuracy"], 4) == 0.0309
    # Side by side: on (a sample of) its own training data 1-NN is perfect.
    assert result.train_scores["accuracy"] == 1.0
    assert result.n_train_scored == 1000
    assert len(result.misclassified) == 309
    # Prediction is chunked (the job yields between chunks, which is where a cancel takes
    # effect); how long a chunk takes is measured in tests/benchmarks/bench_baselines.py.
    assert len(ticks) > 10


def test_full_mnist_3nn_test_error_is_2_95_percent(mnist):
    result = run(BaselineConfig(model="knn", k=3, train_score_max=0), mnist)
    assert round(1 - result.scores["accuracy"], 4) == 0.0295
    assert result.confusion.sum() == 10000
    assert result.labels == [str(d) for d in range(10)]


def test_lecture_toy_3nn_on_first_24_training_images(mnist):
    config = BaselineConfig(model="knn", k=3, train_size=24, test_on="rest-of-train")
    result = run(config, mnist)
    assert (result.n_train, result.n_test) == (24, 59976)
    assert round(100 * result.scores["accuracy"], 2) == 43.62
    # Tested items are the training items after the first 24, never the test split.
    assert result.test_indices.min() == 24 and result.test_indices.max() == 59999


def test_lecture_toy_most_frequent_dummy_predicts_one_for_everything(mnist):
    config = BaselineConfig(
        model="dummy", strategy="most_frequent", train_size=24, test_on="rest-of-train"
    )
    result = run(config, mnist)
    predicted = {result.labels[p] for p in result.y_pred}
    assert predicted == {"1"}
    # Its accuracy is exactly the rate of "1" among the tested items: the majority rate.
    assert result.scores["accuracy"] == pytest.approx(result.scores["majority_rate"])
    assert result.scores["balanced_accuracy"] == pytest.approx(0.1)


# -- the traps made visible --------------------------------------------------------------------


def test_eval_on_train_gives_100_percent_and_carries_the_warning(digits):
    honest = run(BaselineConfig(model="knn", k=1), digits)
    assert honest.scores["accuracy"] < 1.0 and not any(
        "training data" in w for w in honest.warnings
    )
    fooled = run(BaselineConfig(model="knn", k=1, eval="train"), digits)
    assert fooled.scores["accuracy"] == 1.0
    assert fooled.n_test == fooled.n_train
    assert any("training data" in w and "100 %" in w for w in fooled.warnings)
    assert "TRAINING DATA" in fooled.evaluation
    assert fooled.to_metrics_dict()["warnings"] == fooled.warnings


def test_balanced_accuracy_exposes_a_dummy_on_imbalanced_data():
    rng = np.random.default_rng(0)
    labels = np.array(["healthy"] * 950 + ["lesion"] * 50)
    images = rng.normal(0, 1, (1000, 6, 6)).astype(np.float32)
    images[labels == "lesion"] += 1.5  # learnable
    ds = ArrayDataset(images, labels)
    dummy = run(BaselineConfig(model="dummy", strategy="most_frequent"), ds)
    assert dummy.scores["accuracy"] >= 0.94
    assert dummy.scores["balanced_accuracy"] == pytest.approx(0.5)
    assert dummy.scores["accuracy"] == pytest.approx(dummy.scores["majority_rate"])
    lesion = next(r for r in dummy.per_class if r["class"] == "lesion")
    assert lesion["recall"] == 0.0 and lesion["support"] > 0
    knn = run(BaselineConfig(model="knn", k=5), ds)
    assert knn.scores["balanced_accuracy"] > dummy.scores["balanced_accuracy"] + 0.2


def test_other_models_beat_the_dummy_on_digits(digits):
    floor = run(BaselineConfig(model="dummy", strategy="prior"), digits).scores["accuracy"]
    for config in (
        BaselineConfig(model="centroid"),
        BaselineConfig(model="logreg"),
        BaselineConfig(model="knn", k=3, metric="l1", weights="distance"),
        BaselineConfig(model="knn", k=3, metric="cosine"),
        BaselineConfig(model="knn", k=1, metric="l3", downsample=2, standardize=True),
    ):
        result = run(config, digits)
        assert result.scores["accuracy"] > floor + 0.5, config.describe()
    for strategy in ("stratified", "uniform"):
        result = run(BaselineConfig(model="dummy", strategy=strategy, seed=3), digits)
        assert result.scores["accuracy"] < 0.2


def test_splits_are_seeded_and_stratified(digits):
    a = run(BaselineConfig(model="dummy", split="random", seed=1), digits)
    b = run(BaselineConfig(model="dummy", split="random", seed=1), digits)
    c = run(BaselineConfig(model="dummy", split="random", seed=2), digits)
    np.testing.assert_array_equal(a.test_indices, b.test_indices)
    assert not np.array_equal(a.test_indices, c.test_indices)
    test_share = np.bincount(digits.targets()[a.test_indices], minlength=10) / np.bincount(
        digits.targets()
    )
    assert np.all(np.abs(test_share - 0.25) < 0.02)  # every class ~25 % in test


def test_kfold_tests_every_item_once_and_reports_mean_and_std(digits):
    result = run(BaselineConfig(model="knn", k=3, split="kfold", folds=5), digits)
    assert len(result.fold_scores) == 5
    assert sorted(result.test_indices.tolist()) == list(range(len(digits)))
    accs = [f["accuracy"] for f in result.fold_scores]
    assert result.scores["accuracy"] == pytest.approx(np.mean(accs))
    assert result.scores["accuracy_std"] == pytest.approx(np.std(accs))
    assert result.confusion.sum() == len(digits)


def test_misclassified_items_and_cells_point_at_the_right_images(digits):
    result = run(BaselineConfig(model="centroid"), digits)
    targets = digits.targets()
    assert len(result.misclassified) == result.n_test - np.trace(result.confusion)
    for m in result.misclassified:
        assert digits.class_names[targets[m["index"]]] == m["true"] != m["pred"]
    r, c = np.unravel_index(
        np.argmax(result.confusion - np.diag(np.diag(result.confusion))), result.confusion.shape
    )
    cell = result.cell_indices(result.labels[r], result.labels[c])
    assert len(cell) == result.confusion[r, c] > 0
    assert all(digits.class_names[targets[i]] == result.labels[r] for i in cell)
    metrics = result.to_metrics_dict()
    for key in (
        "accuracy",
        "balanced_accuracy",
        "confusion_matrix",
        "labels",
        "n_train",
        "n_test",
        "majority_rate",
        "per_class",
        "train",
    ):
        assert key in metrics
    assert np.array(metrics["confusion_matrix"]).shape == (10, 10)


def test_l2_kernel_is_exact_with_ties_to_the_smallest_index():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    train = rng.normal(0, 50, (3000, 40)).astype(np.float32)
    queries = rng.normal(0, 50, (500, 40)).astype(np.float32)
    dist, ind = L2Neighbors(train).kneighbors(queries, 5)
    ref_dist, ref_ind = (
        NearestNeighbors(n_neighbors=5, algorithm="brute").fit(train).kneighbors(queries)
    )
    np.testing.assert_array_equal(ind, ref_ind)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5)
    # Exact duplicates in the training set: the lower index wins, whatever the chunking.
    dup = np.concatenate([train[:10], train[:10]])
    assert L2Neighbors(dup).kneighbors(train[:10], 1, return_distance=False)[:, 0].tolist() == list(
        range(10)
    )


def test_regression_scores_and_scatter_data():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (400, 5, 5)).astype(np.float32)
    brightness = images.mean(axis=(1, 2)) * 100  # a target the pixels determine
    ds = ArrayDataset(images, brightness, target_names=["brightness"])
    dummy = run(BaselineConfig(model="dummy", strategy="median"), ds)
    knn = run(BaselineConfig(model="knn", k=5, weights="distance"), ds)
    assert dummy.task == knn.task == "regression"
    assert dummy.scores["r2"] < 0.05
    assert knn.scores["r2"] > 0.3 and knn.scores["mae"] < dummy.scores["mae"]
    assert len(knn.y_true) == len(knn.y_pred) == knn.n_test
    np.testing.assert_allclose(knn.y_true, brightness[knn.test_indices])
    assert knn.scores["rmse"] >= knn.scores["mae"]


def test_segmentation_baselines_on_simulated_spots():
    simulate = pytest.importorskip("qbi_desktop.core.simulate")
    pytest.importorskip("qbi_desktop.core.spots")
    params = simulate.SimulationParams(height=192, width=192)
    sims = [simulate.simulate_radiograph(params, seed=s) for s in range(4)]
    ds = ArrayDataset(
        [s.image for s in sims],
        masks=[s.spot_mask for s in sims],
        task="segmentation",
        source="simulated",
    )
    split = dict(split="random", test_fraction=0.5, seed=0)
    otsu = run(BaselineConfig(model="otsu", **split), ds)
    spots = run(BaselineConfig(model="spots", **split), ds)
    assert otsu.n_test == spots.n_test == 2 and len(spots.per_item) == 2
    for key in ("dice", "iou", "object_f1", "object_precision", "object_recall"):
        assert 0.0 <= spots.scores[key] <= 1.0
    # The spot detector finds spots; a global threshold segments the bright open beam instead.
    assert spots.scores["object_f1"] > otsu.scores["object_f1"]
    assert spots.scores["dice"] > otsu.scores["dice"]


def test_otsu_scores_a_clean_two_level_image_perfectly():
    images, masks = [], []
    for s in range(3):
        mask = np.zeros((40, 40), bool)
        mask[5 + s : 15 + s, 5:15] = True
        mask[25:30, 20 + s : 35] = True
        images.append(np.where(mask, 200, 20).astype(np.uint8))
        masks.append(mask)
    ds = ArrayDataset(images, masks=masks, task="segmentation")
    result = run(BaselineConfig(model="otsu", split="random", test_fraction=0.34), ds)
    assert result.scores["dice"] == 1.0 and result.scores["iou"] == 1.0
    assert result.scores["object_f1"] == 1.0


# -- bad input: a clear message before any work ---------------------------------------------------


def first_step_error(config: BaselineConfig, dataset) -> str:
    job = run_baseline(config, dataset)
    with pytest.raises(UserFacingError) as info:
        next(job)  # raises before the first Progress: nothing was fitted
    return str(info.value)


def _toy(labels, splits=None, shape=(4, 4)):
    rng = np.random.default_rng(0)
    return ArrayDataset(
        rng.integers(0, 255, (len(labels), *shape), dtype=np.uint8),
        labels,
        splits=splits,
        source="toy",
    )


def test_one_class_is_refused():
    message = first_step_error(BaselineConfig(model="knn"), _toy(["a"] * 20))
    assert "single class ('a')" in message


def test_test_classes_missing_from_training_error_or_warn():
    ds = _toy(["a", "b"] * 10 + ["c"] * 4, splits=["train"] * 20 + ["test"] * 4)
    assert "'c' (4 items)" in first_step_error(BaselineConfig(model="knn"), ds)
    result = run(BaselineConfig(model="knn", unseen_classes="warn"), ds)
    assert result.scores["accuracy"] == 0.0  # all four are errors, and we say why
    assert any("not in the training set" in w for w in result.warnings)


def test_unlabeled_items_are_left_out_by_default_or_refused_on_request():
    ds = _toy(["a", "b", None, "a", "b", None] * 5)
    message = first_step_error(BaselineConfig(model="knn", drop_unlabeled=False), ds)
    assert "10 of 30 items have no class label" in message and "items 2, 5" in message
    result = run(BaselineConfig(model="knn"), ds)  # the default: left out, and said
    assert result.n_train + result.n_test == 20
    assert "10 of 30 items have no class label and were left out" in result.warnings


def test_images_of_different_sizes_need_an_explicit_resize():
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 255, (8, 8) if i % 3 else (10, 12), dtype=np.uint8) for i in range(30)
    ]
    ds = ArrayDataset(images, ["a", "b"] * 15, source="mixed")
    message = first_step_error(BaselineConfig(model="knn"), ds)
    assert "different sizes" in message and "resize" in message
    result = run(BaselineConfig(model="knn", resize_to=(8, 8)), ds)
    assert result.n_test > 0


def test_k_larger_than_the_training_set():
    ds = _toy(["a", "b"] * 10, splits=["train"] * 6 + ["test"] * 14)
    message = first_step_error(BaselineConfig(model="knn", k=7), ds)
    assert "7 neighbours" in message and "only 6" in message


def test_nan_targets_and_nan_pixels():
    images = np.random.default_rng(0).normal(size=(20, 3, 3))
    values = np.arange(20, dtype=float)
    values[[3, 8]] = np.nan
    refuse = BaselineConfig(model="knn", drop_unlabeled=False)
    message = first_step_error(refuse, ArrayDataset(images, values))
    assert "2 of" in message and "NaN" in message and "items 3, 8" in message
    result = run(BaselineConfig(model="knn"), ArrayDataset(images, values))
    assert result.n_train + result.n_test == 18
    assert "2 of 20 items have no 'target' value and were left out" in result.warnings
    bad = images.copy()
    bad[4, 1, 1] = np.nan
    message = first_step_error(BaselineConfig(model="knn"), ArrayDataset(bad, np.arange(20.0)))
    assert "NaN or infinite pixel values" in message and "(item 4)" in message


def test_bad_parameters_are_named(digits):
    assert "model" in first_step_error(BaselineConfig(model="forest"), digits)
    assert "metric" in first_step_error(BaselineConfig(metric="l7"), digits)
    assert "strategy" in first_step_error(BaselineConfig(model="dummy", strategy="mean"), digits)
    assert "no train/test splits" in first_step_error(BaselineConfig(split="dataset"), digits)
    assert "train size" in first_step_error(BaselineConfig(test_on="rest-of-train"), digits)
    assert check_baseline(BaselineConfig(model="knn", eval="train"), digits)  # the warning


# -- running: chunks, cancel, cluster ---------------------------------------------------------


def test_closing_the_job_stops_it_early():
    rng = np.random.default_rng(0)
    ds = ArrayDataset(
        rng.integers(0, 255, (6000, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 6000),
        class_names=[str(i) for i in range(10)],
    )
    job = run_baseline(BaselineConfig(model="knn", chunk_rows=50), ds)
    seen: list[Progress] = []
    for progress in job:
        seen.append(progress)
        if len(seen) == 4:
            break
    t0 = time.perf_counter()
    job.close()
    assert time.perf_counter() - t0 < 0.5
    assert seen[-1].done < seen[-1].total / 4  # stopped long before the end
    with pytest.raises(StopIteration):
        next(job)
    # The driver used by the GUI workers and the CLI: should_stop -> Cancelled.
    with pytest.raises(Cancelled):
        run_job(
            run_baseline(BaselineConfig(model="knn", chunk_rows=50), ds), should_stop=lambda: True
        )


def _sized_chunks(sizer, fixed: float, per_row: float, n_chunks: int) -> list[int]:
    """Drive a ChunkSizer with chunk times from the cost model ``fixed + per_row * rows``."""
    sizes = []
    for _ in range(n_chunks):
        rows = sizer.rows
        sizes.append(rows)
        sizer.observe(rows, fixed + per_row * rows)
    return sizes


def test_chunks_do_not_collapse_when_the_fixed_cost_exceeds_the_target():
    # The reported case: on a busy machine reading the training set alone (0.3 s per chunk)
    # took longer than the 0.2 s target, and chunks shrank to 8 rows for good (every chunk
    # paying the 0.3 s again). Then the load drops: sizes must recover.
    sizer = ChunkSizer(85, target_seconds=0.2, max_seconds=0.4, floor=256, ceiling=1118)
    busy = _sized_chunks(sizer, fixed=0.3, per_row=5e-4, n_chunks=12)
    assert min(busy) >= 160
    # per row, the busy chunks cost at most 5x the per-row work (76x with 8-row chunks)
    assert all((0.3 + 5e-4 * r) / r <= 5 * 5e-4 for r in busy)
    # once the sizes settle, the chunks stay within the cancel bound
    assert all(0.3 + 5e-4 * r <= 0.4 * 1.15 for r in busy[4:])
    # quiet again: a = 0.03 s, 0.59 ms per row (full MNIST here); chunks near 0.2 s come back
    quiet = _sized_chunks(sizer, fixed=0.03, per_row=5.9e-4, n_chunks=12)
    late = [0.03 + 5.9e-4 * r for r in quiet[-4:]]
    assert all(0.14 <= t <= 0.26 for t in late), late
    # a cheap fixed cost with slow rows: chunks near the target, never beyond the cancel bound
    slow = _sized_chunks(
        ChunkSizer(256, floor=256, ceiling=65536), fixed=0.01, per_row=1e-3, n_chunks=12
    )
    assert all(0.01 + 1e-3 * r <= 0.4 for r in slow[4:])
    assert all(r >= 160 for r in slow)
    # an oversubscribed machine (4 ms per row): the floor yields to the cancel bound, down to
    # 32 rows, not to 8
    crowded = _sized_chunks(ChunkSizer(256, floor=256), fixed=0.1, per_row=4e-3, n_chunks=12)
    assert all(0.1 + 4e-3 * r <= 0.4 * 1.15 for r in crowded[4:])
    assert min(crowded) >= 32


def test_chunks_grow_to_amortise_a_large_fixed_cost_within_the_cancel_bound():
    # fixed 0.06 s, per row 0.2 ms: the chunk is stretched past the 0.2 s target so that the
    # fixed cost is at most about a fifth of it, and stays under 0.4 s
    sizer = ChunkSizer(300, target_seconds=0.2, max_seconds=0.4, floor=256, ceiling=65536)
    sizes = _sized_chunks(sizer, fixed=0.06, per_row=2e-4, n_chunks=16)
    late = [0.06 + 2e-4 * r for r in sizes[-6:]]
    assert all(0.24 <= t <= 0.4 for t in late), late


def test_prediction_chunks_keep_the_floor_and_the_memory_cap(mnist):
    # a real run: no chunk of the test prediction below 32 rows (256 unless the machine is so
    # busy that 256 rows would break the cancel bound), none above what 512 MiB of scores
    # against 60 000 training rows allow
    seen = []
    job = run_baseline(BaselineConfig(model="knn", k=1, train_score_max=0), mnist)
    for progress in job:
        # (the search also yields inside a chunk, repeating the chunk's progress)
        if "predicting test items" in progress.message and progress.done not in seen:
            seen.append(progress.done)
        if len(seen) >= 6:
            job.close()
            break
    steps = np.diff(seen)
    assert len(steps) >= 4
    assert steps.min() >= 32 and steps.max() <= 512 * 2**20 // (8 * 60000)


def test_dask_local_cluster_gives_the_same_predictions(digits):
    distributed = pytest.importorskip("distributed")
    local = run(BaselineConfig(model="knn", k=3), digits)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            remote = run(BaselineConfig(model="knn", k=3, chunk_rows=100, scheduler=client), digits)
        by_address = run(
            BaselineConfig(model="knn", k=3, chunk_rows=100, scheduler=cluster.scheduler_address),
            digits,
        )
    for other in (remote, by_address):
        np.testing.assert_array_equal(other.test_indices, local.test_indices)
        np.testing.assert_array_equal(other.y_pred, local.y_pred)
        assert other.train_scores == local.train_scores


def test_unreachable_scheduler_is_a_clear_error(digits, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("qbi_desktop.core.baselines.predict.SCHEDULER_TIMEOUT_S", 1)
    job = run_baseline(BaselineConfig(model="knn", scheduler="tcp://127.0.0.1:1"), digits)
    with pytest.raises(UserFacingError, match="cannot reach tcp://127.0.0.1:1"):
        run_job(job)
