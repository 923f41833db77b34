"""COCO files as other tools write them, read the way pycocotools reads them: labelme2coco's
output (images in a sub-folder, 0-based ids, a ``_background_`` category 0 nobody uses,
multi-part polygons), datumaro's instances file (CVAT-style ``attributes``, an uncompressed
crowd RLE) and its Roboflow-style ``_annotations.coco.json`` (boxes only, a crowd given only
as a box), Label Studio's export (0-based categories, a used category 0, image files without
an extension in ``images/``, classes differing only in case, an image listed once per
annotation result). What a project cannot hold is
named in the import report, not dropped silently, and each file comes back from our export as
it went in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qbi_desktop.cli import main as cli_main
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.cocofiles import with_blank_images
except ImportError:  # run from inside tests/
    from cocofiles import with_blank_images

coco_api = pytest.importorskip("pycocotools.coco")

OTHER_TOOLS = [
    "labelme2coco_annotations.json",
    "datumaro_instances_val.json",
    "datumaro_roboflow_val.json",
    "labelstudio_polygons.json",
    "labelstudio_rectangles.json",
]


def _boxes(boxes) -> list[tuple]:
    return sorted((b.label, b.x, b.y, b.w, b.h) for b in boxes)


def _by_name(project) -> dict[str, tuple[list[tuple], np.ndarray | None]]:
    return {
        r["name"]: (_boxes(project.boxes(r["id"])), project.mask(r["id"]))
        for r in project.query(limit=None)
    }


@pytest.mark.parametrize("name", OTHER_TOOLS)
def test_files_of_other_tools_arrive_as_pycocotools_reads_them(tmp_path, name):
    path = with_blank_images(name, tmp_path / "src")
    coco = coco_api.COCO(str(path))
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "coco", [path]))
        got = _by_name(p)
    assert len(got) == len(coco.dataset["images"])
    for image in coco.dataset["images"]:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        expected = np.zeros((image["height"], image["width"]), np.uint32)
        for ann in anns:
            if ann["segmentation"]:
                # category 0 (Label Studio counts from 0) takes the value after the last id
                value = ann["category_id"] or max(coco.cats) + 1
                expected[coco.annToMask(ann) == 1] = value
        boxes, mask = got[Path(image["file_name"]).name]
        if mask is None:
            assert not expected.any(), image["file_name"]
        else:
            assert np.array_equal(np.asarray(mask, np.uint32), expected), image["file_name"]
        # every ordinary annotation is a box of its class, at the file's bbox
        assert boxes == sorted(
            (coco.cats[a["category_id"]]["name"], *map(float, a["bbox"]))
            for a in anns
            if not a["iscrowd"]
        ), image["file_name"]


@pytest.mark.parametrize("name", OTHER_TOOLS)
def test_files_of_other_tools_come_back_from_our_export_as_they_went_in(tmp_path, name):
    path = with_blank_images(name, tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "coco", [path]))
        run_job(export_job(p, "coco", tmp_path / "out"))
        before = _by_name(p)
    (exported,) = (tmp_path / "out").glob("*/annotations.json")
    coco = coco_api.COCO(str(exported))
    for ann in coco.loadAnns(coco.getAnnIds()):
        x, y, w, h = ann["bbox"]
        # a box's area is its own (fractional corners), a region's its pixels
        if ann.get("qbi_box_only"):  # a box without a mask: no mask is invented for it
            assert ann["segmentation"] == [] and ann["area"] == pytest.approx(w * h)
        else:
            assert ann["area"] == coco.annToMask(ann).sum() and coco.annToMask(ann).any()
    with open_project(tmp_path / "q", create=True) as q:
        run_job(import_job(q, "coco", [exported]))
        after = _by_name(q)
    assert set(after) == set(before)
    for file_name, (boxes, mask) in before.items():
        assert after[file_name][0] == boxes, file_name
        if mask is None:
            assert after[file_name][1] is None, file_name
        else:
            assert np.array_equal(after[file_name][1], mask), file_name


def test_an_unused_category_0_is_not_said_to_be_painted(tmp_path):
    """labelme2coco writes ``_background_`` as category 0 and never uses it: no mask value
    is moved for it, so the report says nothing about one."""
    path = with_blank_images("labelme2coco_annotations.json", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [path]))
        classes = p.metadata()["mask_classes"]
    assert not [n for n in report.warnings if "category 0" in n]
    assert "_background_" not in classes.values()
    assert sorted(classes.values()) == ["bottle", "bus", "car", "chair", "person", "sofa"]


def test_a_used_category_0_is_painted_with_a_free_value_and_said(tmp_path):
    src = tmp_path / "src"
    path = with_blank_images("labelme2coco_annotations.json", src)
    doc = json.loads(path.read_text())
    doc["annotations"][2]["category_id"] = 0  # the bottle as labelme's _background_
    path.write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [path]))
        assert p.metadata()["mask_classes"]["21"] == "_background_"
    assert any("category 0 ('_background_') painted as mask value 21" in n for n in report.warnings)


def test_a_crowd_given_only_as_a_box_is_named_in_the_report(tmp_path):
    """Roboflow-style boxes only: a crowd (``iscrowd`` 1) with an empty segmentation has no
    region to paint and cannot be an ordinary box; the report names it."""
    path = with_blank_images("datumaro_roboflow_val.json", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [path]))
        (row,) = p.query(limit=None)
        assert _boxes(p.boxes(row["id"])) == [("label_0", 0.0, 0.0, 1.0, 2.0)]
        assert p.mask(row["id"]) is None
    assert any(
        "1 crowd annotation(s) (iscrowd 1) with a bbox but no segmentation left out: "
        "annotations[1]" in note
        for note in report.warnings
    ), report.warnings


def test_annotation_attributes_are_named_as_left_out(tmp_path, capsys):
    """CVAT and datumaro write ``attributes`` on annotations; a project's boxes and masks
    have no place for them, so the import report (and the command line) names them."""
    path = with_blank_images("datumaro_instances_val.json", tmp_path / "src")
    assert cli_main(["import", "--project", str(tmp_path / "p"), "--kind", "coco", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "datumaro_instances_val.json: attributes of 1 annotation(s) left out (the project "
        "keeps no attributes): 'x', 'y'" in out
    ), out


def test_a_rotated_box_is_said_to_come_in_unrotated(tmp_path):
    """CVAT keeps a rotated box's angle as ``attributes.rotation`` beside the unrotated
    ``bbox``; the box comes in unrotated and the report says which ones."""
    path = with_blank_images("datumaro_instances_val.json", tmp_path / "src")
    doc = json.loads(path.read_text())
    doc["annotations"][0]["attributes"] = {"occluded": False, "rotation": 30.0}
    path.write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [path]))
        (row,) = p.query(limit=None)
        assert _boxes(p.boxes(row["id"])) == [("a", 0.0, 0.0, 1.0, 2.0)]
    assert any(
        "1 box(es) rotated by attributes.rotation came in unrotated (the project's boxes are "
        "upright): annotations[0]" in note
        for note in report.warnings
    ), report.warnings


def test_an_image_whose_name_differs_only_in_case_is_named(tmp_path):
    """A file written on Windows or macOS may say ``b.jpg`` for ``b.JPG``; on a
    case-sensitive file system the refusal names the file that differs only in case."""
    src = tmp_path / "src"
    path = with_blank_images("datumaro_instances_val.json", src)
    (src / "b.jpg").rename(src / "b.JPG")
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(p, "coco", [path]))
    assert "images[0].file_name: file 'b.jpg' not found" in str(caught.value)
    assert "'b.JPG' differs only in letter case" in str(caught.value)


def test_keypoints_are_named_as_left_out(tmp_path):
    """datumaro's person_keypoints file: boxes and regions arrive, the keypoints (which a
    project cannot hold) are named in the report."""
    path = with_blank_images("datumaro_person_keypoints_val.json", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [path]))
        (row,) = p.query(limit=None)
        assert _boxes(p.boxes(row["id"])) == [("a", 0.0, 0.0, 1.0, 2.0)]
    assert any(
        "datumaro_person_keypoints_val.json: keypoints of 2 annotation(s) left out (the "
        "project keeps no keypoints)" in note
        for note in report.warnings
    ), report.warnings


def test_a_captions_file_is_refused_by_name(tmp_path):
    path = with_blank_images("datumaro_captions_val.json", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(p, "coco", [path]))
        assert len(p) == 0
    assert "annotations[0]: has 'caption': this is a COCO captions file" in str(caught.value)
    assert "unknown category" not in str(caught.value)


def test_image_level_labels_are_refused_saying_what_they_are(tmp_path):
    """datumaro's coco_labels file: annotations with a category and nothing else (a class of
    the whole image); the refusal says that, not only that a bbox is missing."""
    path = with_blank_images("datumaro_labels_val.json", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(p, "coco", [path]))
    assert (
        "annotations[0]: neither bbox nor segmentation (an image-level label, which COCO "
        "import does not read" in str(caught.value)
    ), str(caught.value)


# Label Studio's COCO export lists an image once per annotation result: one file, several
# image ids. labelstudio_listed_twice.json is labelstudio_rectangles.json so changed
# (tests/data/coco/README.md).


def _boxes_by_file(coco) -> dict[str, list[tuple]]:
    """Each file's boxes as pycocotools reads them, whatever image entry they hang on."""
    found: dict[str, list[tuple]] = {}
    for ann in coco.loadAnns(coco.getAnnIds()):
        if ann.get("qbi_mask_region"):  # our export's class-mask region: no box
            continue
        name = Path(coco.imgs[ann["image_id"]]["file_name"]).name
        box = (coco.cats[ann["category_id"]]["name"], *map(float, ann["bbox"]))
        found.setdefault(name, []).append(box)
    return {name: sorted(boxes) for name, boxes in found.items()}


def test_an_image_listed_once_per_annotation_is_one_item_with_all_its_annotations(tmp_path):
    original = coco_api.COCO(str(with_blank_images("labelstudio_rectangles.json", tmp_path / "o")))
    path = with_blank_images("labelstudio_listed_twice.json", tmp_path / "src")
    listed = coco_api.COCO(str(path))
    assert len(listed.imgs) == 5 and len(listed.getAnnIds(imgIds=[0])) == 20
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [path]))
        got = _by_name(p)
        run_job(export_job(p, "coco", tmp_path / "out"))
    # every annotation of the original export reaches the one item of its file
    assert sorted(got) == ["image1", "image2", "image3"]
    assert {name: boxes for name, (boxes, _) in got.items()} == _boxes_by_file(original)
    assert all(mask is None for _, mask in got.values())  # Label Studio's boxes: no regions
    assert any(
        "labelstudio_listed_twice.json: 3 image entries name 1 file(s) more than once" in note
        and "image1 (image ids 0, 3, 4 -> one item)" in note
        for note in report.warnings
    ), report.warnings
    # our export lists each file once, with all 25 annotations, as pycocotools reads them
    (exported,) = (tmp_path / "out").glob("*/annotations.json")
    back = coco_api.COCO(str(exported))
    assert len(back.imgs) == 3 and len(back.getAnnIds()) == 25
    assert _boxes_by_file(back) == _boxes_by_file(original)


def test_regions_of_entries_naming_one_file_are_merged_later_annotation_on_top(tmp_path):
    """Label Studio's polygon export with the image listed again (id 1) for a second result,
    a car overlapping the airplane, and a third polygon on the first entry over the car:
    overlaps follow the later annotation, as within one entry."""
    path = with_blank_images("labelstudio_polygons.json", tmp_path / "src")
    doc = json.loads(path.read_text())
    doc["images"].append(dict(doc["images"][0], id=1))
    plane = doc["annotations"][0]
    for ann_id, image_id, category, dx in ((1, 1, 1, -60.0), (2, 0, 0, -120.0)):
        polygon = [v + dx if i % 2 == 0 else v for i, v in enumerate(plane["segmentation"][0])]
        x, y, w, h = plane["bbox"]
        doc["annotations"].append(
            dict(
                plane,
                id=ann_id,
                image_id=image_id,
                category_id=category,
                segmentation=[polygon],
                bbox=[x + dx, y, w, h],
            )
        )
    path.write_text(json.dumps(doc))
    coco = coco_api.COCO(str(path))
    expected = np.zeros((426, 640), np.uint32)
    for ann in coco.loadAnns(coco.getAnnIds()):  # in file order, whatever the entry
        expected[coco.annToMask(ann) == 1] = ann["category_id"] or max(coco.cats) + 1
    assert {1, 2} <= set(np.unique(expected))  # the car is partly covered, partly on top
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "coco", [path]))
        ((boxes, mask),) = _by_name(p).values()
        run_job(export_job(p, "coco", tmp_path / "out"))
    assert np.array_equal(np.asarray(mask, np.uint32), expected)
    assert boxes == _boxes_by_file(coco)["image2"]
    (exported,) = (tmp_path / "out").glob("*/annotations.json")
    back = coco_api.COCO(str(exported))
    assert len(back.imgs) == 1 and _boxes_by_file(back)["image2"] == boxes
    # each class's pixels come back, by name (ids are the exporter's); a box carries the part
    # of its class's region inside it, the rest is a region of its own
    value = {"Airplane": max(coco.cats) + 1, "Car": 1}
    painted = np.zeros_like(expected)
    for ann in back.loadAnns(back.getAnnIds()):
        if not ann.get("qbi_box_only"):
            painted[back.annToMask(ann) == 1] = value[back.cats[ann["category_id"]]["name"]]
    assert np.array_equal(painted, expected)


def test_entries_naming_one_file_at_different_sizes_are_refused_naming_both(tmp_path):
    path = with_blank_images("labelstudio_listed_twice.json", tmp_path / "src")
    doc = json.loads(path.read_text())
    doc["images"][3]["width"] = 600
    path.write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(p, "coco", [path]))
        assert len(p) == 0
    assert (
        "images[3].file_name: 'images/image1' (600x768 pixels) is the same file as images[0] "
        "(597x768 pixels)" in str(caught.value)
    ), str(caught.value)
