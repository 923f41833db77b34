"""Folder-layout exports read right by torchvision's ImageFolder (the outside check of
/tmp/s18/trips, problems 2-4): every split numbers the classes alike, items without a class
are outside the split folders, the class list goes along (project order and torchvision's
index), our import reads the layout back; NPZ ``class_names`` follow the project's order;
16-bit images and stacks are said in the notes, their pixels unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.torchvision_folder import load_folder_module
except ImportError:  # pragma: no cover
    from torchvision_folder import load_folder_module


def _png(path, k):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(k)
    Image.fromarray(rng.integers(0, 255, (12, 16), dtype=np.uint8)).save(path)


#: split -> class -> images; test has no 'zebra', train has items without a class
LAYOUT = {
    "train": {"zebra": 2, "cat": 2, "dog": 1, "unlabelled": 2},
    "test": {"cat": 1, "dog": 2},
}
ORDER = ["zebra", "dog", "cat"]  # the project's class order: not the sorted one


def _project(tmp_path):
    src = tmp_path / "src"
    k = 0
    for split, classes in LAYOUT.items():
        for label, n in classes.items():
            for _ in range(n):
                _png(src / split / label / f"im{k:02d}.png", k)
                k += 1
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "imagefolder", [src]))
    C.set_class_list(project, ORDER)
    return project


def _catalog(project):
    rows = project.db.execute("SELECT name, label, split FROM items ORDER BY name").fetchall()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("kind, sub", [("imagefolder", ""), ("datapackage", "data/")])
def test_every_split_numbers_the_classes_alike_for_torchvision(tmp_path, kind, sub):
    folder = load_folder_module()
    if folder is None:
        pytest.skip("torchvision is not installed")
    with _project(tmp_path) as project:
        report = run_job(export_job(project, kind, tmp_path / "out"))
    root = tmp_path / "out" / sub
    train = folder.ImageFolder(str(root / "train"), allow_empty=True)
    test = folder.ImageFolder(str(root / "test"), allow_empty=True)
    # the same index for every class in both splits, no 'unlabelled' class
    assert train.class_to_idx == test.class_to_idx == {"cat": 0, "dog": 1, "zebra": 2}
    assert len(train) == 5 and len(test) == 3
    assert json.loads((root / "class_to_idx.json").read_text()) == train.class_to_idx
    assert (root / "classes.txt").read_text().split() == ORDER
    # the items without a class are outside the split folders, their split kept
    assert sorted(p.name for p in (root / "unlabelled" / "train").iterdir()) == [
        "im05.png",
        "im06.png",
    ]
    text = str(report)
    assert "test/zebra/" in text and "allow_empty=True" in text  # the empty folder said
    assert "not in the project's class order" in text and "'zebra'=2" in text
    with pytest.raises(FileNotFoundError):  # what the note warns of
        folder.ImageFolder(str(root / "test"))


def test_our_import_reads_the_new_layout_back_exactly(tmp_path):
    with _project(tmp_path) as project:
        before = _catalog(project)
        run_job(export_job(project, "imagefolder", tmp_path / "out"))
    with open_project(tmp_path / "back", create=True) as back:
        report = run_job(import_job(back, "imagefolder", [tmp_path / "out"]))
        assert _catalog(back) == before  # labels, splits, unlabelled items
        assert C.stored_list(back.db) == ORDER  # the class order from classes.txt
        assert "beside the class folders" not in str(report)  # classes.txt is not a stray


def test_no_splits_keep_the_unlabelled_items_out_of_the_class_folders(tmp_path):
    folder = load_folder_module()
    src = tmp_path / "src"
    for k, label in enumerate(["cat", "dog", None, "cat"]):
        _png(src / (label or "unlabelled") / f"im{k}.png", k)
    with open_project(tmp_path / "proj", create=True) as project:
        run_job(import_job(project, "imagefolder", [src]))
        before = _catalog(project)
        run_job(export_job(project, "imagefolder", tmp_path / "out"))
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["unassigned", "unlabelled"]
    if folder is not None:
        assert folder.ImageFolder(str(out / "unassigned")).classes == ["cat", "dog"]
    with open_project(tmp_path / "back", create=True) as back:
        run_job(import_job(back, "imagefolder", [out]))
        assert _catalog(back) == before


def test_the_old_layout_with_unlabelled_inside_a_split_still_reads(tmp_path):
    src = tmp_path / "old"
    _png(src / "train" / "cat" / "a.png", 1)
    _png(src / "train" / "unlabelled" / "b.png", 2)
    _png(src / "test" / "cat" / "c.png", 3)
    with open_project(tmp_path / "p", create=True) as project:
        run_job(import_job(project, "imagefolder", [src]))
        assert _catalog(project) == [
            ("a.png", "cat", "train"),
            ("b.png", None, "train"),
            ("c.png", "cat", "test"),
        ]


def test_npz_class_names_follow_the_project_order_and_read_back(tmp_path):
    with _project(tmp_path) as project:
        before = _catalog(project)
        report = run_job(export_job(project, "npz", tmp_path / "out"))
    with np.load(tmp_path / "out" / "dataset.npz") as npz:
        assert npz["class_names"].tolist() == ORDER
        assert sorted(npz["y_test"].tolist()) == [1, 1, 2]  # dog = 1, cat = 2
        assert sorted(npz["y_train"].tolist()) == [-1, -1, 0, 0, 1, 2, 2]  # zebra = 0
    assert "0=zebra, 1=dog, 2=cat" in str(report)
    with open_project(tmp_path / "back", create=True) as back:
        run_job(import_job(back, "npz", [tmp_path / "out" / "dataset.npz"]))
        labels = sorted((label or "", split) for _n, label, split in _catalog(back))
        assert labels == sorted((label or "", split) for _n, label, split in before)
        assert C.stored_list(back.db) == ORDER


def _wide_and_stack(tmp_path):
    """A 16-bit radiograph-like TIFF, a float32 TIFF and a 5-page 16-bit stack."""
    src = tmp_path / "src" / "train"
    rng = np.random.default_rng(4)
    wide = rng.integers(1000, 60000, (20, 30), dtype=np.uint16)
    (src / "plate").mkdir(parents=True)
    (src / "stack").mkdir(parents=True)
    tifffile.imwrite(src / "plate" / "ob.tif", wide)
    tifffile.imwrite(src / "plate" / "f.tif", rng.random((20, 30), dtype=np.float32) * 900)
    pages = rng.integers(300, 60000, (5, 20, 30), dtype=np.uint16)
    tifffile.imwrite(src / "stack" / "multi.tif", pages)
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "imagefolder", [tmp_path / "src"]))
    return project, wide, pages


def test_16_bit_and_float_images_are_said_with_a_loader_that_keeps_them(tmp_path):
    folder = load_folder_module()
    project, wide, _pages = _wide_and_stack(tmp_path)
    with project:
        report = run_job(export_job(project, "imagefolder", tmp_path / "out"))
    text = str(report)
    assert "3 image(s) are 16-bit or floating point (float32: 1, uint16: 2" in text
    assert "loader=tifffile.imread" in text
    copied = tmp_path / "out" / "train" / "plate" / "ob.tif"
    assert copied.read_bytes() == (tmp_path / "src" / "train" / "plate" / "ob.tif").read_bytes()
    if folder is not None:  # what the note says: PIL saturates, tifffile keeps the values
        # torchvision's default loader is pil_loader (its accimage backend aside)
        default = folder.ImageFolder(str(tmp_path / "out" / "train"), loader=folder.pil_loader)
        image, _ = default[default.samples.index((str(copied), 0))]
        assert np.asarray(image).min() == 255
        kept = folder.ImageFolder(str(tmp_path / "out" / "train"), loader=tifffile.imread)
        assert np.array_equal(kept[default.samples.index((str(copied), 0))][0], wide)


def test_a_stack_is_copied_whole_to_folders_and_as_its_page_beside_masks(tmp_path):
    project, _wide, pages = _wide_and_stack(tmp_path)
    with project:
        stack_id = project.ids({"label": "stack"})[0]
        mask = np.zeros((20, 30), np.uint8)
        mask[2:5, 3:9] = 1
        project.set_mask(stack_id, mask)
        folders = run_job(export_job(project, "imagefolder", tmp_path / "if"))
        masks = run_job(export_job(project, "masks", tmp_path / "masks"))
    whole = tifffile.imread(tmp_path / "if" / "train" / "stack" / "multi.tif")
    assert whole.shape == (5, 20, 30)  # the class belongs to the whole file
    assert "multi-page TIFFs (stacks): train/stack/multi.tif (5 pages); copied whole" in str(
        folders
    )
    page = tifffile.imread(tmp_path / "masks" / "train" / "images" / "multi.tif")
    assert page.shape == mask.shape and np.array_equal(page, pages[0])  # the mask's page
    assert "images/multi.tif (page 1 of 5); each written as its first page" in str(masks)
