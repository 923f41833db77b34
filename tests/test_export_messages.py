"""The refusals of the array exports say what to do (the outside check of /tmp/s18/trips,
problem 11): "needs images of one size and type" names the split, each size and type with its
count and a few items, and that choosing splits avoids it (``--split``, or in the GUI the
Browser's split filter with the export dialog's "Only the … item(s) the browser shows");
MNIST's "needs integer class labels 0-255" names the items without a class and the classes
that are no such number."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.formats.named import named
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.docks.browser_kinds import EXPORT_WORDS


def _mixed(tmp_path):
    """MNIST-like 28x28 digits in train/test and three radiograph-like TIFFs of two sizes and
    types with no split (as the outside check's p_cls)."""
    src = tmp_path / "src"
    rng = np.random.default_rng(5)
    for split, n in (("train", 3), ("test", 2)):
        for k in range(n):
            path = src / split / str(k % 2) / f"{split}{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(path)
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "imagefolder", [src]))
    plates = tmp_path / "plates" / "5"  # a class MNIST can hold
    plates.mkdir(parents=True)
    tifffile.imwrite(plates / "ob.tif", rng.integers(0, 60000, (60, 40), dtype=np.uint16))
    tifffile.imwrite(plates / "dc.tif", rng.integers(0, 60000, (60, 40), dtype=np.uint16))
    tifffile.imwrite(plates / "spot.tif", rng.random((10, 50), dtype=np.float32))
    run_job(import_job(project, "imagefolder", [tmp_path / "plates"]))
    return project


@pytest.mark.parametrize("kind, what", [("npz", "NPZ"), ("mnist", "MNIST")])
def test_one_size_refusal_names_the_split_sizes_items_and_the_way_out(tmp_path, kind, what):
    with _mixed(tmp_path) as project:
        with pytest.raises(UserFacingError) as caught:
            run_job(export_job(project, kind, tmp_path / "out"))
        text = str(caught.value)
        assert text.startswith(f"{what} export needs images of one size and type in each split")
        assert "split 'unassigned' (items without a split) holds 2 sizes/types" in text
        assert "60 x 40 uint16: 2 item(s) (6 (dc.tif), 7 (ob.tif))" in text
        assert "10 x 50 float32: 1 item(s) (8 (spot.tif))" in text
        assert "(--split); the splits 'train', 'test' hold images of one size" in text
        # the way out the message names works
        report = run_job(
            export_job(project, kind, tmp_path / "tt", filters={"split": ["train", "test"]})
        )
        assert report.items == 5
        # the GUI says it with the dialog's words
        gui = named(caught.value.args[0], EXPORT_WORDS)
        assert "--split" not in gui and "the Browser's split filter" in gui


def test_mnist_label_refusal_names_the_unlabelled_items_and_the_classes(tmp_path):
    src = tmp_path / "src"
    rng = np.random.default_rng(6)
    for k, label in enumerate(["3", "7", "7", None, "4", None]):
        path = src / "train" / (label or "unlabelled") / f"d{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(path)
    with open_project(tmp_path / "proj", create=True) as project:
        run_job(import_job(project, "imagefolder", [src]))
        C.rename_class(project, "7", "sieben-ß")
        with pytest.raises(UserFacingError) as caught:
            run_job(export_job(project, "mnist", tmp_path / "out"))
        text = str(caught.value)
        assert text.startswith("MNIST export needs an integer class label 0-255 on every item")
        assert "2 item(s) have no class" in text and "d3.png" in text and "d5.png" in text
        assert "--leave-out-unlabelled" in text
        assert "class 'sieben-ß': 2 item(s), e.g." in text and "d1.png" in text
        assert "export npz, which keeps class names" in text
        gui = named(caught.value.args[0], EXPORT_WORDS)
        assert "export Keras-style NPZ" in gui and "--leave-out" not in gui
        # once the class is a number again and the unlabelled items are left out, it works
        C.rename_class(project, "sieben-ß", "7")
        run_job(export_job(project, "mnist", tmp_path / "ok", leave_out_unlabelled=True))
    with gzip.open(tmp_path / "ok" / "train-labels-idx1-ubyte.gz") as f:
        assert sorted(f.read()[8:]) == [3, 4, 7, 7]
