"""The series import says which series each given file brought in: a frame (or a folder, a
pattern) stands for its whole series, so the files nobody named are said, with the pattern,
the frame count and the first and last file."""

from __future__ import annotations

import numpy as np
import tifffile

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _series(folder, prefix, n):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        tifffile.imwrite(folder / f"{prefix}_{i:04d}.tif", np.full((8, 9), i + 1, np.uint16))


def test_each_given_frame_names_the_series_it_brought_in(tmp_path):
    _series(tmp_path / "rad", "edge", 4)
    _series(tmp_path / "rad", "spot", 1)
    project = open_project(tmp_path / "p", create=True)
    given = [tmp_path / "rad" / "spot_0000.tif", tmp_path / "rad" / "edge_0002.tif"]
    report = run_job(import_job(project, "series", given))
    text = report.text()
    assert report.added == 5
    assert (
        "edge_0002.tif: one frame of the series edge_####.tif in "
        f"{tmp_path / 'rad'}: 4 frame(s) (edge_0000.tif to edge_0003.tif), 4 new: the 3 other "
        "frame(s), not named, came with it"
    ) in text
    assert "spot_0000.tif: one frame of the series spot_####.tif" in text
    assert "1 frame(s) (spot_0000.tif), 1 new" in text


def test_a_folder_names_the_series_it_took(tmp_path):
    _series(tmp_path / "rad", "edge", 3)
    project = open_project(tmp_path / "p", create=True)
    run_job(import_job(project, "series", [tmp_path / "rad" / "edge_0000.tif"]))
    report = run_job(import_job(project, "series", [tmp_path / "rad"]))
    assert (
        f"folder {tmp_path / 'rad'}: its largest series edge_####.tif in {tmp_path / 'rad'}: "
        "3 frame(s) (edge_0000.tif to edge_0002.tif), 0 new"
    ) in report.text()
