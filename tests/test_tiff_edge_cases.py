"""TIFF edge cases a user meets (issue 17.6): multi-channel files, constant uint64, 1 x N strips,
float images with NaN and inf — opened in the real window, shown, with finite levels."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import open_and_wait

from qbi_desktop.core.io import decode_plane_job, open_image
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.levels import histogram

RNG = np.random.default_rng(17)


def _channels(shape, dtype=np.uint16):
    return RNG.integers(0, 4000, shape).astype(dtype)


MULTI_CHANNEL = {
    # a (H, W, C) array saved as-is: tifffile writes H pages of W x C pixels
    "plain-2": (lambda p, a: tifffile.imwrite(p, a), (64, 48, 2)),
    "plain-5": (lambda p, a: tifffile.imwrite(p, a), (64, 48, 5)),
    # samples per pixel = 5, contiguous, uncompressed and tiled + deflate
    "samples-5": (
        lambda p, a: tifffile.imwrite(p, a, photometric="minisblack", planarconfig="contig"),
        (64, 48, 5),
    ),
    "samples-5-tiled": (
        lambda p, a: tifffile.imwrite(
            p,
            a,
            photometric="minisblack",
            planarconfig="contig",
            compression="zlib",
            tile=(16, 16),
        ),
        (64, 48, 5),
    ),
    "planar-2": (
        lambda p, a: tifffile.imwrite(
            p, np.moveaxis(a, -1, 0), photometric="minisblack", planarconfig="separate"
        ),
        (64, 48, 2),
    ),
}


@pytest.mark.parametrize("name", list(MULTI_CHANNEL))
def test_multi_channel_tiff_opens_as_one_image_with_a_channel_axis(tmp_path, name):
    write, shape = MULTI_CHANNEL[name]
    data = _channels(shape)
    path = tmp_path / f"{name}.tif"
    write(path, data)
    source = open_image(path)
    try:
        assert source.slice_shape == (64, 48)
        assert source.n_slices == shape[-1]
        assert source.slice_label(1) == "channel=1"
        for c in range(shape[-1]):
            plane = source.plane(c)
            if not plane.complete:
                run_job(decode_plane_job(source, c))
            np.testing.assert_array_equal(plane.read(0, 64, 0, 48), data[..., c])
            np.testing.assert_array_equal(plane.read(5, 60, 3, 40, 4), data[5:60:4, 3:40:4, c])
    finally:
        source.close()


def test_five_channel_tiff_in_the_window_steps_through_channels(qtbot, main_window, tmp_path):
    data = _channels((64, 48, 5))
    path = tmp_path / "five.tif"
    tifffile.imwrite(path, data)
    document = open_and_wait(qtbot, main_window, path)
    assert document.source.slice_shape == (64, 48)
    assert main_window.slice_bar.isVisible()
    main_window.go_to_slice(3)
    qtbot.waitUntil(lambda: main_window.slice_bar.label.text() == "channel=3")
    np.testing.assert_array_equal(main_window.current.plane().read(0, 64, 0, 48), data[..., 3])


EDGE_IMAGES = {
    "constant-uint64": np.full((40, 50), 2**63 + 5, np.uint64),
    "constant-uint16": np.full((40, 50), 7, np.uint16),
    "1xN": np.arange(300, dtype=np.uint16)[None, :],
    "Nx1": np.arange(300, dtype=np.uint16)[:, None],
    "float-nan": np.where(RNG.random((40, 50)) > 0.6, np.nan, RNG.random((40, 50))).astype(
        np.float32
    ),
    "float-all-nan": np.full((40, 50), np.nan, np.float32),
    "float-inf": np.array([[np.inf, -np.inf, 1.0, 2.0]] * 10, np.float64),
}


@pytest.mark.parametrize("name", list(EDGE_IMAGES))
def test_edge_image_opens_with_finite_levels_and_histogram(qtbot, main_window, tmp_path, name):
    # pytest-qt fails the test on any exception raised in a slot (levels, histogram, the
    # Augment preview): opening must go through without one.
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, EDGE_IMAGES[name])
    document = open_and_wait(qtbot, main_window, path)
    qtbot.wait(200)
    assert all(np.isfinite(v) for v in document.levels)
    counts, edges = document.histogram
    assert np.isfinite(edges).all() and len(edges) == len(counts) + 1
    assert main_window.canvas.grab().width() > 0


def test_histogram_of_a_constant_uint64_image_has_distinct_edges():
    counts, edges = histogram(np.full((8, 8), 2**63 + 5, np.uint64))
    assert counts.sum() == 64 and np.all(np.diff(edges) > 0)


@pytest.mark.parametrize("case", ["zero-height", "tile-0", "header-claims-10^10", "tile-bomb"])
def test_impossible_tiff_in_the_window_is_a_message_and_the_app_carries_on(
    qtbot, main_window, tmp_path, case
):
    import tiffcraft as tc

    path = tmp_path / f"{case}.tif"
    {
        "zero-height": lambda: tc.zero_sized(path, 0, 48),
        "tile-0": lambda: tc.zero_sized(path, 48, 48, tile=0),
        "header-claims-10^10": lambda: tc.header_claiming(path, 100000, 100000),
        "tile-bomb": lambda: tc.tile_bomb(path, 40000, 80000),
    }[case]()
    task = main_window.open_file(path)
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    assert task.state != "done"
    qtbot.waitUntil(lambda: str(path) in (main_window.last_error or ""), timeout=5000)
    assert "Traceback" not in main_window.last_error
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.full((16, 16), 3, np.uint16))
    assert open_and_wait(qtbot, main_window, good).source.slice_shape == (16, 16)
