"""NeXus frames read fast (core.radiography.nexus_frames): a frame-per-chunk dataset decoded
from its raw chunks gives exactly h5py's pixels in every type and byte order, unwritten chunks
their fill value; stepping through reads the next slice ahead without ever reporting a broken
slice before it is asked for; other layouts (several frames per chunk, tiles, contiguous) read
through h5py with a chunk cache that holds a chunk."""

from __future__ import annotations

import zlib

import h5py
import numpy as np
import pytest

from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.radiography.nexus import open_nexus


def _write(path, frames, **options):
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=frames, **options)


@pytest.mark.parametrize("dtype", ["<u2", ">u2", "<i4", ">f4", "u1", "<f8"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_frame_chunks_decode_to_h5pys_pixels(tmp_path, dtype, shuffle):
    rng = np.random.default_rng(3)
    frames = (rng.normal(1000, 200, (5, 33, 47))).astype(dtype)
    path = tmp_path / "scan.h5"
    _write(path, frames, chunks=(1, 33, 47), compression="gzip", shuffle=shuffle)
    source = open_nexus(path, "/data")
    try:
        assert source._loader.pipeline == ((2, 1) if shuffle else (1,))  # decoded here
        for i in (0, 4, 2, 3, 1):
            array = source.plane(i).array
            assert array.dtype == np.dtype(dtype).newbyteorder("=")  # native byte order
            np.testing.assert_array_equal(array, frames[i])
            assert not array.flags.writeable  # shared by every reader of this slice
    finally:
        source.close()


def test_a_slice_never_written_has_the_fill_value(tmp_path):
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(
            "data", (4, 16, 16), np.uint16, chunks=(1, 16, 16), compression="gzip", fillvalue=7
        )
        ds[1] = 3
    source = open_nexus(path)
    try:
        assert source.plane(1).array.max() == 3
        assert (source.plane(2).array == 7).all()
    finally:
        source.close()


def test_a_chunk_that_decompresses_to_more_than_a_frame_is_refused_naming_the_slice(tmp_path):
    path = tmp_path / "bomb.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(
            "data", (3, 16, 16), np.uint16, chunks=(1, 16, 16), compression="gzip"
        )
        ds[0] = 1
        ds.id.write_direct_chunk((1, 0, 0), zlib.compress(bytes(50_000_000)))  # 50 MB of zeros
    source = open_nexus(path)
    try:
        assert source.plane(0).array.max() == 1
        with pytest.raises(ImageReadError, match=r"bomb.h5.*/data: cannot read slice 1"):
            source.plane(1)
    finally:
        source.close()


def test_stepping_through_reads_ahead_and_names_a_broken_slice_only_when_shown(tmp_path):
    frames = np.arange(6 * 20 * 30, dtype=np.uint16).reshape(6, 20, 30)
    path = tmp_path / "walk.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(
            "data", data=frames, chunks=(1, 20, 30), compression="gzip", shuffle=True
        )
        offset = ds.id.get_chunk_info(3).byte_offset
    with open(path, "r+b") as stream:  # slice 3's chunk is garbled on disk
        stream.seek(offset)
        stream.write(b"\xff" * 32)
    source = open_nexus(path)
    try:
        for i in (0, 1, 2):  # 2 reads 3 ahead, which fails quietly
            np.testing.assert_array_equal(source.plane(i).array, frames[i])
        with pytest.raises(ImageReadError, match=r"walk.h5.*cannot read slice 3"):
            source.plane(3)
        for i in (5, 4):  # and backwards
            np.testing.assert_array_equal(source.plane(i).array, frames[i])
    finally:
        source.close()
    assert not source._loader.file.id.valid  # closed, read-ahead thread finished first


@pytest.mark.parametrize(
    "options",
    [
        {"chunks": (4, 16, 24), "compression": "gzip", "shuffle": True},  # 4 frames per chunk
        {"chunks": (1, 8, 8), "compression": "gzip"},  # tiles
        {"compression": "lzf"},  # a filter decoded by HDF5
        {},  # contiguous
    ],
)
def test_other_layouts_read_through_h5py(tmp_path, options):
    frames = np.random.default_rng(1).integers(0, 60000, (9, 16, 24)).astype(np.uint16)
    path = tmp_path / "other.h5"
    _write(path, frames, **options)
    source = open_nexus(path)
    try:
        assert source._loader.pipeline is None
        for i in (0, 1, 2, 8, 7, 3):
            np.testing.assert_array_equal(source.plane(i).array, frames[i])
    finally:
        source.close()


def test_several_frames_per_chunk_get_a_chunk_cache_that_holds_a_chunk(tmp_path):
    frames = np.random.default_rng(2).integers(0, 60000, (8, 256, 512)).astype(np.uint16)
    path = tmp_path / "blocks.h5"  # 4 frames per chunk: 1 MB, more than HDF5's default cache
    _write(path, frames, chunks=(4, 256, 512), compression="gzip")
    source = open_nexus(path)
    try:
        _slots, nbytes, _w0 = source._loader.dataset.id.get_access_plist().get_chunk_cache()
        assert nbytes >= 4 * 256 * 512 * 2
        for i in range(8):
            np.testing.assert_array_equal(source.plane(i).array, frames[i])
    finally:
        source.close()
