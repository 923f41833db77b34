"""`qbi-desktop audit --project DIR --out DIR`: the exact output files, an unchanged catalog,
and exit code 2 with a message on bad input."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from qbi_desktop.cli import main
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

HEADER = "item,kind,score,given_label,suggested_label,related_item"
KINDS = ["label", "duplicate", "leak", "outlier", "unlabelled"]


def _project(tmp_path):
    d = load_digits()
    x = (d.images * 16).clip(0, 255).astype(np.uint8)
    y = d.target.copy()
    y[[5, 50, 500]] = (y[[5, 50, 500]] + 3) % 10  # three wrong labels
    npz = tmp_path / "digits.npz"
    np.savez(
        npz,
        x_train=np.concatenate([x[:1500], x[:2]]),  # two exact copies
        y_train=np.concatenate([y[:1500], y[:2]]),
        x_test=np.concatenate([x[1500:], x[10:11]]),  # one leak
        y_test=np.concatenate([y[1500:], y[10:11]]),
    )
    root = tmp_path / "proj"
    project = open_project(root, create=True)
    run_job(import_job(project, "npz", [npz]))
    project.set_label(project.ids()[-5:], None)  # five unlabelled
    project.close()
    return root


def test_audit_writes_the_exact_csv_and_summary_and_leaves_the_catalog(tmp_path, capsys):
    root = _project(tmp_path)
    before = hashlib.sha256((root / "catalog.sqlite").read_bytes()).hexdigest()
    out = tmp_path / "out"
    assert main(["audit", "--project", str(root), "--out", str(out), "--quiet"]) == 0
    assert hashlib.sha256((root / "catalog.sqlite").read_bytes()).hexdigest() == before
    text = (out / "issues.csv").read_text()
    assert text.splitlines()[0] == HEADER
    rows = list(csv.DictReader(text.splitlines()))
    kinds = [r["kind"] for r in rows]
    assert set(kinds) <= set(KINDS)
    # sorted by kind (in the documented order), then score descending
    keys = [(KINDS.index(r["kind"]), -float(r["score"])) for r in rows]
    assert keys == sorted(keys)
    project = open_project(root)
    names = {project.get(i)["name"]: project.get(i) for i in project.ids()}
    project.close()
    assert all(r["item"] in names for r in rows)
    by_kind = {k: [r for r in rows if r["kind"] == k] for k in KINDS}
    wrong = {r["item"] for r in by_kind["label"][:10]}
    assert {"digits-x_train-0005", "digits-x_train-0050", "digits-x_train-0500"} <= wrong
    for r in by_kind["label"]:
        assert r["given_label"] == names[r["item"]]["label"] != r["suggested_label"]
    assert ("digits-x_train-1500", "digits-x_train-0000") in {
        (r["item"], r["related_item"]) for r in by_kind["duplicate"]
    }
    leak = [r for r in by_kind["leak"] if r["related_item"] == "digits-x_train-0010"]
    assert leak and names[leak[0]["item"]]["split"] == "test"
    assert len(by_kind["unlabelled"]) == 5
    assert all(r["suggested_label"] and r["given_label"] == "" for r in by_kind["unlabelled"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {k: len(by_kind[k]) for k in KINDS}
    assert summary["models"][0]["model"] == "knn"
    assert 0.9 < summary["models"][0]["cv_accuracy"] <= 1.0
    assert "audit of" in capsys.readouterr().out


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["audit", "--project", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["audit", "--project", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "not a QBI Desktop project" in capsys.readouterr().err
    root = _project(tmp_path)
    (tmp_path / "file").write_text("x")
    assert main(["audit", "--project", str(root), "--out", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # argparse refuses it, naming the option
        main(["audit", "--project", str(root), "--out", str(out), "--folds", "1"])
    assert stop.value.code == 2
    assert "--folds" in capsys.readouterr().err
    assert not out.exists()
