"""Hostile exports: item names and class names that try to climb out of the export folder or
break a CSV, and an export folder that is a file or a FIFO. Every file lands inside the folder
chosen, the labels read back as they were, and a wrong target is named for what it is."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
import tifffile

try:
    from tests.cli_helpers import run_cli as _cli
except ImportError:  # pragma: no cover
    from cli_helpers import run_cli as _cli

NAMES = ["a,b.tif", 'q"uote.tif', "new\nline.tif", "..tif", "sp ace.tif", "=cmd.tif", "x" * 200]
CLASSES = ["../../etc", "..", ".", "a,b", "=SUM(1)"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_export")
    folder = root / "src" / "c"
    folder.mkdir(parents=True)
    for i, name in enumerate(NAMES):
        tifffile.imwrite(folder / (name if "." in name else name + ".tif"), np.full((8, 8), i))
    done = _cli("import", "--project", str(root / "p"), "--kind", "imagefolder", str(root / "src"))
    assert done.returncode == 0, done.stderr
    for item, name in enumerate(CLASSES, start=1):
        done = _cli("label", "--project", str(root / "p"), "--ids", str(item), "--class", name)
        assert done.returncode == 0, done.stderr
    return root


@pytest.mark.parametrize("kind", ["imagefolder", "sheet", "labelme", "coco"])
def test_hostile_item_and_class_names_stay_inside_the_export(project, kind):
    out = project / "exports" / kind
    before = {p for p in project.rglob("*") if "exports" not in p.parts}
    done = _cli("export", "--project", str(project / "p"), "--kind", kind, "--out", str(out))
    assert done.returncode == 0, done.stderr
    after = {p for p in project.rglob("*") if "exports" not in p.parts}
    assert after == before  # nothing written beside the export
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= len(NAMES)
    for path in files:
        assert os.path.realpath(path).startswith(os.path.realpath(out) + os.sep)
    if kind == "sheet":
        with open(next(out.glob("*.csv")), newline="", encoding="utf-8") as stream:
            labels = {row["label"] for row in csv.DictReader(stream)}
        assert set(CLASSES) - {"=SUM(1)"} <= labels  # a formula is quoted, never run
    if kind == "imagefolder":  # read back by our importer: the same classes
        back = project / "back"
        done = _cli("import", "--project", str(back), "--kind", "imagefolder", str(out))
        assert done.returncode == 0, done.stderr
        info = _cli("classes", "--project", str(back))
        for name in CLASSES:
            assert name in info.stdout


@pytest.mark.parametrize("target", ["file", "fifo"])
def test_an_export_folder_that_is_a_file_or_fifo_is_named_as_such(project, tmp_path, target):
    """The old message said the folder "exists and is not empty"."""
    out = tmp_path / "out"
    if target == "file":
        out.write_text("keep me")
    else:
        os.mkfifo(out)
    done = _cli("export", "--project", str(project / "p"), "--kind", "npz", "--out", str(out))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    said = "is a file, not a folder" if target == "file" else "is a named pipe (FIFO)"
    assert said in done.stderr and str(out) in done.stderr
    if target == "file":
        assert out.read_text() == "keep me"
