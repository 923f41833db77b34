"""A Data Package export carries what the project says about the dataset as a whole (the class
list in its order with classes no item has yet, each regression target's unit, range, decimals
and augmentations, the annotators) and our import gives it back; the official Frictionless
implementation reads units and ranges from items.csv's Table Schema. A package whose files
have no checksum (the spec makes ``hash`` optional) imports with a note saying so."""

from __future__ import annotations

import json

import frictionless
import pytest
from formats_roundtrip_helpers import image_of, new_project, save_image

from qbi_desktop.core.catalog import ImportRejected
from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

MEAN = T.TargetDef("mean_counts", "counts", 0.0, 70000.0, 3, ("intensity",))


def _project(tmp_path):
    src = tmp_path / "src"
    for k in range(6):
        save_image(src / f"im{k}.png", image_of(k))
    p = new_project(tmp_path)
    run_job(import_job(p, "imagefolder", [src]))
    ids = sorted(p.ids())
    p.set_label(ids[:3], "plate", "ana")
    p.set_label(ids[3:5], "beam", "ben")  # ids[5] keeps no class
    C.set_class_list(p, ["plate", "beam", "empty_class"])  # classes --order
    T.define(p, MEAN)
    T.set_value(p, ids[:4], "mean_counts", "1234.5", "ana")
    return p


def _fields(package_dir):
    descriptor = json.loads((package_dir / "datapackage.json").read_text())
    (items,) = [r for r in descriptor["resources"] if r["path"] == "items.csv"]
    return descriptor, {f["name"]: f for f in items["schema"]["fields"]}


def test_class_order_empty_classes_targets_and_annotators_come_back(tmp_path):
    p = _project(tmp_path)
    people = p.metadata()["annotators"]
    assert people == ["ana", "ben"]
    run_job(export_job(p, "datapackage", tmp_path / "out"))

    descriptor, fields = _fields(tmp_path / "out")
    section = descriptor["qbi_desktop_project"]
    assert section["classes"] == ["plate", "beam", "empty_class"]
    target = fields["target:mean_counts"]
    assert target["constraints"] == {"minimum": 0.0, "maximum": 70000.0}
    assert target["title"] == "mean_counts [counts]" and "3 decimals" in target["description"]
    assert frictionless.validate(tmp_path / "out" / "datapackage.json").valid

    q = new_project(tmp_path, "q")
    run_job(import_job(q, "datapackage", [tmp_path / "out"]))
    assert C.class_list(q) == ["plate", "beam", "empty_class"]  # not ['beam', 'plate']
    assert T.definitions(q) == {"mean_counts": MEAN}
    assert q.metadata()["annotators"] == people


def test_a_project_keeps_its_own_order_and_definitions_and_gains_the_missing(tmp_path):
    p = _project(tmp_path)
    run_job(export_job(p, "datapackage", tmp_path / "out"))
    q = new_project(tmp_path, "q")
    C.set_class_list(q, ["beam", "rod", "plate"])
    T.define(q, T.TargetDef("mean_counts", "counts/s", decimals=1))
    report = run_job(import_job(q, "datapackage", [tmp_path / "out"]))
    assert C.class_list(q) == ["beam", "rod", "plate", "empty_class"]  # only empty_class new
    assert T.definitions(q)["mean_counts"].unit == "counts/s"
    text = str(report)
    assert "own class order kept" in text and "own definition of target(s) mean_counts" in text


def test_values_outside_a_later_range_are_said_and_frictionless_flags_them(tmp_path):
    p = _project(tmp_path)
    T.define(p, T.TargetDef("mean_counts", "counts", 0.0, 1000.0, 3))  # 1234.5 now outside
    report = run_job(export_job(p, "datapackage", tmp_path / "out"))
    assert "target 'mean_counts': 4 value(s) lie outside its range 0.0..1000.0" in str(report)
    result = frictionless.validate(tmp_path / "out" / "datapackage.json")
    assert not result.valid
    assert {e[0] for e in result.flatten(["type"])} == {"constraint-error"}


def test_a_bad_definition_in_the_package_refuses_the_import(tmp_path):
    p = _project(tmp_path)
    run_job(export_job(p, "datapackage", tmp_path / "out"))
    path = tmp_path / "out" / "datapackage.json"
    descriptor = json.loads(path.read_text())
    descriptor["qbi_desktop_project"]["target_definitions"]["mean_counts"]["decimals"] = 99
    path.write_text(json.dumps(descriptor))
    q = new_project(tmp_path, "q")
    with pytest.raises(ImportRejected, match="decimals 99"):
        run_job(import_job(q, "datapackage", [tmp_path / "out"]))
    assert len(q) == 0


def _strip_hashes(package_dir):
    path = package_dir / "datapackage.json"
    descriptor = json.loads(path.read_text())
    for resource in descriptor["resources"]:
        del resource["hash"]
    path.write_text(json.dumps(descriptor))


def test_package_without_checksums_imports_with_a_note(tmp_path):
    p = _project(tmp_path)
    run_job(export_job(p, "datapackage", tmp_path / "out"))
    _strip_hashes(tmp_path / "out")
    assert frictionless.validate(tmp_path / "out" / "datapackage.json").valid  # spec: optional
    q = new_project(tmp_path, "q")
    report = run_job(import_job(q, "datapackage", [tmp_path / "out"]))
    assert len(q) == len(p)
    # 6 images, items.csv and the two class list files
    assert "9 file(s) not verified against a checksum" in str(report)
    labels = sorted(str(r["label"]) for r in q.query(limit=None))
    assert labels == sorted(str(r["label"]) for r in p.query(limit=None))


def test_without_checksums_a_file_of_another_size_is_still_refused(tmp_path):
    p = _project(tmp_path)
    run_job(export_job(p, "datapackage", tmp_path / "out"))
    _strip_hashes(tmp_path / "out")
    image = next((tmp_path / "out" / "data").rglob("*.png"))
    image.write_bytes(image.read_bytes() + b"x")
    q = new_project(tmp_path, "q")
    with pytest.raises(ImportRejected, match="it was changed"):
        run_job(import_job(q, "datapackage", [tmp_path / "out"]))
