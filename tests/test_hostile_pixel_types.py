"""One pixel-type policy for the viewer and the catalog: a complex or boolean TIFF (or NPZ) was
imported into a project, then refused by the viewer when the item was opened. Both now ask
core.imageheader.check_pixel_type and give the same message; types both handle still enter."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core import io
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

REFUSED = {"complex64": np.complex64, "complex128": np.complex128, "bool": np.bool_}
TAKEN = {"float16": np.float16, "int64": np.int64, "uint32": np.uint32, "big-endian": ">u2"}


def _import(root, kind, sources):
    with open_project(root, create=True) as project:
        return run_job(import_job(project, kind, [str(s) for s in sources]))


def _tiff(folder, name, dtype):
    (folder / "src" / "c").mkdir(parents=True, exist_ok=True)
    path = folder / "src" / "c" / f"{name}.tif"
    tifffile.imwrite(path, (np.arange(64).reshape(8, 8) % 2).astype(dtype))
    return path


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_tiff_the_viewer_refuses_is_refused_at_import_with_the_same_message(tmp_path, name):
    path = _tiff(tmp_path, name, REFUSED[name])
    with pytest.raises(ImageReadError) as viewer:
        io.open_image(path)
    with pytest.raises(UserFacingError) as catalog:
        _import(tmp_path / "p", "imagefolder", [tmp_path / "src"])
    assert f"unsupported pixel type {np.dtype(REFUSED[name])}" in str(viewer.value)
    assert str(viewer.value) in str(catalog.value)  # the file named, the same words
    with open_project(tmp_path / "p") as project:
        assert len(project) == 0  # nothing entered


@pytest.mark.parametrize("name", sorted(TAKEN))
def test_a_tiff_the_viewer_opens_still_enters_a_project(tmp_path, name):
    path = _tiff(tmp_path, name, TAKEN[name])
    assert io.open_image(path).slice_shape == (8, 8)
    report = _import(tmp_path / "p", "imagefolder", [tmp_path / "src"])
    assert report.added == 1


def test_a_one_bit_png_opens_in_both(tmp_path):
    (tmp_path / "src" / "c").mkdir(parents=True)
    path = tmp_path / "src" / "c" / "mask.png"
    Image.fromarray(np.eye(8, dtype=bool)).save(path)
    assert io.open_image(path).dtype == np.uint8
    assert _import(tmp_path / "p", "imagefolder", [tmp_path / "src"]).added == 1


@pytest.mark.parametrize("dtype", [np.complex64, np.bool_])
def test_an_npz_of_complex_or_boolean_images_is_refused_naming_file_and_array(tmp_path, dtype):
    path = tmp_path / "set.npz"
    np.savez(path, x=np.ones((3, 8, 8), dtype), y=np.array([0, 1, 0]))
    with pytest.raises(UserFacingError) as stop:
        _import(tmp_path / "p", "npz", [path])
    assert f"set.npz [x]: unsupported pixel type {np.dtype(dtype)}" in str(stop.value)
