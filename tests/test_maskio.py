"""Mask files: TIFF/PNG round trips, imports from other painters, and every refusal message."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.labels import LabelTable
from qbi_desktop.core.maskio import (
    MaskFileError,
    MaskShapeError,
    TooManyLabelsError,
    import_mask,
    load_mask,
    read_mask_file,
    save_mask,
)


def _mask(shape=(60, 80), dtype=np.uint8) -> np.ndarray:
    m = np.zeros(shape, dtype)
    m[5:15, 10:20] = 1
    m[30:40, 50:70] = 2
    return m


def _labels(n: int) -> LabelTable:
    t = LabelTable()
    for i in range(2, n + 1):
        t.add(f"class {i}")
    return t


def test_tiff_round_trip_is_imagej_compressed_and_carries_the_label_table(tmp_path):
    mask, labels = _mask(), _labels(2)
    path = save_mask(tmp_path / "m.tif", mask, labels)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        page = tif.pages[0]
        assert page.compression == 8  # Adobe deflate: ImageJ reads it as ZIP
        assert page.dtype == np.uint8
        lut = np.asarray(tif.imagej_metadata["LUTs"])
        lut = lut[0] if lut.ndim == 3 else lut  # (3, 256): one LUT per channel
        assert tuple(lut[:, 1]) == labels[1].colour  # Fiji shows label 1 in its colour
    back = load_mask(path, mask.shape, labels)
    np.testing.assert_array_equal(back, mask)
    assert read_mask_file(path)[1] == labels


def test_png_round_trip_uint8_palette_and_uint16(tmp_path):
    mask, labels = _mask(), _labels(2)
    path = save_mask(tmp_path / "m.png", mask, labels)
    with Image.open(path) as img:
        assert img.mode == "P"
        assert tuple(img.getpalette()[3:6]) == labels[1].colour
    np.testing.assert_array_equal(load_mask(path, mask.shape, labels), mask)
    big = _mask(dtype=np.uint16)
    big[50:55, 0:5] = 300
    t = _labels(2)
    t.add("many", value=300)
    for suffix in ("png", "tif"):
        p = save_mask(tmp_path / f"big.{suffix}", big, t)
        back = load_mask(p, big.shape, t)
        assert back.dtype == np.uint16
        np.testing.assert_array_equal(back, big)


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "m.tif"
    save_mask(path, _mask())
    m2 = _mask()
    m2[0, 0] = 2
    save_mask(path, m2)
    np.testing.assert_array_equal(load_mask(path, m2.shape), m2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]


def test_wrong_shape_is_refused_naming_file_and_both_shapes(tmp_path):
    path = save_mask(tmp_path / "m.tif", _mask((60, 80)))
    with pytest.raises(MaskShapeError) as err:
        load_mask(path, (80, 60))
    msg = str(err.value)
    assert str(path) in msg and "60x80" in msg and "80x60" in msg and "stretched" in msg
    with pytest.raises(MaskShapeError):
        import_mask(path, (61, 80))


def test_float_masks_with_fractions_are_refused_whole_floats_accepted(tmp_path):
    whole = _mask().astype(np.float32)
    tifffile.imwrite(tmp_path / "whole.tif", whole)
    np.testing.assert_array_equal(load_mask(tmp_path / "whole.tif", whole.shape), _mask())
    frac = whole.copy()
    frac[7, 9] = 0.5
    tifffile.imwrite(tmp_path / "frac.tif", frac)
    with pytest.raises(MaskFileError) as err:
        load_mask(tmp_path / "frac.tif", frac.shape)
    assert "frac.tif" in str(err.value) and "fractional" in str(err.value)
    assert "row 7, column 9" in str(err.value)
    neg = whole.copy()
    neg[0, 0] = -1
    tifffile.imwrite(tmp_path / "neg.tif", neg)
    with pytest.raises(MaskFileError, match="negative"):
        load_mask(tmp_path / "neg.tif", neg.shape)


def test_more_labels_than_the_table_lists_the_extra_ones(tmp_path):
    mask = _mask()
    mask[50:52, 0:2] = 7
    path = save_mask(tmp_path / "m.png", mask)
    table = LabelTable()  # only "spot" = 1
    with pytest.raises(TooManyLabelsError) as err:
        load_mask(path, mask.shape, table)
    assert err.value.extra_labels == [2, 7]
    assert "m.png" in str(err.value) and "2, 7" in str(err.value)
    # the offer: add the extra labels, then it loads
    assert table.ensure(err.value.extra_labels) == [2, 7]
    np.testing.assert_array_equal(load_mask(path, mask.shape, table), mask)


def test_import_binary_label_colour_and_channel_annotations(tmp_path):
    shape = (40, 50)
    binary = np.zeros(shape, np.uint8)
    binary[3:8, 4:9] = 255
    Image.fromarray(binary).save(tmp_path / "bin.png")
    got = import_mask(tmp_path / "bin.png", shape, label=3)
    np.testing.assert_array_equal(got, (binary > 0) * 3)

    rgb = np.zeros(shape + (3,), np.uint8)
    rgb[...] = (90, 90, 90)  # a grey radiograph underneath...
    rgb[10:14, 10:20] = (255, 0, 0)  # ...red strokes mark spots
    rgb[20:25, 30:35] = (0, 255, 0)  # green marks something else
    Image.fromarray(rgb).save(tmp_path / "ann.png")
    red = import_mask(tmp_path / "ann.png", shape, mode="colour", colour=(255, 0, 0), label=1)
    np.testing.assert_array_equal(red == 1, np.all(rgb == (255, 0, 0), axis=-1))
    green = import_mask(tmp_path / "ann.png", shape, channel=1, threshold=128, label=2)
    np.testing.assert_array_equal(green == 2, rgb[..., 1] > 128)
    with pytest.raises(MaskFileError, match="colour image"):
        import_mask(tmp_path / "ann.png", shape)  # auto cannot guess the colour

    labels = np.zeros(shape, np.uint16)
    labels[0:3, 0:3], labels[5:9, 5:9] = 1, 2
    tifffile.imwrite(tmp_path / "lab.tif", labels)
    np.testing.assert_array_equal(import_mask(tmp_path / "lab.tif", shape), labels)


def test_unreadable_or_missing_files_get_messages(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(MaskFileError, match="broken.tif"):
        load_mask(bad, (10, 10))
    with pytest.raises(MaskFileError, match="not found"):
        load_mask(tmp_path / "nope.png", (10, 10))
    with pytest.raises(MaskFileError, match="unknown mask format"):
        save_mask(tmp_path / "m.jpg", _mask())


@contextlib.contextmanager
def _read_only_folder(folder):
    """A folder nobody (not even root) can create files in: chmod, else chattr +i."""
    os.chmod(folder, 0o555)
    probe = folder / ".probe"
    try:
        probe.touch()
        probe.unlink()
        writable = True
    except OSError:
        writable = False
    immutable = False
    if writable and shutil.which("chattr"):
        immutable = (
            subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        )
        writable = not immutable
    try:
        if writable:
            pytest.skip("cannot make a read-only folder here (root without chattr)")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        os.chmod(folder, 0o755)


def test_read_only_folder_gives_a_message_and_keeps_mask_and_old_file(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    old = _mask()
    save_mask(folder / "m.tif", old)
    new = _mask()
    new[0:3, 0:3] = 2
    before = new.copy()
    with _read_only_folder(folder):
        with pytest.raises(MaskFileError) as err:
            save_mask(folder / "m.tif", new)
        msg = str(err.value)
        assert "m.tif" in msg and "read-only" in msg and "unchanged in memory" in msg
    np.testing.assert_array_equal(new, before)
    np.testing.assert_array_equal(load_mask(folder / "m.tif", old.shape), old)
