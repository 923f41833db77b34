"""Every annotator's own annotations survive a Data Package round trip: ``export --annotations
every`` writes annotators/annotations.csv and each person's masks (listed and checksummed), and
``import --kind datapackage`` gives each person their labels, targets, boxes, masks and review
states back (it once passed over the table: the agreement of "2 annotators (alice, bob)" came
back as none). A row that cannot be kept refuses the import, naming the file and row."""

from __future__ import annotations

import csv
import hashlib
import json

import frictionless
import numpy as np
import pytest
from formats_roundtrip_helpers import image_of, new_project, save_image

from qbi_desktop.core.catalog import Box, ImportRejected, opinions
from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job


def _project(tmp_path):
    src = tmp_path / "src"
    for k in range(4):
        save_image(src / f"im{k}.png", image_of(k))
    p = new_project(tmp_path)
    run_job(import_job(p, "imagefolder", [src]))
    ids = sorted(p.ids())
    p.set_label(ids, "plate", "alice")
    p.set_label(ids[:2], "plate", "bob")
    p.set_label(ids[2:], "beam", "bob")
    T.define(p, T.TargetDef("thick", "mm", None, None, None, ()))
    T.set_value(p, ids[:2], "thick", "1.5", "alice")
    T.set_value(p, ids[:2], "thick", "2.25", "bob")
    p.set_boxes(ids[0], [Box("cell", 1, 2, 5, 6)], "alice")
    p.set_boxes(ids[0], [Box("cell", 1, 2, 5, 6), Box("dot", 8, 8, 2, 2)], "bob")
    h, w = np.shape(p.image(ids[1]))[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[2:6, 3:9] = 1
    p.set_mask(ids[1], mask, "alice")
    p.set_mask(ids[1], mask * 2, "bob")
    p.set_review([ids[3]], "accepted", "bob")
    return p


def _by_name(project):
    out = {}
    for item_id in project.ids():
        name = project.get(item_id)["name"]
        mine = opinions.for_item(project.db, item_id)
        for annotator, kinds in mine.items():
            if "mask" in kinds:
                kinds["mask"] = opinions.load_mask(project, kinds["mask"], item_id, annotator)
        out[name] = mine
    return out


def _same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].keys() == b[name].keys(), name
        for who in a[name]:
            mask_a, mask_b = a[name][who].pop("mask", None), b[name][who].pop("mask", None)
            assert a[name][who] == b[name][who], (name, who)
            assert (mask_a is None) == (mask_b is None)
            if mask_a is not None:
                np.testing.assert_array_equal(mask_a, mask_b)


def test_each_annotators_annotations_come_back(tmp_path):
    p = _project(tmp_path)
    before = _by_name(p)
    assert {who for v in before.values() for who in v} == {"alice", "bob"}
    run_job(export_job(p, "datapackage", tmp_path / "dp", annotations="every"))
    assert frictionless.validate(tmp_path / "dp" / "datapackage.json").valid

    q = new_project(tmp_path, "q")
    report = run_job(import_job(q, "datapackage", [tmp_path / "dp"]))
    _same(before, _by_name(q))
    assert any("alice, bob" in w for w in report.warnings)
    assert opinions.annotators(q.db) == ["alice", "bob"]
    labels = opinions.table(q.db, "label")  # what the agreement report reads
    assert len(labels) == 4 and all(set(v) == {"alice", "bob"} for v in labels.values())


def _rewrite_row(package, change):
    """Change annotators/annotations.csv and its size and checksum in datapackage.json (a
    package edited by hand, consistently)."""
    table = package / "annotators" / "annotations.csv"
    rows = list(csv.reader(table.open(newline="", encoding="utf-8")))
    change(rows)
    with table.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    descriptor = json.loads((package / "datapackage.json").read_text())
    for resource in descriptor["resources"]:
        if resource["path"] == "annotators/annotations.csv":
            data = table.read_bytes()
            resource["bytes"] = len(data)
            resource["hash"] = "sha256:" + hashlib.sha256(data).hexdigest()
    (package / "datapackage.json").write_text(json.dumps(descriptor))


@pytest.mark.parametrize(
    ("kind", "value", "says"),
    [
        ("boxes", '[["cell", 1, 2, 0, 0]]', "a width and a height of more than 0"),
        ("label", '"a\\u0000b"', "label of item"),
        ("target", '"much"', "is not a finite number"),
        ("mask", '"annotators/nowhere.tif"', "not a file listed in datapackage.json"),
        ("review", '"maybe"', "is not one of"),
    ],
)
def test_a_bad_row_refuses_the_import_naming_file_and_row(tmp_path, kind, value, says):
    p = _project(tmp_path)
    run_job(export_job(p, "datapackage", tmp_path / "dp", annotations="every"))

    def change(rows):
        row = next(r for r in rows[1:] if r[3] == kind)
        row[5] = value
        return rows

    _rewrite_row(tmp_path / "dp", change)
    q = new_project(tmp_path, "q")
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(q, "datapackage", [tmp_path / "dp"]))
    (problem,) = caught.value.problems
    assert problem.file.endswith("annotations.csv") and problem.row is not None
    assert says in problem.reason
    assert q.ids() == []
