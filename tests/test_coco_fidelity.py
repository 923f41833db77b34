"""COCO as pycocotools reads it (issue 12): our import rasterises polygons pixel for pixel like
``frPyObjects`` + ``decode`` on real files from mmdetection, pycococreator and panopticapi;
our export loads in pycocotools (``annToMask`` on every annotation with a mask — a box alone has an
empty ``segmentation`` —, ``COCOeval`` bbox and segm with the export as perfect predictions: AP
1.000) and in torchvision's ``CocoDetection``; boxes
and class masks come back as they went out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.cli import main as cli_main
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.project import Box
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.cocofiles import coco_detection_class, with_blank_images
except ImportError:  # run from inside tests/
    from cocofiles import coco_detection_class, with_blank_images

mask_api = pytest.importorskip("pycocotools.mask")
coco_api = pytest.importorskip("pycocotools.coco")
cocoeval = pytest.importorskip("pycocotools.cocoeval")

REAL_FILES = [
    "mmdet_instances_val2017.json",
    "pycococreator_coco_example.json",
    "panopticapi_detection_format.json",
]


def _expected_masks(path: Path) -> dict[str, np.ndarray]:
    """Per image file: every annotation's pycocotools mask painted with its category id, in
    file order (what a class mask of the file is)."""
    coco = coco_api.COCO(str(path))
    out = {}
    for image in coco.dataset["images"]:
        mask = np.zeros((image["height"], image["width"]), np.uint32)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]])):
            mask[coco.annToMask(ann) == 1] = ann["category_id"]
        out[image["file_name"]] = mask
    return out


def _masks_by_name(project) -> dict[str, np.ndarray | None]:
    return {row["name"]: project.mask(row["id"]) for row in project.query(limit=None)}


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_files_import_pixel_for_pixel_as_pycocotools_decodes_them(tmp_path, name):
    path = with_blank_images(name, tmp_path / "src")
    expected = _expected_masks(path)
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "coco", [path]))
        got = _masks_by_name(p)
    assert set(got) == set(expected)
    for file_name, mask in expected.items():
        assert got[file_name] is not None, file_name
        differ = int((np.asarray(got[file_name], np.uint32) != mask).sum())
        assert differ == 0, f"{file_name}: {differ} pixels differ from pycocotools"


def _square_file(folder: Path, category_id: int = 1) -> Path:
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((80, 90), np.uint8)).save(folder / "a.png")
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 90, "height": 80}],
        "categories": [{"id": category_id, "name": "cell"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": category_id,
                "iscrowd": 0,
                "bbox": [10, 10, 50, 50],
                "area": 2500,
                "segmentation": [[10, 10, 60, 10, 60, 60, 10, 60]],
            }
        ],
    }
    path = folder / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def test_an_integer_50x50_square_stays_2500_pixels_and_exports_as_50x50(tmp_path):
    path = _square_file(tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "coco", [path]))
        (row,) = p.query(limit=None)
        mask = p.mask(row["id"])
        assert int((mask == 1).sum()) == 2500
        assert np.array_equal(np.argwhere(mask)[[0, -1]], [[10, 10], [59, 59]])
        run_job(export_job(p, "coco", tmp_path / "out"))
    doc = json.loads((tmp_path / "out" / "unassigned" / "annotations.json").read_text())
    (thing,) = doc["annotations"]  # the box and the square it frames: one object again
    assert thing["bbox"] == [10.0, 10.0, 50.0, 50.0] and thing["area"] == 2500
    assert not {"qbi_box_only", "qbi_mask_region"} & set(thing)


def test_category_ids_of_65536_and_more_are_kept_in_32_bit_masks(tmp_path):
    path = _square_file(tmp_path / "src", category_id=70_000)
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "coco", [path]))
        (row,) = p.query(limit=None)
        mask = p.mask(row["id"])
        assert mask.dtype == np.uint32 and int((mask == 70_000).sum()) == 2500
        assert p.metadata()["mask_classes"] == {"70000": "cell"}
        run_job(export_job(p, "coco", tmp_path / "out"))
    doc = json.loads((tmp_path / "out" / "unassigned" / "annotations.json").read_text())
    assert {c["id"]: c["name"] for c in doc["categories"]}[70_000] == "cell"
    assert any(a["category_id"] == 70_000 and a["area"] == 2500 for a in doc["annotations"])


def _detection_and_segmentation_project(tmp_path) -> Path:
    """Two items: boxes only (from mmdetection's boxes-only sample), and a class mask with two
    separate 'cell' regions, a 'spot' touching one of them, and a box."""
    src = with_blank_images("mmdet_coco_sample.json", tmp_path / "boxes")
    project = tmp_path / "p"
    with open_project(project, create=True) as p:
        run_job(import_job(p, "coco", [src]))
        image = tmp_path / "seg" / "seg.png"
        image.parent.mkdir()
        Image.fromarray(np.full((40, 60), 7, np.uint8)).save(image)
        plain = {"images": [{"id": 1, "file_name": "seg.png"}], "annotations": []}
        (image.parent / "seg.json").write_text(json.dumps(plain))
        run_job(import_job(p, "coco", [image.parent / "seg.json"]))
        seg = next(r["id"] for r in p.query(limit=None) if r["name"] == "seg.png")
        mask = np.zeros((40, 60), np.uint8)
        mask[2:10, 3:12] = 1  # cell
        mask[20:35, 30:50] = 1  # another cell
        mask[10:14, 11:15] = 2  # a spot touching the first cell at a corner
        p.set_mask(seg, mask)
        p.set_boxes(seg, [Box("cell", 3.0, 2.0, 9.0, 8.0)])
        p.set_metadata(mask_classes={"1": "cell", "2": "spot"})
    return project


def _export(project: Path, out: Path):
    with open_project(project) as p:
        report = run_job(export_job(p, "coco", out))
    return report, out / "unassigned" / "annotations.json"


def test_every_exported_region_has_a_mask_pycocotools_can_make_and_boxes_none(tmp_path):
    report, path = _export(_detection_and_segmentation_project(tmp_path), tmp_path / "out")
    coco = coco_api.COCO(str(path))
    anns = coco.loadAnns(coco.getAnnIds())
    # mmdetection's 3 boxes, our box with the cell it frames, the other cell, the spot
    assert len(anns) == 3 + 1 + 2
    for ann in anns:
        x, y, w, h = ann["bbox"]
        if "qbi_box_only" in ann:  # a box has no mask: none is invented for it
            assert ann["segmentation"] == [] and ann["area"] == w * h
        else:
            assert int(coco.annToMask(ann).sum()) == ann["area"]
    # class-mask regions: ordinary objects, one per 8-connected region, the choice reported
    regions = [a for a in anns if "qbi_mask_region" in a]
    assert all(a["iscrowd"] == 0 for a in anns)
    names = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    assert sorted((names[a["category_id"]], a["area"]) for a in regions) == [
        ("cell", 300),
        ("spot", 16),
    ]
    assert any("one per 8-connected region" in note for note in report.warnings)
    # the box framing a cell is one object: the box as bbox, the cell's pixels as mask
    (framed,) = [a for a in anns if isinstance(a["segmentation"], dict) and a not in regions]
    assert names[framed["category_id"]] == "cell" and framed["bbox"] == [3.0, 2.0, 9.0, 8.0]
    assert int(coco.annToMask(framed).sum()) == framed["area"] == 72
    assert any("1 box(es) written as one object" in note for note in report.warnings)


def test_cocoeval_scores_the_export_as_its_own_perfect_predictions_at_ap_1(tmp_path):
    _, path = _export(_detection_and_segmentation_project(tmp_path), tmp_path / "out")
    for iou_type in ("bbox", "segm"):
        truth = coco_api.COCO(str(path))
        if iou_type == "segm":  # masks are scored on the annotations that have one
            truth.dataset["annotations"] = [
                a for a in truth.dataset["annotations"] if a["segmentation"]
            ]
            truth.createIndex()
        predictions = []
        for ann in truth.loadAnns(truth.getAnnIds()):
            guess = {"image_id": ann["image_id"], "category_id": ann["category_id"], "score": 1.0}
            if iou_type == "bbox":
                guess["bbox"] = ann["bbox"]
            else:
                rle = truth.annToRLE(ann)  # counts: bytes from a polygon, str as exported
                counts = rle["counts"]
                counts = counts.decode() if isinstance(counts, bytes) else counts
                guess["segmentation"] = {"size": rle["size"], "counts": counts}
            predictions.append(guess)
        evaluation = cocoeval.COCOeval(truth, truth.loadRes(predictions), iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        assert evaluation.stats[0] == pytest.approx(1.0), iou_type  # AP @ IoU .50:.95


def test_torchvision_coco_detection_reads_the_export(tmp_path):
    CocoDetection = coco_detection_class()
    if CocoDetection is None:
        pytest.skip("torchvision is not installed")
    _, path = _export(_detection_and_segmentation_project(tmp_path), tmp_path / "out")
    dataset = CocoDetection(str(path.parent / "images"), str(path))
    declared = {i["id"]: i for i in json.loads(path.read_text())["images"]}
    assert len(dataset) == len(declared) == 4
    objects = {}
    for index, image_id in enumerate(dataset.ids):
        image, target = dataset[index]
        assert image.size == (declared[image_id]["width"], declared[image_id]["height"])
        objects[declared[image_id]["file_name"]] = sorted(
            t["bbox"][2] * t["bbox"][3] for t in target
        )
    assert objects == {
        "fake1.jpg": [400, 400],
        "fake2.jpg": [400],
        "fake3.jpg": [],
        "seg.png": [16, 72, 300],  # spot, the cell its box frames, the other cell
    }


def test_boxes_and_class_masks_come_back_as_they_went_out(tmp_path):
    project = _detection_and_segmentation_project(tmp_path)
    _export(project, tmp_path / "out")
    with open_project(project) as p:
        before = {r["name"]: (p.boxes(r["id"]), p.mask(r["id"])) for r in p.query(limit=None)}
    with open_project(tmp_path / "q", create=True) as q:
        run_job(import_job(q, "coco", [tmp_path / "out" / "unassigned" / "annotations.json"]))
        after = {r["name"]: (q.boxes(r["id"]), q.mask(r["id"])) for r in q.query(limit=None)}
        assert q.metadata()["mask_classes"] == {"1": "cell", "2": "spot"}
    assert set(after) == set(before)
    for name, (boxes, mask) in before.items():
        got_boxes, got_mask = after[name]
        assert [(b.label, b.x, b.y, b.w, b.h) for b in got_boxes] == [
            (b.label, b.x, b.y, b.w, b.h) for b in boxes
        ], name
        if mask is None:
            assert got_mask is None, f"{name}: a box-only item came back with a mask"
        else:
            assert np.array_equal(got_mask, mask), name


def test_a_coco_panoptic_file_is_refused_by_name(tmp_path, capsys):
    path = with_blank_images("panopticapi_panoptic_examples.json", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(p, "coco", [path]))
        assert len(p) == 0
    message = str(caught.value)
    assert str(path) in message and "annotations[0]" in message
    assert "COCO panoptic file, which is not supported" in message
    code = cli_main(["import", "--project", str(tmp_path / "q"), "--kind", "coco", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "COCO panoptic" in err and "Traceback" not in err


def test_images_kept_elsewhere_say_where_it_looked_and_name_images(tmp_path, capsys):
    path = with_blank_images("mmdet_instances_val2017.json", tmp_path / "src")
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    moved = annotations / path.name
    path.rename(moved)
    code = cli_main(["import", "--project", str(tmp_path / "p"), "--kind", "coco", str(moved)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{moved}: images[0].file_name: file '000000255917.jpg' not found in" in err
    assert str(annotations) in err and "--images" in err
    code = cli_main(
        ["import", "--project", str(tmp_path / "p"), "--kind", "coco", str(moved)]
        + ["--images", str(tmp_path / "src")]
    )
    assert code == 0, capsys.readouterr().err


def test_a_polygon_reaching_far_outside_the_image_is_refused_with_its_place(tmp_path):
    path = _square_file(tmp_path / "src")
    doc = json.loads(path.read_text())
    doc["annotations"][0]["iscrowd"] = 1
    doc["annotations"][0]["segmentation"] = [[10, 10, 9e8, 10, 60, 60]]
    path.write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(p, "coco", [path]))
        assert len(p) == 0
    assert f"{path}: annotations[0].segmentation: polygon 0: a coordinate lies" in str(caught.value)


def test_the_ignore_region_exports_as_a_crowd_and_comes_back_as_ignore(tmp_path):
    """Only the ignore region (labelme __ignore__, VOC 255: the project's mask_ignore) is a COCO
    crowd; COCO tools skip it, and our import makes it the ignore region again."""
    project = _detection_and_segmentation_project(tmp_path)
    with open_project(project) as p:
        seg = next(r["id"] for r in p.query(limit=None) if r["name"] == "seg.png")
        mask = p.mask(seg).copy()
        mask[30:38, 2:8] = 255
        mask[0:2, 55:60] = 255  # a second, separate ignore patch: still one crowd annotation
        p.set_mask(seg, mask)
        with p.transaction() as tx:  # what a VOC or labelme import with an ignore region sets
            tx.set_metadata(mask_classes={"1": "cell", "2": "spot", "255": "__ignore__"})
            tx.set_metadata(mask_ignore=255)
    report, path = _export(project, tmp_path / "out")
    coco = coco_api.COCO(str(path))
    crowds = [a for a in coco.loadAnns(coco.getAnnIds()) if a["iscrowd"]]
    names = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    assert [(names[a["category_id"]], a["area"]) for a in crowds] == [("__ignore__", 58)]
    assert int(coco.annToMask(crowds[0]).sum()) == 58
    assert any("ignore region(s) written as crowd" in note for note in report.warnings)
    with open_project(tmp_path / "q", create=True) as q:
        run_job(import_job(q, "coco", [path]))
        back = next(r["id"] for r in q.query(limit=None) if r["name"] == "seg.png")
        assert np.array_equal(q.mask(back), mask)
        assert q.metadata()["mask_ignore"] == 255
        assert q.metadata()["mask_classes"]["255"] == "__ignore__"


def test_instance_masks_with_an_ignore_region_come_back_whole(tmp_path):
    """Objects of an instance mask and its ignore region (65535 there) go out as objects and a
    crowd, and come back as the same objects and ignore region, not as a mix refused."""
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(src / "a.png")
    (src / "a.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png"}]}))
    mask = np.zeros((30, 40), np.uint16)
    mask[2:6, 2:6], mask[2:6, 6:9], mask[20:25, 30:38] = 1, 2, 3  # 1 and 2 touch
    mask[10:14, 10:30] = 65535
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "coco", [src / "a.json"]))
        (row,) = p.query(limit=None)
        p.set_mask(row["id"], mask)
        with p.transaction() as tx:
            tx.set_metadata(mask_instances="cell", mask_ignore=65535)
            tx.set_metadata(mask_classes={"65535": "__ignore__"})
        run_job(export_job(p, "coco", tmp_path / "out"))
    doc = json.loads((tmp_path / "out" / "unassigned" / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    kinds = sorted((names[a["category_id"]], a["iscrowd"], a["area"]) for a in doc["annotations"])
    assert kinds == [("__ignore__", 1, 80), ("cell", 0, 12), ("cell", 0, 16), ("cell", 0, 40)]
    with open_project(tmp_path / "q", create=True) as q:
        run_job(import_job(q, "coco", [tmp_path / "out" / "unassigned" / "annotations.json"]))
        (row,) = q.query(limit=None)
        assert np.array_equal(q.mask(row["id"]), mask)
        meta = q.metadata()
        assert meta["mask_instances"] == "cell" and meta["mask_ignore"] == 65535
        # the ignore entry in the class table does not make the project's masks class masks
        again = run_job(
            import_job(q, "coco", [tmp_path / "out" / "unassigned" / "annotations.json"])
        )
        assert again.updated == 1 and np.array_equal(q.mask(row["id"]), mask)


def test_a_polygon_with_an_outline_of_millions_of_pixels_is_refused_not_walked(tmp_path):
    """pycocotools would walk (and allocate) any outline; 1.9 million px wide is a hostile
    file's polygon, refused with its place instead of minutes of work."""
    path = _square_file(tmp_path / "src")
    doc = json.loads(path.read_text())
    doc["annotations"][0]["iscrowd"] = 1
    doc["annotations"][0]["segmentation"] = [[0, 0, 1.9e6, 0, 1.9e6, 10, 0, 10]]
    path.write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(p, "coco", [path]))
    assert (
        f"{path}: annotations[0].segmentation: polygon 0: its outline (3800020 px) takes the "
        "image's polygon outlines past" in str(caught.value)
    )


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_files_come_back_from_our_export_with_the_same_boxes_and_masks(tmp_path, name):
    path = with_blank_images(name, tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "coco", [path]))
        run_job(export_job(p, "coco", tmp_path / "out"))
        before = {r["name"]: (p.boxes(r["id"]), p.mask(r["id"])) for r in p.query(limit=None)}
    (exported,) = (tmp_path / "out").glob("*/annotations.json")  # one split (val for val2017)
    coco = coco_api.COCO(str(exported))
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert ann["segmentation"] == [] or coco.annToMask(ann).any() or ann["area"] == 0
    with open_project(tmp_path / "q", create=True) as q:
        run_job(import_job(q, "coco", [exported]))
        after = {r["name"]: (q.boxes(r["id"]), q.mask(r["id"])) for r in q.query(limit=None)}
    assert set(after) == set(before)
    for file_name, (boxes, mask) in before.items():
        got_boxes, got_mask = after[file_name]
        assert sorted((b.label, b.x, b.y, b.w, b.h) for b in got_boxes) == sorted(
            (b.label, b.x, b.y, b.w, b.h) for b in boxes
        ), file_name
        assert np.array_equal(got_mask, mask), file_name


def test_a_crowd_region_painted_as_its_class_is_said_in_the_import_report(tmp_path):
    """A class mask cannot mark a region as a crowd; the import says so instead of the crowd
    silently becoming an ordinary region on the next export."""
    path = with_blank_images("pycococreator_coco_example.json", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [path]))
    assert any(
        "crowd regions (iscrowd 1, which COCO tools skip) painted as their class: 1 'blueberry'"
        in note
        for note in report.warnings
    )
