"""One rule for annotator names wherever one is taken: command options, the catalog's writes
(imports included) and the GUI's stored setting. A name with a line break, a tab or another
control character would be printed raw and break the TSV of `boxes` and the CSVs of exports,
so it is refused with a message that names the character, and nothing is written."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import tifffile
from cli_helpers import run_cli

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.records import Box
from qbi_desktop.core.errors import UserFacingError

BAD = ["eve\nmallory", "eve\tmallory", "eve\x1b[31m", "eve\x00", "eve\u2028x", "   ", "e" * 65]


@pytest.fixture
def project_root(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    for k in range(2):
        tifffile.imwrite(images / f"a{k}.tif", np.full((16, 16), k, np.uint16))
    root = tmp_path / "proj"
    done = run_cli("import", "--project", str(root), "--kind", "imagefolder", str(images))
    assert done.returncode == 0, done.stderr
    return root


def _annotators(root):
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        rows = db.execute(
            "SELECT annotator FROM boxes UNION SELECT annotator FROM annotation_log "
            "UNION SELECT label_by FROM items"
        ).fetchall()
    finally:
        db.close()
    return {r[0] for r in rows} - {None}


@pytest.mark.parametrize("name", BAD)
def test_the_rule_refuses_blank_long_and_control_characters(name):
    from qbi_desktop.core.catalog.classes import annotator_name_problem

    problem = annotator_name_problem(name)
    assert problem is not None and "annotator name" in problem
    assert annotator_name_problem("Dr. Ana Müller-López") is None


def test_boxes_refuses_an_annotator_with_a_line_break_and_writes_nothing(project_root):
    done = run_cli(
        "boxes", "--project", str(project_root), "--item", "1", "--add", "cell,1,1,4,4",
        "--annotator", "eve\nmallory\tx",
    )  # fmt: skip
    assert done.returncode == 2
    assert "--annotator" in done.stderr and "control character (U+000A)" in done.stderr
    listed = run_cli("boxes", "--project", str(project_root), "--item", "1")
    assert listed.stdout.splitlines() == ["item 1: 0 box(es)"]


@pytest.mark.parametrize("command", ["label", "import"])
def test_label_and_import_refuse_a_control_character_in_the_annotator(
    project_root, tmp_path, command
):
    if command == "label":
        argv = ["label", "--project", str(project_root), "--ids", "1", "--class", "a"]
    else:
        argv = ["import", "--project", str(tmp_path / "p2"), "--kind", "imagefolder",
                str(tmp_path / "imgs")]  # fmt: skip
    done = run_cli(*argv, "--annotator", "eve\x1b[2J")
    assert done.returncode == 2
    assert "control character (U+001B)" in done.stderr
    assert "\x1b" not in done.stderr  # the name is shown escaped, never raw
    assert _annotators(project_root) == set()
    assert not (tmp_path / "p2" / "catalog.sqlite").exists()


def test_the_catalog_refuses_a_bad_annotator_from_any_caller(project_root):
    with open_project(project_root) as project:
        with pytest.raises(UserFacingError, match="control character"):
            project.set_label([1], "a", annotator="eve\nmallory")
        with pytest.raises(UserFacingError, match="control character"):
            project.set_boxes(1, [Box("cell", 1, 1, 4, 4, "eve\tx")])
        with pytest.raises(UserFacingError, match="control character"):
            with project.transaction() as tx:
                tx.set_metadata(annotators=["ok", "bad\rname"])
        project.set_label([1], "a", annotator="eve")
    assert _annotators(project_root) == {"eve"}


def test_the_gui_setting_with_a_control_character_is_not_used(main_window):
    from qbi_desktop.gui.annotator import KEY, Annotator

    main_window.settings.setValue(KEY, "eve\x1b[31m")
    again = Annotator(main_window.settings)
    assert not again.chosen and "\x1b" not in again.name
    with pytest.raises(ValueError, match="control character"):
        main_window.annotator.set_name("eve\x07")
