"""One class-name rule (catalog.classes.class_name_problem: no empty name, no control character or
line separator, at most 200 characters) wherever a class name enters the catalog. COCO, NPZ, IDX
and rename kept it; labelme (shape labels, the item's flag), sheets (the label column) and
ImageFolder (class folders) let such names in, and so did every edit through the catalog's
writer (a label, a box, a mask class). Each refusal names the file and the record; nothing is
written. Real files, real catalogs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core.catalog import Box, ImportRejected, NewItem, open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

BAD = {
    "newline": "car\nbus",
    "escape": "car\x1b[31m",
    "line separator": "car\u2028bus",
    "too long": "c" * 201,
    "blank": "   ",
}


def _png(path, h=12, w=16):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((h, w), np.uint8)).save(path)


def _project(tmp_path):
    return open_project(tmp_path / "proj", create=True)


def _rejected(project, kind, sources, **options):
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(project, kind, sources, **options))
    assert len(project) == 0  # nothing written
    return "\n".join(str(p) for p in caught.value.problems)


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_labelme_shape_labels_follow_the_rule(tmp_path, bad):
    folder = tmp_path / "lm"
    _png(folder / "a.png")
    doc = {
        "imagePath": "a.png",
        "imageWidth": 16,
        "imageHeight": 12,
        "flags": {},
        "shapes": [
            {"label": "car", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"},
            {"label": bad, "points": [[2, 2], [9, 2], [9, 9]], "shape_type": "polygon"},
        ],
    }
    (folder / "a.json").write_text(json.dumps(doc))
    said = _rejected(_project(tmp_path), "labelme", [folder])
    assert "a.json" in said and "shapes[1].label" in said, said


def test_labelme_box_label_and_item_flag_follow_the_rule(tmp_path):
    folder = tmp_path / "lm"
    _png(folder / "a.png")
    _png(folder / "b.png")
    box = {"label": "car\tbus", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"}
    (folder / "a.json").write_text(json.dumps({"imagePath": "a.png", "flags": {}, "shapes": [box]}))
    (folder / "b.json").write_text(
        json.dumps({"imagePath": "b.png", "flags": {"x\x00y": True, "ok": False}, "shapes": []})
    )
    said = _rejected(_project(tmp_path), "labelme", [folder])
    assert "a.json: shapes[0].label" in said and "control character" in said, said
    assert "b.json: flags[" in said and "the item's class" in said, said


@pytest.mark.parametrize("bad", ["car\x1b[31m", "c" * 201], ids=["escape", "too long"])
def test_sheet_label_column_follows_the_rule(tmp_path, bad):
    folder = tmp_path / "sheet"
    _png(folder / "a.png")
    _png(folder / "b.png")
    (folder / "targets.csv").write_text(f"image,depth,label\na.png,1.5,car\nb.png,2,{bad}\n")
    said = _rejected(_project(tmp_path), "sheet", [folder / "targets.csv"])
    assert "targets.csv, row 3" in said and "column 'label'" in said, said


def test_sheet_label_with_a_quoted_line_break_is_refused(tmp_path):
    folder = tmp_path / "sheet"
    _png(folder / "a.png")
    (folder / "t.csv").write_text('image,label\na.png,"car\nbus"\n')
    said = _rejected(_project(tmp_path), "sheet", [folder / "t.csv"])
    assert "t.csv, row 2" in said and "control character" in said, said


@pytest.mark.parametrize(
    ("folder_name", "why"),
    [("car%0Abus", "control character"), ("c" * 201, "more than the 200")],
    ids=["percent-encoded newline", "too long"],
)
def test_imagefolder_class_folders_follow_the_rule(tmp_path, folder_name, why):
    root = tmp_path / "images"
    _png(root / "cat" / "a.png")
    _png(root / folder_name / "b.png")
    said = _rejected(_project(tmp_path), "imagefolder", [root])
    assert folder_name[:30] in said and "class folder" in said and why in said, said


def test_every_edit_through_the_catalog_writer_follows_the_rule(tmp_path):
    """The last guard: whatever code path writes a label, a box or a mask class (the Browser's
    keys and picker, the labels and boxes commands, the Annotate dock's label names, merges,
    augmentation) goes through the writer, which refuses such a name naming the item."""
    image = tmp_path / "a.npy"
    np.save(image, np.zeros((8, 8), np.uint8))
    with _project(tmp_path) as project:
        with pytest.raises(UserFacingError, match=r"item 'a'.*control character"):
            with project.transaction() as tx:
                tx.add_items([NewItem(name="a", hash="h", path=image, label="a\rb")])
        with pytest.raises(UserFacingError, match=r"item 'a'.*is empty"):
            with project.transaction() as tx:
                tx.add_items([NewItem(name="a", hash="h", path=image, boxes=[Box("", 1, 1, 2, 2)])])
        assert len(project) == 0
        with project.transaction() as tx:
            (item,) = tx.add_items([NewItem(name="a", hash="h", path=image, label="cat")])
        with pytest.raises(UserFacingError, match=rf"item\(s\) {item}.*control character"):
            project.set_label([item], "cat\x07", "ada")
        with pytest.raises(UserFacingError, match=rf"box 1 of item {item}.*more than the 200"):
            project.set_boxes(item, [Box("cat", 1, 1, 2, 2), Box("d" * 300, 1, 1, 2, 2)], "ada")
        with pytest.raises(UserFacingError, match=r"mask class 2.*control character"):
            project.set_metadata(mask_classes={"1": "spot", "2": "dust\n"})
        assert project.get(item)["label"] == "cat" and project.boxes(item) == []
        assert "mask_classes" not in project.metadata()
