"""What ``y`` of an NPZ export means, said in the file and the report, and read back by our own
import: an item without a class is ``y = -1`` (scikit-learn's "unlabelled"); classes named by
whole numbers ("0".."9", MNIST's digits) get their number as ``y``, the same as the MNIST
export writes, not their position among the names."""

from __future__ import annotations

import gzip

import numpy as np
from formats_roundtrip_helpers import image_of, new_project, save_image

from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job


def _labels(project):
    return {row["name"]: row["label"] for row in project.query(limit=None)}


def _project(tmp_path, classes):
    """One 20x24 uint8 image per entry of ``classes`` (None: no class), as a folder import."""
    src = tmp_path / "src"
    for k, label in enumerate(classes):
        save_image(src / (label or "unlabelled") / f"im{k:02d}.png", image_of(k))
    p = new_project(tmp_path)
    run_job(import_job(p, "imagefolder", [src]))
    return p


def test_items_without_a_class_are_minus_one_said_so_and_import_back(tmp_path):
    p = _project(tmp_path, ["cat", "dog", None, "cat", None])
    report = run_job(export_job(p, "npz", tmp_path / "out"))
    npz = tmp_path / "out" / "dataset.npz"
    with np.load(npz, allow_pickle=False) as d:
        y, names, note = d["y"], d["class_names"].tolist(), str(d["y_note"])
    assert sorted(y.tolist()) == [-1, -1, 0, 0, 1] and names == ["cat", "dog"]
    assert "y = -1: no class" in note
    assert "y = -1: no class (2 item(s)" in str(report)

    q = new_project(tmp_path, "q")
    back = run_job(import_job(q, "npz", [npz]))  # the old import refused its own export
    assert sorted(_labels(q).values(), key=str) == sorted(_labels(p).values(), key=str)
    assert "2 item(s) with y = -1 imported without a class" in str(back)


def test_other_negative_class_indices_are_still_refused(tmp_path):
    npz = tmp_path / "bad.npz"
    np.savez(npz, x=np.zeros((2, 4, 4), np.uint8), y=np.array([0, -2]))
    q = new_project(tmp_path, "q")
    try:
        run_job(import_job(q, "npz", [npz]))
    except Exception as exc:  # ImportRejected
        assert "y[1] is -2" in str(exc) and "-1 means no class" in str(exc)
    else:
        raise AssertionError("y = -2 was imported")
    assert len(q) == 0


def test_digit_classes_get_their_number_as_y_like_the_mnist_export(tmp_path):
    digits = [str(d) for d in range(10) if d != 8]  # "8" absent: "9" would be position 8
    p = _project(tmp_path, digits + ["9", "0"])
    report = run_job(export_job(p, "npz", tmp_path / "npz"))
    with np.load(tmp_path / "npz" / "dataset.npz", allow_pickle=False) as d:
        y, names = d["y"], d["class_names"].tolist()
    assert names == [str(d) for d in range(10)]  # index k names class k, "8" included
    labels = [row["label"] for row in p.query(limit=None)]  # the export's item order
    assert y.tolist() == [int(label) for label in labels]
    assert "y is the class number" in str(report)

    run_job(export_job(p, "mnist", tmp_path / "mnist"))
    raw = gzip.decompress((tmp_path / "mnist" / "unassigned-labels-idx1-ubyte.gz").read_bytes())
    assert np.frombuffer(raw[8:], np.uint8).tolist() == y.tolist()  # the same y in both

    q = new_project(tmp_path, "q")
    run_job(import_job(q, "npz", [tmp_path / "npz" / "dataset.npz"]))
    assert sorted(_labels(q).values()) == sorted(labels)


def test_named_classes_report_the_position_mapping(tmp_path):
    p = _project(tmp_path, ["plate", "beam", "07"])  # "07" is a name, not the number 7
    report = run_job(export_job(p, "npz", tmp_path / "out"))
    with np.load(tmp_path / "out" / "dataset.npz", allow_pickle=False) as d:
        assert d["class_names"].tolist() == ["07", "beam", "plate"]
    assert "position in class_names (the project's class order): 0=07, 1=beam, 2=plate" in str(
        report
    )
