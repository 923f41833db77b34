"""Hostile images through spot detection (core and `qbi-desktop detect-spots`): constant images
(uint64 too), 1xN, huge or zero dimensions, NaN/infinite floats, values beyond float32 — a clear
message naming the file (exit 2) or a sensible result, never a traceback."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tifffile

from qbi_desktop.cli import main
from qbi_desktop.core import limits
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.spots import detect_spots


def _noisy(shape=(64, 64), seed=0):
    img = np.random.default_rng(seed).normal(100, 5, shape).astype(np.float32)
    img[20:22, 20:22] = 500  # one spot
    return img


@pytest.mark.parametrize("method", ["median", "morph"])
def test_nan_pixels_do_not_silence_the_detection(method):
    img = _noisy()
    img[10, 10] = np.nan
    img[30, :] = np.nan  # a masked-out row
    img[5, 50] = np.inf
    img[50, 5] = -np.inf
    det = detect_spots(img, method)
    assert len(det.candidates) == 1 and det.labels[20, 20] > 0, len(det.candidates)
    assert det.nonfinite == 64 + 3
    assert np.isfinite(det.sigma)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.full((32, 32), np.nan, np.float32), "no finite pixel values"),
        (np.arange(100, dtype=np.uint16)[None], "1 x 100 pixels"),
        (np.arange(100, dtype=np.uint16)[:, None], "100 x 1 pixels"),
        (np.zeros((0, 5), np.uint16), "empty"),
        (np.full((16, 16), 1e300), "beyond the range spot detection works in"),
    ],
)
def test_images_that_cannot_be_searched_get_a_message(image, message):
    with pytest.raises(UserFacingError, match=message):
        detect_spots(image)


@pytest.mark.parametrize(
    "image",
    [
        np.full((64, 64), 7, np.uint16),
        np.full((64, 64), 2**63 + 5, np.uint64),
        np.full((64, 64), 1.5, np.float32),
    ],
    ids=["uint16", "uint64", "float32"],
)
def test_images_without_noise_have_no_spots(image):
    det = detect_spots(image)
    assert det.candidates == [] and det.sigma > 0


def test_noise_free_spot_is_still_found():
    img = np.full((40, 40), 1000, np.uint64)
    img[10, 10] = 1005  # 5 counts on a noiseless background: >> 1 count quantisation
    det = detect_spots(img)
    assert len(det.candidates) == 1 and det.labels[10, 10] > 0


def test_working_memory_is_checked_before_allocating():
    limits.set_limits(decoded_bytes="1MiB")
    try:
        with pytest.raises(UserFacingError, match=r"working memory.*decoded_bytes"):
            detect_spots(np.zeros((300, 300), np.uint8))
    finally:
        limits.set_limits(decoded_bytes=None)


def _patch_dimensions(path, width, height):
    """Rewrite the ImageWidth/ImageLength tags of a small TIFF (a header that lies)."""
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tags = {t.code: t for t in tif.pages[0].tags.values()}
    for code, value in ((256, width), (257, height)):
        tag = tags[code]
        struct.pack_into("<H" if tag.dtype == 3 else "<I", data, tag.valueoffset, value)
    path.write_bytes(bytes(data))


def _files(folder):
    rng = np.random.default_rng(1)
    nan = _noisy()
    nan[30, :] = np.nan
    cases = {
        "const_u16.tif": (np.full((64, 64), 7, np.uint16), 0),
        "const_u64.tif": (np.full((64, 64), 2**63 + 5, np.uint64), 0),
        "nan.tif": (nan, 0),
        "all_nan.tif": (np.full((32, 32), np.nan, np.float32), 2),
        "row.tif": (rng.integers(0, 1000, (1, 300)).astype(np.uint16), 2),
        "two_rows.tif": (rng.integers(0, 1000, (2, 300)).astype(np.uint16), 2),
        "column.tif": (rng.integers(0, 1000, (300, 1)).astype(np.uint16), 2),
        "huge_values.tif": (rng.normal(0, 1e300, (32, 32)), 2),
        "huge.tif": (np.zeros((16, 16), np.uint16), 2),
        "zero.tif": (np.zeros((16, 16), np.uint16), 2),
    }
    for name, (image, _) in cases.items():
        tifffile.imwrite(folder / name, image)
    _patch_dimensions(folder / "huge.tif", 60000, 60000)
    _patch_dimensions(folder / "zero.tif", 0, 16)
    return {name: code for name, (_, code) in cases.items()}


def test_cli_on_hostile_images(tmp_path, capsys):
    expected = _files(tmp_path)
    for name, code in expected.items():
        path = tmp_path / name
        out = tmp_path / "out"
        got = main(["detect-spots", str(path), "--out", str(out), "--no-hot-pixels"])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        assert got == code, (name, captured.out, captured.err)
        written = out / f"{path.stem}_spots.tif"
        if code == 2:
            assert str(path) in captured.err, captured.err
            assert not written.exists()
        else:
            assert written.exists() and str(path) in captured.out
    # the sensible results: nothing on constants, the one spot beside the NaN row
    assert tifffile.imread(tmp_path / "out" / "const_u64_spots.tif").max() == 0
    nan = tifffile.imread(tmp_path / "out" / "nan_spots.tif")
    assert nan.max() == 1 and nan[20, 20] == 1
