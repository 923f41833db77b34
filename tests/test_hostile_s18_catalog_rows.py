"""A catalog from someone else is input too (/tmp/s18/hostile, finding 8): SQLite keeps text
in a REAL column, an infinite number, a box 1e308 pixels from its image. Such a row used to
crash the COCO and labelme exports and ``boxes`` with a TypeError, and the Data Package export
copied it out for our own import to refuse. Every reader of box, target, mask and container rows
now refuses the first bad one, naming the item, the row and what is wrong, before anything is
written."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.cli import main as cli_main
from qbi_desktop.core.annotation.boxes import boxes_of
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.project import Box
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _project(tmp_path):
    """Three 40x50 images; the first has one box, the second a target."""
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(3)
    for k in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 50), dtype=np.uint8)).save(src / f"im{k}.png")
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [src]))
        ids = project.ids(sort="name")
        project.set_boxes(ids[0], [Box("spot", 2, 3, 10, 8)])
        project.set_target([ids[1]], "dose", 1.5)
    return root, ids


def _sql(root, sql: str) -> None:
    db = sqlite3.connect(root / "catalog.sqlite")
    with db:
        db.execute(sql)
    db.close()


def _run(capsys, *argv) -> tuple[int, str]:
    code = cli_main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.err + out.out


BAD_BOXES = [
    ("'abc', 1e308, 1e308, 0", "x is 'abc', not a number"),
    ("1e308, 1e308, 1e308, 0", "at x=1e+308, y=1e+308, 1e+308x0 it lies outside its 50x40 image"),
    ("2, 3, 9e999, 4", "w is inf: NaN or infinite, not a finite number"),
    ("2, 3, '7 px', 4", "w is '7 px', not a number"),
    ("60, 3, 10, 4", "at x=60, y=3, 10x4 it lies outside its 50x40 image"),
]


@pytest.mark.parametrize("values, why", BAD_BOXES)
@pytest.mark.parametrize("kind", ["coco", "labelme", "datapackage"])
def test_an_export_refuses_a_bad_box_row_naming_it_before_writing(
    tmp_path, capsys, kind, values, why
):
    root, ids = _project(tmp_path)
    _sql(root, f"INSERT INTO boxes(id, item_id, label, x, y, w, h) VALUES (77, 1, 'b', {values})")
    out = tmp_path / "out"
    code, text = _run(capsys, "export", "--project", root, "--kind", kind, "--out", out)
    assert code == 2, text
    assert "Traceback" not in text and "TypeError" not in text
    assert "catalog.sqlite: item 1, box 77 ('b'): " + why in text
    assert "damaged or altered catalog" in text and "SQLite tool" in text
    assert not out.exists()  # nothing written, nothing copied out


@pytest.mark.parametrize("values, why", BAD_BOXES)
def test_boxes_command_and_readers_refuse_a_bad_box_row(tmp_path, capsys, values, why):
    root, ids = _project(tmp_path)
    _sql(root, f"INSERT INTO boxes(id, item_id, label, x, y, w, h) VALUES (9, 1, 'b', {values})")
    code, text = _run(capsys, "boxes", "--project", root, "--item", 1)
    assert code == 2, text
    assert "item 1, box 9 ('b'): " + why in text and "Traceback" not in text
    with open_project(root) as project:
        for read in (
            lambda: project.boxes(1),
            lambda: boxes_of(project, [1, 2]),
            lambda: project.get(1),
        ):
            with pytest.raises(UserFacingError, match=r"item 1, box 9 \('b'\): "):
                read()
        assert boxes_of(project, [2, 3]) == {}  # other items read as before


def test_boxes_within_the_tolerance_and_of_items_left_out_do_not_stop_an_export(tmp_path, capsys):
    root, ids = _project(tmp_path)
    _sql(
        root, "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (1, 'edge', -0.4, 0, 50.3, 40)"
    )
    _sql(root, "INSERT INTO boxes(item_id, label, x, y, w, h) VALUES (3, 'bad', 'abc', 0, 1, 1)")
    with open_project(root) as project:
        project.set_split([1, 2], "train")
    out = tmp_path / "out"
    code, text = _run(
        capsys, "export", "--project", root, "--kind", "coco", "--out", out, "--split", "train"
    )
    assert code == 0, text
    with open_project(root) as project:
        assert [b.label for b in project.boxes(1)] == ["spot", "edge"]


@pytest.mark.parametrize(
    "value, why", [("'high'", "its value is 'high', not a number"), ("9e999", "its value is inf")]
)
def test_a_bad_target_value_is_refused_by_export_and_item_reads(tmp_path, capsys, value, why):
    root, ids = _project(tmp_path)
    _sql(root, f"UPDATE targets SET value = {value} WHERE item_id = 2")
    out = tmp_path / "out"
    code, text = _run(capsys, "export", "--project", root, "--kind", "datapackage", "--out", out)
    assert code == 2, text
    assert "item 2, target 'dose': " + why in text and not out.exists()
    with open_project(root) as project:
        for read in (lambda: project.targets(2), lambda: project.get(2)):
            with pytest.raises(UserFacingError, match="item 2, target 'dose': " + why):
                read()


@pytest.mark.parametrize("path", ["''", "'   '", "x'00'"])
def test_a_mask_row_without_a_file_name_is_refused(tmp_path, capsys, path):
    root, ids = _project(tmp_path)
    _sql(root, f"INSERT INTO masks(item_id, path, updated) VALUES (3, {path}, 'now')")
    out = tmp_path / "out"
    code, text = _run(capsys, "export", "--project", root, "--kind", "masks", "--out", out)
    assert code == 2, text
    assert "item 3, mask: its file name" in text and "is no path" in text
    assert "Traceback" not in text and not out.exists()
    with open_project(root) as project:
        with pytest.raises(UserFacingError, match="item 3, mask: its file name"):
            project.mask(3)


def test_an_item_whose_container_row_is_missing_or_not_text_is_named(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 8, 8), np.uint8), y=np.arange(3))
    root = tmp_path / "p"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [tmp_path / "d.npz"]))
        first = project.ids()[0]
        (container,) = [r[0] for r in project.db.execute("SELECT id FROM containers")]
    _sql(root, f"UPDATE containers SET path = x'2f' WHERE id = {container}")
    with open_project(root) as project, pytest.raises(UserFacingError, match="is no file name"):
        project.image(first)
    _sql(root, f"UPDATE items SET container_id = 999 WHERE id = {first}")
    with open_project(root) as project:
        with pytest.raises(UserFacingError, match="container 999: items name this container"):
            project.image(first)
