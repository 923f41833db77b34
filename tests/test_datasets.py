"""The dataset interface and its sources: digits, MNIST IDX (gz and plain), Keras NPZ, specs."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.core.datasets import (
    ArrayDataset,
    Dataset,
    digits_dataset,
    mnist_dataset,
    npz_dataset,
    open_source,
)
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.idx import read_idx, write_idx

try:
    from tests.conftest import MNIST, need
except ImportError:  # pragma: no cover - rootdir without package
    from conftest import MNIST, need


def _tiny_mnist(folder, gz: bool, n_train=12, n_test=5):
    rng = np.random.default_rng(1)
    suffix = ".gz" if gz else ""
    parts = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 6, 5), dtype=np.uint8)
        labels = (np.arange(n) % 3).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        parts[prefix] = images, labels
    return parts


def test_digits_is_the_offline_default():
    ds = digits_dataset()
    assert isinstance(ds, Dataset)
    assert len(ds) == 1797
    assert ds.images().shape == (1797, 8, 8)
    assert ds.class_names == [str(i) for i in range(10)]
    assert ds.splits() is None
    item = ds.item(5)
    assert item.image.shape == (8, 8)
    assert item.target == int(ds.targets()[5])
    assert item.metadata["class_name"] == str(item.target)
    assert open_source("digits").images().shape == (1797, 8, 8)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_gz_and_plain_idx(tmp_path, gz):
    parts = _tiny_mnist(tmp_path, gz)
    ds = mnist_dataset(tmp_path, "all")
    assert len(ds) == 17
    np.testing.assert_array_equal(ds.images()[:12], parts["train"][0])
    np.testing.assert_array_equal(ds.images()[12:], parts["t10k"][0])
    assert list(ds.splits()) == ["train"] * 12 + ["test"] * 5
    assert ds.item(13).target == int(parts["t10k"][1][1])
    test_only = mnist_dataset(tmp_path, "test")
    assert len(test_only) == 5 and test_only.splits() is None


def test_mnist_errors_name_the_file(tmp_path):
    _tiny_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserFacingError, match="t10k-labels-idx1-ubyte"):
        mnist_dataset(tmp_path, "all")
    assert len(mnist_dataset(tmp_path, "train")) == 12  # the intact part still opens
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))  # 4 labels, 5 images
    with pytest.raises(UserFacingError, match="4 labels for 5 images"):
        mnist_dataset(tmp_path, "test")
    with pytest.raises(UserFacingError, match="not found"):
        open_source(f"mnist:{tmp_path / 'missing'}")


def test_real_mnist_has_the_official_splits():
    ds = open_source(f"mnist:{need(MNIST)}")
    splits = ds.splits()
    assert len(ds) == 70000
    assert (splits == "train").sum() == 60000 and (splits == "test").sum() == 10000
    labels = read_idx(MNIST / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(ds.targets()[60000:], labels)


def test_keras_npz(tmp_path):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 255, (20, 4, 4), dtype=np.uint8)
    x_test = rng.integers(0, 255, (6, 4, 4), dtype=np.uint8)
    y_train, y_test = np.arange(20) % 4, (np.arange(6) % 4).reshape(6, 1)  # CIFAR-style (N, 1)
    path = tmp_path / "data.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    ds = open_source(f"npz:{path}")
    assert len(ds) == 26
    assert list(ds.splits()).count("test") == 6
    np.testing.assert_array_equal(ds.images()[20:], x_test)
    assert ds.class_names == ["0", "1", "2", "3"]
    assert ds.item(21).target == 1


def test_npz_that_needs_pickle_is_refused(tmp_path):
    path = tmp_path / "objects.npz"
    x = np.empty(2, dtype=object)
    x[0], x[1] = np.zeros((3, 3)), np.zeros((4, 4))
    np.savez(path, x_train=x, y_train=np.array([0, 1]))
    with pytest.raises(UserFacingError, match="unpickling"):
        npz_dataset(path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(UserFacingError, match="bad.npz"):
        open_source(f"npz:{bad}")


def test_array_dataset_labels_unlabeled_and_sizes():
    images = [np.zeros((4, 4)), np.ones((4, 4)), np.ones((5, 4))]
    ds = ArrayDataset(images, ["cat", None, "dog"])
    assert ds.class_names == ["cat", "dog"]
    assert list(ds.targets()) == [0, -1, 1]
    assert ds.item(1).target == -1
    assert ds.item(2).image.shape == (5, 4)  # item by item works whatever the size
    with pytest.raises(UserFacingError, match="different sizes"):
        ds.images()
    reg = ArrayDataset(np.zeros((3, 2, 2)), [0.5, 1.5, np.nan])
    assert reg.task == "regression"
    assert reg.item(0).target == {"target": 0.5}
    with pytest.raises(UserFacingError, match="3 targets for 2 images"):
        ArrayDataset(np.zeros((2, 2, 2)), [1, 2, 3])


def test_source_specs():
    with pytest.raises(UserFacingError, match="unknown data source"):
        open_source("imagenet")
    with pytest.raises(UserFacingError, match="give a path"):
        open_source("mnist:")
    with pytest.raises(UserFacingError, match="not found"):
        open_source("project:/nonexistent/project")


def test_project_source_feeds_a_baseline(tmp_path):
    """project:DIR goes through the catalog to the same interface, splits and labels included."""
    from PIL import Image

    from qbi_desktop.core import catalog
    from qbi_desktop.core.baselines import BaselineConfig, run_baseline
    from qbi_desktop.core.catalog.images import hash_file
    from qbi_desktop.core.jobs import run_job

    rng = np.random.default_rng(0)
    folder = tmp_path / "p" / "img"
    folder.mkdir(parents=True)
    items = []
    for n in range(40):
        label = "bright" if n % 2 else "dark"
        pixels = rng.integers(0, 60, (10, 12)) + (150 if label == "bright" else 0)
        path = folder / f"img{n:03d}.png"
        Image.fromarray(pixels.astype(np.uint8)).save(path)
        items.append(
            catalog.NewItem(
                name=path.name,
                hash=hash_file(path),
                path=path,
                size=path.stat().st_size,
                width=12,
                height=10,
                label=label,
                split="test" if n >= 30 else "train",
            )
        )
    project = catalog.open_project(tmp_path / "p", create=True)
    with project.transaction() as tx:
        tx.add_items(items)
    project.close()
    ds = open_source(f"project:{tmp_path / 'p'}")
    assert len(ds) == 40 and ds.class_names == ["bright", "dark"]
    assert list(ds.splits()).count("test") == 10
    result = run_job(run_baseline(BaselineConfig(model="knn", k=1), ds))
    assert (result.n_train, result.n_test) == (30, 10)
    assert result.scores["accuracy"] == 1.0
