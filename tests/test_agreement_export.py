"""Exports say who annotated and how the consensus was made, and can carry every annotator's own
annotations next to the item's (consensus) annotation."""

from __future__ import annotations

import csv
import json

import frictionless
import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.quality.consensus import build_consensus


def _project(tmp_path):
    src = tmp_path / "src"
    for k in range(3):
        path = src / "train" / "cell" / f"c{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((12, 16), 40 * k, np.uint8)).save(path)
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "imagefolder", [src]))
    ids = project.ids()
    project.set_metadata(mask_classes={"1": "spot"})
    for person, labels in (("Ana", "aab"), ("Ben", "abb"), ("Cleo", "abb")):
        for item, label in zip(ids, labels, strict=True):
            project.set_label([item], label, annotator=person)
    mask = np.zeros((12, 16), np.uint8)
    mask[2:6, 3:9] = 1
    project.set_mask(ids[0], mask, annotator="Ana")
    project.set_mask(ids[0], np.roll(mask, 1, axis=0), annotator="Ben")
    build_consensus(project)
    return project, ids


def test_datapackage_records_annotators_and_consensus_method(tmp_path):
    project, ids = _project(tmp_path)
    assert project.get(ids[1])["label"] == "b"  # Ana outvoted
    run_job(export_job(project, "datapackage", tmp_path / "out"))
    descriptor = json.loads((tmp_path / "out" / "datapackage.json").read_text())
    assert descriptor["annotators"] == ["Ana", "Ben", "Cleo"]
    consensus = descriptor["consensus"]
    assert consensus["label"]["method"] == "majority vote"
    assert consensus["label"]["annotators"] == ["Ana", "Ben", "Cleo"]
    assert consensus["mask"]["method"] == "STAPLE" and consensus["mask"]["items"] == 1
    report = frictionless.validate(tmp_path / "out" / "datapackage.json")
    assert report.valid
    # by default only the item's (consensus) annotation is exported
    assert not (tmp_path / "out" / "annotators").exists()
    rows = list(csv.DictReader((tmp_path / "out" / "items.csv").open()))
    assert [r["label"] for r in rows] == ["a", "b", "b"]
    assert rows[1]["annotator"] == "consensus of Ana, Ben, Cleo by majority vote"


def test_export_with_every_annotator_carries_each_ones_work(tmp_path):
    project, ids = _project(tmp_path)
    out = tmp_path / "every"
    report = run_job(export_job(project, "datapackage", out, annotations="every"))
    assert any("annotators/" in w for w in report.warnings)
    rows = list(csv.DictReader((out / "annotators" / "annotations.csv").open()))
    labels = {
        (int(r["item"]), r["annotator"]): json.loads(r["value"])
        for r in rows
        if r["kind"] == "label"
    }
    assert labels[(ids[1], "Ana")] == "a" and labels[(ids[1], "Ben")] == "b"
    masks = [r for r in rows if r["kind"] == "mask"]
    assert {r["annotator"] for r in masks} == {"Ana", "Ben"}
    for r in masks:
        assert (out / json.loads(r["value"])).is_file()
    descriptor = json.loads((out / "datapackage.json").read_text())
    paths = {r["path"] for r in descriptor["resources"]}
    assert "annotators/annotations.csv" in paths
    assert frictionless.validate(out / "datapackage.json").valid


def test_export_command_takes_the_annotations_choice(tmp_path, capsys):
    from qbi_desktop.cli import main

    project, _ids = _project(tmp_path)
    project.close()
    args = ["export", "--project", str(tmp_path / "p"), "--kind", "imagefolder"]
    assert main([*args, "--out", str(tmp_path / "o1"), "--annotations", "every"]) == 0
    assert (tmp_path / "o1" / "annotators" / "annotations.csv").is_file()
    assert main([*args, "--out", str(tmp_path / "o2")]) == 0
    assert not (tmp_path / "o2" / "annotators").exists()
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--out", str(tmp_path / "o3"), "--annotations", "some"])
    assert exit_.value.code == 2
    assert "invalid choice: 'some'" in capsys.readouterr().err
