"""A Data Package whose items.csv was edited on purpose after the export: the refusal says how
to bring the edits in, ``edited_table`` imports them with a note that the table was not
verified, and a table cut short (an accident, not an edit) stays refused."""

from __future__ import annotations

import csv

import pytest
from formats_roundtrip_helpers import imagefolder, new_project

from qbi_desktop.cli import main
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job


def _package(tmp_path):
    project = new_project(tmp_path, "src")
    run_job(import_job(project, "imagefolder", [imagefolder(tmp_path / "images")]))
    run_job(export_job(project, "datapackage", tmp_path / "pkg"))
    project.close()
    return tmp_path / "pkg"


def _relabel(table, name, label):
    rows = list(csv.reader(table.open(newline="", encoding="utf-8")))
    col = rows[0].index("label")
    for row in rows[1:]:
        if row[rows[0].index("path")].endswith(name):
            row[col] = label
    with table.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def _labels(project):
    return {r["name"]: r["label"] for r in project.query(limit=None)}


def test_edited_table_is_refused_saying_how_to_bring_the_edits_in(tmp_path):
    pkg = _package(tmp_path)
    _relabel(pkg / "items.csv", "cat1.png", "lion")
    project = new_project(tmp_path, "dst")
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, "datapackage", [pkg]))
    text = str(caught.value)
    assert "items.csv" in text and "--edited-table" in text and "on purpose" in text
    assert len(project) == 0


def test_edited_table_accepted_imports_the_edits_with_a_note(tmp_path):
    pkg = _package(tmp_path)
    _relabel(pkg / "items.csv", "cat1.png", "lion")
    project = new_project(tmp_path, "dst")
    report = run_job(import_job(project, "datapackage", [pkg], edited_table=True))
    assert report.added == 6 and _labels(project)["cat1.png"] == "lion"
    assert "items.csv was edited since the export" in report.text()
    assert "not verified against a checksum" in report.text()


def test_a_table_cut_short_stays_refused_even_when_edits_are_accepted(tmp_path):
    pkg = _package(tmp_path)
    table = pkg / "items.csv"
    data = table.read_bytes()
    table.write_bytes(data[: len(data) - 40])
    project = new_project(tmp_path, "dst")
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, "datapackage", [pkg], edited_table=True))
    assert "damaged, not just edited" in str(caught.value) and len(project) == 0


def test_another_changed_file_stays_refused_with_the_option(tmp_path):
    pkg = _package(tmp_path)
    _relabel(pkg / "items.csv", "cat1.png", "lion")
    (image,) = [p for p in pkg.rglob("dog1.png")]
    image.write_bytes(image.read_bytes() + b"x")
    project = new_project(tmp_path, "dst")
    with pytest.raises(Exception) as caught:
        run_job(import_job(project, "datapackage", [pkg], edited_table=True))
    assert "dog1.png" in str(getattr(caught.value, "problems", caught.value)) or "dog1" in str(
        caught.value
    )
    assert len(project) == 0


def test_command_line_option(tmp_path, capsys):
    pkg = _package(tmp_path)
    _relabel(pkg / "items.csv", "cat1.png", "lion")
    args = ["import", "--project", str(tmp_path / "dst"), "--kind", "datapackage", str(pkg)]
    assert main(args) == 2
    assert "--edited-table" in capsys.readouterr().err
    assert main([*args, "--edited-table"]) == 0
    assert "items.csv was edited since the export" in capsys.readouterr().out
