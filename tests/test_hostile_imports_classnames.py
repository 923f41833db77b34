"""Class names a file brings (COCO category names, YOLO class lists, Data Package labels) go
through one check (formats/classnames.class_name_problem): empty, control characters (NUL,
escape), line separators and names longer than the 200 characters a class rename allows are
refused with the file and the record named; ordinary names (accents, CJK, spaces inside) pass."""

from __future__ import annotations

import numpy as np
import pytest
from formats_hostile_helpers import _cli, _coco, _refused
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.classes import MAX_CLASS_NAME
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.formats.classnames import class_name_problem
from qbi_desktop.core.jobs import run_job

BAD = [
    ("", "is empty"),
    ("   ", "is empty"),
    ("a\x00b", "control character (U+0000)"),
    ("\x1b[2Jred", "control character (U+001B)"),
    ("two\u2028lines", "U+2028"),
    ("x" * 1_000_000, "1,000,000 characters, more than the 200"),
]


def test_the_limit_is_the_rename_limit():
    assert class_name_problem("x" * MAX_CLASS_NAME) is None
    assert "201 characters" in class_name_problem("x" * (MAX_CLASS_NAME + 1))
    for good in ("cat", "Zelle – groß", "細胞", "a b", "0"):
        assert class_name_problem(good) is None


@pytest.mark.parametrize(("name", "problem"), [b for b in BAD if b[0].strip()])
def test_a_rename_refuses_what_an_import_refuses(tmp_path, name, problem):
    """The classes command and the GUI rename keep the same rule: a name an import refuses
    cannot be made by renaming either (NUL and escape sequences got through)."""
    import re

    from qbi_desktop.core.catalog.classes import rename_class
    from qbi_desktop.core.errors import UserFacingError

    with open_project(tmp_path / "p", create=True) as project:
        with pytest.raises(UserFacingError, match=re.escape(problem)):
            rename_class(project, "cat", name)


@pytest.mark.parametrize(("name", "problem"), BAD)
def test_coco_category_names(tmp_path, capsys, name, problem):
    ann = _coco(tmp_path / "in", categories=[{"id": 1, "name": name}, {"id": 2, "name": "ok"}])
    with open_project(tmp_path / "p", create=True) as project:
        message = _refused(project, "coco", [ann])
    assert str(ann) in message and "categories[0].name: class name" in message
    assert problem in message
    code, err = _cli(capsys, "import", "--kind", "coco", ann, "--project", tmp_path / "q")
    assert code == 2 and problem in err and len(err) < 5000  # the name is not printed whole


def _yolo(folder, classes: str):
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(folder / "x.png")
    (folder / "x.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.4 0.4 0.2 0.2\n")
    (folder / "classes.txt").write_text(classes, encoding="utf-8")
    return folder


@pytest.mark.parametrize(("name", "problem"), [b for b in BAD if b[0].strip()])
def test_yolo_class_list_names(tmp_path, name, problem):
    root = _yolo(tmp_path / "ds", f"ok\n{name}\n")
    with open_project(tmp_path / "p", create=True) as project:
        message = _refused(project, "yolo", [root])
    assert "classes.txt" in message and "line 2 (class 1)" in message and problem in message


def test_yolo_class_list_naming_one_class_twice(tmp_path):
    root = _yolo(tmp_path / "ds", "a\na\n")
    with open_project(tmp_path / "p", create=True) as project:
        message = _refused(project, "yolo", [root])
    assert "classes.txt" in message and "class 1: 'a' is also class 0" in message


def test_yolo_good_names_still_import(tmp_path):
    root = _yolo(tmp_path / "ds", "Zelle\n細胞\n")
    with open_project(tmp_path / "p", create=True) as project:
        run_job(import_job(project, "yolo", [root]))
        (item,) = project.ids()
        assert sorted(b.label for b in project.boxes(item)) == ["Zelle", "細胞"]
