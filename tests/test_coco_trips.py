"""COCO trips keep what the objects are, or say what they lose: the import names the objects
that a class mask merges (touching or overlapping ones of one class), the export writes a box
without a mask as a box without a mask (no rectangle that pycocotools would take for one), gives
no box another object's pixels, numbers categories in the project's class order, and writes a
stack item as the one page its annotations belong to. Read back with pycocotools itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.classes import order_classes
from qbi_desktop.core.catalog.project import Box
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.cocofiles import with_blank_images
except ImportError:  # run from inside tests/
    from cocofiles import with_blank_images

coco_api = pytest.importorskip("pycocotools.coco")
cocoeval = pytest.importorskip("pycocotools.cocoeval")


def _project_of(tmp_path: Path, images: dict[str, np.ndarray], name: str = "p") -> Path:
    """A project holding the given images (file name -> pixels; a 3-D array is written as a
    multi-page TIFF), imported from a COCO file without annotations."""
    src = tmp_path / f"{name}_src"
    src.mkdir()
    for file_name, pixels in images.items():
        if file_name.endswith(".tif"):
            tifffile.imwrite(src / file_name, pixels, photometric="minisblack")
        else:
            Image.fromarray(pixels).save(src / file_name)
    entries = [{"id": i, "file_name": n} for i, n in enumerate(images, start=1)]
    (src / "plain.json").write_text(json.dumps({"images": entries, "annotations": []}))
    project = tmp_path / name
    with open_project(project, create=True) as p:
        run_job(import_job(p, "coco", [src / "plain.json"]))
    return project


def _item(p, name: str) -> int:
    return next(r["id"] for r in p.query(limit=None) if r["name"] == name)


def _export(project: Path, out: Path):
    with open_project(project) as p:
        report = run_job(export_job(p, "coco", out))
    (path,) = out.glob("*/annotations.json")
    return report, path


def _boxes(p, item: int) -> list[tuple]:
    return sorted((b.label, b.x, b.y, b.w, b.h) for b in p.boxes(item))


# -- import: what a class mask merges is said -------------------------------------------------


def test_coco_import_names_the_objects_a_class_mask_merges(tmp_path):
    """labelme's labelme2coco output of its instance example: three persons of 2011_000006
    touch (one region of the class mask), and the two buses of 2011_000025 overlap."""
    path = with_blank_images("labelme2coco_annotations.json", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [path]))
        boxes = {r["name"]: _boxes(p, r["id"]) for r in p.query(limit=None)}
    (note,) = [w for w in report.warnings if "became one region" in w]
    assert note.startswith("labelme2coco_annotations.json: 3 object(s) overlap or touch")
    assert "2 'person', 1 'bus'" in note
    assert "2011_000006.jpg (annotations[" in note and "2011_000025.jpg (annotations[" in note
    assert "2011_000003" not in note  # its person and bottle lie apart
    # the objects stay apart as boxes: 4 persons and 2 buses
    assert sum(b[0] == "person" for b in boxes["2011_000006.jpg"]) == 4
    assert sum(b[0] == "bus" for b in boxes["2011_000025.jpg"]) == 2


def test_our_own_export_comes_back_without_a_merge_note(tmp_path):
    """The regions our export writes are apart by construction: re-importing them says
    nothing of merged objects, and boxes and masks come back as they were."""
    path = with_blank_images("labelme2coco_annotations.json", tmp_path / "src")
    with open_project(tmp_path / "p", create=True) as p:
        run_job(import_job(p, "coco", [path]))
        run_job(export_job(p, "coco", tmp_path / "out"))
        before = {r["name"]: (_boxes(p, r["id"]), p.mask(r["id"])) for r in p.query(limit=None)}
    (exported,) = (tmp_path / "out").glob("*/annotations.json")
    with open_project(tmp_path / "q", create=True) as q:
        report = run_job(import_job(q, "coco", [exported]))
        after = {r["name"]: (_boxes(q, r["id"]), q.mask(r["id"])) for r in q.query(limit=None)}
    assert not [w for w in report.warnings if "became one region" in w]
    for name, (boxes, mask) in before.items():
        assert after[name][0] == boxes and np.array_equal(after[name][1], mask), name


def test_touching_rle_objects_are_counted_too(tmp_path):
    """Uncompressed RLE regions (as crowds and converters write them) go through the same
    check: two touching 'cell' objects are one, a third apart is not counted."""
    folder = tmp_path / "src"
    folder.mkdir()
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(folder / "a.png")

    def rle(y0, y1, x0, x1):
        region = np.zeros((20, 30), bool)
        region[y0:y1, x0:x1] = True
        flat = region.T.ravel().astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], flat, [0])))).tolist()
        runs, last = [], 0
        for edge in edges:
            runs.append(edge - last)
            last = edge
        runs.append(flat.size - last)
        return {"size": [20, 30], "counts": runs}

    anns = [
        {"id": 1, "bbox": [2, 2, 5, 5], "segmentation": rle(2, 7, 2, 7)},
        {"id": 2, "bbox": [7, 7, 4, 4], "segmentation": rle(7, 11, 7, 11)},  # corner to corner
        {"id": 3, "bbox": [20, 2, 5, 5], "segmentation": rle(2, 7, 20, 25)},
    ]
    for ann in anns:
        ann.update(image_id=1, category_id=1, iscrowd=0)
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 30, "height": 20}],
        "categories": [{"id": 1, "name": "cell"}],
        "annotations": anns,
    }
    (folder / "c.json").write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [folder / "c.json"]))
    (note,) = [w for w in report.warnings if "became one region" in w]
    assert "1 object(s)" in note and "1 'cell'" in note and "a.png (annotations[1])" in note


# -- export: no invented masks, no borrowed pixels --------------------------------------------


def test_a_box_without_a_mask_is_written_without_one(tmp_path):
    """A box-only object has an empty segmentation: pycocotools sees no mask (annToMask
    refuses it instead of making a rectangle), COCOeval on boxes scores the export as its own
    perfect prediction, and our import gives the box back alone."""
    project = _project_of(tmp_path, {"a.png": np.zeros((60, 80), np.uint8)})
    boxes = [Box("plate", 10.0, 20.0, 30.0, 15.0), Box("spot", 3.5, 4.25, 2.5, 1.75)]
    with open_project(project) as p:
        p.set_boxes(_item(p, "a.png"), boxes)
    report, path = _export(project, tmp_path / "out")
    coco = coco_api.COCO(str(path))
    anns = coco.loadAnns(coco.getAnnIds())
    assert [a["segmentation"] for a in anns] == [[], []]
    assert sorted(a["area"] for a in anns) == [2.5 * 1.75, 30 * 15]
    with pytest.raises(IndexError):  # pycocotools has no mask to make: none is invented
        coco.annToMask(anns[0])
    guesses = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1}
        for a in anns
    ]
    evaluation = cocoeval.COCOeval(coco, coco.loadRes(guesses), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)
    assert any("2 box(es) without a mask of their own" in w for w in report.warnings)
    with open_project(tmp_path / "q", create=True) as q:
        run_job(import_job(q, "coco", [path]))
        (row,) = q.query(limit=None)
        assert q.mask(row["id"]) is None
        assert _boxes(q, row["id"]) == sorted((b.label, b.x, b.y, b.w, b.h) for b in boxes)


def _two_persons(tmp_path: Path, boxes: list[Box]) -> Path:
    """Two touching persons in a class mask (one region of 'person'): a large one at rows
    5..34, columns 5..24, and a small one at rows 10..19, columns 25..29."""
    project = _project_of(tmp_path, {"a.png": np.zeros((40, 50), np.uint8)})
    mask = np.zeros((40, 50), np.uint8)
    mask[5:35, 5:25] = 1
    mask[10:20, 25:30] = 1
    with open_project(project) as p:
        item = _item(p, "a.png")
        p.set_mask(item, mask)
        p.set_boxes(item, boxes)
        p.set_metadata(mask_classes={"1": "person"})
    return project


def test_a_box_is_not_given_the_pixels_of_a_touching_object_of_its_class(tmp_path):
    """The report's two persons: the large person's box overlaps the region both form by
    more than half, but the region reaches out of it into the small person's box: neither box
    gets it (the old rule gave the large person the small one's 50 pixels)."""
    large, small = Box("person", 5.0, 5.0, 20.0, 30.0), Box("person", 25.0, 10.0, 5.0, 10.0)
    report, path = _export(_two_persons(tmp_path, [large, small]), tmp_path / "out")
    coco = coco_api.COCO(str(path))
    anns = coco.loadAnns(coco.getAnnIds())
    by_box = {tuple(a["bbox"]): a for a in anns}
    for box in (large, small):
        assert by_box[(box.x, box.y, box.w, box.h)]["segmentation"] == []
    (region,) = [a for a in anns if a.get("qbi_mask_region")]
    assert int(coco.annToMask(region).sum()) == 20 * 30 + 5 * 10
    assert not any("written as one object" in w for w in report.warnings)


def test_a_region_inside_its_box_is_not_paired_when_another_box_reaches_it(tmp_path):
    """A small person inside the large one's box, touching it: the merged region lies inside
    the large box, but pixels of it lie in the small box too; whose they are is unknown."""
    project = _project_of(tmp_path, {"a.png": np.zeros((40, 50), np.uint8)})
    mask = np.zeros((40, 50), np.uint8)
    mask[5:35, 5:25] = 1
    mask[30:36, 20:30] = 1  # the small one, partly over the large one
    with open_project(project) as p:
        item = _item(p, "a.png")
        p.set_mask(item, mask)
        p.set_boxes(
            item, [Box("person", 5.0, 5.0, 25.0, 31.0), Box("person", 20.0, 30.0, 10.0, 6.0)]
        )
        p.set_metadata(mask_classes={"1": "person"})
    report, path = _export(project, tmp_path / "out")
    doc = json.loads(path.read_text())
    assert [a["segmentation"] for a in doc["annotations"] if "qbi_box_only" in a] == [[], []]
    assert any("1 box(es) not paired" in w for w in report.warnings)  # the large one


def test_a_box_framing_its_own_region_alone_is_still_one_object(tmp_path):
    """The rule keeps what holds: a box whose region lies inside it, with no other box of the
    class reaching it, is written with the region's exact pixels."""
    box = Box("person", 5.0, 5.0, 20.0, 30.0)
    project = _two_persons(tmp_path, [box, Box("person", 40.0, 30.0, 5.0, 5.0)])
    with open_project(project) as p:  # the small person moved apart from the large one
        mask = np.zeros((40, 50), np.uint8)
        mask[5:35, 5:25] = 1
        mask[30:35, 40:45] = 1
        p.set_mask(_item(p, "a.png"), mask)
    report, path = _export(project, tmp_path / "out")
    coco = coco_api.COCO(str(path))
    (framed,) = [a for a in coco.loadAnns(coco.getAnnIds()) if a["bbox"] == [5, 5, 20, 30]]
    assert int(coco.annToMask(framed).sum()) == 600 == framed["area"]
    assert any("2 box(es) written as one object" in w for w in report.warnings)


# -- export: category ids follow the project's class order --------------------------------------


def test_category_ids_follow_the_class_order_and_mask_values_come_back(tmp_path):
    project = _project_of(tmp_path, {"a.png": np.zeros((30, 40), np.uint8)})
    mask = np.zeros((30, 40), np.uint8)
    mask[2:6, 2:6] = 1  # plate
    mask[20:25, 30:38] = 2  # Fläche
    boxes = [Box("spot", 10.0, 10.0, 3.0, 3.0), Box("plate", 2.0, 2.0, 4.0, 4.0)]
    with open_project(project) as p:
        item = _item(p, "a.png")
        p.set_mask(item, mask)
        p.set_boxes(item, boxes)
        p.set_metadata(mask_classes={"1": "plate", "2": "Fläche"})
        order_classes(p, ["spot", "plate"])  # the mask's other class follows
    report, path = _export(project, tmp_path / "out")
    coco = coco_api.COCO(str(path))
    cats = {c["id"]: (c["name"], c["qbi_mask_value"]) for c in coco.dataset["categories"]}
    assert cats == {1: ("spot", 3), 2: ("plate", 1), 3: ("Fläche", 2)}
    assert any("category ids follow the project's class order" in w for w in report.warnings)
    # every annotation is of the class its pixels or box hold
    painted = np.zeros_like(mask)
    for ann in coco.loadAnns(coco.getAnnIds()):
        if ann["segmentation"]:
            painted[coco.annToMask(ann) == 1] = cats[ann["category_id"]][1]
    assert np.array_equal(painted, mask)
    with open_project(tmp_path / "q", create=True) as q:
        run_job(import_job(q, "coco", [path]))
        (row,) = q.query(limit=None)
        assert np.array_equal(q.mask(row["id"]), mask)  # the same values, not the ids
        assert _boxes(q, row["id"]) == sorted((b.label, b.x, b.y, b.w, b.h) for b in boxes)
        assert q.db.execute("SELECT value FROM meta WHERE key='mask_classes'").fetchone()[0] in (
            json.dumps({"1": "plate", "2": "Fläche"}),
            json.dumps({"1": "plate", "2": "Fläche"}, ensure_ascii=False),
        )


# -- export: a stack item is the page it stands for -------------------------------------------


def test_a_stack_item_is_written_as_its_page(tmp_path):
    stack = np.arange(5 * 24 * 31, dtype=np.uint16).reshape(5, 24, 31) * 7
    project = _project_of(
        tmp_path, {"stack.tif": stack, "flat.tif": np.ones((24, 31), np.uint16) * 500}
    )
    with open_project(project) as p:
        p.set_boxes(_item(p, "stack.tif"), [Box("spot", 1.0, 2.0, 3.0, 4.0)])
    report, path = _export(project, tmp_path / "out")
    doc = json.loads(path.read_text())
    for image in doc["images"]:
        pixels = (
            tifffile.imread(path.parent / "images" / image["file_name"])
            if image["file_name"].endswith(".tif")
            else np.asarray(Image.open(path.parent / "images" / image["file_name"]))
        )
        assert pixels.shape == (image["height"], image["width"]), image["file_name"]
    files = {i["file_name"] for i in doc["images"]}
    assert files == {"stack.tif", "flat.tif"}  # the 2-D file is copied as it is
    page = tifffile.imread(path.parent / "images" / "stack.tif")
    assert page.dtype == np.uint16 and np.array_equal(page, stack[0])
    assert any("1 stack item(s)" in w and "stack.tif" in w for w in report.warnings)
