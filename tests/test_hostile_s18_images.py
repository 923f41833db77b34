"""Hostile campaign s18, finding 2: a PNG whose deflate stream ends cleanly before the rows its
header declares was read with zeros for the missing rows. Every reader of Pillow images (the
viewer, the catalog's imports, the augment batch, masks) now refuses it, naming the file and how
many rows it holds; whole PNGs of every layout (interlaced too) still read exactly, and the other
Pillow formats cut short are refused as before. Crafted files on disk, real readers."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.core import io as qio
from qbi_desktop.core.augment.batch import read_image_file as augment_read
from qbi_desktop.core.catalog.images import read_image_file as catalog_read
from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.maskio import read_mask_file

_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2))
_ADAM7 += ((0, 1, 1, 2),)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png(width, height, depth, colour, raw: bytes, interlace: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw))  # a properly closed stream
        + _chunk(b"IEND", b"")
    )


def _rows(n: int, row_bytes: int, value: int = 0xFF) -> bytes:
    return (b"\x00" + bytes([value]) * row_bytes) * n


READERS = [
    ("viewer", qio.read_image),
    ("catalog import", catalog_read),
    ("augment batch", augment_read),
]


@pytest.mark.parametrize("name,read", READERS, ids=[r[0] for r in READERS])
def test_a_png_with_rows_missing_is_refused_by_every_reader(tmp_path, name, read):
    path = tmp_path / "short255.png"
    path.write_bytes(_png(64, 64, 8, 0, _rows(10, 64)))  # 10 of the 64 declared rows
    with pytest.raises(ImageReadError) as info:
        read(path)
    text = str(info.value)
    assert "short255.png" in text
    assert "ends after 10 of 64 rows (truncated)" in text


def test_the_viewer_says_it_in_the_words_of_the_brief(tmp_path):
    path = tmp_path / "file.png"
    path.write_bytes(_png(64, 64, 8, 0, _rows(10, 64)))
    with pytest.raises(ImageReadError) as info:
        qio.open_image(path)
    assert str(info.value) == f"{path}: the image data ends after 10 of 64 rows (truncated)"


@pytest.mark.parametrize(
    "depth,colour,bpp,rows",
    [(16, 0, 2, 7), (8, 2, 3, 33), (8, 6, 4, 1), (1, 0, 0, 5), (8, 3, 1, 20)],
    ids=["16-bit grey", "RGB", "RGBA", "1-bit", "palette"],
)
def test_short_pngs_of_every_layout_are_refused(tmp_path, depth, colour, bpp, rows):
    width, height = 40, 50
    row_bytes = bpp * width if bpp else -(-width // 8)
    data = _png(width, height, depth, colour, _rows(rows, row_bytes, 0x01))
    if colour == 3:  # a palette image needs its palette before the pixels
        ihdr_end = 8 + 25
        data = data[:ihdr_end] + _chunk(b"PLTE", bytes(range(6)) * 2) + data[ihdr_end:]
    path = tmp_path / "short.png"
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match=f"ends after {rows} of {height} rows"):
        qio.read_image(path)


def _adam7_bytes(width: int, height: int, bpp: int) -> int:
    total = 0
    for x0, y0, dx, dy in _ADAM7:
        cols, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if cols > 0 and rows > 0:
            total += rows * (1 + cols * bpp)
    return total


def test_an_interlaced_png_cut_short_is_refused_and_a_whole_one_reads(tmp_path):
    from qbi_desktop.core.imageheader import png_layout

    width, height = 37, 29
    need = _adam7_bytes(width, height, 1)
    assert png_layout(_png(width, height, 8, 0, b"", 1)[:33]) == (need, 0, height)
    whole = tmp_path / "whole.png"
    whole.write_bytes(_png(width, height, 8, 0, bytes(need), interlace=1))
    assert qio.read_image(whole).shape == (height, width)
    short = tmp_path / "short.png"
    short.write_bytes(_png(width, height, 8, 0, bytes(need // 2), interlace=1))
    with pytest.raises(ImageReadError, match=r"short\.png: .*truncated"):
        qio.read_image(short)


def test_a_mask_png_with_rows_missing_is_refused(tmp_path):
    path = tmp_path / "mask.png"
    path.write_bytes(_png(64, 64, 8, 0, _rows(10, 64, 1)))
    with pytest.raises(UserFacingError, match="mask data ends after 10 of 64 rows"):
        read_mask_file(path)


@pytest.mark.parametrize("mode", ["L", "I;16", "RGB", "RGBA", "1", "P"])
def test_whole_pngs_read_exactly(tmp_path, mode):
    """No false alarm: Pillow's own PNGs (and a 64-row stream of many IDAT chunks) read back."""
    rng = np.random.default_rng(4)
    shape = {"RGB": (61, 77, 3), "RGBA": (61, 77, 4)}.get(mode, (61, 77))
    if mode == "I;16":
        array = rng.integers(0, 65535, shape, dtype=np.uint16)
    elif mode == "1":
        array = rng.integers(0, 2, shape).astype(bool)
    else:
        array = rng.integers(0, 255, shape, dtype=np.uint8)
    image = Image.fromarray(array)
    if mode == "P":
        image = image.convert("P")
        array = np.asarray(image.convert("L"))
    path = tmp_path / f"whole_{mode.replace(';', '')}.png"
    image.save(path)
    got = qio.read_image(path)
    expected = array.astype(np.uint8) * 255 if mode == "1" else array
    assert np.array_equal(got, expected)
    assert catalog_read(path).shape[:2] == array.shape[:2]


def test_a_large_png_in_many_chunks_reads_whole(tmp_path):
    rng = np.random.default_rng(5)
    array = rng.integers(0, 65535, (700, 900), dtype=np.uint16)  # > one 64 KB read
    path = tmp_path / "big.png"
    Image.fromarray(array).save(path)
    assert np.array_equal(qio.read_image(path), array)


def _cut_formats() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    out = []
    jpeg = io.BytesIO()
    Image.fromarray(grey).save(jpeg, "JPEG")
    j = jpeg.getvalue()
    out.append(("cut.jpg", j[: j.index(b"\xff\xda") + 200]))
    bmp = io.BytesIO()
    Image.fromarray(grey).save(bmp, "BMP")
    out.append(("half.bmp", bmp.getvalue()[: len(bmp.getvalue()) // 2]))
    # an RLE8 BMP whose runs stop after 10 rows with an end-of-bitmap marker
    runs = b"".join(bytes([64, 255]) + b"\x00\x00" for _ in range(10)) + b"\x00\x01"
    offset = 14 + 40 + 1024
    dib = struct.pack("<IiiHHIIiiII", 40, 64, 64, 1, 8, 1, len(runs), 2835, 2835, 256, 0)
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    head = b"BM" + struct.pack("<IHHI", offset + len(runs), 0, 0, offset)
    out.append(("rle.bmp", head + dib + palette + runs))
    return out


@pytest.mark.parametrize("name,data", _cut_formats(), ids=lambda v: v if isinstance(v, str) else "")
def test_other_pillow_formats_cut_short_are_refused(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    for read in (qio.read_image, catalog_read):
        with pytest.raises(ImageReadError) as info:
            read(path)
        assert name in str(info.value)


@pytest.mark.parametrize(
    "name,data",
    [
        ("plain.pgm", b"P2\n64 64\n255\n" + b" ".join(b"255" for _ in range(640)) + b"\n"),
        ("raw.pgm", b"P5\n64 64\n255\n" + b"\xff" * 640),
        ("raw.ppm", b"P6\n64 64\n255\n" + b"\xff" * 640 * 3),
    ],
)
def test_netpbm_files_cut_short_are_refused_by_the_catalog_reader(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match=name):
        catalog_read(path)


def test_a_webp_cut_short_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "WEBP")
    path = tmp_path / "cut.webp"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageReadError, match="cut.webp"):
        catalog_read(path)


def test_the_import_of_a_folder_refuses_the_short_png(tmp_path, capsys):
    """The campaign's reproduction: ``import --kind imagefolder`` of a class folder holding the
    short PNG adds nothing and names the file."""
    from qbi_desktop.cli import main

    folder = tmp_path / "ifpng" / "a"
    folder.mkdir(parents=True)
    (folder / "short255.png").write_bytes(_png(64, 64, 8, 0, _rows(10, 64)))
    Path(folder / "good.png").write_bytes(_png(64, 64, 8, 0, _rows(64, 64)))
    code = main(
        [
            "import",
            "--project",
            str(tmp_path / "p3"),
            "--kind",
            "imagefolder",
            str(tmp_path / "ifpng"),
        ]
    )
    err = capsys.readouterr().err
    assert code != 0
    assert "short255.png" in err and "ends after 10 of 64 rows" in err
