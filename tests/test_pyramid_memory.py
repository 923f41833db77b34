"""A large memory-mapped image does not stay resident: the overview pyramid reads the file in
blocks, and the pages whole-image work touched through the map can be given back."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.io import open_image
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.pyramid import Pyramid

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/smaps")

MB = 1024**2


@pytest.fixture(scope="module")
def big_tiff(tmp_path_factory):
    """8192^2 uint16, uncompressed (128 MB): memory-mapped and given an overview pyramid."""
    path = tmp_path_factory.mktemp("big") / "big.tif"
    rng = np.random.default_rng(3)
    tile = rng.integers(0, 60000, (1024, 1024), dtype=np.uint16)
    tifffile.imwrite(path, np.tile(tile, (8, 8)))
    return path


def test_building_the_overview_keeps_no_file_pages_resident(big_tiff):
    from resident import mapped_file_bytes

    source = open_image(big_tiff)
    try:
        plane = source.plane(0)
        pyramid = Pyramid(plane)
        run_job(pyramid.build_job())
        assert pyramid.complete
        assert mapped_file_bytes(big_tiff) < 8 * MB  # of a 128 MB file
        # the overview is right: level 4 holds the means of 4x4 blocks
        block = np.asarray(plane.array[4:8, 12:16], np.float64)
        assert abs(int(pyramid.levels[4][1, 3]) - block.mean()) <= 0.5
    finally:
        source.close()


def test_released_pages_leave_the_process_and_the_data_reads_the_same(big_tiff):
    from resident import mapped_file_bytes

    source = open_image(big_tiff)
    try:
        plane = source.plane(0)
        total = int(plane.array.sum(dtype=np.uint64))  # whole-image work through the map
        assert mapped_file_bytes(big_tiff) > 100 * MB
        assert source.release_pages() == 1
        assert mapped_file_bytes(big_tiff) < 8 * MB
        assert int(plane.array.sum(dtype=np.uint64)) == total  # read again, same values
    finally:
        source.close()


def test_in_memory_and_decoded_planes_are_not_released(tmp_path):
    path = tmp_path / "lzw.tif"
    data = np.arange(256 * 256, dtype=np.uint16).reshape(256, 256)
    tifffile.imwrite(path, data, compression="zlib")
    source = open_image(path)
    try:
        assert source.release_pages() == 0  # a plane to be decoded is not a file map
    finally:
        source.close()
