"""An ImageFolder archive is read as the folder import reads the extracted folder: one top
folder holding images and no folders is a class folder (``cat.tar`` -> ``cat/*.png`` gives
class ``cat``, as importing the folder that holds ``cat/`` does; it once came in unlabelled,
the folder taken for a wrapper), while one holding folders stays a wrapper (``data.zip`` ->
``data/cat/...``). Real .tar and .zip files, the real import."""

from __future__ import annotations

import tarfile
import zipfile

import pytest
from formats_roundtrip_helpers import image_of, new_project, save_image

from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _pack(tmp_path, kind, folder):
    out = tmp_path / f"pack.{kind}"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if kind == "tar":
        with tarfile.open(out, "w") as tar:
            for f in files:
                tar.add(f, arcname=str(f.relative_to(folder)))
    else:
        with zipfile.ZipFile(out, "w") as zf:
            for f in files:
                zf.write(f, str(f.relative_to(folder)))
    return out


def _labels(project):
    return sorted((project.get(i)["name"], project.get(i)["label"]) for i in project.ids())


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_an_archive_of_one_class_folder_gives_the_class_as_the_folder_does(tmp_path, kind):
    src = tmp_path / "src"
    for k in range(2):
        save_image(src / "cat" / f"c{k}.png", image_of(k))
    archived = new_project(tmp_path, "a")
    report = run_job(import_job(archived, "imagefolder", [_pack(tmp_path, kind, src)]))
    folder = new_project(tmp_path, "f")
    run_job(import_job(folder, "imagefolder", [src]))
    assert _labels(archived) == _labels(folder) == [("c0.png", "cat"), ("c1.png", "cat")]
    assert any("read as class folder 'cat'" in w for w in report.warnings)


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_one_folder_holding_class_folders_is_still_a_wrapper(tmp_path, kind):
    src = tmp_path / "src"
    for k, cls in enumerate(("cat", "dog")):
        save_image(src / "data" / cls / f"{cls}{k}.png", image_of(k))
    archived = new_project(tmp_path, "a")
    report = run_job(import_job(archived, "imagefolder", [_pack(tmp_path, kind, src)]))
    assert _labels(archived) == [("cat0.png", "cat"), ("dog1.png", "dog")]
    assert not any("class folder" in w for w in report.warnings)
