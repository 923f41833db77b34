"""Hostile Data Packages (items.csv changed after a real ``datapackage`` export, its checksum
recomputed): a JSON cell nested 100 000 deep, a box far outside its image, a target column
given twice or without a name, a non-finite target are refused with the file, the row or
column and the problem named (exit code 2 on the command line, nothing imported)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil

import numpy as np
import pytest
from formats_hostile_helpers import _cli
from PIL import Image

from qbi_desktop.core.catalog import Box, ImportRejected, open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """A real export: three 30x40 images, one with a box and a target."""
    tmp = tmp_path_factory.mktemp("dp")
    rng = np.random.default_rng(5)
    for k in range(3):
        (tmp / "src" / "cat").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (30, 40), np.uint8)).save(
            tmp / "src" / "cat" / f"c{k}.png"
        )
    with open_project(tmp / "p", create=True) as p:
        run_job(import_job(p, "imagefolder", [tmp / "src"]))
        first = p.ids()[0]
        p.set_boxes(first, [Box("ear", 1, 2, 10, 5)])
        p.set_targets(first, {"size": 4.5})
        run_job(export_job(p, "datapackage", tmp / "out"))
    return tmp / "out"


def _tampered(package, tmp_path, change):
    """A copy of the package whose items.csv rows went through ``change`` (checksum fixed)."""
    pkg = tmp_path / "pkg"
    shutil.copytree(package, pkg)
    rows = list(csv.reader(io.StringIO((pkg / "items.csv").read_text(encoding="utf-8-sig"))))
    rows = change(rows)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    data = buffer.getvalue().encode()
    (pkg / "items.csv").write_bytes(data)
    descriptor = json.loads((pkg / "datapackage.json").read_text())
    table = next(r for r in descriptor["resources"] if r["path"] == "items.csv")
    table.update(bytes=len(data), hash=f"sha256:{hashlib.sha256(data).hexdigest()}")
    (pkg / "datapackage.json").write_text(json.dumps(descriptor))
    return pkg


def _set(column, value, row=1):
    def change(rows):
        rows[row][rows[0].index(column)] = value
        return rows

    return change


def _rejected_rows(pkg, tmp_path):
    with open_project(tmp_path / "q", create=True) as q:
        with pytest.raises(ImportRejected) as caught:
            run_job(import_job(q, "datapackage", [pkg]))
        assert len(q) == 0
    return [(p.file, p.row, p.reason) for p in caught.value.problems]


def test_the_untouched_package_imports(package, tmp_path):
    with open_project(tmp_path / "q", create=True) as q:
        run_job(import_job(q, "datapackage", [package]))
        assert len(q) == 3
        boxes = [b for i in q.ids() for b in q.boxes(i)]
        assert [(b.label, b.x, b.w) for b in boxes] == [("ear", 1, 10)]


@pytest.mark.parametrize("column", ["boxes", "provenance", "metadata"])
def test_a_json_cell_nested_100000_deep_is_refused_not_a_recursion_error(
    package, tmp_path, capsys, column
):
    pkg = _tampered(package, tmp_path, _set(column, "[" * 100_000 + "]" * 100_000))
    ((where, row, reason),) = _rejected_rows(pkg, tmp_path)
    assert where.endswith("items.csv") and row == 2
    assert reason.startswith(f"{column} is nested too deeply")
    code, err = _cli(capsys, "import", "--kind", "datapackage", pkg, "--project", tmp_path / "r")
    assert code == 2 and "items.csv, row 2" in err and "RecursionError" not in err


def test_a_nan_token_in_a_json_cell_is_refused(package, tmp_path):
    cell = '[{"label": "a", "x": NaN, "y": 1, "w": 1, "h": 1}]'
    pkg = _tampered(package, tmp_path, _set("boxes", cell))
    ((_, row, reason),) = _rejected_rows(pkg, tmp_path)
    assert row == 2 and "boxes is not valid JSON" in reason and "NaN" in reason


def test_a_box_outside_its_image_is_refused_as_coco_import_refuses_it(package, tmp_path):
    cell = '[{"label": "a", "x": 100000, "y": 1, "w": 5, "h": 1}]'
    pkg = _tampered(package, tmp_path, _set("boxes", cell, row=2))
    ((where, row, reason),) = _rejected_rows(pkg, tmp_path)
    assert where.endswith("items.csv") and row == 3
    assert "boxes[0]: 'a' at x=100000" in reason and "lies outside the 40x30 image" in reason


def test_a_box_within_half_a_pixel_of_the_edge_is_kept(package, tmp_path):
    cell = '[{"label": "a", "x": 30.25, "y": 0, "w": 10, "h": 30.5}]'
    pkg = _tampered(package, tmp_path, _set("boxes", cell, row=2))
    with open_project(tmp_path / "q", create=True) as q:
        run_job(import_job(q, "datapackage", [pkg]))
        assert sorted(b.label for i in q.ids() for b in q.boxes(i)) == ["a", "ear"]


def test_a_target_column_given_twice_is_refused_naming_both_columns(package, tmp_path, capsys):
    def twice(rows):
        return [rows[0] + ["target:t", "target:t"]] + [r + ["1", "2"] for r in rows[1:]]

    pkg = _tampered(package, tmp_path, twice)
    with open_project(tmp_path / "q", create=True) as q:
        with pytest.raises(UserFacingError, match=r"items.csv: columns \d+ and \d+ are both"):
            run_job(import_job(q, "datapackage", [pkg]))
        assert len(q) == 0
    code, err = _cli(capsys, "import", "--kind", "datapackage", pkg, "--project", tmp_path / "r")
    assert code == 2 and "'target:t'" in err


def test_a_target_column_without_a_name_is_refused(package, tmp_path):
    def unnamed(rows):
        return [rows[0] + ["target:"]] + [r + ["1"] for r in rows[1:]]

    pkg = _tampered(package, tmp_path, unnamed)
    with open_project(tmp_path / "q", create=True) as q:
        with pytest.raises(UserFacingError, match=r"items.csv: column \d+ \('target:'\) names no"):
            run_job(import_job(q, "datapackage", [pkg]))


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity"])
def test_a_non_finite_target_is_refused_naming_the_row(package, tmp_path, text):
    pkg = _tampered(package, tmp_path, _set("target:size", text))
    ((_, row, reason),) = _rejected_rows(pkg, tmp_path)
    assert row == 2 and reason == f"target 'size': {text!r} is not a finite number"


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("label", "a\x00b", "label: class name 'a\\x00b' holds a control character (U+0000)"),
        ("label", "x" * 5000, "label: class name 'xxxx"),
        (
            "boxes",
            '[{"label": "", "x": 1, "y": 1, "w": 2, "h": 2}]',
            "boxes[0].label: class name '' is empty",
        ),
    ],
)
def test_unusable_labels_are_refused_naming_the_row(package, tmp_path, column, value, problem):
    pkg = _tampered(package, tmp_path, _set(column, value))
    ((_, row, reason),) = _rejected_rows(pkg, tmp_path)
    assert row == 2 and reason.startswith(problem)
