"""Exports keep what a regression dataset's targets mean: the NPZ export carries the target
definitions (unit, range, decimals, what changes them) in a member numpy reads without pickles,
the CSV sheet in a Table Schema beside it (the CSV stays a plain table), the XLSX sheet in a
second worksheet; our own imports of those files give the definitions and the values back.
Exports with no place for targets say in their report that the targets were left out."""

from __future__ import annotations

import csv
import json

import frictionless
import numpy as np
import openpyxl
import pytest
from formats_roundtrip_helpers import image_of, new_project, save_image

from qbi_desktop.core.catalog import ImportRejected
from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job

THICK = T.TargetDef("thickness", "mm", 0.0, 10.0, 2, ("crop_zoom", "rotation_flip"))
MEAN = T.TargetDef("mean", "counts", None, 65535.0, None, ("intensity",))
VALUES = {"im0.png": (1.25, 100.5), "im1.png": (2.5, 0.1 + 0.2), "im2.png": (7.75, None)}


def _project(tmp_path):
    src = tmp_path / "src"
    for k in range(3):
        save_image(src / f"im{k}.png", image_of(k))
    p = new_project(tmp_path)
    run_job(import_job(p, "imagefolder", [src]))
    T.define(p, THICK)
    T.define(p, MEAN)
    by_name = {row["name"]: row["id"] for row in p.query(limit=None)}
    for name, (thick, mean) in VALUES.items():
        T.set_value(p, [by_name[name]], "thickness", thick, "ana")
        if mean is not None:
            T.set_value(p, [by_name[name]], "mean", mean, "ana")
    return p


def _values(project):
    """The items' targets in item order (an NPZ names its items by position)."""
    return [row["targets"] for row in sorted(project.query(limit=None), key=lambda r: r["id"])]


def _round_trip(tmp_path, kind, out, source, **options):
    p = _project(tmp_path)
    report = run_job(export_job(p, kind, out, datapackage=False, **options))
    q = new_project(tmp_path, "q")
    imported = run_job(import_job(q, kind, [source]))
    assert T.definitions(q) == {"thickness": THICK, "mean": MEAN}, imported.warnings
    assert _values(q) == _values(p)
    return report, imported


def test_npz_export_carries_the_definitions_and_the_import_reads_them_back(tmp_path):
    out = tmp_path / "npz"
    report, imported = _round_trip(tmp_path, "npz", out, out / "dataset.npz")
    with np.load(out / "dataset.npz", allow_pickle=False) as npz:  # no pickles needed
        defs = json.loads(str(npz["target_definitions"]))
        names = [str(n) for n in npz["target_names"]]
        note = str(npz["y_note"])
    assert names == ["mean", "thickness"]
    assert defs["thickness"] == {
        "unit": "mm",
        "low": 0.0,
        "high": 10.0,
        "decimals": 2,
        "changes_with": ["crop_zoom", "rotation_flip"],
    }
    assert defs["mean"]["unit"] == "counts" and defs["mean"]["low"] is None
    assert "mean [counts], thickness [mm]" in note  # a reader sees what y's columns are
    assert any("thickness [mm]" in w for w in report.warnings)
    assert any("definitions of target(s)" in w for w in imported.warnings)


def test_csv_sheet_export_has_a_table_schema_beside_it_and_the_import_reads_it(tmp_path):
    out = tmp_path / "sheet"
    _round_trip(tmp_path, "sheet", out, out / "targets.csv")
    with open(out / "targets.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "mean", "thickness", "split"]  # still a plain table
    schema = json.loads((out / "targets.schema.json").read_text(encoding="utf-8"))
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["thickness"]["title"] == "thickness [mm]"
    assert fields["thickness"]["constraints"] == {"minimum": 0.0, "maximum": 10.0}
    assert fields["mean"]["title"] == "mean [counts]"
    # the reference Table Schema reader takes the sidecar and checks the CSV against it
    resource = frictionless.Resource(
        path="targets.csv", basepath=str(out), schema=frictionless.Schema.from_descriptor(schema)
    )
    assert resource.validate().valid


def test_xlsx_sheet_export_has_a_targets_worksheet_and_the_import_reads_it(tmp_path):
    out = tmp_path / "xlsx"
    _round_trip(tmp_path, "sheet", out, out / "targets.xlsx", xlsx=True)
    book = openpyxl.load_workbook(out / "targets.xlsx", read_only=True)
    assert book.sheetnames[1] == "targets"
    rows = [list(r) for r in book["targets"].iter_rows(values_only=True)]
    book.close()
    assert rows[0] == ["target", "unit", "low", "high", "decimals", "changes_with"]
    assert ["thickness", "mm", 0, 10, 2, "crop_zoom, rotation_flip"] in rows


def test_the_project_keeps_its_own_definition_and_says_so(tmp_path):
    p = _project(tmp_path)
    run_job(export_job(p, "sheet", tmp_path / "out"))
    q = new_project(tmp_path, "q")
    own = T.TargetDef("thickness", "um", 0.0, 10000.0, 0)
    T.define(q, own)
    report = run_job(import_job(q, "sheet", [tmp_path / "out" / "targets.csv"]))
    assert T.definitions(q) == {"thickness": own, "mean": MEAN}
    assert any(
        "own definition of target(s) thickness kept" in w and "targets.schema.json" in w
        for w in report.warnings
    ), report.warnings


def test_a_bad_definition_beside_a_sheet_refuses_the_import_naming_it(tmp_path):
    p = _project(tmp_path)
    run_job(export_job(p, "sheet", tmp_path / "out"))
    schema_path = tmp_path / "out" / "targets.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    schema["qbi_desktop_targets"]["thickness"]["low"] = 20.0  # above its high
    schema_path.write_text(json.dumps(schema), encoding="utf-8")
    q = new_project(tmp_path, "q")
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(q, "sheet", [tmp_path / "out" / "targets.csv"]))
    (problem,) = caught.value.problems
    assert problem.file == str(schema_path)
    assert "thickness" in problem.reason and "lowest value" in problem.reason
    assert len(q) == 0


@pytest.mark.parametrize("kind", ["imagefolder", "coco", "labelme", "masks", "mnist"])
def test_exports_without_a_place_for_targets_say_they_left_them_out(tmp_path, kind):
    p = _project(tmp_path)
    if kind == "mnist":
        p.set_label(sorted(p.ids()), "1", "ana")
    report = run_job(export_job(p, kind, tmp_path / kind))
    assert any("targets of 3 item(s)" in w for w in report.warnings), report.warnings
