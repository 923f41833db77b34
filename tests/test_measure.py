"""Line profile, ROI statistics and pixel size (core, no display), against numpy / scipy /
scikit-image on the same pixels of a real radiograph."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from skimage import draw

from qbi_desktop.core.io import open_image, read_image
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.measure import (
    MeasureError,
    line_profile,
    pixel_size,
    roi_stats,
    roi_stats_job,
    round_length,
    scale_bar_length,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "radiographs"
EDGE = DATA / "edge20mm_0000.tif"


@pytest.fixture(scope="module")
def edge() -> np.ndarray:
    if not EDGE.is_file():
        pytest.skip("shared data not available")
    return read_image(EDGE)


def test_nearest_profile_equals_the_pixels_the_line_crosses(edge):
    # A horizontal line through row 300 from column 100.5 to 400.5: exactly those pixels.
    profile = line_profile(edge, (100.5, 300.5), (400.5, 300.5), method="nearest")
    np.testing.assert_array_equal(profile.values, edge[300, 100:401].astype(float))
    assert profile.length == pytest.approx(300.0)
    # A diagonal: the pixel under each sample point.
    profile = line_profile(edge, (10.2, 20.7), (250.9, 400.1), method="nearest")
    expected = edge[np.floor(profile.y).astype(int), np.floor(profile.x).astype(int)]
    np.testing.assert_array_equal(profile.values, expected)
    assert np.all(np.diff(profile.distance) <= 1.0 + 1e-12)


def test_bilinear_profile_equals_scipy_order_1(edge):
    start, end = (3.3, 590.0), (597.2, 7.9)  # corner to corner across the edge
    profile = line_profile(edge, start, end)
    # Pixel centres at index + 0.5; scipy's coordinates are indices.
    expected = ndimage.map_coordinates(
        edge.astype(np.float64), [profile.y - 0.5, profile.x - 0.5], order=1, mode="nearest"
    )
    np.testing.assert_allclose(profile.values, expected, rtol=1e-12)
    assert profile.method == "bilinear"


def test_profile_off_the_image_and_through_nan_is_nan():
    image = np.arange(100, dtype=np.float32).reshape(10, 10)
    image[5, 5] = np.nan
    profile = line_profile(image, (-5.5, 2.5), (4.5, 2.5), method="nearest")
    assert np.isnan(profile.values[:6]).all() and np.isfinite(profile.values[6:]).all()
    through = line_profile(image, (0.5, 5.5), (9.5, 5.5))
    assert np.isnan(through.values[5])  # the NaN pixel's centre
    assert np.isfinite(through.values[:4]).all() and np.isfinite(through.values[7:]).all()


def test_rectangle_stats_equal_numpy(edge):
    stats = roi_stats(edge, "rectangle", (120.0, 50.0, 200.0, 80.0))
    pixels = edge[50:130, 120:320].astype(np.float64)
    assert stats.count == pixels.size
    assert stats.mean == pytest.approx(pixels.mean(), rel=1e-12)
    assert stats.std == pytest.approx(pixels.std(ddof=1), rel=1e-9)
    assert (stats.min, stats.max) == (pixels.min(), pixels.max())
    assert stats.snr == pytest.approx(pixels.mean() / pixels.std(ddof=1), rel=1e-9)
    assert stats.exact


def test_rectangle_takes_pixels_whose_centres_are_inside(edge):
    # x from 10.6 to 20.4: centres 11.5 ... 19.5 -> columns 11..19
    stats = roi_stats(edge, "rectangle", (10.6, 30.6, 9.8, 9.8))
    assert stats.count == 81
    assert stats.mean == pytest.approx(edge[31:40, 11:20].mean(), rel=1e-12)


def test_ellipse_stats_equal_numpy_on_skimage_ellipse(edge):
    x, y, w, h = 201.0, 152.0, 151.0, 97.0
    rr, cc = draw.ellipse(y + h / 2 - 0.5, x + w / 2 - 0.5, h / 2, w / 2, shape=edge.shape)
    pixels = edge[rr, cc].astype(np.float64)
    stats = roi_stats(edge, "ellipse", (x, y, w, h))
    assert stats.count == pixels.size
    assert stats.mean == pytest.approx(pixels.mean(), rel=1e-12)
    assert stats.std == pytest.approx(pixels.std(ddof=1), rel=1e-9)
    assert (stats.min, stats.max) == (pixels.min(), pixels.max())


def test_stats_leave_nan_out_and_count_it(edge):
    image = edge.astype(np.float32) / 1000
    image[60:70, 130:140] = np.nan
    stats = roi_stats(image, "rectangle", (120, 50, 200, 80))
    block = image[50:130, 120:320]
    assert stats.nan_count == 100 and stats.count == block.size - 100
    assert stats.mean == pytest.approx(float(np.nanmean(block.astype(np.float64))), rel=1e-9)
    assert stats.std == pytest.approx(float(np.nanstd(block.astype(np.float64), ddof=1)), rel=1e-6)
    all_nan = roi_stats(image, "rectangle", (130, 60, 10, 10))
    assert all_nan.count == 0 and math.isnan(all_nan.mean)


def test_region_outside_or_clipped(edge):
    assert roi_stats(edge, "rectangle", (700, 700, 50, 50)).count == 0
    clipped = roi_stats(edge, "rectangle", (-20, -20, 40, 40))
    assert clipped.count == 400 and clipped.mean == pytest.approx(edge[:20, :20].mean())
    with pytest.raises(MeasureError, match="polygon"):
        roi_stats(edge, "polygon", (0, 0, 1, 1))


def test_live_estimate_samples_rows_and_the_job_is_exact(edge):
    rect = (0.0, 0.0, 600.0, 600.0)
    live = roi_stats(edge, "ellipse", rect, max_pixels=10_000)
    assert (live.step, live.col_step) == (36, 1) and not live.exact
    rows = edge[::36].astype(np.float64)
    assert roi_stats(edge, "rectangle", rect, max_pixels=10_000).mean == pytest.approx(rows.mean())
    exact = run_job(roi_stats_job(edge, "ellipse", rect, chunk_pixels=5_000))
    assert exact == roi_stats(edge, "ellipse", rect)
    assert live.mean == pytest.approx(exact.mean, rel=0.02)
    # A large constant offset keeps the variance exact (shifted sums).
    offset = edge.astype(np.float64) + 1e9
    assert roi_stats(offset, "rectangle", rect).std == pytest.approx(
        edge.astype(np.float64).std(ddof=1), rel=1e-6
    )


def test_pixel_size_from_imagej_and_resolution_tags(tmp_path):
    data = np.zeros((20, 30), np.uint16)
    ij = tmp_path / "ij.tif"
    tifffile.imwrite(
        ij, data, imagej=True, resolution=(1 / 0.055, 1 / 0.055), metadata={"unit": "micron"}
    )
    size = pixel_size(open_image(ij).metadata)
    assert size.unit == "µm" and size.size == pytest.approx(0.055)
    cm = tmp_path / "cm.tif"
    tifffile.imwrite(cm, data, resolution=(200.0, 200.0), resolutionunit="CENTIMETER")
    size = pixel_size(open_image(cm).metadata)
    assert size.unit == "mm" and size.size == pytest.approx(0.05)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, data)
    assert pixel_size(open_image(plain).metadata) is None
    # The project's value wins over the file's.
    size = pixel_size(open_image(cm).metadata, {"pixel_size": 13.5, "pixel_unit": "um"})
    assert (size.size, size.unit, size.source) == (13.5, "µm", "project")


def test_scale_bar_length_is_round():
    assert [round_length(v) for v in (7.3, 1.0, 0.034, 260)] == [5, 1, 0.02, 200]
    size = pixel_size({}, {"pixel_size": 0.1, "pixel_unit": "mm"})
    value, unit, pixels = scale_bar_length(size, 120)  # 12 mm wanted -> 10 mm
    assert (value, unit) == (10.0, "mm") and pixels == pytest.approx(100)
    size = pixel_size({}, {"pixel_size": 6.5, "pixel_unit": "µm"})
    value, unit, pixels = scale_bar_length(size, 120)  # 780 µm -> 500 µm
    assert (value, unit) == (500.0, "µm") and pixels == pytest.approx(500 / 6.5)


def test_measure_command_prints_the_same_figures(edge, capsys, tmp_path):
    import json

    from qbi_desktop.cli import main

    assert main(["measure", str(EDGE), "--ellipse", "201", "152", "151", "97", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    rr, cc = draw.ellipse(152 + 48.5 - 0.5, 201 + 75.5 - 0.5, 48.5, 75.5, shape=edge.shape)
    pixels = edge[rr, cc].astype(np.float64)
    assert printed["count"] == pixels.size
    assert printed["mean"] == pytest.approx(pixels.mean(), rel=1e-12)
    assert printed["snr"] == pytest.approx(pixels.mean() / pixels.std(ddof=1), rel=1e-9)
    assert main(["measure", str(EDGE), "--line", "100.5", "300.5", "400.5", "300.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "distance,x,y,value"
    values = [float(line.split(",")[3]) for line in lines[1:]]
    assert values == edge[300, 100:401].tolist()  # samples on pixel centres
    # Bad input: a message naming the problem and exit code 2, never a traceback.
    not_image = tmp_path / "notes.tif"
    not_image.write_text("not an image")
    assert main(["measure", str(not_image), "--rect", "0", "0", "5", "5"]) == 2
    assert "notes.tif" in capsys.readouterr().err
    assert main(["measure", str(EDGE), "--slice", "4", "--rect", "0", "0", "5", "5"]) == 2
    assert "--slice 4" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # refused by argparse, naming the option
        main(["measure", str(EDGE), "--rect", "0", "0", "inf", "5"])
    assert stop.value.code == 2
    assert "--rect" in capsys.readouterr().err


def test_colour_images_are_measured_on_the_mean_of_their_channels(edge):
    rgb = np.stack([edge, edge // 2, edge // 4], axis=-1)
    grey = rgb.astype(np.float64).mean(axis=-1)
    rect = (120.0, 50.0, 200.0, 80.0)
    assert roi_stats(rgb, "ellipse", rect).mean == pytest.approx(
        roi_stats(grey, "ellipse", rect).mean, rel=1e-12
    )
    a = line_profile(rgb, (3.3, 590.0), (597.2, 7.9))
    np.testing.assert_allclose(a.values, line_profile(grey, (3.3, 590.0), (597.2, 7.9)).values)
    with pytest.raises(MeasureError, match="2-D image"):
        line_profile(np.zeros(5), (0, 0), (1, 1))


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_profile_longer_than_the_sample_cap_is_clipped_to_the_image(tmp_path, method):
    """A line far longer than MAX_PROFILE_SAMPLES px (--line 0 0 1e9 1e9) still samples the
    image <= 1 px apart (it once spread the cap over the whole line: one sample on the
    image), as many as the same line stopped at the image's corner."""
    image = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    long = line_profile(image, (0.0, 0.0), (1e9, 1e9), method)
    on = np.isfinite(long.values)
    assert on.sum() >= 90  # the 64 px diagonal is 90.5 px long
    assert np.diff(long.distance[on]).max() <= 1.0 + 1e-9
    assert (long.x[0], long.y[0], long.x[-1], long.y[-1]) == (0.0, 0.0, 1e9, 1e9)
    short = line_profile(image, (0.0, 0.0), (64.0, 64.0), method)
    assert on.sum() >= np.isfinite(short.values).sum() - 1
    # as the command line prints it
    path = tmp_path / "u16.tif"
    tifffile.imwrite(path, image)
    from tests.cli_helpers import run_cli

    out = run_cli("measure", str(path), "--line", "0", "0", "1e9", "1e9")
    assert out.returncode == 0, out.stderr
    valued = [r for r in out.stdout.splitlines()[1:] if r.split(",")[3]]
    assert len(valued) >= 90
