"""ImageFolder as torchvision reads it: the same files and classes on import, labels that a file
system cannot hold encoded reversibly on export (and said so), split folders read as splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.torchvision_folder import load_folder_module
except ImportError:  # pragma: no cover
    from torchvision_folder import load_folder_module

folder = load_folder_module()
if folder is None:
    pytest.skip("torchvision is not installed", allow_module_level=True)


def _save(path: Path, seed: int, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (6, 7), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def _ours(project, root: Path) -> set[tuple[str, str | None, str | None]]:
    """(path relative to root, label, split) of every item."""
    rows = project.db.execute("SELECT path, label, split FROM items").fetchall()
    return {(str(project.resolve(p).relative_to(root)), label, split) for p, label, split in rows}


def _torchvision(root: Path) -> set[tuple[str, str]]:
    """(path relative to root, class) as torchvision's ImageFolder lists them."""
    dataset = folder.ImageFolder(str(root))
    return {
        (str(Path(path).relative_to(root)), dataset.classes[target])
        for path, target in dataset.samples
    }


def test_import_takes_the_files_and_classes_torchvision_takes(tmp_path):
    root = tmp_path / "src"
    _save(root / "cat" / "a.png", 1)
    _save(root / "cat" / "b.ppm", 2)  # torchvision reads PPM/PGM
    _save(root / "cat" / "deep" / "c.pgm", 3)  # any depth below the class
    _save(root / "dog" / "d.TIF", 4)  # extension case does not matter
    _save(root / "dog" / "e.webp", 5, "WEBP")
    _save(root / "dog" / ".f.png", 6)  # a hidden image file: torchvision takes it
    _save(root / "dog" / "g.gif", 7, "GIF")  # not one of torchvision's IMG_EXTENSIONS
    (root / "dog" / "notes.txt").write_text("x")
    from qbi_desktop.core.formats.imagefolder import IMG_EXTENSIONS

    assert set(IMG_EXTENSIONS) == set(folder.IMG_EXTENSIONS)  # the installed torchvision's list
    project = open_project(tmp_path / "p", create=True)
    report = run_job(import_job(project, "imagefolder", [root]))
    expected = _torchvision(root)
    assert len(expected) == 6
    assert {(path, label) for path, label, _split in _ours(project, root)} == expected
    assert ".gif" in str(report) and ".txt" in str(report)


def test_an_image_beside_the_class_folders_is_named_as_skipped(tmp_path):
    """datumaro's ImageNet test layout: an image beside the class folders (torchvision skips
    it, and so do we, naming it) and one in a folder inside a class (the class's)."""
    root = tmp_path / "src"
    for split in ("train", "val"):
        _save(root / split / "label_0" / "label_0_1.jpg", 1, "JPEG")
        _save(root / split / "label_0_2.jpg", 2, "JPEG")
        _save(root / split / "label_1" / "label_1_1.jpg", 3, "JPEG")
        _save(root / split / "label_1" / "label_1_1" / "label_1_1.jpg", 4, "JPEG")
    project = open_project(tmp_path / "p", create=True)
    report = run_job(import_job(project, "imagefolder", [root]))
    for split in ("train", "val"):
        ours = {
            (Path(p).relative_to(split).as_posix(), label)
            for p, label, s in _ours(project, root)
            if s == split
        }
        assert ours == _torchvision(root / split)
    assert (
        "2 file(s) beside the class folders, not in one, skipped (as torchvision skips them): "
        "train/label_0_2.jpg, val/label_0_2.jpg" in str(report)
    ), str(report)
    assert "()" not in str(report)


def _yolo(root: Path, layout: str) -> Path:
    """The YOLO layouts of datumaro's test assets (roboflow_dataset/yolo, yolo_dataset/labels,
    yolo_dataset/strict), with their label lines, and labelme2voc's VOC folder."""
    line = "0 0.05 0.2 0.1 0.4\n1 0.45 0.1 0.9 0.2\n"
    if layout == "roboflow":  # train/images + train/labels, data.yaml
        for split in ("train", "val"):
            _save(root / split / "images" / f"{split}_001.jpg", 1, "JPEG")
            (root / split / "labels").mkdir()
            (root / split / "labels" / f"{split}_001.txt").write_text(line)
        (root / "data.yaml").write_text("nc: 2\nnames: ['label_0', 'label_1']\n")
    elif layout == "ultralytics":  # images/train + labels/train, obj.names
        for split in ("train", "val"):
            _save(root / "images" / split / "1.jpg", 2, "JPEG")
            (root / "labels" / split).mkdir(parents=True)
            (root / "labels" / split / "1.txt").write_text(line)
        (root / "obj.names").write_text("label_0\nlabel_1\n")
    elif layout == "voc":  # labelme2voc's semantic_segmentation/data_dataset_voc
        for kind in ("JPEGImages", "SegmentationClassVisualization"):
            _save(root / kind / "2011_000003.jpg", 4, "JPEG")
        _save(root / "SegmentationClass" / "2011_000003.png", 5)
        (root / "class_names.txt").write_text("_background_\nperson\n")
    else:  # darknet: obj_train_data/1.jpg + 1.txt, obj.data
        _save(root / "obj_train_data" / "1.jpg", 3, "JPEG")
        (root / "obj_train_data" / "1.txt").write_text(line)
        (root / "obj.data").write_text("classes = 2\ntrain = data/train.txt\n")
    return root


@pytest.mark.parametrize(
    ("layout", "evidence"),
    [
        ("roboflow", "YOLO dataset (train/labels/ holds .txt label files beside train/images/)"),
        ("ultralytics", "YOLO dataset (labels/ holds .txt label files beside images/)"),
        ("darknet", "YOLO dataset (obj.data beside the folders)"),
        ("voc", "Pascal VOC dataset (SegmentationClass beside JPEGImages/)"),
    ],
)
def test_yolo_and_voc_datasets_are_refused_naming_why_not_classed_by_folder(
    tmp_path, layout, evidence
):
    """As class folders a YOLO set's images would all be of class 'images', a VOC set's of
    'JPEGImages' (torchvision refuses them: 'labels' is a class without images); the
    refusal says what the folder is."""
    root = _yolo(tmp_path / "src", layout)
    project = open_project(tmp_path / "p", create=True)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, "imagefolder", [root]))
    assert f"looks like a {evidence}" in str(caught.value)
    assert len(project) == 0
    if layout != "voc":
        assert "--kind yolo" in str(caught.value)
    if layout == "ultralytics":
        with pytest.raises(FileNotFoundError):
            folder.ImageFolder(str(root))
        # what the message offers: the yolo kind reads its label files as boxes
        run_job(import_job(project, "yolo", [root]))
        assert [len(project.boxes(r["id"])) for r in project.query(limit=None)] == [2, 2]


def test_hidden_folders_are_not_classes_and_the_report_says_so(tmp_path):
    root = tmp_path / "src"
    _save(root / "cat" / "a.png", 1)
    _save(root / ".ipynb_checkpoints" / "a-checkpoint.png", 2)
    project = open_project(tmp_path / "p", create=True)
    report = run_job(import_job(project, "imagefolder", [root]))
    assert {r["label"] for r in project.query(limit=None)} == {"cat"}
    assert ".ipynb_checkpoints" in str(report) and "not classes" in str(report)


def test_split_folders_are_splits_not_classes_and_the_report_says_so(tmp_path):
    root = tmp_path / "src"
    _save(root / "train" / "cat" / "a.png", 1)
    _save(root / "train" / "dog" / "b.png", 2)
    _save(root / "valid" / "cat" / "c.png", 3)  # Roboflow's name for val
    _save(root / "test" / "dog" / "d.png", 4)
    project = open_project(tmp_path / "p", create=True)
    report = run_job(import_job(project, "imagefolder", [root]))
    assert "read as splits" in str(report)
    ours = _ours(project, root)
    assert {(p, label, split) for p, label, split in ours} == {
        ("train/cat/a.png", "cat", "train"),
        ("train/dog/b.png", "dog", "train"),
        ("valid/cat/c.png", "cat", "val"),
        ("test/dog/d.png", "dog", "test"),
    }
    # what torchvision gives for each split folder
    for split_dir, split in (("train", "train"), ("valid", "val"), ("test", "test")):
        seen = {(f"{split_dir}/{p}", c) for p, c in _torchvision(root / split_dir)}
        assert seen == {(p, label) for p, label, s in ours if s == split}


def test_split_folders_beside_another_folder_are_refused_naming_it(tmp_path):
    root = tmp_path / "src"
    _save(root / "train" / "cat" / "a.png", 1)
    _save(root / "val" / "cat" / "b.png", 2)
    _save(root / "extra" / "c.png", 3)
    project = open_project(tmp_path / "p", create=True)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, "imagefolder", [root]))
    assert "extra" in str(caught.value) and "train" in str(caught.value)
    assert len(project) == 0


LABELS = ["T1/T2 weighted", "ratio 1:2", "100%", ".hidden", "CON", "unlabelled", 'a"b?*<>|\\']


def test_labels_a_file_system_cannot_hold_round_trip_exactly_and_are_reported(tmp_path):
    root = tmp_path / "src"
    for k in range(len(LABELS)):
        _save(root / f"c{k}" / f"im{k}.png", k)
    _save(root / "plain" / "x.png", 99)
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "imagefolder", [root]))
    for row in project.query(limit=None):
        if row["label"] != "plain":
            project.set_label([row["id"]], LABELS[int(row["label"][1:])])
    project.set_split([1, 2, 3], "train")
    report = run_job(export_job(project, "imagefolder", tmp_path / "out"))
    text = str(report)
    assert "percent-encoded" in text and "'T1/T2 weighted' -> 'T1%2FT2 weighted'" in text
    encoded = next(w for w in report.warnings if "percent-encoded" in w)
    assert f"{len(LABELS)} label(s)" in encoded and "plain" not in encoded
    # torchvision sees every class once, as a folder of its own; unquote gives the label back
    from urllib.parse import unquote

    classes = set()
    for split in ("train", "unassigned"):  # every split holds every class, some of them empty
        found = folder.ImageFolder(str(tmp_path / "out" / split), allow_empty=True).classes
        assert {unquote(c) for c in found} == {*LABELS, "plain"}
        classes |= set(found)
    again = open_project(tmp_path / "q", create=True)
    back = run_job(import_job(again, "imagefolder", [tmp_path / "out"]))
    assert "percent-decoded" in str(back)

    def labels(p):
        return sorted((r["name"], r["label"], r["split"]) for r in p.query(limit=None))

    assert labels(again) == labels(project)


def test_unlabelled_items_and_a_label_named_unlabelled_stay_apart(tmp_path):
    root = tmp_path / "src"
    _save(root / "a" / "x.png", 1)
    _save(root / "a" / "y.png", 2)
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "imagefolder", [root]))
    project.set_label([1], "unlabelled")
    project.set_label([2], None)
    run_job(export_job(project, "imagefolder", tmp_path / "out"))
    again = open_project(tmp_path / "q", create=True)
    run_job(import_job(again, "imagefolder", [tmp_path / "out"]))
    assert {r["name"]: r["label"] for r in again.query(limit=None)} == {
        "x.png": "unlabelled",
        "y.png": None,
    }
