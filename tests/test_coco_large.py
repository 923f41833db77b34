"""COCO files at scale: the import into an empty catalog writes its boxes in bulk (indexes and
box counts made once at the end), into a non-empty one the box counts are made once after the
insert, and the counts the Browser and the class picker read are right either way; bad boxes
among many good ones are named in file order, exactly as one record alone is; one image with
more boxes than a boxes file may hold is refused naming the image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core.annotation.boxes import MAX_BOXES
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.classes import box_counts
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

SIDE = 64


def _write(folder: Path, boxes_per_image: list[int], seed: int, stem: str = "img") -> Path:
    """A COCO file over len(boxes_per_image) PNGs with that many boxes each (labels a/b/c),
    every tenth annotation with a polygon too."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i, count in enumerate(boxes_per_image, start=1):
        name = f"{stem}{i}.png"
        Image.fromarray(rng.integers(0, 255, (SIDE, SIDE), dtype=np.uint8)).save(folder / name)
        images.append({"id": i, "file_name": name, "width": SIDE, "height": SIDE})
        xy = rng.uniform(0, SIDE - 10, (count, 2)).round(1)
        for k in range(count):
            x, y = float(xy[k, 0]), float(xy[k, 1])
            ann = {
                "id": len(annotations) + 1,
                "image_id": i,
                "category_id": 1 + (len(annotations) % 3),
                "bbox": [x, y, 8, 6],  # integers and floats, as files mix them
                "iscrowd": 0,
            }
            if len(annotations) % 10 == 0:
                ann["segmentation"] = [[x, y, x + 8, y, x + 8, y + 6, x, y + 6]]
            annotations.append(ann)
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
    }
    path = folder / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def _expected_counts(path: Path) -> dict[str, int]:
    doc = json.loads(path.read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    counts: dict[str, int] = {}
    for ann in doc["annotations"]:
        counts[names[ann["category_id"]]] = counts.get(names[ann["category_id"]], 0) + 1
    return counts


def test_box_counts_are_right_after_a_bulk_import_and_a_second_import(tmp_path):
    first = _write(tmp_path / "one", [300, 5, 0, 1200], seed=1)
    second = _write(tmp_path / "two", [7, 6000], seed=2, stem="other")  # counted in bulk too
    with open_project(tmp_path / "p", create=True) as p:
        report = run_job(import_job(p, "coco", [first]))
        assert report.added == 4
        assert box_counts(p) == _expected_counts(first)
        by_name = {row["name"]: row for row in p.query(limit=None)}
        assert {n: r["n_boxes"] for n, r in by_name.items()} == {
            "img1.png": 300,
            "img2.png": 5,
            "img3.png": 0,
            "img4.png": 1200,
        }
        assert len(p.boxes(by_name["img4.png"]["id"])) == 1200
        # the Browser's sort by box count reads the rebuilt index
        most = p.query(sort="-n_boxes", limit=2)
        assert [row["name"] for row in most] == ["img4.png", "img1.png"]
        assert by_name["img1.png"]["has_mask"]  # the polygons were painted too

        run_job(import_job(p, "coco", [second]))  # the catalog is not empty now (box_inserts)
        totals = _expected_counts(first)
        for label, n in _expected_counts(second).items():
            totals[label] = totals.get(label, 0) + n
        assert box_counts(p) == totals
        rows = {row["name"]: row["n_boxes"] for row in p.query(limit=None)}
        assert rows["other1.png"] == 7 and rows["other2.png"] == 6000
        assert rows["img4.png"] == 1200 and rows["img1.png"] == 300
        most = p.query(sort="-n_boxes", limit=3)
        assert [row["name"] for row in most] == ["other2.png", "img4.png", "img1.png"]


def test_bad_boxes_among_many_are_named_in_file_order_as_alone(tmp_path):
    path = _write(tmp_path / "src", [34_000, 34_000], seed=3)  # more than one block of 65 536
    doc = json.loads(path.read_text())
    anns = doc["annotations"]
    anns[5]["bbox"] = [1, 2, -3, 4]
    anns[900]["bbox"] = [1, 2, float("nan"), 4]
    anns[1500]["bbox"] = [1, 2, 10**400, 4]  # beyond what a float holds
    anns[2100]["bbox"] = [1, True, 3, 4]
    anns[2500]["bbox"] = [1, 2, 3, 1e300]
    anns[3000]["bbox"] = [1, 2, float("inf"), 4]
    anns[3000]["image_id"] = [1]  # two problems in one record: the first one is said
    anns[3500]["bbox"] = [1, 2, 3]
    anns[67_000]["bbox"] = [1, 2, 3, -0.5]
    path.write_text(json.dumps(doc))
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(p, "coco", [path]))
        assert len(p) == 0
    message = str(caught.value)
    expected = [
        "annotations[5].bbox: [1.0, 2.0, -3.0, 4.0] has a negative width or height",
        "annotations[900].bbox[2]: the number nan is not a finite number",
        "annotations[1500].bbox[2]: an integer of ~401 digits is not a finite number",
        "annotations[2100].bbox[1]: expected a number, got true",
        "annotations[2500].bbox[3]: the number 1e+300 is too large",
        "annotations[3000].image_id: expected an integer id, got a list of 1",
        "annotations[3500].bbox: expected [x, y, width, height], got 3 numbers",
        "annotations[67000].bbox: [1.0, 2.0, 3.0, -0.5] has a negative width or height",
    ]
    places = [message.find(f"{path}: {line}") for line in expected]
    assert all(at >= 0 for at in places), message
    assert places == sorted(places)


def test_more_boxes_on_one_image_than_a_boxes_file_may_hold_is_refused(tmp_path):
    path = _write(tmp_path / "src", [3, MAX_BOXES + 1], seed=4)
    with open_project(tmp_path / "p", create=True) as p:
        with pytest.raises(UserFacingError) as caught:
            run_job(import_job(p, "coco", [path]))
        assert len(p) == 0
    assert (
        f"{path}: images[1] (img2.png): {MAX_BOXES + 1} boxes, more than the {MAX_BOXES} "
        "allowed in one image" in str(caught.value)
    )
