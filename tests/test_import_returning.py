"""An export edited in another tool and imported back: the import notices that the files are
copies of items already in the project (same pixels) and, with ``update_originals``, puts the
edits onto those items instead of adding a second copy of each (undoably)."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from formats_roundtrip_helpers import image_of, imagefolder, new_project, save_image

from qbi_desktop.cli import main
from qbi_desktop.core.catalog.records import Box
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.formats.returning import take_back
from qbi_desktop.core.jobs import run_job


def _project_with_boxes(tmp_path):
    project = new_project(tmp_path)
    run_job(import_job(project, "imagefolder", [imagefolder(tmp_path / "src")]))
    for item in project.ids():
        project.set_boxes(item, [Box("spot", 2, 3, 5, 4)])
    return project


def _boxes(project, name):
    (item,) = [r["id"] for r in project.query(limit=None) if r["name"] == name]
    return [(b.label, b.x, b.y, b.w, b.h) for b in project.boxes(item)]


def _edit_labelme(folder, name):
    """Move the box of one exported item, as a person would in labelme."""
    (path,) = [p for p in folder.rglob("*.json") if p.stem == name]
    doc = json.loads(path.read_text())
    (shape,) = [s for s in doc["shapes"] if s["shape_type"] == "rectangle"]
    shape["points"] = [[10, 11], [14, 15]]
    path.write_text(json.dumps(doc))


def test_plain_import_of_an_edited_export_says_the_files_are_copies(tmp_path):
    project = _project_with_boxes(tmp_path)
    run_job(export_job(project, "labelme", tmp_path / "lm"))
    _edit_labelme(tmp_path / "lm", "cat1")
    report = run_job(import_job(project, "labelme", [tmp_path / "lm"]))
    text = report.text()
    assert report.added == 6 and len(project) == 12
    assert "6 of the 6 item(s) added have the same pixels" in text
    assert "cat1.png" in text and "--update-originals" in text
    # the dialog's own name for the option goes in when the GUI shows the note
    note = next(w for w in report.warnings if "same pixels" in w)
    assert "Update originals" in report.text({"--update-originals": "Update originals"})
    assert "--update-originals" not in note.named({"--update-originals": "Update originals"})


def test_update_originals_puts_the_edits_on_the_items_and_can_be_taken_back(tmp_path):
    project = _project_with_boxes(tmp_path)
    run_job(export_job(project, "labelme", tmp_path / "lm"))
    _edit_labelme(tmp_path / "lm", "cat1")
    report = run_job(import_job(project, "labelme", [tmp_path / "lm"], update_originals=True))
    assert report.added == 0 and len(project) == 6
    assert report.updated == 1 and report.already == 5
    assert _boxes(project, "cat1.png") == [("spot", 10, 11, 4, 4)]
    assert _boxes(project, "dog1.png") == [("spot", 2, 3, 5, 4)]
    assert "6 file(s) are copies of items already in the project" in report.text()
    assert take_back(project, report.returned) == 1
    assert _boxes(project, "cat1.png") == [("spot", 2, 3, 5, 4)]


def test_importing_again_with_the_option_mends_an_import_that_added_copies(tmp_path):
    project = _project_with_boxes(tmp_path)
    run_job(export_job(project, "labelme", tmp_path / "lm"))
    _edit_labelme(tmp_path / "lm", "cat1")
    run_job(import_job(project, "labelme", [tmp_path / "lm"]))
    assert len(project) == 12
    report = run_job(import_job(project, "labelme", [tmp_path / "lm"], update_originals=True))
    assert len(project) == 6 and report.added == 0
    assert _boxes(project, "cat1.png") == [("spot", 10, 11, 4, 4)]


def test_a_class_changed_in_the_folder_layout_comes_onto_the_original(tmp_path):
    project = new_project(tmp_path)
    run_job(import_job(project, "imagefolder", [imagefolder(tmp_path / "src")]))
    run_job(export_job(project, "imagefolder", tmp_path / "if"))
    (moved,) = list((tmp_path / "if").rglob("cat1.png"))
    target = moved.parent.parent / "dog" / moved.name
    shutil.move(moved, target)
    report = run_job(import_job(project, "imagefolder", [tmp_path / "if"], update_originals=True))
    assert len(project) == 6 and report.added == 0
    labels = {r["name"]: r["label"] for r in project.query(limit=None)}
    assert labels["cat1.png"] == "dog" and labels["cat2.png"] == "cat"
    assert "1 class(es)" in report.text()


def test_sheet_targets_edited_come_onto_the_originals(tmp_path):
    project = new_project(tmp_path)
    run_job(import_job(project, "imagefolder", [imagefolder(tmp_path / "src")]))
    (item,) = [r["id"] for r in project.query(limit=None) if r["name"] == "dog2.png"]
    project.set_target([item], "thickness", 12.345)
    run_job(export_job(project, "sheet", tmp_path / "sh"))
    (sheet,) = list((tmp_path / "sh").glob("*.csv"))
    rows = list(csv.DictReader(sheet.open(newline="", encoding="utf-8")))
    for row in rows:
        if row["image"].endswith("dog2.png"):
            row["thickness"] = "13.5"
    with sheet.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    options = {"images_dir": tmp_path / "sh", "update_originals": True}
    report = run_job(import_job(project, "sheet", [sheet], **options))
    assert len(project) == 6 and report.added == 0
    assert project.targets(item) == {"thickness": 13.5}


def test_a_file_matching_two_items_is_refused_naming_them(tmp_path):
    project = new_project(tmp_path)
    pixels = image_of(7)
    save_image(tmp_path / "a" / "one" / "x.png", pixels)
    save_image(tmp_path / "a" / "one" / "y.png", pixels)
    run_job(import_job(project, "imagefolder", [tmp_path / "a"]))
    save_image(tmp_path / "b" / "two" / "copy.png", pixels)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, "imagefolder", [tmp_path / "b"], update_originals=True))
    text = str(caught.value)
    assert "copy.png" in text and "x.png" in text and "y.png" in text
    assert "Nothing was added" in text and len(project) == 2
    # without the option the copy comes in, with a note naming the ambiguity
    report = run_job(import_job(project, "imagefolder", [tmp_path / "b"]))
    assert len(project) == 3 and "same pixels as 2 items" in report.text()


def test_command_line_option(tmp_path, capsys):
    project = _project_with_boxes(tmp_path)
    run_job(export_job(project, "labelme", tmp_path / "lm"))
    _edit_labelme(tmp_path / "lm", "dog2")
    folder = str(project.root)
    project.close()
    args = ["import", "--project", folder, "--kind", "labelme", str(tmp_path / "lm")]
    assert main([*args, "--update-originals"]) == 0
    out = capsys.readouterr().out
    assert "0 item(s) added, 1 updated" in out and "copies of items already" in out
