"""Data Package round trip: a ``datapackage`` export imports back whole (labels, splits, review,
notes, annotators, provenance, targets, masks, boxes), checked against its checksums first; and a
refused command-line import leaves no project behind."""

from __future__ import annotations

import argparse
import json
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core.augment.catalog_source import augment_into_project_job
from qbi_desktop.core.augment.pipeline import Pipeline
from qbi_desktop.core.catalog import Box, ImportRejected, open_project
from qbi_desktop.core.catalog.simulated import simulate_into_project_job
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.simulate import SimulationParams


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _dataset(tmp_path):
    """A small real project: an image folder (8- and 16-bit), simulated radiographs with spot
    masks, one augmented copy, targets, masks, boxes, review states, notes and FAIR metadata."""
    rng = np.random.default_rng(7)
    src = tmp_path / "src"
    for k, (split, label) in enumerate(
        [("train", "cat"), ("train", "cat"), ("test", "cat"), ("train", "dog"), ("val", "dog")]
    ):
        _save(src / split / label / f"{label}{k}.png", rng.integers(0, 255, (20, 24), np.uint8))
    _save(src / "train" / "dog" / "deep.png", rng.integers(0, 65535, (20, 24), np.uint16))
    p = open_project(tmp_path / "p", create=True)
    run_job(import_job(p, "imagefolder", [src], annotator="ana"))
    params = SimulationParams(height=32, width=40, spot_rate_per_mpx=20000)
    sim = run_job(simulate_into_project_job(p, 2, seed=3, params=params, split="train"))
    ids = {row["name"]: row["id"] for row in p.query(limit=None)}
    mask = np.zeros((20, 24), np.uint8)
    mask[2:6, 3:9] = 1
    p.set_mask(ids["cat0.png"], mask, "ben")
    p.set_targets(ids["cat0.png"], {"size": 4.5, "age": -1.25}, "ben")
    p.set_targets(ids["dog3.png"], {"size": 0.1})
    p.set_boxes(ids["cat1.png"], [Box("ear", 1.5, 2, 3, 4, "cy"), Box("eye", 10, 11, 2, 2)], "ben")
    p.set_review([ids["cat0.png"]], "accepted", "ben")
    p.set_review([ids["dog3.png"]], "rejected", "ben", notes="blurred, retake")
    p.set_review([sim[0]], "needs_edit", "ben", notes="one spot missing")
    p.set_metadata(
        title="Cats, dogs and spots",
        license="CC-BY-4.0",
        creators=[{"name": "Ana", "email": "ana@example.org"}],
        keywords=["pets", "neutrons"],
        instrument="camera",
        pixel_size=0.1,
    )
    flip = Pipeline.from_options(seed=11, horizontal_flip=True)
    run_job(augment_into_project_job(p.root, flip, copies=1, filters={"ids": [ids["cat0.png"]]}))
    return p


def _state(project):
    """Every field a round trip must keep, by item name (parents by name: ids may differ)."""
    names = {row["id"]: row["name"] for row in project.query(limit=None)}
    out = {}
    for row in project.query(limit=None):
        item = project.get(row["id"])
        provenance = dict(item["provenance_params"])
        if "parent" in provenance:
            provenance["parent"] = names[provenance["parent"]]
        mask = project.mask(row["id"])
        out[row["name"]] = {
            "label": row["label"],
            "annotator": row["annotator"],
            "split": row["split"],
            "review": row["review"],
            "notes": row["notes"],
            "provenance": row["provenance"],
            "provenance_params": provenance,
            "parent": names.get(row["parent"]),
            "metadata": item["metadata"],
            "targets": project.targets(row["id"]),
            "boxes": project.boxes(row["id"]),
            "mask": None if mask is None else (mask.dtype.kind, mask.tolist()),
            "pixels": (project.image(row["id"]).dtype.str, project.image(row["id"]).tolist()),
        }
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dp")
    with _dataset(tmp) as p:
        state = _state(p)
        meta = p.metadata()
        run_job(export_job(p, "datapackage", tmp / "out"))
    return tmp / "out", state, meta


def _copy(exported, tmp_path):
    out = tmp_path / "pkg"
    shutil.copytree(exported[0], out)
    return out


def test_round_trip_gives_back_every_field_and_mask_pixel(exported, tmp_path):
    out, before, meta = exported
    assert {s["provenance"] for s in before.values()} == {"acquired", "simulated", "augmented"}
    assert sum(s["mask"] is not None for s in before.values()) == 4  # 2 simulated, cat0, its copy
    q = open_project(tmp_path / "q", create=True)
    # An item already there shifts the new ids: the augmented copy must still find its parent.
    params = SimulationParams(height=16, width=16)
    (first,) = run_job(simulate_into_project_job(q, 1, seed=9, params=params))
    report = run_job(import_job(q, "datapackage", [out]))
    assert report.added == len(before) == 9
    assert first not in report.ids
    after = _state(q)
    del after[q.get(first)["name"]]
    assert after == before
    again = q.metadata()
    for key in ("title", "license", "creators", "keywords", "instrument", "pixel_size"):
        assert again[key] == meta[key], key
    assert again["mask_classes"] == meta["mask_classes"] == {"1": "spot"}
    # The descriptor file itself works as the source too, and a second import adds nothing.
    again = run_job(import_job(q, "datapackage", [out / "datapackage.json"]))
    assert again.added == 0 and "9 item(s) already in the project" in str(again)
    assert len(q) == 10


def test_a_zip_of_the_export_imports(exported, tmp_path):
    out, before, _meta = exported
    archive = tmp_path / "package.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(out.rglob("*")):
            if f.is_file():
                zf.write(f, f"package/{f.relative_to(out).as_posix()}")
    q = open_project(tmp_path / "q", create=True)
    report = run_job(import_job(q, "datapackage", [archive]))
    assert report.added == 9
    assert _state(q) == before
    item = q.get(q.ids()[0])
    assert not item["source"].startswith("/")  # inside the project: relative path


def test_one_changed_byte_refuses_the_import_naming_the_file(exported, tmp_path):
    pkg = _copy(exported, tmp_path)
    image = sorted((pkg / "data").rglob("*.png"))[1]
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x01
    image.write_bytes(bytes(data))
    q = open_project(tmp_path / "q", create=True)
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(q, "datapackage", [pkg]))
    problems = caught.value.problems
    assert [p.file for p in problems] == [str(image)]
    assert "checksum differs" in problems[0].reason
    assert len(q) == 0 and q.metadata() == {}
    assert not (q.root / "masks").exists() or not any((q.root / "masks").iterdir())


def test_missing_and_resized_files_are_each_named(exported, tmp_path):
    pkg = _copy(exported, tmp_path)
    mask = next((pkg / "masks").rglob("*.png"))
    mask.unlink()
    table = pkg / "items.csv"
    table.write_text(table.read_text() + "\n")
    q = open_project(tmp_path / "q", create=True)
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(q, "datapackage", [pkg]))
    reasons = {p.file: p.reason for p in caught.value.problems}
    assert reasons[str(mask)] == "file listed in datapackage.json is missing"
    assert "bytes" in reasons[str(table)] and "changed" in reasons[str(table)]
    assert len(reasons) == 2 and len(q) == 0


def test_bad_rows_are_refused_with_their_row_numbers(exported, tmp_path):
    """A package whose checksums were redone after items.csv was edited by hand: still every
    value is checked, each bad cell reported with its row."""
    import csv
    import hashlib
    import io

    pkg = _copy(exported, tmp_path)
    rows = list(csv.reader(io.StringIO((pkg / "items.csv").read_text())))
    header = rows[0]
    rows[1][header.index("split")] = "holdout"
    rows[2][header.index("boxes")] = "[{'x': 1}]"
    rows[3][header.index("path")] = "../../etc/passwd"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    data = buffer.getvalue().encode()
    (pkg / "items.csv").write_bytes(data)
    descriptor = json.loads((pkg / "datapackage.json").read_text())
    table = next(r for r in descriptor["resources"] if r["path"] == "items.csv")
    table.update(bytes=len(data), hash=f"sha256:{hashlib.sha256(data).hexdigest()}")
    (pkg / "datapackage.json").write_text(json.dumps(descriptor))
    q = open_project(tmp_path / "q", create=True)
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(q, "datapackage", [pkg]))
    found = [(p.row, p.reason) for p in caught.value.problems]
    assert [row for row, _ in found] == [2, 3, 4]
    assert "split 'holdout'" in found[0][1]
    assert "boxes is not valid JSON" in found[1][1]
    assert "'../../etc/passwd' is not a file listed" in found[2][1]
    assert len(q) == 0


def test_descriptor_not_json_or_without_resources_is_a_clear_error(exported, tmp_path):
    pkg = _copy(exported, tmp_path)
    q = open_project(tmp_path / "q", create=True)
    descriptor = pkg / "datapackage.json"
    descriptor.write_text("{ not json")
    with pytest.raises(UserFacingError, match=r"datapackage.json: not valid JSON \(line 1"):
        run_job(import_job(q, "datapackage", [pkg]))
    descriptor.write_text(json.dumps({"name": "x", "resources": []}))
    with pytest.raises(UserFacingError, match="no 'resources' listed"):
        run_job(import_job(q, "datapackage", [pkg]))
    descriptor.write_text(json.dumps(["resources"]))
    with pytest.raises(UserFacingError, match="must be a JSON object"):
        run_job(import_job(q, "datapackage", [descriptor]))
    # A path that climbs out of the package is never opened.
    descriptor.write_text(
        json.dumps(
            {
                "resources": [
                    {"path": "items.csv", "hash": "sha256:00"},
                    {"path": "../secret.csv", "hash": "sha256:00"},
                ]
            }
        )
    )
    with pytest.raises(ImportRejected, match="not a relative path in the package"):
        run_job(import_job(q, "datapackage", [pkg]))
    with pytest.raises(UserFacingError, match="no datapackage.json"):
        run_job(import_job(q, "datapackage", [tmp_path / "q"]))
    assert len(q) == 0


def test_package_not_written_by_qbi_is_named_as_such_not_as_checksum_trouble(tmp_path):
    # a package as frictionless describes a folder of measurements: no items.csv, no hashes
    import frictionless

    pkg = tmp_path / "pkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "data" / "measurements.csv").write_text("sample,value\na,1\nb,2\n")
    package = frictionless.describe("data/measurements.csv", type="package", basepath=str(pkg))
    package.to_json(str(pkg / "datapackage.json"))
    q = open_project(tmp_path / "q", create=True)
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(q, "datapackage", [pkg]))
    text = str(caught.value)
    assert "not a QBI export: no items.csv" in text and "data/measurements.csv" in text
    assert "checksum" not in text
    assert len(q) == 0


def test_mask_value_the_project_gives_another_class_is_renumbered_not_merged(exported, tmp_path):
    out, _before, _meta = exported
    q = open_project(tmp_path / "q", create=True)
    q.set_metadata(mask_classes={"1": "crack"})
    report = run_job(import_job(q, "datapackage", [out]))
    assert q.metadata()["mask_classes"] == {"1": "crack", "2": "spot"}
    assert "'spot' mask value 1 renumbered to 2" in str(report)
    p = open_project(tmp_path / "p2", create=True)
    run_job(import_job(p, "datapackage", [out]))
    masks = 0
    for a, b in zip(sorted(p.ids()), sorted(q.ids()), strict=True):
        mask = p.mask(a)
        if mask is not None:
            masks += 1
            assert np.array_equal(q.mask(b), np.where(mask == 1, 2, mask))
    assert masks


# -- command line ---------------------------------------------------------------------------


def _cli():
    from qbi_desktop.commands.project import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())

    def run(*argv):
        args = parser.parse_args([str(a) for a in argv])
        return args.func(args)

    return run


def test_cli_datapackage_import_and_refused_import_leaves_no_project(exported, tmp_path, capsys):
    run = _cli()
    out, before, _meta = exported
    assert run("import", "--project", tmp_path / "ok", "--kind", "datapackage", out) == 0
    assert "9 item(s) added" in capsys.readouterr().out
    with open_project(tmp_path / "ok") as q:
        assert _state(q) == before

    pkg = _copy(exported, tmp_path)
    (pkg / "items.csv").write_text("tampered")
    # A new folder (two levels deep): refused, and no folder is left behind.
    new = tmp_path / "new" / "proj"
    assert run("import", "--project", new, "--kind", "datapackage", pkg) == 2
    err = capsys.readouterr().err
    assert "items.csv" in err and "refused" in err
    assert f"removed the project folder {new}" in err
    assert not (tmp_path / "new").exists()
    # An existing folder with a file of the user's: only the project files go.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert run("import", "--project", mine, "--kind", "datapackage", pkg) == 2
    assert "removed the project files" in capsys.readouterr().err
    assert [f.name for f in mine.iterdir()] == ["notes.txt"]
    # An existing project is never removed, even when an import into it is refused.
    assert run("import", "--project", tmp_path / "ok", "--kind", "datapackage", pkg) == 2
    assert "removed" not in capsys.readouterr().err
    with open_project(tmp_path / "ok") as q:
        assert len(q) == 9
    # Another importer failing before any item: the same.
    assert run("import", "--project", new, "--kind", "imagefolder", tmp_path / "nothing") == 2
    assert "not a folder" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
