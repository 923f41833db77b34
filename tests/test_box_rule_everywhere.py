"""One rule for a box's minimum at every entry (``formats.common.box_problem``): a box needs a
width and a height of more than 0. COCO, YOLO, labelme and Data Package imports refuse a box
without an area naming the file and the record, as ``boxes --add`` refuses it; they once took
0x0 boxes in silently while ``boxes --add`` said "the importers refuse it". Real files on disk,
the real importers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from qbi_desktop.core.annotation.boxes import BoxError, edit_boxes
from qbi_desktop.core.catalog import Box, ImportRejected, open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.formats.common import file_item, scan_image
from qbi_desktop.core.jobs import run_job


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (40, 30)).save(path)
    return path


def _yolo(root: Path) -> tuple[Path, str, str]:
    _image(root / "images/a.png")
    (root / "labels").mkdir()
    (root / "labels/a.txt").write_text("0 0.5 0.5 0.2 0.1\n0 0.5 0.5 0 0.1\n")
    (root / "data.yaml").write_text("names: [cell]\n")
    return root, "a.txt", "line 2"


def _coco(root: Path) -> tuple[Path, str, str]:
    _image(root / "a.png")
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25},
            {"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 0], "area": 0},
        ],
        "categories": [{"id": 1, "name": "cell"}],
    }
    (root / "ann.json").write_text(json.dumps(doc))
    return root / "ann.json", "ann.json", "annotations[1].bbox"


def _labelme(root: Path) -> tuple[Path, str, str]:
    _image(root / "a.png")
    shapes = [
        {"label": "cell", "points": [[1, 1], [6, 6]], "shape_type": "rectangle"},
        {"label": "cell", "points": [[3, 3], [3, 9]], "shape_type": "rectangle"},
    ]
    doc = {
        "version": "5.4.1",
        "flags": {},
        "shapes": [{**s, "group_id": None, "flags": {}} for s in shapes],
        "imagePath": "a.png",
        "imageData": None,
        "imageHeight": 30,
        "imageWidth": 40,
    }
    (root / "a.json").write_text(json.dumps(doc))
    return root, "a.json", "shapes[1]"


@pytest.mark.parametrize(
    ("kind", "make"), [("yolo", _yolo), ("coco", _coco), ("labelme", _labelme)]
)
def test_an_import_refuses_a_box_without_area_naming_file_and_record(tmp_path, kind, make):
    source, name, record = make(tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(project, kind, [source]))
        assert project.db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    (problem,) = caught.value.problems
    assert problem.file.endswith(name)
    assert record in problem.reason
    assert "a width and a height of more than 0" in problem.reason


def test_a_data_package_box_without_area_is_refused_as_boxes_add_refuses_it(tmp_path):
    """A project that holds a 0x0 box (written before this rule) exports it; importing the
    package refuses it, with the same words ``boxes --add`` uses."""
    src = tmp_path / "src"
    with open_project(src, create=True) as project:
        image = _image(tmp_path / "img/a.png")
        with project.transaction() as tx:
            (item,) = tx.add_items([file_item(image, scan_image(image))])
            tx.set_boxes(item, [Box("cell", 1, 1, 5, 5), Box("cell", 2, 2, 0, 0)], None)
        run_job(export_job(project, "datapackage", tmp_path / "dp"))
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(project, "datapackage", [tmp_path / "dp"]))
    (problem,) = caught.value.problems
    assert problem.file.endswith("items.csv") and problem.row == 2
    assert "boxes[1]" in problem.reason
    assert "a width and a height of more than 0" in problem.reason
    with open_project(src) as project:
        with pytest.raises(BoxError, match="a width and a height of more than 0"):
            edit_boxes(project, item, [Box("cell", 3, 3, 0, 4)])
