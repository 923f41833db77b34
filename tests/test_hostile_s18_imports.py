"""Imports that took hostile input wrongly: NPZ bytes labels that are not UTF-8 were decoded with
replacement characters, so 'été' and 'ètè' in Latin-1 became one class; infinite targets
vanished as if they were no value (both refused now, naming the member and the index; NaN
targets are said as "no value"); an ImageFolder entry that is no file to read (a FIFO, a
broken link, a link loop) was passed over without a word."""

from __future__ import annotations

import numpy as np
import pytest

from qbi_desktop.core.catalog import ImportRejected, open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _npz(tmp_path, y):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.arange(len(y) * 64, dtype=np.uint8).reshape(len(y), 8, 8), y=y)
    return path


def test_latin1_labels_are_refused_not_merged(tmp_path):
    path = _npz(tmp_path, np.array([b"\xe9t\xe9", b"\xe8t\xe8", b"\xe9t\xe9", b"\xe8t\xe8"]))
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(project, "npz", [path]))
        assert len(project) == 0
    text = str(caught.value)
    assert "data.npz" in text and "y[0] is not UTF-8" in text and "0xe9" in text


def test_utf8_bytes_labels_still_import(tmp_path):
    path = _npz(tmp_path, np.array(["été".encode(), "ètè".encode()]))
    with open_project(tmp_path / "p", create=True) as project:
        run_job(import_job(project, "npz", [path]))
        assert sorted(r["label"] for r in project.query(limit=None)) == ["ètè", "été"]


def test_infinite_targets_are_refused_and_nan_is_said(tmp_path):
    path = _npz(tmp_path, np.array([np.nan, np.inf, 1.0]))
    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(project, "npz", [path]))
        assert "y[1] (y) is inf: a target must be a finite number" in str(caught.value)
    path = _npz(tmp_path, np.array([np.nan, 2.0, 1.0]))
    with open_project(tmp_path / "q", create=True) as project:
        report = run_job(import_job(project, "npz", [path]))
    assert "1 NaN target value(s) imported as no value" in str(report)


def test_imagefolder_names_entries_that_are_no_file_to_read(tmp_path):
    import os

    from PIL import Image

    src = tmp_path / "src" / "a"
    src.mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(src / "ok.png")
    os.mkfifo(src / "pipe.png")
    (src / "loop.png").symlink_to(src / "loop.png")
    (src / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with open_project(tmp_path / "p", create=True) as project:
        report = run_job(import_job(project, "imagefolder", [tmp_path / "src"]))
        assert len(project) == 1
    text = str(report)
    assert "3 entr(ies) are no file to read, skipped" in text
    assert "a/pipe.png (a named pipe (FIFO))" in text and "a/gone.png (a broken link)" in text
    assert "a/loop.png (a link that loops)" in text


def test_class_names_with_surrounding_spaces_are_the_class_they_look_like(tmp_path):
    import json

    from PIL import Image

    Image.new("L", (16, 16)).save(tmp_path / "a.png")
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 16, "height": 16}],
        "categories": [{"id": 1, "name": " spot "}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "iscrowd": 0}
        ],
    }
    (tmp_path / "c.json").write_text(json.dumps(coco))
    with open_project(tmp_path / "p", create=True) as project:
        report = run_job(import_job(project, "coco", [tmp_path / "c.json"]))
        labels = {b.label for b in project.boxes(1)}
    assert labels == {"spot"}
    assert "stored without their surrounding spaces" in str(report)
