"""Masks whose label values do not fit 16 bits (a COCO category id 70000 becomes mask value
70000) leave every export exactly: the masks export writes them as 32-bit TIFFs and says why
they are not ImageJ 16-bit files; our masks import reads them back value for value."""

from __future__ import annotations

import json

import numpy as np
import tifffile
from formats_roundtrip_helpers import image_of, new_project, save_image

from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.formats.masks import mask_file
from qbi_desktop.core.jobs import run_job


def _coco_70000(tmp_path):
    """Two real images; category ids 7 and 70000 (pycocotools takes any integer id)."""
    src = tmp_path / "coco"
    save_image(src / "a.png", image_of(1, (30, 40)))
    save_image(src / "b.png", image_of(2, (30, 40)))
    square = [[2, 3, 12, 3, 12, 13, 2, 13]]
    other = [[20, 5, 35, 5, 35, 25, 20, 25]]
    doc = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.png", "width": 40, "height": 30},
        ],
        "categories": [{"id": 7, "name": "seven"}, {"id": 70000, "name": "big"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 70000, "bbox": [2, 3, 10, 10],
             "iscrowd": 0, "segmentation": square},
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [20, 5, 15, 20],
             "iscrowd": 0, "segmentation": other},
            {"id": 3, "image_id": 2, "category_id": 7, "bbox": [2, 3, 10, 10],
             "iscrowd": 0, "segmentation": square},
        ],
    }  # fmt: skip
    (src / "instances.json").write_text(json.dumps(doc))
    return src / "instances.json"


def _masks(project):
    return {row["name"]: project.mask(row["id"]) for row in project.query(limit=None)}


def test_label_70000_is_written_as_32_bit_tiff_and_comes_back_exactly(tmp_path):
    p = new_project(tmp_path)
    run_job(import_job(p, "coco", [_coco_70000(tmp_path)], images_dir=tmp_path / "coco"))
    before = _masks(p)
    assert int(before["a.png"].max()) == 70000  # what the COCO import made

    report = run_job(export_job(p, "masks", tmp_path / "out"))
    written = tmp_path / "out" / "masks" / "a.tif"
    with tifffile.TiffFile(written) as tif:
        assert not tif.is_imagej  # ImageJ label images are 8/16-bit: not claimed
        assert tif.pages[0].dtype == np.uint32
        read = tif.asarray()
    assert np.array_equal(read, before["a.png"])  # 70000 stays 70000, not 70000 - 65536
    text = str(report)
    assert "masks/a.tif" in text and "70000" in text and "not ImageJ 16-bit" in text
    # the 8-bit mask of b.png is still the PNG every reader takes as it is
    assert (tmp_path / "out" / "masks" / "b.png").is_file()

    q = new_project(tmp_path, "q")
    run_job(import_job(q, "masks", [tmp_path / "out"]))
    after = _masks(q)
    assert after.keys() == before.keys()
    for name, mask in before.items():
        assert np.array_equal(after[name], mask), name
    classes = q.metadata()["mask_classes"]
    assert classes["70000"] == "big" and classes["7"] == "seven"


def test_negative_and_64_bit_labels_are_never_narrowed(tmp_path):
    for values in ([-1, 0, 5], [0, 1 << 40]):
        mask = np.array([values, values[::-1]], dtype=np.int64)
        data, ext = mask_file(mask, {"mask_classes": {}})
        path = tmp_path / f"m{values[-1]}{ext}"
        path.write_bytes(data)
        assert ext == ".tif"
        assert np.array_equal(tifffile.imread(path), mask)


def test_instance_merge_of_more_than_65535_objects_keeps_every_number():
    """The same narrowing in the disagreement review's merge: 90 000 one-pixel objects are
    numbered 1..90 000 (a uint16 result wrapped object 65 537 onto object 1)."""
    from qbi_desktop.core.quality.merge import merge_masks

    mask = np.zeros((600, 600), np.uint8)
    mask[::2, ::2] = 1  # apart, even for 8-connectivity
    out = merge_masks([mask, mask], "majority", instances=True)
    assert int(out.max()) == 90_000
    assert len(np.unique(out)) == 90_001
