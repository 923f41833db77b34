"""Class names that differ only by letter case or Unicode normalisation (hostile campaign s17).

macOS disks deliver folder names decomposed (NFD: "e" + combining accent); a sheet typed on
another machine says "café" composed (NFC). The two look the same and were two classes; every
import now stores NFC and says when it changed a name. An ImageFolder export wrote ``Dog/`` and
``dog/`` (and the two "café") side by side, one folder on Windows and macOS: the second is
de-collided (``dog_2/``) with a note. Real files, real imports and exports, the real CLI."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.cli import main as cli_main
from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog import classes as C
from qbi_desktop.core.catalog.images import hash_file
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")


def _png(path, seed=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (12, 16), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _project(tmp_path, name="proj"):
    return open_project(tmp_path / name, create=True)


def _add(project, tmp_path, labels, split=None):
    """Items with these labels (None: unlabelled), written straight into the catalog as an
    older project (before the NFC rule) holds them."""
    files = [_png(tmp_path / "img" / f"{n}.png", n) for n in range(len(labels))]
    with project.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(f.name, hash_file(f), f, label=label, split=split, width=16, height=12)
                for f, label in zip(files, labels, strict=True)
            ]
        )
    # the catalog's writes store NFC now: the older spellings go in as an older version wrote
    with project.db:
        project.db.executemany(
            "UPDATE items SET label = ? WHERE id = ?", list(zip(labels, ids, strict=True))
        )


def test_imagefolder_import_stores_nfd_folder_names_as_nfc_with_a_note(tmp_path):
    src = tmp_path / "src"
    _png(src / NFC / "a.png", 1)
    _png(src / NFD / "b.png", 2)
    _png(src / "dog" / "c.png", 3)
    with _project(tmp_path) as project:
        report = run_job(import_job(project, "imagefolder", [src]))
        counts = C.class_counts(project)
    assert counts == {NFC: 2, "dog": 1}  # one class, as it looks
    assert any("NFD" in w and "NFC" in w for w in report.warnings), report.warnings


def test_sheet_import_stores_nfd_labels_as_nfc_with_a_note(tmp_path):
    folder = tmp_path / "sh"
    _png(folder / "a.png", 1)
    _png(folder / "b.png", 2)
    (folder / "s.csv").write_text(f"image,label\na.png,{NFD}\nb.png,{NFC}\n", encoding="utf-8")
    with _project(tmp_path) as project:
        report = run_job(import_job(project, "sheet", [folder / "s.csv"]))
        assert C.class_counts(project) == {NFC: 2}
    assert any("NFD" in w for w in report.warnings)


def test_coco_category_names_are_stored_as_nfc(tmp_path):
    folder = tmp_path / "coco"
    _png(folder / "a.png")
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 16, "height": 12}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "iscrowd": 0}
        ],
        "categories": [{"id": 1, "name": NFD}],
    }
    (folder / "ann.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with _project(tmp_path) as project:
        report = run_job(import_job(project, "coco", [folder / "ann.json"]))
        assert C.box_counts(project) == {NFC: 1}
    assert any("NFD" in w for w in report.warnings)


def test_class_commands_store_nfc_and_a_rename_onto_an_nfd_twin_is_refused(tmp_path):
    with _project(tmp_path) as project:
        _add(project, tmp_path, [NFD, None, "dog"])  # an older project: an NFD label in it
        with pytest.raises(UserFacingError, match="NFD"):
            C.rename_class(project, "dog", NFC)
        assert NFC not in C.add_class(project, NFC)  # it has the class (as NFD): no twin
        C.rename_class(project, NFD, NFC)  # mending the old name itself is allowed
        assert C.class_counts(project) == {NFC: 1, "dog": 1}


def test_imagefolder_export_decollides_case_and_normalisation_twins(tmp_path):
    with _project(tmp_path) as project:
        _add(project, tmp_path, ["Dog", "dog", NFC, NFD])  # an older project's four spellings
        report = run_job(export_job(project, "imagefolder", tmp_path / "out"))
    names = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir())
    keys = [C.folder_key(n) for n in names]
    assert len(set(keys)) == len(names) == 4, names  # no two folders one on Windows/macOS
    assert "dog_2" in names or "Dog_2" in names
    assert any("renamed" in w and "_2/" in w for w in report.warnings), report.warnings
    assert sum(len(list((tmp_path / "out" / n).iterdir())) for n in names) == 4


def test_export_file_names_in_one_folder_still_decollide(tmp_path):
    from qbi_desktop.core.formats.export_folder import ExportFolder

    folder = ExportFolder(tmp_path / "out")
    try:
        assert folder.unique("Dog/a.png") == "Dog/a.png"
        assert folder.unique("Dog/A.png") == "Dog/A_2.png"
        assert folder.unique("dog/a.png") == "dog_2/a.png"
        assert folder.unique("dog/b.png") == "dog_2/b.png"  # the folder keeps its new name
        assert folder.unique("Dog/b.png") == "Dog/b.png"
    finally:
        folder.discard()


def test_cli_classes_order_refuses_duplicates_and_unknown_names(tmp_path, capsys):
    with _project(tmp_path) as project:
        _add(project, tmp_path, ["cat", "dog"])
        before = C.class_list(project)
    root = str(tmp_path / "proj")
    assert cli_main(["classes", "--project", root, "--order", "dog,ct"]) == 2
    assert "'ct'" in capsys.readouterr().err
    assert cli_main(["classes", "--project", root, "--order", "dog,dog"]) == 2
    assert "twice" in capsys.readouterr().err
    with open_project(root) as project:
        assert C.class_list(project) == before  # nothing changed
    assert cli_main(["classes", "--project", root, "--order", "dog,ct", "--add", "ct"]) == 0
    with open_project(root) as project:
        assert C.class_list(project) == ["dog", "ct", "cat"]


def test_cli_export_refuses_an_unknown_split_or_class(tmp_path, capsys):
    with _project(tmp_path) as project:
        _add(project, tmp_path, ["cat"], split="train")
        with pytest.raises(UserFacingError, match="unknown class 'ct'.*'cat'"):
            run_job(export_job(project, "sheet", tmp_path / "o1", filters={"label": "ct"}))
    args = ["export", "--project", str(tmp_path / "proj"), "--kind", "imagefolder"]
    assert cli_main([*args, "--out", str(tmp_path / "o2"), "--split", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "'bogus'" in err and "'train', 'val', 'test'" in err
    assert not (tmp_path / "o2").exists()


def test_every_way_in_stores_class_names_in_nfc(tmp_path):
    """The catalog's own writes store NFC whatever the way in (YOLO, labelme, Data Package and
    array imports, commands, keys): an item's label, its boxes' labels, a relabel, and the
    labels of an array import all come out as the one class "café"."""
    from qbi_desktop.core.catalog.records import Box

    image, other = tmp_path / "a.png", tmp_path / "b.png"
    _png(image)
    _png(other, seed=2)
    with open_project(tmp_path / "proj", create=True) as project:
        with project.transaction() as tx:
            (first,) = tx.add_items(
                [
                    NewItem(
                        name="a.png", hash=hash_file(image), path=image, width=8, height=8,
                        label=NFD, boxes=[Box(NFD, 1, 1, 3, 3)],
                    )
                ]
            )  # fmt: skip
        with project.transaction() as tx:
            (second,) = tx.add_items(
                [NewItem(name="b.png", hash=hash_file(other), path=other, width=8, height=8)]
            )
            tx.set_label([second], NFD, None)
        labels = {row[0] for row in project.db.execute("SELECT label FROM items")}
        boxes = {row[0] for row in project.db.execute("SELECT label FROM boxes")}
    assert labels == {NFC} and boxes == {NFC}

    arrays = tmp_path / "digits.npz"
    np.savez(
        arrays,
        x=np.zeros((3, 4, 4), np.uint8),
        y=np.array([0, 1, 0]),
        class_names=np.array([NFD, "thé"]),
    )
    with open_project(tmp_path / "arrays", create=True) as project:
        run_job(import_job(project, "npz", [arrays]))
        stored = {row[0] for row in project.db.execute("SELECT DISTINCT label FROM items")}
        assert stored == {NFC, "thé"} and C.class_list(project)[0] == NFC
