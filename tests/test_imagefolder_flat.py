"""A plain folder of images (no class sub-folders) is what a lab has before anyone labelled
anything: ImageFolder import takes its images as unlabelled items (it refused the folder, and no
other import kind took unnumbered files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import RADIOGRAPHS

from qbi_desktop.cli import main as cli_main
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job


def _flat_folder(root: Path) -> list[str]:
    """Three 16-bit radiographs with unrelated names, and a file that is no image."""
    root.mkdir()
    names = ["sample_a.tif", "plate.tiff", "z-open.tif"]
    for n, name in enumerate(names):
        source = RADIOGRAPHS / f"edge20mm_000{n}.tif"
        if source.is_file():
            (root / name).write_bytes(source.read_bytes())
        else:  # the project runs without the shared data too
            rng = np.random.default_rng(n)
            tifffile.imwrite(root / name, rng.integers(0, 60000, (40, 30), dtype=np.uint16))
    (root / "notes.txt").write_text("beam time 3")
    return sorted(names)


def test_a_folder_of_images_imports_them_unlabelled_and_exports_them_to_unlabelled(tmp_path):
    names = _flat_folder(tmp_path / "scans")
    project = open_project(tmp_path / "p", create=True)
    report = run_job(import_job(project, "imagefolder", [tmp_path / "scans"]))
    assert report.added == 3
    assert any("without a class" in w for w in report.warnings)
    assert any("notes.txt" in w or ".txt" in w for w in report.warnings)  # the stray file said
    rows = project.db.execute("SELECT path, label FROM items ORDER BY path").fetchall()
    assert sorted(Path(p).name for p, _ in rows) == names
    assert {label for _, label in rows} == {None}
    out = tmp_path / "out"
    run_job(export_job(project, "imagefolder", out))
    exported = sorted(p.name for p in (out / "unlabelled").iterdir())
    assert exported == names
    for name in names:  # byte for byte
        assert (out / "unlabelled" / name).read_bytes() == (tmp_path / "scans" / name).read_bytes()


def test_the_command_line_imports_a_folder_of_images(tmp_path, capsys):
    _flat_folder(tmp_path / "scans")
    code = cli_main(
        [
            "import",
            "--project",
            str(tmp_path / "p"),
            "--kind",
            "imagefolder",
            str(tmp_path / "scans"),
        ]
    )
    assert code == 0, capsys.readouterr()
    assert "3 item(s) added" in capsys.readouterr().out


def test_a_folder_without_images_is_still_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    project = open_project(tmp_path / "p", create=True)
    with pytest.raises(UserFacingError, match="no images"):
        run_job(import_job(project, "imagefolder", [tmp_path / "empty"]))
