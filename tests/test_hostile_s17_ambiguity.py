"""Hostile campaign s17: links out of an ImageFolder, ambiguous input picked silently, and a
missing file's NFC/NFD twin not named. Each case is refused (or named) with the file and the
clash; nothing is imported. Real files, real imports, the real command line."""

from __future__ import annotations

import json
import os
import unicodedata
import zipfile

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.augment import Pipeline
from qbi_desktop.core.catalog import ImportRejected, open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from tests.cli_helpers import run_cli


def _png(path, seed=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (12, 16), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _refused(tmp_path, kind, sources, error=ImportRejected):
    with open_project(tmp_path / "proj", create=True) as project:
        with pytest.raises(error) as caught:
            run_job(import_job(project, kind, sources))
        assert len(project) == 0
    problems = getattr(caught.value, "problems", None)
    return "\n".join(map(str, problems)) if problems else str(caught.value)


def test_imagefolder_refuses_a_linked_file_and_class_folder_leading_outside(tmp_path):
    outside = tmp_path / "outside"
    _png(outside / "secret.png", 9)
    src = tmp_path / "src"
    _png(src / "cat" / "a.png")
    os.symlink(outside / "secret.png", src / "cat" / "link.png")
    os.symlink(outside, src / "linkdir")
    text = _refused(tmp_path, "imagefolder", [src])
    assert "link.png" in text and "leads outside" in text
    assert "linkdir" in text and "class folder" in text


def test_imagefolder_keeps_a_link_that_stays_inside(tmp_path):
    src = tmp_path / "src"
    _png(src / "cat" / "a.png")
    os.symlink(src / "cat" / "a.png", src / "cat" / "b.png")
    with open_project(tmp_path / "proj", create=True) as project:
        report = run_job(import_job(project, "imagefolder", [src]))
    assert report.added >= 1  # refused only when it leads out


def test_json_with_a_key_twice_is_refused_naming_the_key(tmp_path):
    folder = tmp_path / "coco"
    _png(folder / "x.png")
    text = (
        '{"images":[{"id":1,"file_name":"x.png","width":16,"height":12}],"annotations":[],'
        '"categories":[{"id":1,"name":"a"}],"images":[]}'
    )
    (folder / "ann.json").write_text(text)
    message = _refused(tmp_path, "coco", [folder / "ann.json"], UserFacingError)
    assert "'images' appears twice" in message


def test_coco_annotation_id_used_twice_is_refused(tmp_path):
    folder = tmp_path / "coco"
    _png(folder / "x.png")
    ann = {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0, "area": 25}
    doc = {
        "images": [{"id": 1, "file_name": "x.png", "width": 16, "height": 12}],
        "annotations": [{**ann, "id": 7}, {**ann, "id": 7, "bbox": [2, 2, 5, 5]}],
        "categories": [{"id": 1, "name": "a"}],
    }
    (folder / "ann.json").write_text(json.dumps(doc))
    text = _refused(tmp_path, "coco", [folder / "ann.json"])
    assert "annotations[1].id: 7 is used twice (also annotations[0])" in text


def test_coco_missing_file_names_its_nfd_twin(tmp_path):
    folder = tmp_path / "coco"
    _png(folder / unicodedata.normalize("NFD", "café.png"))
    doc = {
        "images": [
            {
                "id": 1,
                "file_name": unicodedata.normalize("NFC", "café.png"),
                "width": 16,
                "height": 12,
            }
        ],
        "annotations": [],
        "categories": [{"id": 1, "name": "a"}],
    }
    (folder / "ann.json").write_text(json.dumps(doc))
    assert "Unicode normalisation" in _refused(tmp_path, "coco", [folder / "ann.json"])


def test_sheet_missing_file_names_its_case_twin(tmp_path):
    folder = tmp_path / "sh"
    _png(folder / "a.png")
    (folder / "s.csv").write_text("image,label\nA.PNG,cat\n")
    assert "'a.png' differs only in letter case" in _refused(tmp_path, "sheet", [folder / "s.csv"])


def test_npz_with_two_members_of_one_name_is_refused(tmp_path):
    import io

    def npy(array):
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()

    path = tmp_path / "d.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x_train.npy", npy(np.zeros((4, 8, 8), np.uint8)))
        z.writestr("y_train.npy", npy(np.array([0, 1, 0, 1])))
        z.writestr("y_train.npy", npy(np.array([1, 1, 1, 1])))
    assert "'y_train' twice" in _refused(tmp_path, "npz", [path])


def test_series_with_frames_named_in_several_paddings_is_refused(tmp_path):
    folder = tmp_path / "ser"
    folder.mkdir()
    for name in ("s_0001.tif", "s_0002.tif", "s_001.tif", "s_1.tif"):
        tifffile.imwrite(folder / name, np.zeros((8, 8), np.uint16))
    message = _refused(tmp_path, "series", [folder], UserFacingError)
    assert "s_0001.tif, s_001.tif, s_1.tif" in message and "ambiguous" in message


def test_augment_workers_are_capped_at_the_cpu_count(tmp_path):
    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "a.tif", np.zeros((16, 16), np.uint16))
    pipe = tmp_path / "pipe.json"
    Pipeline.from_options(seed=1, rotation_range=10).save(pipe)
    cpus = len(os.sched_getaffinity(0))
    done = run_cli(
        "augment", "--pipeline", str(pipe), "--input", str(tmp_path / "in"),
        "--output", str(tmp_path / "o"), "--copies", "1", "--workers", str(cpus + 5),
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"using {cpus} worker process(es)" in done.stderr
