"""A regression target cannot be named like a column the exports write beside the targets
(the sheet's image, label and split): the sheet export once wrote ``image,label,label,split``
and our own import refused the file. Defining such a target is refused; a project that holds
one already (an older version, a Data Package's ``target:label`` column) exports it as
``target:<name>``, and the sheet import reads it back under its own name."""

from __future__ import annotations

import csv

import pytest
from formats_roundtrip_helpers import image_of, new_project, save_image

from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job


@pytest.mark.parametrize("name", ["label", "split", "image", "Label", "SPLIT", "target:x"])
def test_a_target_named_like_an_export_column_is_refused_at_definition(tmp_path, name):
    p = new_project(tmp_path)
    with pytest.raises(UserFacingError, match="choose another name"):
        T.define(p, T.TargetDef(name, "mm"))
    assert T.definitions(p) == {}
    T.define(p, T.TargetDef("label_value", "mm"))  # a name that only contains one is fine


def test_a_project_holding_such_targets_exports_a_sheet_our_import_reads_back(tmp_path):
    src = tmp_path / "src"
    for k in range(3):
        save_image(src / f"im{k}.png", image_of(k))
    p = new_project(tmp_path)
    run_job(import_job(p, "imagefolder", [src]))
    ids = sorted(p.ids())
    p.set_label(ids, "plate")
    p.set_split(ids, "train")
    p.set_target(ids[:2], "label", 3.0)  # stored as an older version (or an import) did
    p.set_target(ids, "Split", 0.5)
    p.set_target(ids, "thick", 1.25)
    report = run_job(export_job(p, "sheet", tmp_path / "out"))
    with open(tmp_path / "out" / "targets.csv", newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert len(header) == len({h.lower() for h in header}), header
    assert header == ["image", "target:Split", "target:label", "thick", "label", "split"]
    assert any("target:label" in w for w in report.warnings)

    q = new_project(tmp_path, "q")
    run_job(import_job(q, "sheet", [tmp_path / "out" / "targets.csv"]))
    back = {q.get(i)["name"]: (q.get(i)["label"], q.targets(i)) for i in q.ids()}
    before = {p.get(i)["name"]: (p.get(i)["label"], p.targets(i)) for i in ids}
    assert back == before
