"""Numbered file series and NeXus/HDF5 files opened as one lazy stack: from a folder, a
pattern or one frame; missing or differently sized frames refused naming the frame; NeXus
datasets listed, the NXdata signal the default, slices read one at a time."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import tifffile

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need

from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.io import read_image
from qbi_desktop.core.radiography.nexus import default_dataset, list_image_datasets, open_nexus
from qbi_desktop.core.radiography.series import SeriesError, find_series, open_series


def _real_series(tmp_path):
    folder = tmp_path / "scan"
    folder.mkdir()
    for i in range(4):
        shutil.copy(need(RADIOGRAPHS / f"edge20mm_000{i}.tif"), folder)
    shutil.copy(need(RADIOGRAPHS / "ob.tif"), folder)  # not numbered: not part of the series
    return folder


@pytest.mark.parametrize("spec", ["", "edge20mm_####.tif", "edge20mm_*.tif", "edge20mm_0002.tif"])
def test_real_series_opens_as_one_stack(tmp_path, spec):
    folder = _real_series(tmp_path)
    source = open_series(folder / spec if spec else folder)
    try:
        assert source.n_slices == 4 and source.slice_shape == (600, 600)
        assert source.dtype == np.uint16
        for i in (3, 0):
            expected = read_image(RADIOGRAPHS / f"edge20mm_000{i}.tif")
            np.testing.assert_array_equal(source.plane(i).array, expected)
        assert source.slice_label(2) == "i=2"
    finally:
        source.close()


def test_missing_frame_is_named(tmp_path):
    folder = _real_series(tmp_path)
    (folder / "edge20mm_0002.tif").unlink()
    with pytest.raises(SeriesError, match=r"edge20mm_0002.tif: frame 2 .* is missing"):
        open_series(folder)


def test_frame_of_another_size_is_named(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    for i in range(3):
        tifffile.imwrite(folder / f"p_{i:03d}.tif", np.full((16, 20), i, np.uint16))
    tifffile.imwrite(folder / "p_003.tif", np.zeros((16, 21), np.uint16))
    with pytest.raises(SeriesError, match=r"p_003.tif: frame 3 is 16 x 21"):
        open_series(folder / "p_###.tif")
    tifffile.imwrite(folder / "p_003.tif", np.zeros((16, 20), np.float32))
    with pytest.raises(SeriesError, match=r"p_003.tif: frame 3 .*float32"):
        open_series(folder)


def test_pattern_and_folder_without_series(tmp_path):
    with pytest.raises(SeriesError, match="no numbered image"):
        find_series(tmp_path)
    with pytest.raises(SeriesError, match="matches"):
        find_series(tmp_path / "x_####.tif")


def _write_nexus(path, frames):
    with h5py.File(path, "w") as f:
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        inst = entry.create_group("instrument/detector")
        inst.create_dataset("dark", data=np.full((2, 8, 9), 5, np.uint16))  # an image too
        inst.create_dataset("temperature", data=np.arange(4.0))  # 1-D: not an image
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "projections"
        data.create_dataset("projections", data=frames, chunks=(1, *frames.shape[1:]))


def test_nexus_lists_images_defaults_to_the_signal_and_reads_slices(tmp_path):
    frames = np.arange(5 * 8 * 9, dtype=np.uint16).reshape(5, 8, 9)
    path = tmp_path / "scan.nxs"
    _write_nexus(path, frames)
    names = [d.name for d in list_image_datasets(path)]
    assert sorted(names) == ["/entry/data/projections", "/entry/instrument/detector/dark"]
    assert default_dataset(path).name == "/entry/data/projections"
    source = open_nexus(path)
    try:
        assert source.n_slices == 5 and source.slice_shape == (8, 9)
        np.testing.assert_array_equal(source.plane(3).array, frames[3])
        np.testing.assert_array_equal(source.plane(0).array, frames[0])
    finally:
        source.close()
    other = open_nexus(path, "/entry/instrument/detector/dark")
    try:
        assert other.n_slices == 2 and other.plane(1).array.max() == 5
    finally:
        other.close()
    with pytest.raises(ImageReadError, match="temperature is not an image dataset"):
        open_nexus(path, "/entry/instrument/detector/temperature")


def test_plain_hdf5_without_nexus_attributes_defaults_to_the_largest_image(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["small"] = np.zeros((4, 4), np.float32)
        f["big"] = np.ones((3, 16, 16), np.float32)
    assert default_dataset(path).name == "/big"


def test_hdf5_without_an_image_dataset_is_refused(tmp_path):
    path = tmp_path / "table.h5"
    with h5py.File(path, "w") as f:
        f["values"] = np.arange(10)
        f["names"] = np.array([b"a", b"b"])
    with pytest.raises(ImageReadError, match=r"table.h5: holds no image dataset"):
        open_nexus(path)
    text = tmp_path / "fake.h5"
    text.write_text("not hdf5")
    with pytest.raises(ImageReadError, match="fake.h5: not a readable HDF5"):
        open_nexus(text)


def test_nexus_slices_are_read_lazily(tmp_path):
    """Opening and reading one slice touches that slice only: a chunk of another slice that is
    broken on disk does not matter until that slice is asked for."""
    frames = np.random.default_rng(0).integers(0, 60000, (6, 64, 64)).astype(np.uint16)
    path = tmp_path / "lazy.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("data", data=frames, chunks=(1, 64, 64), compression="gzip")
        offset = ds.id.get_chunk_info(4).byte_offset
    with open(path, "r+b") as stream:  # garble slice 4's compressed chunk
        stream.seek(offset)
        stream.write(b"\xff" * 64)
    source = open_nexus(path)
    try:
        np.testing.assert_array_equal(source.plane(1).array, frames[1])
        with pytest.raises(ImageReadError, match="lazy.h5.*slice 4"):
            source.plane(4)
    finally:
        source.close()


def test_the_common_image_opener_reads_a_nexus_files_default_dataset(tmp_path):
    """File ▸ Open, drag and drop and the command line go through open_image/read_image."""
    from qbi_desktop.core.io import open_image

    frames = np.arange(3 * 8 * 9, dtype=np.float32).reshape(3, 8, 9)
    path = tmp_path / "scan.nxs"
    _write_nexus(path, frames)
    source = open_image(path)
    try:
        assert source.n_slices == 3 and source.metadata["dataset"] == "/entry/data/projections"
        np.testing.assert_array_equal(source.plane(2).array, frames[2])
    finally:
        source.close()
    np.testing.assert_array_equal(read_image(path, 1), frames[1])


def test_without_h5py_an_hdf5_file_is_a_message_naming_it(tmp_path):
    # The packaged installer leaves h5py out: opening a NeXus file must say so, not crash.
    import subprocess
    import sys

    import h5py

    path = tmp_path / "scan.nxs"
    with h5py.File(path, "w") as f:
        f["entry/data/data"] = np.zeros((3, 8, 8), np.uint16)
    script = (
        "import sys; sys.modules['h5py'] = None\n"
        "from qbi_desktop.core.errors import ImageReadError\n"
        "from qbi_desktop.core.io import open_image\n"
        f"try:\n    open_image({str(path)!r})\n"
        "except ImageReadError as exc:\n    print('MESSAGE', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "MESSAGE" in out.stdout and str(path) in out.stdout and "h5py" in out.stdout
