"""`info` (and the Balance tab, from the same report) says when items share their pixels, and
when copies of one image sit in two splits: an export imported back, or a file copied into the
dataset twice, made a test score partly a training score without a word."""

from __future__ import annotations

import shutil

import numpy as np
from cli_helpers import run_cli
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.stats import balance_report
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _folder(tmp_path):
    src = tmp_path / "src"
    for cls in ("a", "b"):
        (src / cls).mkdir(parents=True)
        for n in range(3):
            pixels = np.random.default_rng(hash((cls, n)) % 1000).integers(0, 255, (8, 8))
            Image.fromarray(pixels.astype(np.uint8)).save(src / cls / f"{cls}{n}.png")
    return src


def test_info_names_duplicates_and_copies_across_splits(tmp_path):
    src = _folder(tmp_path)
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [src]))
        assert not [w for w in balance_report(project.db)["warnings"] if "pixels" in w["message"]]
    shutil.copy(src / "a" / "a0.png", src / "a" / "copy_of_a0.png")
    shutil.copy(src / "b" / "b1.png", src / "b" / "copy_of_b1.png")
    with open_project(root) as project:
        run_job(import_job(project, "imagefolder", [src]))
        ids = {name: i for i, name in project.db.execute("SELECT id, name FROM items")}
        project.set_split([ids["a0.png"]], "train")
        project.set_split([ids["copy_of_a0.png"]], "test")
    info = run_cli("info", "--project", str(root))
    assert info.returncode == 0, info.stderr
    assert "4 item(s) have the same pixels as another item" in info.stdout
    assert "1 image(s) occur in more than one split" in info.stdout
