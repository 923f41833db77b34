"""Import/export of dataset conventions: round trips, bad input, Data Package validity, CLI."""

from __future__ import annotations

import argparse
import base64
import io
import json
import sqlite3

import frictionless
import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core.catalog import Box, ImportRejected, open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.formats.coco import counts_to_rle_string, rle_encode, rle_string_to_counts
from qbi_desktop.core.jobs import run_job

try:
    from tests.conftest import MNIST, need
except ImportError:  # pragma: no cover
    from conftest import MNIST, need


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def _image(seed, shape=(20, 24)):
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


def _imagefolder(root, per_class=3):
    for c, label in enumerate(["cat", "dog"]):
        for k in range(per_class):
            split = "train" if k else "test"
            _save(root / split / label / f"{label}{k}.png", _image(10 * c + k))
    return root


def _state(project):
    """What a round trip must preserve, keyed by item name."""
    out = {}
    for row in project.query(limit=None):
        mask = project.mask(row["id"])
        out[row["name"]] = (
            row["label"],
            row["split"],
            row["targets"],
            None if mask is None else mask.tolist(),
            [(b.label, b.x, b.y, b.w, b.h) for b in project.boxes(row["id"])],
            project.image(row["id"]).tolist(),
        )
    return out


def _project(tmp_path, name="p"):
    return open_project(tmp_path / name, create=True)


def test_imagefolder_round_trip_with_splits(tmp_path):
    p = _project(tmp_path)
    report = run_job(import_job(p, "imagefolder", [_imagefolder(tmp_path / "src")]))
    assert report.added == 6
    assert p.count({"label": "dog", "split": "train"}) == 2
    before = _state(p)
    run_job(export_job(p, "imagefolder", tmp_path / "out"))
    assert (tmp_path / "out" / "test" / "cat" / "cat0.png").is_file()
    q = _project(tmp_path, "q")
    run_job(import_job(q, "imagefolder", [tmp_path / "out"]))
    assert _state(q) == before
    # Importing the same folder again adds nothing.
    assert run_job(import_job(p, "imagefolder", [tmp_path / "src"])).added == 0


def _sheet_project(tmp_path):
    src = tmp_path / "sheet"
    for k in range(4):
        _save(src / f"im{k}.png", _image(k))
    (src / "targets.csv").write_text(
        "image,diameter,mass\nim0.png,1.5,10\nim1.png,2.5,\nim2.png,3.25,30\nim3.png,-4,40\n"
    )
    p = _project(tmp_path)
    run_job(import_job(p, "sheet", [src / "targets.csv"]))
    return p


def test_sheet_round_trip_csv_and_xlsx(tmp_path):
    p = _sheet_project(tmp_path)
    state = _state(p)
    assert state["im1.png"][2] == {"diameter": 2.5}  # empty cell = missing target
    assert state["im2.png"][2] == {"diameter": 3.25, "mass": 30.0}
    p.set_split([1, 2], "train")
    state = _state(p)
    run_job(export_job(p, "sheet", tmp_path / "out"))
    q = _project(tmp_path, "q")
    run_job(import_job(q, "sheet", [tmp_path / "out" / "targets.csv"]))
    assert _state(q) == state
    pytest.importorskip("openpyxl")
    run_job(export_job(p, "sheet", tmp_path / "outx", xlsx=True))
    r = _project(tmp_path, "r")
    run_job(import_job(r, "sheet", [tmp_path / "outx" / "targets.xlsx"]))
    assert _state(r) == state


def test_sheet_updates_targets_of_items_already_imported(tmp_path):
    p = _sheet_project(tmp_path)
    (tmp_path / "sheet" / "more.csv").write_text("image;width\nim0.png;7\n")
    report = run_job(import_job(p, "sheet", [tmp_path / "sheet" / "more.csv"]))
    assert (report.added, report.updated) == (0, 1)
    assert _state(p)["im0.png"][2] == {"diameter": 1.5, "mass": 10.0, "width": 7.0}


def test_bad_sheet_is_refused_with_one_report_per_problem(tmp_path):
    p = _sheet_project(tmp_path)
    before = _state(p)
    (tmp_path / "sheet" / "bad.csv").write_text(
        "image,diameter\nim0.png,1\nmissing.png,2\nim0.png,3\nim1.png,big\n"
    )
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(p, "sheet", [tmp_path / "sheet" / "bad.csv"]))
    problems = {(pr.row, pr.reason.split(" ")[0]) for pr in caught.value.problems}
    assert {r for r, _ in problems} == {3, 4, 5}
    text = str(caught.value)
    assert "missing.png" in text and "duplicate" in text and "'big' is not a number" in text
    assert _state(p) == before
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
        _save(src / "images" / f"cell{k}.png", _image(k))
        mask = np.zeros((20, 24), np.uint8)
        mask[k : k + 5, 2:9] = k + 1
        if k < 2:
            _save(src / "masks" / f"cell{k}_mask.png", mask)
    p = _project(tmp_path)
    report = run_job(import_job(p, "masks", [src / "masks", src / "images"]))
    assert report.added == 3 and p.count({"has_mask": True}) == 2
    state = _state(p)
    run_job(export_job(p, "masks", tmp_path / "out"))
    q = _project(tmp_path, "q")
    run_job(import_job(q, "masks", [tmp_path / "out" / "masks", tmp_path / "out" / "images"]))
    assert _state(q) == state
    # A mask of the wrong size, and one with no image, are reported; nothing changes.
    _save(tmp_path / "bad" / "cell2.png", np.zeros((5, 5), np.uint8))
    _save(tmp_path / "bad" / "ghost.png", np.zeros((20, 24), np.uint8))
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(p, "masks", [tmp_path / "bad"]))
    assert len(caught.value.problems) == 2 and "5x5" in str(caught.value)
    assert _state(p) == state


def _coco_source(tmp_path, extra_annotations=()):
    src = tmp_path / "coco"
    _save(src / "a.png", _image(1, (30, 40)))
    _save(src / "b.png", _image(2, (30, 40)))
    doc = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.png", "width": 40, "height": 30},
        ],
        "categories": [{"id": 1, "name": "spot"}, {"id": 2, "name": "crack"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [2, 3, 10, 5],
                "iscrowd": 0,
                "segmentation": [[2, 3, 12, 3, 12, 8, 2, 8]],
            },
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 40, 30], "iscrowd": 0},
            *extra_annotations,
        ],
    }
    (src / "train").mkdir()
    path = src / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def test_coco_round_trip_boxes_and_masks(tmp_path):
    p = _project(tmp_path)
    run_job(import_job(p, "coco", [_coco_source(tmp_path)]))
    state = _state(p)
    assert state["a.png"][4] == [("spot", 2.0, 3.0, 10.0, 5.0)]
    assert state["a.png"][3] is not None and np.asarray(state["a.png"][3])[5, 5] == 1
    assert p.metadata()["mask_classes"] == {"1": "spot"}
    run_job(export_job(p, "coco", tmp_path / "out"))
    q = _project(tmp_path, "q")
    run_job(import_job(q, "coco", [tmp_path / "out" / "unassigned" / "annotations.json"]))
    assert _state(q) == state


def test_coco_bad_boxes_and_categories_refused(tmp_path):
    p = _project(tmp_path)
    bad = [
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [35, 3, 10, 5], "iscrowd": 0},
        {"id": 4, "image_id": 1, "category_id": 9, "bbox": [1, 1, 2, 2], "iscrowd": 0},
        {"id": 5, "image_id": 7, "category_id": 1, "bbox": [1, 1, 2, 2], "iscrowd": 0},
    ]
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(p, "coco", [_coco_source(tmp_path, bad)]))
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
    _save(src / "x.png", _image(3, (16, 20)))
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
    p = _project(tmp_path)
    run_job(import_job(p, "labelme", [_labelme_source(tmp_path, shapes)]))
    state = _state(p)
    label, _split, _t, mask, boxes, _img = state["x.png"]
    assert label == "good" and boxes == [("box", 1.0, 2.0, 5.0, 7.0)]
    mask = np.asarray(mask)
    assert set(np.unique(mask)) == {0, 1, 2} and mask[11, 13] == 2 and mask[5, 5] == 1
    run_job(export_job(p, "labelme", tmp_path / "out"))
    q = _project(tmp_path, "q")
    run_job(import_job(q, "labelme", [tmp_path / "out"]))
    assert _state(q) == state
    assert q.metadata()["mask_classes"] == p.metadata()["mask_classes"]


def test_labelme_unsupported_shapes_refused(tmp_path):
    # line and point are labelme shapes (drawn as labelme draws them); these two are not
    shapes = [
        {"label": "edge", "points": [[1, 2], [6, 9]], "shape_type": "ellipse"},
        {"label": "dot", "points": [[1, 2]], "shape_type": "cuboid"},
        {"label": "ok", "points": [[1, 2], [6, 9]], "shape_type": "rectangle"},
    ]
    p = _project(tmp_path)
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

    p = _project(tmp_path, name)
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
        q = _project(tmp_path, f"back-{kind}")
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
    q = _project(tmp_path, "q")
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
    spots = _project(tmp_path, "spots")
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


def test_mnist_idx_round_trip(tmp_path):
    from qbi_desktop.core.idx import write_idx

    src = tmp_path / "idx"
    src.mkdir()
    x = np.random.default_rng(0).integers(0, 255, (30, 28, 28), dtype=np.uint8)
    write_idx(src / "train-images-idx3-ubyte.gz", x[:20])
    write_idx(src / "train-labels-idx1-ubyte.gz", (np.arange(20) % 10).astype(np.uint8))
    write_idx(src / "t10k-images-idx3-ubyte", x[20:])
    write_idx(src / "t10k-labels-idx1-ubyte", (np.arange(10) % 3).astype(np.uint8))
    p = _project(tmp_path)
    assert run_job(import_job(p, "mnist", [src])).added == 30
    assert p.count({"split": "test", "label": "2"}) == 3
    np.testing.assert_array_equal(p.image(p.ids({"split": "test"})[4]), x[24])
    state = {(s[1], s[0], str(s[5])) for s in _state(p).values()}
    run_job(export_job(p, "mnist", tmp_path / "out"))
    q = _project(tmp_path, "q")
    run_job(import_job(q, "mnist", [tmp_path / "out"]))
    assert {(s[1], s[0], str(s[5])) for s in _state(q).values()} == state


def test_npz_round_trip_labels_and_targets_and_pickle_refused(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (12, 8, 8), dtype=np.uint8)
    np.savez(
        tmp_path / "d.npz",
        x_train=x[:8],
        y_train=np.arange(8) % 3,
        x_test=x[8:],
        y_test=np.array([0, 1, 2, 2]),
    )
    p = _project(tmp_path)
    run_job(import_job(p, "npz", [tmp_path / "d.npz"]))
    assert p.count({"split": "test"}) == 4 and p.count({"label": "2"}) == 4
    state = sorted((s[0], s[1], str(s[5])) for s in _state(p).values())
    run_job(export_job(p, "npz", tmp_path / "out"))
    q = _project(tmp_path, "q")
    run_job(import_job(q, "npz", [tmp_path / "out" / "dataset.npz"]))
    assert sorted((s[0], s[1], str(s[5])) for s in _state(q).values()) == state

    np.savez(tmp_path / "r.npz", x=x, y=np.linspace(0, 1, 12))
    r = _project(tmp_path, "r")
    run_job(import_job(r, "npz", [tmp_path / "r.npz"]))
    assert sorted(t["y"] for t in (row["targets"] for row in r.query(limit=None))) == list(
        np.linspace(0, 1, 12)
    )

    np.savez(tmp_path / "evil.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ImportRejected, match="evil.npz"):
        run_job(import_job(r, "npz", [tmp_path / "evil.npz"]))


def _frictionless_errors(report):
    return [(e["type"], e.get("note", "")) for e in report.to_dict()["errors"]] + [
        (e["type"], e.get("note", ""))
        for task in report.to_dict()["tasks"]
        for e in task.get("errors", [])
    ]


def test_datapackage_is_valid_for_frictionless_with_every_checksum_verified(tmp_path):
    """The official implementation (frictionless v5) accepts our datapackage.json against the
    Data Package profile and recomputes every file's SHA-256 and size; one changed byte in
    one image is reported as a hash error of that file."""
    p = _project(tmp_path)
    run_job(import_job(p, "imagefolder", [_imagefolder(tmp_path / "src")]))
    p.set_mask(1, np.ones((20, 24), np.uint8), "ana")
    p.set_targets(2, {"size": 4.5})
    p.set_boxes(3, [Box("spot", 1, 1, 2, 2)])
    p.set_metadata(
        title="Cats and dogs",
        license="CC-BY-4.0",
        keywords=["pets"],
        creators=[{"name": "Ana", "email": "ana@example.org"}],
        version="1.0",
        instrument="camera",
        modality="photography",
        pixel_size=0.1,
        mask_classes={"1": "cat body"},
    )
    run_job(export_job(p, "datapackage", tmp_path / "out"))
    out = tmp_path / "out"
    descriptor = json.loads((out / "datapackage.json").read_text())
    report = frictionless.validate(out / "datapackage.json")
    assert report.valid, _frictionless_errors(report)
    files = {
        f.relative_to(out).as_posix()
        for f in out.rglob("*")
        if f.is_file() and f.name != "datapackage.json"
    }
    assert {r["path"] for r in descriptor["resources"]} == files
    assert len(files) == 6 + 1 + 1  # images, one mask, items.csv
    # Every file was read and its checksum and size recomputed and matched.
    declared = {r["path"]: (r["hash"], r["bytes"]) for r in descriptor["resources"]}
    checked = {task.name: task for task in report.tasks}
    assert len(report.tasks) == len(files)
    for resource in descriptor["resources"]:
        stats = checked[resource["name"]].stats
        assert declared[resource["path"]] == (f"sha256:{stats['sha256']}", stats["bytes"])
    table = next(r for r in descriptor["resources"] if r["path"] == "items.csv")
    assert "target:size" in [f["name"] for f in table["schema"]["fields"]]
    assert checked["items.csv"].stats["rows"] == 6  # the table was read against its schema
    assert descriptor["licenses"][0]["name"] == "CC-BY-4.0"
    assert descriptor["mask_classes"] == {"1": "cat body"}
    # The images part re-imports as an image folder with the same labels and splits.
    q = _project(tmp_path, "q")
    run_job(import_job(q, "imagefolder", [out / "data"]))
    assert q.count({"label": "dog", "split": "train"}) == 2
    # One changed byte in one image: frictionless names that file's hash.
    image = next(f for f in sorted(files) if f.endswith(".png"))
    data = bytearray((out / image).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / image).write_bytes(bytes(data))
    report = frictionless.validate(out / "datapackage.json")
    assert not report.valid
    bad = [task for task in report.tasks if not task.valid]
    assert [task.place for task in bad] == [image]
    assert [e.type for e in bad[0].errors] == ["hash-count"]


def test_folder_export_with_datapackage_is_valid_and_empty_selection_refused(tmp_path):
    """Images only (no table): still a valid package; nothing to export: a clear message."""
    p = _project(tmp_path)
    run_job(import_job(p, "imagefolder", [_imagefolder(tmp_path / "src")]))
    run_job(export_job(p, "imagefolder", tmp_path / "out", datapackage=True))
    report = frictionless.validate(tmp_path / "out" / "datapackage.json")
    assert report.valid, _frictionless_errors(report)
    assert len(report.tasks) == 6
    with pytest.raises(UserFacingError, match="no items match"):
        run_job(
            export_job(
                p, "imagefolder", tmp_path / "none", filters={"label": "bird"}, datapackage=True
            )
        )
    assert not (tmp_path / "none").exists()


def test_cancelled_export_leaves_no_folder_and_refuses_non_empty_target(tmp_path):
    p = _project(tmp_path)
    run_job(import_job(p, "imagefolder", [_imagefolder(tmp_path / "src", per_class=300)]))
    job = export_job(p, "imagefolder", tmp_path / "out")
    next(job)
    next(job)
    job.close()
    assert not (tmp_path / "out").exists()
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".out")] == []
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(UserFacingError, match="not empty"):
        run_job(export_job(p, "imagefolder", tmp_path / "full"))


def test_cli_import_info_export(tmp_path, capsys):
    from qbi_desktop.commands.project import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    src = _imagefolder(tmp_path / "src")

    def run(*argv):
        args = parser.parse_args(list(argv))
        return args.func(args)

    assert run("import", "--project", str(tmp_path / "p"), "--kind", "imagefolder", str(src)) == 0
    assert run("info", "--project", str(tmp_path / "p"), "--min-count", "2") == 0
    out = capsys.readouterr().out
    assert "6 item(s)" in out
    line = next(x for x in out.splitlines() if x.startswith("cat"))
    assert line.split() == ["cat", "1", "2", "3"]  # test, train, all
    assert "class 'cat' has only 1 item(s) in test" in out
    assert (
        run(
            "export",
            "--project",
            str(tmp_path / "p"),
            "--kind",
            "datapackage",
            "--out",
            str(tmp_path / "out"),
        )
        == 0
    )
    assert (tmp_path / "out" / "datapackage.json").is_file()
    assert run("info", "--project", str(tmp_path / "nope")) == 2
    assert "not exist" in capsys.readouterr().err


def test_mnist_real_files_import(tmp_path):
    folder = need(MNIST)
    p = _project(tmp_path)
    report = run_job(import_job(p, "mnist", [folder]))
    assert report.added == 70_000
    assert p.count({"split": "train"}) == 60_000 and p.count({"split": "test"}) == 10_000
    first_train = p.query({"split": "train"}, sort="id", limit=1)[0]
    assert first_train["label"] == "5" and first_train["index"] == 0  # MNIST's first is a 5
    assert p.image(first_train["id"]).shape == (28, 28)


def test_coco_export_says_which_class_labels_it_cannot_hold(tmp_path):
    """COCO has no per-image class: a classification project's labels cannot go into it, and the
    report says so instead of silently writing empty categories."""
    source = _imagefolder(tmp_path / "src")
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "imagefolder", [source]))
    report = run_job(export_job(project, "coco", tmp_path / "out"))
    labelled = len(project.ids())
    assert any(
        f"{labelled} item class label(s) are not in the COCO files" in w for w in report.warnings
    )
    assert "imagefolder" in str(report)
    # a detection project (boxes, no class labels) exports without that note
    detection = open_project(tmp_path / "d", create=True)
    run_job(import_job(detection, "coco", [_coco_source(tmp_path / "c")]))
    notes = run_job(export_job(detection, "coco", tmp_path / "out2")).warnings
    assert not any("class label(s)" in note for note in notes)


def test_cli_export_counts_rejected_items_and_leaves_them_out_when_asked(tmp_path, capsys):
    from qbi_desktop.commands.project import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())

    def run(*argv):
        args = parser.parse_args(list(argv))
        return args.func(args)

    p = _project(tmp_path)
    run_job(import_job(p, "imagefolder", [_imagefolder(tmp_path / "src")]))
    p.set_review(p.ids({"label": "cat"}), "rejected")
    p.close()
    base = ["export", "--project", str(tmp_path / "p"), "--kind", "imagefolder", "--out"]
    assert run(*base, str(tmp_path / "all")) == 0
    assert "3 item(s) reviewed as rejected are in the export too" in capsys.readouterr().out
    assert len(list((tmp_path / "all").rglob("*.png"))) == 6
    assert run(*base, str(tmp_path / "kept"), "--leave-out-rejected") == 0
    assert "3 item(s) reviewed as rejected left out" in capsys.readouterr().out
    kept = list((tmp_path / "kept").rglob("*.png"))
    assert len(kept) == 3 and all("cat" not in path.parts for path in kept)
