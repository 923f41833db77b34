"""Import/export of dataset conventions: MNIST IDX and NPZ round trips, Data Package validity
(frictionless), folder exports, cancels, and the CLI (image folders, sheets, masks, COCO,
labelme: test_formats.py)."""

from __future__ import annotations

import argparse
import json

import frictionless
import numpy as np
import pytest
from conftest import MNIST, need
from formats_roundtrip_helpers import coco_source, imagefolder, new_project, state_of

from qbi_desktop.core.catalog import Box, ImportRejected, open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job


def test_mnist_idx_round_trip(tmp_path):
    from qbi_desktop.core.idx import write_idx

    src = tmp_path / "idx"
    src.mkdir()
    x = np.random.default_rng(0).integers(0, 255, (30, 28, 28), dtype=np.uint8)
    write_idx(src / "train-images-idx3-ubyte.gz", x[:20])
    write_idx(src / "train-labels-idx1-ubyte.gz", (np.arange(20) % 10).astype(np.uint8))
    write_idx(src / "t10k-images-idx3-ubyte", x[20:])
    write_idx(src / "t10k-labels-idx1-ubyte", (np.arange(10) % 3).astype(np.uint8))
    p = new_project(tmp_path)
    assert run_job(import_job(p, "mnist", [src])).added == 30
    assert p.count({"split": "test", "label": "2"}) == 3
    np.testing.assert_array_equal(p.image(p.ids({"split": "test"})[4]), x[24])
    state = {(s[1], s[0], str(s[5])) for s in state_of(p).values()}
    run_job(export_job(p, "mnist", tmp_path / "out"))
    q = new_project(tmp_path, "q")
    run_job(import_job(q, "mnist", [tmp_path / "out"]))
    assert {(s[1], s[0], str(s[5])) for s in state_of(q).values()} == state


def test_npz_round_trip_labels_and_targets_and_pickle_refused(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (12, 8, 8), dtype=np.uint8)
    np.savez(
        tmp_path / "d.npz",
        x_train=x[:8],
        y_train=np.arange(8) % 3,
        x_test=x[8:],
        y_test=np.array([0, 1, 2, 2]),
    )
    p = new_project(tmp_path)
    run_job(import_job(p, "npz", [tmp_path / "d.npz"]))
    assert p.count({"split": "test"}) == 4 and p.count({"label": "2"}) == 4
    state = sorted((s[0], s[1], str(s[5])) for s in state_of(p).values())
    run_job(export_job(p, "npz", tmp_path / "out"))
    q = new_project(tmp_path, "q")
    run_job(import_job(q, "npz", [tmp_path / "out" / "dataset.npz"]))
    assert sorted((s[0], s[1], str(s[5])) for s in state_of(q).values()) == state

    np.savez(tmp_path / "r.npz", x=x, y=np.linspace(0, 1, 12))
    r = new_project(tmp_path, "r")
    run_job(import_job(r, "npz", [tmp_path / "r.npz"]))
    assert sorted(t["y"] for t in (row["targets"] for row in r.query(limit=None))) == list(
        np.linspace(0, 1, 12)
    )

    np.savez(tmp_path / "evil.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ImportRejected, match="evil.npz"):
        run_job(import_job(r, "npz", [tmp_path / "evil.npz"]))


def _frictionless_errors(report):
    return [(e["type"], e.get("note", "")) for e in report.to_dict()["errors"]] + [
        (e["type"], e.get("note", ""))
        for task in report.to_dict()["tasks"]
        for e in task.get("errors", [])
    ]


def test_datapackage_is_valid_for_frictionless_with_every_checksum_verified(tmp_path):
    """The official implementation (frictionless v5) accepts our datapackage.json against the
    Data Package profile and recomputes every file's SHA-256 and size; one changed byte in
    one image is reported as a hash error of that file."""
    p = new_project(tmp_path)
    run_job(import_job(p, "imagefolder", [imagefolder(tmp_path / "src")]))
    p.set_mask(1, np.ones((20, 24), np.uint8), "ana")
    p.set_targets(2, {"size": 4.5})
    p.set_boxes(3, [Box("spot", 1, 1, 2, 2)])
    p.set_metadata(
        title="Cats and dogs",
        license="CC-BY-4.0",
        keywords=["pets"],
        creators=[{"name": "Ana", "email": "ana@example.org"}],
        version="1.0",
        instrument="camera",
        modality="photography",
        pixel_size=0.1,
        mask_classes={"1": "cat body"},
    )
    run_job(export_job(p, "datapackage", tmp_path / "out"))
    out = tmp_path / "out"
    descriptor = json.loads((out / "datapackage.json").read_text())
    report = frictionless.validate(out / "datapackage.json")
    assert report.valid, _frictionless_errors(report)
    files = {
        f.relative_to(out).as_posix()
        for f in out.rglob("*")
        if f.is_file() and f.name != "datapackage.json"
    }
    assert {r["path"] for r in descriptor["resources"]} == files
    assert len(files) == 6 + 1 + 1 + 2  # images, one mask, items.csv, the class list files
    # Every file was read and its checksum and size recomputed and matched.
    declared = {r["path"]: (r["hash"], r["bytes"]) for r in descriptor["resources"]}
    checked = {task.name: task for task in report.tasks}
    assert len(report.tasks) == len(files)
    for resource in descriptor["resources"]:
        stats = checked[resource["name"]].stats
        assert declared[resource["path"]] == (f"sha256:{stats['sha256']}", stats["bytes"])
    table = next(r for r in descriptor["resources"] if r["path"] == "items.csv")
    assert "target:size" in [f["name"] for f in table["schema"]["fields"]]
    assert checked["items.csv"].stats["rows"] == 6  # the table was read against its schema
    assert descriptor["licenses"][0]["name"] == "CC-BY-4.0"
    assert descriptor["mask_classes"] == {"1": "cat body"}
    # The images part re-imports as an image folder with the same labels and splits.
    q = new_project(tmp_path, "q")
    run_job(import_job(q, "imagefolder", [out / "data"]))
    assert q.count({"label": "dog", "split": "train"}) == 2
    # One changed byte in one image: frictionless names that file's hash.
    image = next(f for f in sorted(files) if f.endswith(".png"))
    data = bytearray((out / image).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / image).write_bytes(bytes(data))
    report = frictionless.validate(out / "datapackage.json")
    assert not report.valid
    bad = [task for task in report.tasks if not task.valid]
    assert [task.place for task in bad] == [image]
    assert [e.type for e in bad[0].errors] == ["hash-count"]


def test_folder_export_with_datapackage_is_valid_and_empty_selection_refused(tmp_path):
    """Images only (no table): still a valid package; nothing to export: a clear message."""
    p = new_project(tmp_path)
    run_job(import_job(p, "imagefolder", [imagefolder(tmp_path / "src")]))
    run_job(export_job(p, "imagefolder", tmp_path / "out", datapackage=True))
    report = frictionless.validate(tmp_path / "out" / "datapackage.json")
    assert report.valid, _frictionless_errors(report)
    assert len(report.tasks) == 6 + 2  # the images and the two class list files
    with pytest.raises(UserFacingError, match="no items match"):
        run_job(
            export_job(
                p,
                "imagefolder",
                tmp_path / "none",
                filters={"label": "cat", "review": "rejected"},
                datapackage=True,
            )
        )
    assert not (tmp_path / "none").exists()
    # a class the project does not have is named as such, with the ones it has
    with pytest.raises(UserFacingError, match="unknown class 'bird' \\(known: 'cat', 'dog'\\)"):
        run_job(
            export_job(
                p, "imagefolder", tmp_path / "none", filters={"label": "bird"}, datapackage=True
            )
        )
    assert not (tmp_path / "none").exists()


def test_cancelled_export_leaves_no_folder_and_refuses_non_empty_target(tmp_path):
    p = new_project(tmp_path)
    run_job(import_job(p, "imagefolder", [imagefolder(tmp_path / "src", per_class=300)]))
    job = export_job(p, "imagefolder", tmp_path / "out")
    next(job)
    next(job)
    job.close()
    assert not (tmp_path / "out").exists()
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".out")] == []
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(UserFacingError, match="not empty"):
        run_job(export_job(p, "imagefolder", tmp_path / "full"))


def test_cli_import_info_export(tmp_path, capsys):
    from qbi_desktop.commands.project import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    src = imagefolder(tmp_path / "src")

    def run(*argv):
        args = parser.parse_args(list(argv))
        return args.func(args)

    assert run("import", "--project", str(tmp_path / "p"), "--kind", "imagefolder", str(src)) == 0
    assert run("info", "--project", str(tmp_path / "p"), "--min-count", "2") == 0
    out = capsys.readouterr().out
    assert "6 item(s)" in out
    line = next(x for x in out.splitlines() if x.startswith("cat"))
    assert line.split() == ["cat", "1", "2", "3"]  # test, train, all
    assert "class 'cat' has only 1 item(s) in test" in out
    assert (
        run(
            "export",
            "--project",
            str(tmp_path / "p"),
            "--kind",
            "datapackage",
            "--out",
            str(tmp_path / "out"),
        )
        == 0
    )
    assert (tmp_path / "out" / "datapackage.json").is_file()
    assert run("info", "--project", str(tmp_path / "nope")) == 2
    assert "not exist" in capsys.readouterr().err


def test_mnist_real_files_import(tmp_path):
    folder = need(MNIST)
    p = new_project(tmp_path)
    report = run_job(import_job(p, "mnist", [folder]))
    assert report.added == 70_000
    assert p.count({"split": "train"}) == 60_000 and p.count({"split": "test"}) == 10_000
    first_train = p.query({"split": "train"}, sort="id", limit=1)[0]
    assert first_train["label"] == "5" and first_train["index"] == 0  # MNIST's first is a 5
    assert p.image(first_train["id"]).shape == (28, 28)


def test_coco_export_says_which_class_labels_it_cannot_hold(tmp_path):
    """COCO has no per-image class: a classification project's labels cannot go into it, and the
    report says so instead of silently writing empty categories."""
    source = imagefolder(tmp_path / "src")
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "imagefolder", [source]))
    report = run_job(export_job(project, "coco", tmp_path / "out"))
    labelled = len(project.ids())
    assert any(
        f"{labelled} item class label(s) are not in the COCO files" in w for w in report.warnings
    )
    assert "imagefolder" in str(report)
    # a detection project (boxes, no class labels) exports without that note
    detection = open_project(tmp_path / "d", create=True)
    run_job(import_job(detection, "coco", [coco_source(tmp_path / "c")]))
    notes = run_job(export_job(detection, "coco", tmp_path / "out2")).warnings
    assert not any("class label(s)" in note for note in notes)


def test_cli_export_counts_rejected_items_and_leaves_them_out_when_asked(tmp_path, capsys):
    from qbi_desktop.commands.project import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())

    def run(*argv):
        args = parser.parse_args(list(argv))
        return args.func(args)

    p = new_project(tmp_path)
    run_job(import_job(p, "imagefolder", [imagefolder(tmp_path / "src")]))
    p.set_review(p.ids({"label": "cat"}), "rejected")
    p.close()
    base = ["export", "--project", str(tmp_path / "p"), "--kind", "imagefolder", "--out"]
    assert run(*base, str(tmp_path / "all")) == 0
    assert "3 item(s) reviewed as rejected are in the export too" in capsys.readouterr().out
    assert len(list((tmp_path / "all").rglob("*.png"))) == 6
    assert run(*base, str(tmp_path / "kept"), "--leave-out-rejected") == 0
    assert "3 item(s) reviewed as rejected left out" in capsys.readouterr().out
    kept = list((tmp_path / "kept").rglob("*.png"))
    assert len(kept) == 3 and all("cat" not in path.parts for path in kept)
