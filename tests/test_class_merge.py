"""One class name, one mask value across imports: a second import's masks are renumbered to the
project's values of its class names, with a note, instead of a second value for the same name."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.formats.classnames import merge_classes
from qbi_desktop.core.formats.packed import PackedMask
from qbi_desktop.core.jobs import run_job


def test_same_name_takes_the_project_value_and_a_taken_value_moves_to_a_free_one():
    merge = merge_classes({"2": "car", "3": "dog"}, {"2": "truck", "7": "car", "9": "bus"})
    assert merge.classes == {"2": "car", "3": "dog", "9": "bus", "10": "truck"}
    assert merge.renumber == {7: 2, 2: 10}
    notes = "\n".join(merge.notes)
    assert "'car' mask value 7 renumbered to 2" in notes
    assert "'truck' mask value 2 renumbered to 10 (value 2 is 'car' in the project)" in notes
    # all values move at once: 7 -> 2 does not then become 10
    mask = np.array([[7, 2, 9, 0]], np.uint8)
    assert merge.apply(mask).tolist() == [[2, 10, 9, 0]]
    packed = merge.apply(PackedMask(mask))
    assert isinstance(packed, PackedMask) and np.asarray(packed).tolist() == [[2, 10, 9, 0]]


def test_two_values_of_one_name_in_a_file_become_one_and_nothing_moves_when_all_agree():
    merge = merge_classes({}, {"3": "car", "5": "car"})
    assert merge.classes == {"3": "car"} and merge.renumber == {5: 3}
    same = merge_classes({"1": "spot"}, {"1": "spot", "2": "crack"})
    assert same.renumber == {} and same.notes == []
    mask = np.ones((2, 2), np.uint8)
    assert same.apply(mask) is mask


def test_a_value_past_the_mask_type_widens_it():
    merge = merge_classes({"255": "edge"}, {"255": "hole"})
    assert merge.renumber == {255: 256}
    assert merge.apply(np.array([[255]], np.uint8)).tolist() == [[256]]


def _project_with_masks(root, classes, masks, images):
    """A project of images with class masks and the mask classes ``classes``."""
    project = open_project(root / "p", create=True)
    for k, mask in enumerate(masks):
        Image.fromarray(np.full(mask.shape, 40 * k, np.uint8)).save(images / f"im{k}.png")
    run_job(import_job(project, "imagefolder", [images.parent]))
    for item_id, mask in zip(sorted(project.ids()), masks, strict=True):
        project.set_mask(item_id, mask)
    project.set_metadata(mask_classes=classes)
    return project


def test_datapackage_into_a_project_naming_car_otherwise_renumbers_its_masks(tmp_path):
    # the package: car = 1, cat = 2; the project: dog = 1, car = 2 (as a labelme import made it)
    (tmp_path / "a" / "src" / "x").mkdir(parents=True)
    mask = np.zeros((6, 8), np.uint8)
    mask[1:3, 1:3], mask[4:6, 5:8] = 1, 2
    source = _project_with_masks(
        tmp_path / "a", {"1": "car", "2": "cat"}, [mask], tmp_path / "a" / "src" / "x"
    )
    run_job(export_job(source, "datapackage", tmp_path / "pkg"))
    (tmp_path / "b" / "src" / "y").mkdir(parents=True)
    theirs = np.zeros((4, 4), np.uint8)
    theirs[0, 0], theirs[1, 1] = 1, 2
    project = _project_with_masks(
        tmp_path / "b", {"1": "dog", "2": "car"}, [theirs], tmp_path / "b" / "src" / "y"
    )
    report = run_job(import_job(project, "datapackage", [tmp_path / "pkg"]))
    assert project.metadata()["mask_classes"] == {"1": "dog", "2": "car", "3": "cat"}
    [new_id] = report.ids
    expected = np.where(mask == 1, 2, np.where(mask == 2, 3, 0))
    assert np.array_equal(project.mask(new_id), expected)
    notes = "\n".join(report.warnings)
    assert "'car' mask value 1 renumbered to 2" in notes and "'cat' mask value 2" in notes


@pytest.mark.parametrize("second", ["coco"])
def test_labelme_car_then_coco_car_is_one_class(tmp_path, second):
    """labelme gives car the value 2 (after dog); a COCO file says car is category 7: one car."""
    import json

    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((20, 20), np.uint8)).save(src / name)
    shape = {"shape_type": "polygon", "flags": {}, "group_id": None, "description": ""}
    labelme = {
        "version": "5.5.0",
        "flags": {},
        "imagePath": "a.png",
        "imageData": None,
        "imageHeight": 20,
        "imageWidth": 20,
        "shapes": [
            {**shape, "label": "dog", "points": [[1, 1], [5, 1], [5, 5], [1, 5]]},
            {**shape, "label": "car", "points": [[10, 10], [15, 10], [15, 15], [10, 15]]},
        ],
    }
    (src / "a.json").write_text(json.dumps(labelme))
    coco = {
        "images": [{"id": 1, "file_name": "b.png", "width": 20, "height": 20}],
        "categories": [{"id": 7, "name": "car"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 7,
                "bbox": [2, 2, 6, 6],
                "area": 36,
                "iscrowd": 0,
                "segmentation": [[2, 2, 8, 2, 8, 8, 2, 8]],
            }
        ],
    }
    (src / "b_coco.json").write_text(json.dumps(coco))
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "labelme", [src / "a.json"]))
    car = {v: k for k, v in project.metadata()["mask_classes"].items()}["car"]
    report = run_job(import_job(project, second, [src / "b_coco.json"]))
    classes = project.metadata()["mask_classes"]
    assert sorted(classes.values()).count("car") == 1
    [item] = report.ids
    assert set(np.unique(project.mask(item))) == {0, int(car)}
    assert f"renumbered to {car}" in str(report)
