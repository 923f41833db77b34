"""Readers check what a file declares before allocating (issue 17.3, 17.6).

Each case runs where it matters in a subprocess capped at 4 GiB of address space: a reader
that trusted the header would die there with MemoryError (or be killed), instead of refusing
the file with a message.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tiffcraft as tc
import tifffile
from conftest import need

from qbi_desktop.core.errors import ImageReadError, UserFacingError
from qbi_desktop.core.idx import read_idx
from qbi_desktop.core.io import open_image
from qbi_desktop.core.maskio import MaskFileError, load_mask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CAP = 4 * 1024**3


def _capped(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter whose address space is capped at 4 GiB."""
    prelude = f"import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, ({CAP}, {CAP}))\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _capped_cli(*argv: str, home: Path) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "QBI_DESKTOP_HOME": str(home)}
    prelude = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({CAP}, {CAP}))\n"
        "from qbi_desktop.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", prelude, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_mask_bomb_beside_a_radiograph_is_refused_without_allocating(tmp_path):
    radiograph = tmp_path / "edge.tif"
    shutil.copy(need(DATA / "radiographs" / "edge20mm_0000.tif"), radiograph)
    bomb = tc.tile_bomb(tmp_path / "edge.mask.tif", 40000, 80000)  # 6 GB from 27 KB
    assert bomb.stat().st_size < 30_000
    result = _capped(
        """
        from qbi_desktop.core.io import read_image
        from qbi_desktop.core.maskio import load_mask, MaskFileError
        image = read_image(sys.argv[1])
        try:
            load_mask(sys.argv[2], image.shape)
        except MaskFileError as e:
            print("REFUSED", e)
        """,
        str(radiograph),
        str(bomb),
    )
    assert result.returncode == 0, result.stderr
    assert "REFUSED" in result.stdout and "edge.mask.tif" in result.stdout
    assert "40000x80000" in result.stdout and "600x600" in result.stdout


def test_mask_bomb_of_the_images_own_size_is_refused_as_a_bomb(tmp_path):
    # Same declared size as the image, under the limit, but 3000 tile slots share 2 KB of data.
    bomb = tc.tile_bomb(tmp_path / "x.mask.tif", 20000, 20000, bits=8)
    with pytest.raises(MaskFileError, match=r"x\.mask\.tif.*decompression bomb"):
        load_mask(bomb, (20000, 20000))


def test_tiff_bomb_in_the_viewer_is_refused_before_a_scratch_file_exists(tmp_path, settings_dir):
    bomb = tc.tile_bomb(tmp_path / "big.tif", 40000, 80000)
    with pytest.raises(ImageReadError, match=r"big\.tif.*40000 x 80000.*limit"):
        open_image(bomb)
    assert not list((settings_dir / "cache").glob("decoded-*"))


def test_a_legitimate_large_tiled_image_still_opens_lazily(tmp_path, settings_dir):
    # 16384^2 uint16 (512 MiB decoded), zlib tiles: opens at once, decodes through scratch.
    path = tmp_path / "big16k.tif"
    tile = np.arange(256 * 256, dtype=np.uint16).reshape(256, 256)
    tifffile.imwrite(
        path,
        (tile for _ in range(64 * 64)),
        shape=(16384, 16384),
        dtype=np.uint16,
        tile=(256, 256),
        compression="zlib",
        compressionargs={"level": 1},
    )
    source = open_image(path)
    try:
        assert source.slice_shape == (16384, 16384) and source.needs_decoding
    finally:
        source.close()


@pytest.mark.parametrize(
    "height, width, expected",
    [
        (60000, 60000, "more than the limit"),  # 3.6 gigapixels
        (40000, 40000, "truncated"),  # under the limit, but the data is not in the file
    ],
)
def test_labelme_polygon_on_a_header_claiming_a_huge_image(tmp_path, height, width, expected):
    folder = tmp_path / "labelme"
    folder.mkdir()
    image = tc.header_claiming(folder / "huge.tif", height, width)
    assert image.stat().st_size < 300
    (folder / "huge.json").write_text(
        json.dumps(
            {
                "version": "5.0.1",
                "flags": {},
                "imagePath": "huge.tif",
                "imageData": None,
                "imageHeight": height,
                "imageWidth": width,
                "shapes": [
                    {
                        "label": "blob",
                        "points": [[1, 1], [30, 2], [20, 25]],
                        "shape_type": "polygon",
                        "group_id": None,
                        "flags": {},
                    }
                ],
            }
        )
    )
    result = _capped_cli(
        "import",
        "--project",
        str(tmp_path / "proj"),
        "--kind",
        "labelme",
        str(folder),
        home=tmp_path / "home",
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert "huge.tif" in result.stderr and expected in result.stderr


def test_mnist_gz_bomb_is_read_with_a_cap(tmp_path):
    # The header declares 100 images of 28x28; the stream goes on for 4 GiB of zeros.
    path = tmp_path / "bomb-images-idx3-ubyte.gz"
    header = bytes([0, 0, 0x08, 3]) + np.asarray([100, 28, 28], ">u4").tobytes()
    zeros = gzip.compress(bytes(64 * 1024**2), compresslevel=9)
    path.write_bytes(gzip.compress(header) + zeros * 64)  # gzip members read as one stream
    assert path.stat().st_size < 10 * 1024**2
    result = _capped(
        """
        from qbi_desktop.core.errors import UserFacingError
        from qbi_desktop.core.idx import read_idx
        try:
            print(read_idx(sys.argv[1]).shape)
        except UserFacingError as exc:
            print("refused:", exc)
        """,
        str(path),
    )
    # refused once 64 KiB past the declared data are seen, within the memory cap: the 4 GiB
    # behind them are never decompressed
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and "after the 100 x 28 x 28 values" in result.stdout


def test_mnist_header_declaring_too_much_is_refused(tmp_path):
    path = tmp_path / "x-images-idx3-ubyte.gz"
    header = bytes([0, 0, 0x08, 3]) + np.asarray([4_000_000_000, 28, 28], ">u4").tobytes()
    path.write_bytes(gzip.compress(header + bytes(1000)))
    with pytest.raises(UserFacingError, match=r"x-images.*4000000000 x 28 x 28.*limit"):
        read_idx(path)
    plain = tmp_path / "y-images-idx3-ubyte"
    plain.write_bytes(bytes([0, 0, 0x08, 3]) + np.asarray([1000, 28, 28], ">u4").tobytes())
    with pytest.raises(UserFacingError, match=r"y-images.*truncated"):
        read_idx(plain)


def test_npz_member_declaring_a_huge_array_is_refused(tmp_path):
    from qbi_desktop.core.catalog.images import load_npz_array

    path = tmp_path / "bomb.npz"
    header = {"descr": "|u1", "fortran_order": False, "shape": (100000, 1000, 1000)}
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_2_0(buf, header)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x_train.npy", buf.getvalue() + bytes(1000))
    with pytest.raises(UserFacingError, match=r"bomb\.npz \[x_train\].*100000 x 1000 x 1000"):
        load_npz_array(path, "x_train")


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: tc.zero_sized(p, 0, 48), "empty size"),
        (lambda p: tc.zero_sized(p, 48, 0), "empty size"),
        (lambda p: tc.zero_sized(p, 48, 48, tile=0), "tiles of 0 x 0"),
    ],
)
def test_zero_and_tile_zero_sizes_are_refused_by_every_reader(tmp_path, make, expected):
    from qbi_desktop.core.catalog.images import image_size, read_image_file

    path = make(tmp_path / "z.tif")
    for read in (open_image, read_image_file, image_size):
        with pytest.raises(ImageReadError, match=expected):
            read(path)
    with pytest.raises(MaskFileError, match=f"{expected}|the mask is (0x48|48x0) pixels"):
        load_mask(path, (48, 48))


def test_reading_a_small_file_with_a_large_limit_costs_only_the_file(tmp_path):
    # A recovery journal may be up to 4 GiB: reading a 300-byte one must not reserve 4 GiB.
    path = tmp_path / "x.journal"
    path.write_bytes(b"QBIMJRN1" + bytes(300))
    result = _capped(
        """
        from qbi_desktop.core.safefile import read_bytes
        print(len(read_bytes(sys.argv[1], "the journal", limit=4 * 1024**3)))
        """,
        str(path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "308"


def test_packed_one_bit_tiff_is_not_taken_for_a_truncated_one(tmp_path):
    from qbi_desktop.core.catalog.images import read_image_file

    mask = np.random.default_rng(0).random((100, 77)) > 0.5
    path = tmp_path / "bilevel.tif"
    tifffile.imwrite(path, mask)  # 1 bit per pixel: 100 rows of 10 bytes
    np.testing.assert_array_equal(read_image_file(path), mask)
