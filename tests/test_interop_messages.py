"""What other tools would make of our files, said where it matters: items without a class in an
ImageFolder export lie beside the class folders, where torchvision takes them for no class (the
report says where; --leave-out-unlabelled leaves them out); a COCO results file is named as one,
with what to import instead; a target value is answered with its definition's decimals."""

from __future__ import annotations

import json

import pytest
from formats_roundtrip_helpers import coco_source, image_of, new_project, save_image

from qbi_desktop.cli import main
from qbi_desktop.core.catalog import ImportRejected
from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

try:
    from tests.torchvision_folder import load_folder_module
except ImportError:  # pragma: no cover
    from torchvision_folder import load_folder_module


def _project(tmp_path):
    src = tmp_path / "src"
    for k, label in enumerate(["cat", "dog", None, "cat", None]):
        save_image(src / (label or "unlabelled") / f"im{k}.png", image_of(k))
    p = new_project(tmp_path)
    run_job(import_job(p, "imagefolder", [src]))
    return p


def test_unlabelled_folder_is_said_and_can_be_left_out_of_what_torchvision_reads(tmp_path):
    folder = load_folder_module()
    if folder is None:
        pytest.skip("torchvision is not installed")
    p = _project(tmp_path)
    report = run_job(export_job(p, "imagefolder", tmp_path / "all"))
    # no splits: the classes are in unassigned/, the items without a class beside it
    assert folder.ImageFolder(str(tmp_path / "all" / "unassigned")).classes == ["cat", "dog"]
    text = str(report)
    assert "2 item(s) without a class are in unlabelled/, beside the split folders" in text
    assert "--leave-out-unlabelled" in text

    report = run_job(export_job(p, "imagefolder", tmp_path / "labelled", leave_out_unlabelled=True))
    dataset = folder.ImageFolder(str(tmp_path / "labelled"))
    assert dataset.classes == ["cat", "dog"] and len(dataset) == 3
    assert "2 item(s) without a class left out" in str(report)
    assert "are in" not in str(report)


def test_data_package_says_where_unlabelled_items_are(tmp_path):
    p = _project(tmp_path)
    report = run_job(export_job(p, "datapackage", tmp_path / "out"))
    assert "2 item(s) without a class are in data/unlabelled/, beside the split" in str(report)


def test_cli_leave_out_unlabelled(tmp_path, capsys):
    p = _project(tmp_path)
    out = tmp_path / "out"
    args = ["--project", str(p.root), "--kind", "imagefolder", "--out", str(out)]
    assert main(["export", *args, "--leave-out-unlabelled"]) == 0
    assert "2 item(s) without a class left out" in capsys.readouterr().out
    assert sorted(d.name for d in out.iterdir() if d.is_dir()) == ["cat", "dog"]


def test_coco_results_file_is_named_with_what_to_import_instead(tmp_path):
    coco = pytest.importorskip("pycocotools.coco")
    truth = coco_source(tmp_path)
    results = [
        {"image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 5], "score": 0.9},
        {"image_id": 2, "category_id": 2, "bbox": [0, 0, 20, 10], "score": 0.4},
    ]
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(results))
    assert len(coco.COCO(str(truth)).loadRes(str(path)).getAnnIds()) == 2  # what it is for
    q = new_project(tmp_path, "q")
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(q, "coco", [path], images_dir=truth.parent))
    text = str(caught.value)
    assert "COCO results (detections) file" in text and "2 predicted boxes with scores" in text
    assert "instances_*.json" in text and "loadRes" in text
    assert len(q) == 0


def test_target_value_is_answered_with_the_definitions_decimals(tmp_path, capsys):
    p = _project(tmp_path)
    T.define(p, T.TargetDef("mean_counts", "counts", 0.0, 70000.0, 3))
    change = T.set_value(p, [1], "mean_counts", "1000.125")
    assert change.what == "mean_counts = 1000.125"  # not %g's 1000.12
    args = ["--project", str(p.root), "--name", "mean_counts", "--ids", "2", "--value", "11000.125"]
    assert main(["target", *args]) == 0
    assert "mean_counts = 11000.125: 1 of 1" in capsys.readouterr().out
    assert T.set_value(p, [1], "width", "123456.789").what == "width = 123456.789"  # undefined
