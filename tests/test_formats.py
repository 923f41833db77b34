"""Import/export of dataset conventions: image folders, sheets, masks, COCO, labelme and
simulated objects: round trips and bad input (MNIST IDX, NPZ, Data Package validity and the
CLI: test_formats_arrays.py)."""

from __future__ import annotations

import base64
import io
import json
import sqlite3

import numpy as np
import pytest
from formats_roundtrip_helpers import (
    coco_source,
    image_of,
    imagefolder,
    new_project,
    save_image,
    state_of,
)
from PIL import Image

from qbi_desktop.core.catalog import ImportRejected, open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.formats.coco import counts_to_rle_string, rle_encode, rle_string_to_counts
from qbi_desktop.core.jobs import run_job


def test_imagefolder_round_trip_with_splits(tmp_path):
    p = new_project(tmp_path)
    report = run_job(import_job(p, "imagefolder", [imagefolder(tmp_path / "src")]))
    assert report.added == 6
    assert p.count({"label": "dog", "split": "train"}) == 2
    before = state_of(p)
    run_job(export_job(p, "imagefolder", tmp_path / "out"))
    assert (tmp_path / "out" / "test" / "cat" / "cat0.png").is_file()
    q = new_project(tmp_path, "q")
    run_job(import_job(q, "imagefolder", [tmp_path / "out"]))
    assert state_of(q) == before
    # Importing the same folder again adds nothing.
    assert run_job(import_job(p, "imagefolder", [tmp_path / "src"])).added == 0


def _sheet_project(tmp_path):
    src = tmp_path / "sheet"
    for k in range(4):
        save_image(src / f"im{k}.png", image_of(k))
    (src / "targets.csv").write_text(
        "image,diameter,mass\nim0.png,1.5,10\nim1.png,2.5,\nim2.png,3.25,30\nim3.png,-4,40\n"
    )
    p = new_project(tmp_path)
    run_job(import_job(p, "sheet", [src / "targets.csv"]))
    return p


def test_sheet_round_trip_csv_and_xlsx(tmp_path):
    p = _sheet_project(tmp_path)
    state = state_of(p)
    assert state["im1.png"][2] == {"diameter": 2.5}  # empty cell = missing target
    assert state["im2.png"][2] == {"diameter": 3.25, "mass": 30.0}
    p.set_split([1, 2], "train")
    state = state_of(p)
    run_job(export_job(p, "sheet", tmp_path / "out"))
    q = new_project(tmp_path, "q")
    run_job(import_job(q, "sheet", [tmp_path / "out" / "targets.csv"]))
    assert state_of(q) == state
    pytest.importorskip("openpyxl")
    run_job(export_job(p, "sheet", tmp_path / "outx", xlsx=True))
    r = new_project(tmp_path, "r")
    run_job(import_job(r, "sheet", [tmp_path / "outx" / "targets.xlsx"]))
    assert state_of(r) == state


def test_sheet_updates_targets_of_items_already_imported(tmp_path):
    p = _sheet_project(tmp_path)
    (tmp_path / "sheet" / "more.csv").write_text("image;width\nim0.png;7\n")
    report = run_job(import_job(p, "sheet", [tmp_path / "sheet" / "more.csv"]))
    assert (report.added, report.updated) == (0, 1)
    assert state_of(p)["im0.png"][2] == {"diameter": 1.5, "mass": 10.0, "width": 7.0}


def test_bad_sheet_is_refused_with_one_report_per_problem(tmp_path):
    p = _sheet_project(tmp_path)
    before = state_of(p)
    (tmp_path / "sheet" / "bad.csv").write_text(
        "image,diameter\nim0.png,1\nmissing.png,2\nim0.png,3\nim1.png,big\n"
    )
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(p, "sheet", [tmp_path / "sheet" / "bad.csv"]))
    problems = {(pr.row, pr.reason.split(" ")[0]) for pr in caught.value.problems}
    assert {r for r, _ in problems} == {3, 4, 5}
    text = str(caught.value)
    assert "missing.png" in text and "duplicate" in text and "'big' is not a number" in text
    assert state_of(p) == before
    # a row with two problems gets both reported, not one per attempt
    (tmp_path / "sheet" / "twice.csv").write_text("image,diameter\nim0.png,1\nim0.png,abc\n")
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(p, "sheet", [tmp_path / "sheet" / "twice.csv"]))
    reasons = sorted(pr.reason for pr in caught.value.problems if pr.row == 3)
    assert len(reasons) == 2
    assert reasons[0].startswith("column 'diameter': 'abc' is not a number")
    assert reasons[1].startswith("duplicate image name 'im0.png'")


def test_masks_round_trip_and_mismatch_refused(tmp_path):
    src = tmp_path / "src"
    for k in range(3):
        save_image(src / "images" / f"cell{k}.png", image_of(k))
        mask = np.zeros((20, 24), np.uint8)
        mask[k : k + 5, 2:9] = k + 1
        if k < 2:
            save_image(src / "masks" / f"cell{k}_mask.png", mask)
    p = new_project(tmp_path)
    report = run_job(import_job(p, "masks", [src / "masks", src / "images"]))
    assert report.added == 3 and p.count({"has_mask": True}) == 2
    state = state_of(p)
    run_job(export_job(p, "masks", tmp_path / "out"))
    q = new_project(tmp_path, "q")
    run_job(import_job(q, "masks", [tmp_path / "out" / "masks", tmp_path / "out" / "images"]))
    assert state_of(q) == state
    # A mask of the wrong size, and one with no image, are reported; nothing changes.
    save_image(tmp_path / "bad" / "cell2.png", np.zeros((5, 5), np.uint8))
    save_image(tmp_path / "bad" / "ghost.png", np.zeros((20, 24), np.uint8))
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(p, "masks", [tmp_path / "bad"]))
    assert len(caught.value.problems) == 2 and "5x5" in str(caught.value)
    assert state_of(p) == state


def test_coco_round_trip_boxes_and_masks(tmp_path):
    p = new_project(tmp_path)
    run_job(import_job(p, "coco", [coco_source(tmp_path)]))
    state = state_of(p)
    assert state["a.png"][4] == [("spot", 2.0, 3.0, 10.0, 5.0)]
    assert state["a.png"][3] is not None and np.asarray(state["a.png"][3])[5, 5] == 1
    assert p.metadata()["mask_classes"] == {"1": "spot"}
    run_job(export_job(p, "coco", tmp_path / "out"))
    q = new_project(tmp_path, "q")
    run_job(import_job(q, "coco", [tmp_path / "out" / "unassigned" / "annotations.json"]))
    assert state_of(q) == state


def test_coco_bad_boxes_and_categories_refused(tmp_path):
    p = new_project(tmp_path)
    bad = [
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [35, 3, 10, 5], "iscrowd": 0},
        {"id": 4, "image_id": 1, "category_id": 9, "bbox": [1, 1, 2, 2], "iscrowd": 0},
        {"id": 5, "image_id": 7, "category_id": 1, "bbox": [1, 1, 2, 2], "iscrowd": 0},
    ]
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(p, "coco", [coco_source(tmp_path, bad)]))
    text = str(caught.value)
    assert "annotations[2]" in text and "outside" in text
    assert "annotations[3]" in text and "unknown category 9" in text
    assert "annotations[4]" in text and "unknown or unusable image 7" in text
    assert len(p) == 0


def test_coco_compressed_rle_matches_uncompressed():
    mask = np.zeros((13, 17), bool)
    mask[2:9, 3:5] = True
    mask[0, 0] = mask[12, 16] = True
    counts = rle_encode(mask)
    assert rle_string_to_counts(counts_to_rle_string(counts)) == counts
    # Known pycocotools encoding of counts [5, 3, 100, 2]: delta-coded from the third run.
    assert rle_string_to_counts(counts_to_rle_string([5, 3, 100, 2])) == [5, 3, 100, 2]
    assert counts_to_rle_string([0, 1]) == "01"


def _labelme_source(tmp_path, shapes):
    src = tmp_path / "lm"
    save_image(src / "x.png", image_of(3, (16, 20)))
    doc = {
        "shapes": shapes,
        "imagePath": "x.png",
        "imageHeight": 16,
        "imageWidth": 20,
        "flags": {"good": True, "bad": False},
    }
    (src / "x.json").write_text(json.dumps(doc))
    return src


def test_labelme_round_trip_rectangles_polygons_and_label(tmp_path):
    region = np.zeros((4, 5), np.uint8)
    region[1:3, 1:4] = 255
    buffer = io.BytesIO()
    Image.fromarray(region).save(buffer, format="PNG")
    shapes = [
        {"label": "box", "points": [[1, 2], [6, 9]], "shape_type": "rectangle"},
        {"label": "leaf", "points": [[2, 2], [9, 2], [9, 8], [2, 8]], "shape_type": "polygon"},
        {
            "label": "spot",
            "points": [[12, 10], [16, 13]],
            "shape_type": "mask",
            "mask": base64.b64encode(buffer.getvalue()).decode(),
        },
    ]
    p = new_project(tmp_path)
    run_job(import_job(p, "labelme", [_labelme_source(tmp_path, shapes)]))
    state = state_of(p)
    label, _split, _t, mask, boxes, _img = state["x.png"]
    assert label == "good" and boxes == [("box", 1.0, 2.0, 5.0, 7.0)]
    mask = np.asarray(mask)
    assert set(np.unique(mask)) == {0, 1, 2} and mask[11, 13] == 2 and mask[5, 5] == 1
    run_job(export_job(p, "labelme", tmp_path / "out"))
    q = new_project(tmp_path, "q")
    run_job(import_job(q, "labelme", [tmp_path / "out"]))
    assert state_of(q) == state
    assert q.metadata()["mask_classes"] == p.metadata()["mask_classes"]


def test_labelme_unsupported_shapes_refused(tmp_path):
    # line and point are labelme shapes (drawn as labelme draws them); these two are not
    shapes = [
        {"label": "edge", "points": [[1, 2], [6, 9]], "shape_type": "ellipse"},
        {"label": "dot", "points": [[1, 2]], "shape_type": "cuboid"},
        {"label": "ok", "points": [[1, 2], [6, 9]], "shape_type": "rectangle"},
    ]
    p = new_project(tmp_path)
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(p, "labelme", [_labelme_source(tmp_path, shapes)]))
    reasons = [pr.reason for pr in caught.value.problems]
    assert len(reasons) == 2 and "'ellipse'" in reasons[0] and "'cuboid'" in reasons[1]
    assert "shapes[0]" in reasons[0] and "shapes[1]" in reasons[1]
    assert len(p) == 0


def _objects_project(tmp_path, name="sim", count=3):
    """A simulated project whose masks are instance masks: one value per phantom object."""
    from qbi_desktop.core.catalog.simulated import simulate_into_project_job
    from qbi_desktop.core.simulate import SimulationParams

    p = new_project(tmp_path, name)
    params = SimulationParams(height=64, width=80, object_count=4, spot_rate_per_mpx=2000)
    run_job(simulate_into_project_job(p, count, seed=5, params=params, mask="objects"))
    return p


def _masks_by_stem(project):
    from pathlib import Path

    return {Path(r["name"]).stem: project.mask(r["id"]) for r in project.query(limit=None)}


def test_simulated_objects_export_to_coco_and_labelme_and_come_back_the_same(tmp_path):
    """Each phantom object is one COCO annotation / one labelme shape of class "object" with
    its own id, and the re-imported masks hold the same objects under the same ids."""
    p = _objects_project(tmp_path)
    assert p.metadata().get("mask_instances") == "object"
    assert "mask_classes" not in p.metadata()
    original = _masks_by_stem(p)
    objects = {stem: sorted(set(np.unique(m).tolist()) - {0}) for stem, m in original.items()}
    assert all(len(ids) >= 2 for ids in objects.values())  # several objects per image

    run_job(export_job(p, "coco", tmp_path / "coco"))
    doc = json.loads((tmp_path / "coco" / "unassigned" / "annotations.json").read_text())
    assert doc["categories"] == [{"id": 1, "name": "object", "supercategory": ""}]
    assert len(doc["annotations"]) == sum(len(ids) for ids in objects.values())
    assert all(a["iscrowd"] == 0 and a["category_id"] == 1 for a in doc["annotations"])
    run_job(export_job(p, "labelme", tmp_path / "labelme"))
    shapes = [
        shape
        for f in (tmp_path / "labelme").glob("*.json")
        for shape in json.loads(f.read_text())["shapes"]
    ]
    assert {s["label"] for s in shapes} == {"object"}
    assert len(shapes) == len(doc["annotations"])

    for kind, source in (
        ("coco", tmp_path / "coco" / "unassigned" / "annotations.json"),
        ("labelme", tmp_path / "labelme"),
    ):
        q = new_project(tmp_path, f"back-{kind}")
        run_job(import_job(q, kind, [source]))
        assert q.metadata().get("mask_instances") == "object", kind
        back = _masks_by_stem(q)
        assert back.keys() == original.keys()
        for stem, mask in original.items():
            np.testing.assert_array_equal(back[stem], mask, err_msg=f"{kind} {stem}")
        assert all(q.boxes(r["id"]) == [] for r in q.query(limit=None)), kind


def test_catalog_with_old_objects_mask_classes_is_migrated_and_exports(tmp_path):
    """Catalogs written before the fix say {"1..m": ...} in mask_classes; they open (migrated
    to mask_instances) and export to COCO and labelme instead of failing."""
    from qbi_desktop.core.formats.common import mask_class_names

    p = _objects_project(tmp_path, count=2)
    root = p.root
    p.close()
    db = sqlite3.connect(root / "catalog.sqlite", isolation_level=None)
    db.execute("DELETE FROM meta WHERE key = 'mask_instances'")
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('mask_classes', ?)",
        (json.dumps({"1..m": "phantom object (one id each)"}),),
    )
    db.execute("DROP INDEX targets_name_value_desc")
    db.execute("DROP TABLE IF EXISTS split_snapshots")  # what later schema versions added
    db.execute("DROP TABLE IF EXISTS opinions")
    db.execute("PRAGMA user_version = 1")
    assert mask_class_names(db) == {}  # the reader no longer fails on a range key
    db.close()

    p = open_project(root)
    assert p.metadata().get("mask_instances") == "object"
    assert "mask_classes" not in p.metadata()
    run_job(export_job(p, "coco", tmp_path / "coco"))
    run_job(export_job(p, "labelme", tmp_path / "labelme"))
    doc = json.loads((tmp_path / "coco" / "unassigned" / "annotations.json").read_text())
    assert {c["name"] for c in doc["categories"]} == {"object"}
    q = new_project(tmp_path, "q")
    run_job(import_job(q, "labelme", [tmp_path / "labelme"]))
    back, original = _masks_by_stem(q), _masks_by_stem(p)
    assert all(np.array_equal(back[k], original[k]) for k in original)


def test_instance_and_class_masks_are_not_mixed_in_one_project(tmp_path):
    """Simulating object masks into a spots project, or importing an instance COCO file into
    a project with class masks, is refused with the reason; nothing is written."""
    from qbi_desktop.core.catalog.simulated import simulate_into_project_job
    from qbi_desktop.core.simulate import SimulationParams

    p = _objects_project(tmp_path, count=1)
    run_job(export_job(p, "coco", tmp_path / "coco"))
    spots = new_project(tmp_path, "spots")
    small = SimulationParams(height=32, width=40)
    run_job(simulate_into_project_job(spots, 1, params=small, mask="spots"))
    assert spots.metadata()["mask_classes"] == {"1": "spot"}
    with pytest.raises(UserFacingError, match="class masks 1 = spot"):
        run_job(simulate_into_project_job(spots, 1, params=small, mask="objects"))
    with pytest.raises(ImportRejected, match="instance masks"):
        run_job(import_job(spots, "coco", [tmp_path / "coco" / "unassigned" / "annotations.json"]))
    assert len(spots) == 1 and "mask_instances" not in spots.metadata()
    # The same kind again is fine: more objects in the objects project.
    run_job(simulate_into_project_job(p, 1, seed=9, params=small, mask="objects"))
    assert len(p) == 2
