"""Readers: every supported format and dtype reads back exactly, lazily, and never writes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import tifffile
from conftest import RADIOGRAPHS, need
from PIL import Image

from qbi_desktop.core.io import decode_plane_job, open_image, read_image
from qbi_desktop.core.jobs import Cancelled, run_job

RNG = np.random.default_rng(7)


def _random(shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return RNG.normal(100, 30, shape).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize(
    "dtype", ["uint8", "uint16", "uint32", "int16", "int32", "float32", "float64"]
)
def test_tiff_dtypes_read_back_exactly(tmp_path, dtype):
    data = _random((37, 53), dtype)
    path = tmp_path / f"img_{dtype}.tif"
    tifffile.imwrite(path, data)
    source = open_image(path)
    assert source.dtype == np.dtype(dtype)
    assert source.slice_shape == (37, 53) and source.n_slices == 1
    np.testing.assert_array_equal(source.plane(0).array, data)
    source.close()


@pytest.mark.parametrize("compression", ["lzw", "zlib", "zstd"])
@pytest.mark.parametrize("tile", [None, (64, 64)])
def test_compressed_tiff_decodes_tile_by_tile(tmp_path, compression, tile):
    data = _random((200, 300), "uint16")
    path = tmp_path / "c.tif"
    tifffile.imwrite(path, data, compression=compression, tile=tile)
    source = open_image(path)
    assert source.needs_decoding
    regions = []
    plane = run_job(decode_plane_job(source, 0), lambda p: regions.append(p.detail))
    np.testing.assert_array_equal(plane.array, data)
    assert plane.complete
    # Progress names the regions decoded, so a viewer can refresh them as they arrive.
    assert any(r is not None for r in regions)
    source.close()


def test_cancelled_decode_stops_early(tmp_path):
    data = _random((512, 512), "uint16")
    path = tmp_path / "c.tif"
    tifffile.imwrite(path, data, compression="zlib", tile=(16, 16))
    source = open_image(path)
    seen = []
    with pytest.raises(Cancelled):
        run_job(decode_plane_job(source, 0), seen.append, should_stop=lambda: len(seen) >= 2)
    assert not source.plane(0).complete
    assert seen[-1].done < seen[-1].total


def test_multipage_and_hyperstack(tmp_path):
    stack = _random((3, 4, 20, 30), "uint16")  # T, Z, Y, X
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, stack, imagej=True, metadata={"axes": "TZYX"})
    source = open_image(path)
    assert source.n_slices == 12 and source.slice_shape == (20, 30)
    assert source.stack_shape == (3, 4)
    np.testing.assert_array_equal(source.plane(7).array, stack[1, 3])
    assert source.slice_label(7) == "t=1 z=3"
    assert source.metadata["imagej"]["frames"] == 3


def test_rgb_tiff_is_one_colour_plane(tmp_path):
    rgb = _random((10, 12, 3), "uint8")
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    source = open_image(path)
    assert source.n_slices == 1 and source.channels == 3
    assert source.plane(0).value_at(2, 3) == tuple(int(v) for v in rgb[2, 3])


@pytest.mark.parametrize(
    "suffix,mode,dtype",
    [
        (".png", "L", "uint8"),
        (".png", "I;16", "uint16"),
        (".png", "RGB", "uint8"),
        (".bmp", "L", "uint8"),
    ],
)
def test_pillow_formats_lossless(tmp_path, suffix, mode, dtype):
    shape = (15, 17, 3) if mode == "RGB" else (15, 17)
    data = _random(shape, dtype)
    path = tmp_path / f"img{suffix}"
    Image.fromarray(data, mode=mode if mode != "I;16" else None).save(path)
    np.testing.assert_array_equal(read_image(path), data)


def test_jpeg_reads_close_to_original(tmp_path):
    data = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    path = tmp_path / "img.jpg"
    Image.fromarray(data).save(path, quality=95)
    back = read_image(path)
    assert back.shape == data.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - data).mean() < 2


def test_real_radiographs_memory_mapped_and_untouched():
    for name in ("edge20mm_0000.tif", "ob.tif", "dc.tif", "spotprojection_0001.tif"):
        path = need(RADIOGRAPHS / name)
        before = hashlib.blake2b(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
        source = open_image(path)
        plane = source.plane(0)
        assert isinstance(plane.array, np.memmap) and plane.array.mode == "r"
        np.testing.assert_array_equal(plane.array, tifffile.imread(path))
        with pytest.raises(ValueError):
            plane.array[0, 0] = 1  # read-only: the viewer can never write to the user's file
        source.close()
        assert (hashlib.blake2b(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before


def test_real_multipage_stack():
    path = need(RADIOGRAPHS / "multiframe.tif")
    source = open_image(path)
    reference = tifffile.imread(path)
    assert source.n_slices == 5 and source.slice_shape == (249, 145)
    for index in range(5):
        np.testing.assert_array_equal(source.plane(index).array, reference[index])
    assert source.metadata["imagej"]["slices"] == 5


def test_region_reads_at_a_stride(tmp_path):
    data = _random((300, 400), "uint16")
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, data)
    plane = open_image(path).plane(0)
    np.testing.assert_array_equal(plane.read(10, 200, 20, 390, 4), data[10:200:4, 20:390:4])
    assert plane.read(-5, 1000, -5, 1000).shape == data.shape  # clipped, not an error
    assert plane.value_at(299, 399) == int(data[299, 399])
    assert plane.value_at(300, 0) is None
