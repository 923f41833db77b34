"""The bad-input corpus: every broken file gets a clear message naming the file and the problem."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.io import decode_plane_job, open_image
from qbi_desktop.core.jobs import run_job


def _tiff_bytes(data: np.ndarray, **kwargs) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    tifffile.imwrite(buffer, data, **kwargs)
    return buffer.getvalue()


def _huge_tiled_tiff(path, side: int, tile: int = 4096) -> None:
    """A BigTIFF header claiming a side x side uint16 deflate-tiled image, with no tile data."""
    tiles = (-(-side // tile)) ** 2
    entries = [
        (256, 16, 1, side),  # ImageWidth (LONG8)
        (257, 16, 1, side),  # ImageLength
        (258, 3, 1, 16),  # BitsPerSample
        (259, 3, 1, 8),  # Compression: deflate
        (262, 3, 1, 1),  # Photometric: min-is-black
        (277, 3, 1, 1),  # SamplesPerPixel
        (322, 4, 1, tile),  # TileWidth (LONG)
        (323, 4, 1, tile),  # TileLength
        (324, 16, tiles, None),  # TileOffsets (array, filled below)
        (325, 16, tiles, None),  # TileByteCounts
    ]
    header = b"II" + struct.pack("<HHHQ", 43, 8, 0, 16)
    ifd_size = 8 + len(entries) * 20 + 8
    arrays_at = 16 + ifd_size
    ifd = struct.pack("<Q", len(entries))
    arrays = b""
    for tag, typ, count, value in entries:
        if value is None:
            offset = arrays_at + len(arrays)
            arrays += bytes(8 * tiles)
            ifd += struct.pack("<HHQQ", tag, typ, count, offset)
        elif typ == 3:
            ifd += struct.pack("<HHQHHHH", tag, typ, count, value, 0, 0, 0)
        elif typ == 4:
            ifd += struct.pack("<HHQII", tag, typ, count, value, 0)
        else:
            ifd += struct.pack("<HHQQ", tag, typ, count, value)
    ifd += struct.pack("<Q", 0)
    path.write_bytes(header + ifd + arrays)


@pytest.fixture
def corpus(tmp_path):
    """name -> (path, words the message must contain)."""
    good = _tiff_bytes(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    files = {}

    def add(name, content, *words):
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        files[name] = (path, words)

    add("empty.tif", b"", "empty")
    add("truncated.tif", good[: len(good) // 2], "truncated")
    add("corrupt_header.tif", b"II*\x00" + os.urandom(200), "TIFF")
    add("text_named.tif", b"hello, this is not an image\n" * 10, "not a TIFF")
    add("text_named.png", b"hello, this is not an image\n" * 10, "not an image")
    add("truncated.png", _png_bytes()[:60], "truncated")
    add("complex.tif", _tiff_bytes(np.zeros((8, 8), np.complex64)), "unsupported pixel type")
    add("missing.tif", None, "not found")
    folder = tmp_path / "a_folder.tif"
    folder.mkdir()
    files["a_folder.tif"] = (folder, ("folder",))
    return files


def _png_bytes() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name",
    [
        "empty.tif",
        "truncated.tif",
        "corrupt_header.tif",
        "text_named.tif",
        "text_named.png",
        "truncated.png",
        "complex.tif",
        "missing.tif",
        "a_folder.tif",
    ],
)
def test_bad_file_gets_clear_message(corpus, name):
    path, words = corpus[name]
    with pytest.raises(ImageReadError) as info:
        source = open_image(path)
        run_job(decode_plane_job(source, 0))  # some damage only shows when pixels are decoded
    message = str(info.value)
    assert str(path) in message, message
    for word in words:
        assert word.lower() in message.lower(), message


def test_corrupt_tile_data_named_when_decoding(tmp_path):
    data = np.random.default_rng(1).integers(0, 60000, (256, 256), dtype=np.uint16)
    raw = bytearray(_tiff_bytes(data, compression="zlib", tile=(64, 64)))
    with tifffile.TiffFile(__import__("io").BytesIO(bytes(raw))) as tif:
        offset = tif.pages[0].dataoffsets[5]
    raw[offset : offset + 40] = os.urandom(40)  # garble one compressed tile
    path = tmp_path / "garbled_tile.tif"
    path.write_bytes(bytes(raw))
    source = open_image(path)
    with pytest.raises(ImageReadError) as info:
        run_job(decode_plane_job(source, 0))
    assert str(path) in str(info.value) and "decode" in str(info.value)


def test_image_larger_than_memory_and_disk_is_refused(tmp_path, settings_dir):
    # Claims 10^7 x 10^7 16-bit pixels (200 TB decoded): more than any memory or scratch disk.
    path = tmp_path / "huge.tif"
    _huge_tiled_tiff(path, 10_000_000, tile=65536)
    with pytest.raises(ImageReadError) as info:
        open_image(path)  # refused from the header, before any scratch file or memory
    assert str(path) in str(info.value) and "more than the limit" in str(info.value)
    assert not list((settings_dir / "cache").glob("decoded-*"))


def test_large_compressed_plane_decodes_to_disk_not_ram(tmp_path, settings_dir):
    # Above the scratch threshold a decoded plane lives in a file-backed array in the cache.
    import qbi_desktop.core.io as io

    data = np.random.default_rng(2).integers(0, 60000, (512, 512), dtype=np.uint16)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, data, compression="zlib", tile=(128, 128))
    old = io.SCRATCH_THRESHOLD_BYTES
    io.SCRATCH_THRESHOLD_BYTES = 1024
    try:
        source = open_image(path)
        plane = run_job(decode_plane_job(source, 0))
        assert isinstance(plane.array, np.memmap)
        np.testing.assert_array_equal(plane.array, data)
        # the file is in the cache folder, already unlinked: a kill -9 cannot leave it behind
        assert os.path.dirname(plane.array.filename) == str(settings_dir / "cache")
        assert not list((settings_dir / "cache").glob("decoded-*.raw"))
        source.close()
        assert not list((settings_dir / "cache").glob("decoded-*.raw")), "scratch file removed"
    finally:
        io.SCRATCH_THRESHOLD_BYTES = old


def test_permission_denied(tmp_path):
    path = tmp_path / "secret.tif"
    path.write_bytes(_tiff_bytes(np.zeros((4, 4), np.uint16)))
    path.chmod(0)
    code = (
        "import sys; from qbi_desktop.core.io import open_image\n"
        "try:\n    open_image(sys.argv[1])\n"
        "except Exception as e:\n    print(type(e).__name__, e)\n"
    )
    # Root reads everything: check as an unprivileged user, the way a real user meets it.
    command = [sys.executable, "-c", code, str(path)]
    if os.geteuid() == 0:
        tmp_path.chmod(0o755)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    assert out.startswith("ImageReadError") and "permission denied" in out and str(path) in out
