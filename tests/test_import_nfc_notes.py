"""Every import that brings class names says when it stored one otherwise than written: the
catalog keeps class names in Unicode's composed form (NFC), so "café" written decomposed (NFD,
"e" + combining accent, as macOS folder names come) is stored as the "café" it looks like, and
the import report names the name as written and as stored, with one wording for every kind
(YOLO, labelme, Data Package, NPZ, masks as well as ImageFolder, sheet and COCO)."""

from __future__ import annotations

import csv
import json
import unicodedata

import numpy as np
from PIL import Image

from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")
#: how every report names the name: as written (escaped, the accent visible) and as stored
SAID = f"{ascii(NFD)} as written, {NFC!r} as stored"


def _png(path, seed=0, shape=(20, 24)):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)
    return path


def _import(tmp_path, kind, sources, **options):
    project = open_project(tmp_path / "proj", create=True)
    report = run_job(import_job(project, kind, sources, **options))
    return project, report


def _said(report):
    notes = [w for w in report.warnings if SAID in w]
    assert len(notes) == 1, report.warnings
    assert "NFD" in notes[0] and "NFC" in notes[0]
    return notes[0]


def test_yolo_class_list_names(tmp_path):
    src = tmp_path / "yolo"
    _png(src / "images" / "train" / "a.png")
    (src / "labels" / "train").mkdir(parents=True)
    (src / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.25 0.25\n")
    (src / "classes.txt").write_text(f"{NFD}\nthé\n", encoding="utf-8")
    project, report = _import(tmp_path, "yolo", [src])
    assert _said(report).startswith("classes.txt: 1 class name(s)")
    assert C.box_counts(project) == {NFC: 1}


def test_labelme_shape_labels_and_flags(tmp_path):
    src = tmp_path / "lm"
    _png(src / "a.png")
    doc = {
        "imagePath": "a.png",
        "imageHeight": 20,
        "imageWidth": 24,
        "flags": {NFD: True},
        "shapes": [
            {"label": NFD, "points": [[2, 2], [10, 10]], "shape_type": "rectangle"},
            {"label": NFD, "points": [[1, 1], [8, 1], [8, 8]], "shape_type": "polygon"},
        ],
    }
    (src / "a.json").write_text(json.dumps(doc), encoding="utf-8")
    project, report = _import(tmp_path, "labelme", [src])
    _said(report)
    assert C.class_counts(project) == {NFC: 1} and C.box_counts(project) == {NFC: 1}
    # the mask's class table holds the name as stored too, not a second "café"
    assert list(project.metadata()["mask_classes"].values()) == [NFC]


def test_npz_class_names(tmp_path):
    x = np.zeros((2, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1]), class_names=np.array([NFD, "thé"]))
    project, report = _import(tmp_path, "npz", [tmp_path / "d.npz"])
    _said(report)
    assert C.class_counts(project) == {NFC: 1, "thé": 1}


def test_npz_string_labels(tmp_path):
    x = np.zeros((2, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([NFD, NFC]))
    project, report = _import(tmp_path, "npz", [tmp_path / "d.npz"])
    _said(report)
    assert C.class_counts(project) == {NFC: 2}


def test_masks_class_names_file(tmp_path):
    _png(tmp_path / "images" / "a.png")
    mask = np.zeros((20, 24), dtype=np.uint8)
    mask[2:6, 2:6] = 1
    (tmp_path / "masks").mkdir()
    Image.fromarray(mask).save(tmp_path / "masks" / "a.png")
    (tmp_path / "class_names.txt").write_text(f"_background_\n{NFD}\n", encoding="utf-8")
    project, report = _import(tmp_path, "masks", [tmp_path / "masks", tmp_path / "images"])
    _said(report)
    assert project.metadata()["mask_classes"] == {"1": NFC}


def test_data_package_labels_boxes_and_class_list(tmp_path):
    src = tmp_path / "src"
    _png(src / NFC / "a.png")
    with open_project(tmp_path / "first", create=True) as first:
        run_job(import_job(first, "imagefolder", [src]))
        run_job(export_job(first, "datapackage", tmp_path / "pkg"))
    # a package written elsewhere: its label and class list decomposed, its checksum dropped
    items = tmp_path / "pkg" / "items.csv"
    rows = list(csv.reader(items.open(encoding="utf-8", newline="")))
    rows[1][rows[0].index("label")] = NFD
    with items.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    descriptor = json.loads((tmp_path / "pkg" / "datapackage.json").read_text())
    for resource in descriptor["resources"]:
        if resource["path"] == "items.csv":
            resource.pop("hash", None)
            resource.pop("bytes", None)
    descriptor.setdefault("qbi_desktop_project", {"version": 1})["classes"] = [NFD]
    (tmp_path / "pkg" / "datapackage.json").write_text(json.dumps(descriptor))
    project, report = _import(tmp_path, "datapackage", [tmp_path / "pkg"])
    assert "datapackage.json: 1 class name(s)" in _said(report)
    assert C.class_counts(project) == {NFC: 1} and C.class_list(project) == [NFC]


def test_imagefolder_sheet_and_coco_say_it_the_same_way(tmp_path):
    folder = tmp_path / "folder"
    _png(folder / NFD / "a.png")
    _, report = _import(tmp_path, "imagefolder", [folder])
    _said(report)

    sheet = tmp_path / "s"
    _png(sheet / "b.png", 1)
    (sheet / "s.csv").write_text(f"image,label\nb.png,{NFD}\n", encoding="utf-8")
    with open_project(tmp_path / "p2", create=True) as project:
        _said(run_job(import_job(project, "sheet", [sheet / "s.csv"])))

    coco = tmp_path / "coco"
    _png(coco / "c.png", 2)
    doc = {
        "images": [{"id": 1, "file_name": "c.png", "width": 24, "height": 20}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "iscrowd": 0}
        ],
        "categories": [{"id": 1, "name": NFD}],
    }
    (coco / "c.json").write_text(json.dumps(doc), encoding="utf-8")
    with open_project(tmp_path / "p3", create=True) as project:
        note = _said(run_job(import_job(project, "coco", [coco / "c.json"])))
        assert note.startswith("c.json: ")


def test_names_already_composed_bring_no_note(tmp_path):
    src = tmp_path / "yolo"
    _png(src / "images" / "a.png")
    (src / "classes.txt").write_text(f"{NFC}\n", encoding="utf-8")
    _, report = _import(tmp_path, "yolo", [src])
    assert not any("NFC" in w for w in report.warnings)
