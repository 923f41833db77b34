"""Hot pixels on the real radiographs: a dark frame alone is a reference, the series' frames
remove them (object F1 >= 0.88 per frame counting hot pixels as errors), lone pixels are
recognised, and the references are found beside the image by name."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph
from qbi_desktop.core.spots import (
    auto_hot_pixels_job,
    detect_spots,
    evaluate_temporal,
    find_hot_pixel_references,
    hot_pixels,
    hot_pixels_job,
    is_dark_frame,
    temporal_spot_truth,
)

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need


@pytest.fixture(scope="module")
def frames():
    paths = [need(RADIOGRAPHS / f"edge20mm_{i:04d}.tif") for i in range(4)]
    return np.stack([tifffile.imread(p) for p in paths])


@pytest.fixture(scope="module")
def dark():
    return tifffile.imread(need(RADIOGRAPHS / "dc.tif"))


def test_other_frames_bring_the_proposals_down_to_the_gamma_spots(frames):
    """Truth from the other frames, hot pixels counted as false positives ("strict").

    With no reference the default proposes ~7 500 spots for ~750 (F1 0.17); excluding the
    k = 5 hot-pixel map of the other frames gave F1 0.72-0.74; subtracting each hot pixel's
    excess gives 0.89-0.93 with about as many proposals as gamma spots.
    """
    f1s = []
    for i in range(len(frames)):
        truth = temporal_spot_truth(frames, i)
        n_true = len(truth.evaluated_ids())
        plain = detect_spots(frames[i])
        assert len(plain.candidates) > 5 * n_true
        assert plain.looks_like_hot_pixels()  # most are lone bright pixels
        det = detect_spots(frames[i], exclude=hot_pixels(np.delete(frames, i, axis=0)))
        assert 0.8 * n_true <= len(det.candidates) <= 1.3 * n_true, (len(det.candidates), n_true)
        assert not det.looks_like_hot_pixels()
        assert det.hot_pixels > 5000  # counted, for the dock to say so
        ev = evaluate_temporal(det.labels, truth, ignore_fixed=False)
        assert ev.precision >= 0.88 and ev.recall >= 0.87, f"frame {i}: {ev.summary()}"
        f1s.append(ev.f1)
    assert min(f1s) >= 0.88 and np.mean(f1s) >= 0.9, f1s


def test_a_dark_frame_alone_is_a_reference(frames, dark):
    """dc.tif holds about half of the series' hot pixels: proposals 7 500 -> ~3 300
    (F1 0.17 -> 0.35); dropping lone pixels as well -> ~1 000 (F1 ~0.71)."""
    truth = temporal_spot_truth(frames, 0)
    hot = hot_pixels(dark)
    assert hot.frames == 1 and hot.shape == dark.shape
    plain = detect_spots(frames[0])
    det = detect_spots(frames[0], exclude=hot)
    assert len(det.candidates) < 0.5 * len(plain.candidates)
    strict = evaluate_temporal(det.labels, truth, ignore_fixed=False)
    assert strict.f1 > 2 * evaluate_temporal(plain.labels, truth, ignore_fixed=False).f1
    # still mostly lone pixels: the dock says so and offers the series
    assert det.looks_like_hot_pixels()
    lone = detect_spots(frames[0], exclude=hot, lone="drop")
    assert not any(c.isolated for c in lone.candidates)
    assert len(lone.candidates) == len(det.candidates) - det.isolated
    assert evaluate_temporal(lone.labels, truth, ignore_fixed=False).f1 >= 0.65
    # from the file, as the dock and the CLI read it
    from_file = run_job(hot_pixels_job([RADIOGRAPHS / "dc.tif"], shape=frames[0].shape))
    assert np.array_equal(from_file.excess, hot.excess)


def test_a_gamma_spot_on_a_hot_pixel_is_still_found():
    rng = np.random.default_rng(3)
    frames = rng.normal(1000, 20, (4, 80, 80)).astype(np.float32)
    frames[:, 40, 40] += 3000  # a hot pixel in every frame
    frames[0, 39:42, 39:42] += 1500  # a gamma spot on top of it in frame 0
    frames[2, 10, 10] += 3000  # a gamma spot in another frame: not a hot pixel
    hot = hot_pixels(frames)  # the whole series, as a NeXus stack's hot pixels are found
    assert hot.mask[40, 40] and not hot.mask[10, 10]
    det = detect_spots(frames[0], exclude=hot)
    assert len(det.candidates) == 1 and det.labels[40, 40] > 0
    # in frame 1 the hot pixel alone is a spot without the reference, and none with it
    assert detect_spots(frames[1]).labels[40, 40] > 0
    assert not detect_spots(frames[1], exclude=hot_pixels(np.delete(frames, 1, 0))).candidates


def test_lone_pixels_on_simulated_spots_are_few():
    sim = simulate_radiograph(SimulationParams(height=384, width=384, spot_rate_per_mpx=500), 11)
    det = detect_spots(sim.image)
    assert len(det.candidates) > 20 and not det.looks_like_hot_pixels()


def test_references_are_found_beside_the_image(tmp_path):
    img = np.zeros((8, 8), np.uint16)
    for i in range(10):
        tifffile.imwrite(tmp_path / f"scan_{i:04d}.tif", img)
    tifffile.imwrite(tmp_path / "scan_12.tif", img)  # other digit count: another series
    tifffile.imwrite(tmp_path / "other_0001.tif", img)
    tifffile.imwrite(tmp_path / "dc.tif", img)
    tifffile.imwrite(tmp_path / "Dark_Current_0002.tiff", img)
    (tmp_path / "dark.txt").write_text("not an image")
    os.mkfifo(tmp_path / "dark_0009.tif")  # never a reference (reading it would hang)
    refs = find_hot_pixel_references(tmp_path / "scan_0005.tif")
    assert [p.name for p in refs.series] == [
        "scan_0004.tif",
        "scan_0006.tif",
        "scan_0003.tif",
        "scan_0007.tif",
    ]
    assert refs.pattern == "scan_####.tif"
    assert [p.name for p in refs.dark] == ["Dark_Current_0002.tiff", "dc.tif"]
    assert refs.best == refs.series
    assert "4 other frames of the series scan_####.tif" == refs.describe()
    # a dark frame is not a frame of a series; an unnumbered image gets the dark frames
    assert is_dark_frame("dc.tif") and is_dark_frame("run3_dark_0001.tif")
    assert not is_dark_frame("scan_0001.tif") and not is_dark_frame("darkness.tif")
    alone = find_hot_pixel_references(tmp_path / "other_0001.tif")
    assert alone.series == [] and alone.best == alone.dark


def test_auto_references_skip_what_does_not_fit(tmp_path):
    rng = np.random.default_rng(0)
    good = rng.normal(500, 10, (40, 50)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "p_001.tif", good)
    tifffile.imwrite(tmp_path / "p_002.tif", good)
    tifffile.imwrite(tmp_path / "p_003.tif", good[:30])  # another shape
    tifffile.imwrite(tmp_path / "dc.tif", good)
    found = run_job(auto_hot_pixels_job(tmp_path / "p_001.tif", good.shape))
    # the series has a frame of another shape: it is named, and the dark frame is used
    assert found.hot is not None and [p.name for p in found.paths] == ["dc.tif"]
    assert "p_003.tif" in found.note and "(30, 50)" in found.note
    (tmp_path / "dc.tif").unlink()
    none = run_job(auto_hot_pixels_job(tmp_path / "p_001.tif", good.shape))
    assert none.hot is None and "p_003.tif" in none.note


def test_byte_order_of_the_file_does_not_change_the_spots(frames):
    """ImageJ writes big-endian TIFFs and they are read in that order: the same counts stored
    big-endian must give the same spots as native uint16 (the fast integer paths compared the
    dtype with native uint16 and sent big-endian frames down the float path)."""
    hot = hot_pixels(frames)  # the whole series, as a NeXus stack's hot pixels are found
    native = np.ascontiguousarray(frames[0], dtype=np.uint16)
    swapped = native.astype(native.dtype.newbyteorder("S"))
    assert not swapped.dtype.isnative and np.array_equal(swapped, native)
    a = detect_spots(native, exclude=hot)
    b = detect_spots(swapped, exclude=hot)
    assert len(a.candidates) == len(b.candidates)
    assert np.array_equal(a.labels, b.labels)
