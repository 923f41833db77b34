"""A TIFF written page by page with tifffile holds one "shaped" series per page; tifffile builds
every series, and pairs them up as a pyramid, to give the first: O(n^2), 1.8 s at 2 000 pages
and 100 s at 20 000 to measure a 4 x 4 region of page 0. Reading the first series now reads its
own pages only (imageheader._first_shaped_series), and says that further images exist."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.imageheader import open_tiff
from qbi_desktop.core.io import open_image, read_image
from tests.cli_helpers import run_cli

PAGES = 6000  # before: ~12 s to open; now ~0.05 s


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """PAGES separate single-page series; a first series of 3 pages in front."""
    path = tmp_path_factory.mktemp("many") / "pages.tif"
    page = np.arange(64, dtype=np.uint16).reshape(8, 8)
    with tifffile.TiffWriter(path) as tif:
        stack = np.stack([page + 1000 * k for k in range(3)])
        tif.write(stack, contiguous=False, photometric="minisblack")  # 3 pages, one series
        for i in range(PAGES):
            tif.write(page + i % 7, contiguous=False)
    return path


def test_opening_reads_the_first_series_without_building_the_others(many):
    start = time.perf_counter()
    source = open_image(many)
    try:
        took = time.perf_counter() - start
        assert source.n_slices == 3 and source.slice_shape == (8, 8)
        assert source.metadata["other_series_pages"] == PAGES
        for k in range(3):
            plane = np.asarray(source.plane(k).array)
            assert plane[0, 1] == 1000 * k + 1 and plane[7, 7] == 1000 * k + 63
    finally:
        source.close()
    assert took < 2.0, f"opening took {took:.2f} s"
    assert read_image(many, 2)[0, 0] == 2000
    with tifffile.TiffFile(many) as tif:  # the first series' pages, as tifffile reads them
        expected = np.stack([tif.pages[k].asarray() for k in range(3)])
    opened = open_tiff(many)
    with opened.tif:
        assert opened.series.shape == (3, 8, 8) and opened.series.kind == "shaped"
        assert len(opened.series.pages) == 3
        assert np.array_equal(opened.series.asarray(), expected)
        assert opened.other_pages == PAGES


def test_measure_and_detect_spots_on_page_by_page_file_are_quick(many, tmp_path):
    start = time.perf_counter()
    r = run_cli("measure", str(many), "--rect", "0", "0", "4", "4", "--json", timeout=60)
    assert r.returncode == 0, r.stderr
    assert '"count": 16' in r.stdout
    d = run_cli("detect-spots", str(many), "--out", str(tmp_path / "d"), timeout=60)
    took = time.perf_counter() - start
    assert d.returncode == 2 and "holds 3 images" in d.stderr  # its first series is a stack
    assert took < 8, f"two commands took {took:.1f} s (before: ~16 s)"


def test_few_pages_still_count_their_series(tmp_path):
    path = tmp_path / "three.tif"
    with tifffile.TiffWriter(path) as tif:
        for i in range(3):
            tif.write(np.full((8, 8), i, np.uint8), contiguous=False)
    source = open_image(path)
    try:
        assert source.metadata["series"] == 3 and "other_series_pages" not in source.metadata
    finally:
        source.close()
