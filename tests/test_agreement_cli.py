"""`qbi-desktop agreement`: report files and pictures, consensus on request, bad input exits 2."""

from __future__ import annotations

import csv
import json

import numpy as np
from PIL import Image

from qbi_desktop.cli import main
from qbi_desktop.core.catalog import NewItem, open_project


def _label_by(project, item):
    return project.db.execute("SELECT label_by FROM items WHERE id = ?", (item,)).fetchone()[0]


def _project(tmp_path):
    project = open_project(tmp_path / "p", create=True)
    with project.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(
                    name=f"img{i}.tif",
                    hash=f"h{i}",
                    path=project.root / f"img{i}.tif",
                    width=16,
                    height=16,
                )
                for i in range(6)
            ]
        )
    project.set_metadata(mask_classes={"1": "spot"})
    votes = {"Ana": "aabbcc", "Ben": "aabbca", "Cleo": "abbbcc"}
    for person, labels in votes.items():
        for item, label in zip(ids[:5], labels, strict=False):
            project.set_label([item], label, annotator=person)
        project.set_targets(ids[0], {"depth": float(len(person))}, annotator=person)
    project.set_label([ids[5]], "c", annotator="Ana")
    mask = np.zeros((16, 16), np.uint8)
    mask[4:9, 4:9] = 1
    project.set_mask(ids[1], mask, annotator="Ana")
    project.set_mask(ids[1], np.roll(mask, 1, axis=1), annotator="Ben")
    project.close()
    return tmp_path / "p", ids


def test_agreement_writes_report_csv_and_pictures_and_leaves_the_project_alone(tmp_path, capsys):
    folder, ids = _project(tmp_path)
    out = tmp_path / "out"
    assert main(["agreement", "--project", str(folder), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "agreement of 3 annotator(s) (Ana, Ben, Cleo)" in printed.out
    assert "1 item(s) have a label by one annotator only" in printed.err
    report = json.loads((out / "report.json").read_text())
    assert report["single_annotator_items"]["label"] == 1
    assert report["sections"]["label"]["pairs"]["Ana | Ben"]["items"] == 5
    rows = list(csv.DictReader((out / "disagreements.csv").open()))
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and max(scores) <= 1.0
    assert {r["kind"] for r in rows} == {"label", "target:depth", "mask"}
    pairs = list(csv.DictReader((out / "pairs.csv").open()))
    assert {r["figure"] for r in pairs} >= {"cohen_kappa", "percent_agreement", "bias", "dice"}
    single = list(csv.DictReader((out / "single_annotator.csv").open()))
    assert single == [{"kind": "label", "item": str(ids[5])}]
    pictures = sorted(p.name for p in out.glob("*.png"))
    assert len([p for p in pictures if p.startswith("confusion_")]) == 3
    assert len([p for p in pictures if p.startswith("bland_altman_")]) == 3
    with Image.open(out / pictures[0]) as img:
        assert img.size[0] > 300 and img.size[1] > 300
    # without --consensus the items keep their latest edit
    project = open_project(folder)
    assert _label_by(project, ids[0]) == "Cleo"
    project.close()


def test_agreement_with_consensus_writes_it_and_the_probability_maps(tmp_path, capsys):
    folder, ids = _project(tmp_path)
    out = tmp_path / "out"
    code = main(
        ["agreement", "--project", str(folder), "--out", str(out), "--consensus", "--quiet"]
    )
    assert code == 0
    assert "consensus written: 5 labels (0 ties left alone), 1 targets, 1 masks" in (
        capsys.readouterr().out
    )
    project = open_project(folder)
    assert project.get(ids[4])["label"] == "c"  # Ben's 'a' outvoted
    assert _label_by(project, ids[4]) == "consensus of Ana, Ben, Cleo by majority vote"
    project.close()
    summary = json.loads((out / "consensus.json").read_text())
    assert set(summary["staple"][str(ids[1])]) == {"Ana", "Ben"}
    assert (out / "probability" / f"{ids[1]}.tif").is_file()


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    code = main(["agreement", "--project", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "qbi-desktop agreement:" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    folder, _ids = _project(tmp_path)
    code = main(["agreement", "--project", str(folder), "--out", str(tmp_path / "file")])
    assert code == 2
    assert "exists and is not a folder" in capsys.readouterr().err
