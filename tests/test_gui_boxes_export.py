"""Boxes drawn on the canvas leave the app in the formats that hold boxes: COCO, read back with
pycocotools (the reference reader), and labelme JSON (``rectangle`` shapes, two corner points,
``imagePath`` beside it), read back by our labelme importer into a fresh project."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.test_gui_boxes import drag, project_window, stored, type_class  # noqa: F401
except ImportError:  # pragma: no cover
    from test_gui_boxes import drag, project_window, stored, type_class  # noqa: F401

coco = pytest.importorskip("pycocotools.coco")
mask_utils = pytest.importorskip("pycocotools.mask")


def _draw_two(qtbot, window, root, item):
    boxes = window.panels["annotate"].boxes
    drag(qtbot, window, (4, 6), (30, 26))  # draw, then name it (the new box is selected)
    type_class(qtbot, boxes, "cell")
    drag(qtbot, window, (50, 30), (77, 58))
    type_class(qtbot, boxes, "dust")
    drawn = stored(root, item)
    assert drawn == [("cell", 4, 6, 26, 20), ("dust", 50, 30, 27, 28)]
    return drawn


def test_drawn_boxes_read_by_pycocotools(qtbot, project_window, tmp_path):
    window, root, ids = project_window
    drawn = _draw_two(qtbot, window, root, ids[0])
    with open_project(root) as project:
        run_job(export_job(project, "coco", tmp_path / "out"))
    (path,) = (tmp_path / "out").glob("*/annotations.json")
    ds = coco.COCO(str(path))
    anns = ds.loadAnns(ds.getAnnIds(imgIds=[ids[0]]))
    names = {c["id"]: c["name"] for c in ds.loadCats(ds.getCatIds())}
    got = sorted((names[a["category_id"]], *a["bbox"]) for a in anns)
    assert got == sorted(drawn)
    for ann in anns:  # a drawn box has no mask: none is invented for it
        assert ann["segmentation"] == [] and ann["iscrowd"] == 0
        assert ann["area"] == ann["bbox"][2] * ann["bbox"][3]


def test_drawn_boxes_in_labelme_json(qtbot, project_window, tmp_path):
    window, root, ids = project_window
    drawn = _draw_two(qtbot, window, root, ids[0])
    with open_project(root) as project:
        run_job(export_job(project, "labelme", tmp_path / "lm"))
    docs = {p: json.loads(p.read_text()) for p in (tmp_path / "lm").rglob("*.json")}
    doc = next(d for d in docs.values() if d["shapes"])
    path = next(p for p, d in docs.items() if d is doc)
    assert (path.parent / doc["imagePath"]).is_file()  # labelme resolves it beside the JSON
    assert (doc["imageHeight"], doc["imageWidth"]) == (60, 80)
    rects = sorted(
        (s["label"], *s["points"][0], *s["points"][1])
        for s in doc["shapes"]
        if s["shape_type"] == "rectangle"
    )
    assert rects == sorted((lab, x, y, x + w, y + h) for lab, x, y, w, h in drawn)
    with open_project(tmp_path / "back", create=True) as project:  # and back in again
        run_job(import_job(project, "labelme", [tmp_path / "lm"]))
        back = [
            (b.label, b.x, b.y, b.w, b.h)
            for r in project.query(limit=None)
            for b in project.boxes(r["id"])
        ]
    assert sorted(back) == sorted(drawn)
    _ = Qt  # the drags above are real mouse events on the canvas
