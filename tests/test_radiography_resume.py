"""A resumed spot-cleaning run takes as done only its own outputs: a file of the same name made
from another frame (another folder's x.tif, another dataset of one NeXus file) or with other
parameters is refused, naming both, and left as it was - never skipped as if this input were
cleaned, never overwritten."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import tifffile

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.radiography.clean import clean_series_job
from qbi_desktop.core.radiography.frames import expand_frames
from qbi_desktop.core.radiography.provenance import KEY, read_provenance


def _bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _copy(tmp_path, folder, index):
    (tmp_path / folder).mkdir(exist_ok=True)
    target = tmp_path / folder / "x.tif"
    shutil.copy(need(RADIOGRAPHS / f"edge20mm_000{index}.tif"), target)
    return target


def test_another_folders_file_of_the_same_name_is_refused_not_taken_as_cleaned(tmp_path):
    out = tmp_path / "out"
    first = _copy(tmp_path, "a", 0)
    run_job(clean_series_job([first], out, series_hot_pixels=False))
    before = _bytes(out)
    second = _copy(tmp_path, "b", 1)  # other pixels, same name
    with pytest.raises(UserFacingError) as error:
        run_job(clean_series_job([second], out, series_hot_pixels=False))
    assert str(first.resolve()) in str(error.value) and str(second) in str(error.value)
    assert _bytes(out) == before  # the earlier work is kept as it was


def test_the_same_frames_run_again_are_resumed(tmp_path):
    out = tmp_path / "out"
    frame = _copy(tmp_path, "a", 0)
    run_job(clean_series_job([frame], out, series_hot_pixels=False))
    # the same file named another way (relative path through a link) is the same source
    (tmp_path / "link").symlink_to(tmp_path / "a")
    again = run_job(clean_series_job([tmp_path / "link" / "x.tif"], out, series_hot_pixels=False))
    assert again.skipped == 1 and not again.frames


def test_other_parameters_are_refused_not_mixed_into_the_folder(tmp_path):
    out = tmp_path / "out"
    frame = _copy(tmp_path, "a", 0)
    run_job(clean_series_job([frame], out, series_hot_pixels=False))
    before = _bytes(out)
    with pytest.raises(UserFacingError, match="parameters"):
        run_job(clean_series_job([frame], out, series_hot_pixels=False, k=9))
    assert _bytes(out) == before


def test_two_datasets_of_one_nexus_file_do_not_pass_for_each_other(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "scan.nxs"
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "data"
        data.create_dataset("data", data=rng.integers(900, 1100, (2, 64, 64), dtype=np.uint16))
        entry.create_dataset("dark", data=rng.integers(90, 110, (2, 64, 64), dtype=np.uint16))
    out = tmp_path / "out"
    signal = expand_frames([path])
    run_job(clean_series_job(signal, out, series_hot_pixels=False))
    before = _bytes(out)
    dark = expand_frames([path], dataset="/entry/dark")
    with pytest.raises(UserFacingError) as error:
        run_job(clean_series_job(dark, out, series_hot_pixels=False))
    assert "/entry/data/data" in str(error.value) and "/entry/dark" in str(error.value)
    assert _bytes(out) == before


def test_a_file_not_written_by_the_command_is_not_overwritten(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = np.arange(16, dtype=np.uint16).reshape(4, 4)
    tifffile.imwrite(out / "x.tif", mine)
    tifffile.imwrite(out / "x_spots.tif", mine)
    frame = _copy(tmp_path, "a", 0)
    with pytest.raises(UserFacingError, match="not written by this command"):
        run_job(clean_series_job([frame], out, series_hot_pixels=False))
    assert np.array_equal(tifffile.imread(out / "x.tif"), mine)


def test_an_output_of_an_earlier_version_of_the_same_input_is_still_resumed(tmp_path):
    """Outputs written before sources were recorded name their input as text."""
    out = tmp_path / "out"
    frame = _copy(tmp_path, "a", 0)
    run_job(clean_series_job([frame], out, series_hot_pixels=False))
    cleaned = out / "x.tif"
    record = read_provenance(cleaned)
    del record["source"], record["request"]
    image = tifffile.imread(cleaned)
    tifffile.imwrite(cleaned, image, description=json.dumps({KEY: record}), metadata=None)
    again = run_job(clean_series_job([frame], out, series_hot_pixels=False))
    assert again.skipped == 1
