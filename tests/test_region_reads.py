"""Reading a region decodes only what it needs: `measure --rect 0 0 64 64` of a 1.9 MB tiled
zlib TIFF of 30000^2 uint16 peaked at 3.6-4.4 GB (the whole plane decoded, then copied); a
16-bit RGBA PNG of 600 KB at 1.0-1.3 GB (Pillow's bytes, joined, then copied twice). Values of
region reads equal the whole plane's, for every TIFF layout; peaks are read from a child
process's max RSS."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.io import read_image

REGIONS = [((0, 64), (0, 64)), ((30, 97), (45, 110)), ((90, 200), (0, 300)), ((0, 1), (299, 300))]


def _layouts(tmp_path):
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 60000, (200, 300), dtype=np.uint16)
    rgb = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    two = rng.integers(0, 255, (200, 300, 2), dtype=np.uint8)
    files = {
        "tiled_zlib": (grey, dict(tile=(64, 48), compression="zlib")),
        "tiled_raw": (grey, dict(tile=(32, 32))),
        "strips_lzw": (grey, dict(rowsperstrip=7, compression="lzw")),
        "strips_zstd_float": (grey.astype(np.float32) / 7, dict(compression="zstd")),
        "rgb_tiled": (rgb, dict(tile=(64, 64), compression="zlib", photometric="rgb")),
        "channels": (two, dict(tile=(64, 64), compression="zlib", photometric="minisblack")),
        "stack": (np.stack([grey, grey[::-1]]), dict(tile=(64, 64), compression="zlib")),
        "planar": (rgb.transpose(2, 0, 1).copy(),
                   dict(compression="zlib", photometric="rgb", planarconfig="separate")),
    }  # fmt: skip
    for name, (data, kw) in files.items():
        tifffile.imwrite(tmp_path / f"{name}.tif", data, **kw)
    return [tmp_path / f"{name}.tif" for name in files]


def test_region_reads_equal_the_whole_plane_for_every_layout(tmp_path):
    from qbi_desktop.core.io import open_image
    from qbi_desktop.core.regions import read_region

    for path in _layouts(tmp_path):
        source = open_image(path)
        n = source.n_slices
        source.close()
        for index in range(n):
            whole = read_image(path, index)
            for rows, cols in REGIONS:
                part = read_region(path, index, rows, cols)
                expected = whole[rows[0] : rows[1], cols[0] : cols[1]]
                assert part.dtype == whole.dtype, path.name
                assert np.array_equal(part, expected), (path.name, index, rows, cols)
        assert read_region(path, 0, (190, 400), (290, 400)).shape[:2] == (10, 10)  # clipped


def _peak_mb(*argv: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run the CLI in a child; its own peak RSS (MB) from the children's rusage delta."""
    code = (
        "import resource, runpy, sys\n"
        "sys.argv = ['qbi-desktop', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('qbi_desktop', run_name='__main__')\n"
        "finally:\n"
        "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "    sys.stderr.write('PEAK_KB %s\\n' % (hwm[0].split()[1] if hwm else "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    )
    r = subprocess.run(
        ["prlimit", "--as=6000000000", sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=240,
    )
    line = [x for x in r.stderr.splitlines() if x.startswith("PEAK_KB")]
    assert line, r.stderr
    return int(line[-1].split()[1]) / 1024, r


def test_measure_of_a_tiled_bomb_decodes_only_the_tiles_of_the_region(tmp_path):
    path = tmp_path / "big.tif"
    side, tile = 16384, 512
    ramp = np.arange(tile * tile, dtype=np.uint16).reshape(tile, tile) % 1000
    tiles = (ramp for _ in range((side // tile) ** 2))
    tifffile.imwrite(path, tiles, shape=(side, side), dtype=np.uint16, tile=(tile, tile),
                     compression="zlib")  # fmt: skip  # 512 MB decoded, a few MB on disk
    peak, r = _peak_mb("measure", str(path), "--rect", "10", "20", "64", "64", "--json")
    assert r.returncode == 0, r.stderr
    figures = json.loads(r.stdout)
    expected = ramp[20:84, 10:74].astype(np.float64)
    assert figures["count"] == 4096 and figures["mean"] == pytest.approx(expected.mean())
    assert peak < 250, f"peak {peak:.0f} MB (the plane is 512 MB; before: ~1 GB)"


def test_measure_of_a_large_png_keeps_one_decoded_copy_besides_pillows(tmp_path):
    path = tmp_path / "big.png"
    side = 6000  # RGBA: 144 MB decoded
    row = (np.arange(side * 4, dtype=np.uint32) % 251).astype(np.uint8).reshape(side, 4)
    Image.fromarray(np.broadcast_to(row, (side, side, 4)).copy(), "RGBA").save(path)
    peak, r = _peak_mb("measure", str(path), "--rect", "0", "0", "64", "64", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["count"] == 4096
    # Pillow's image + our array (2 x 144 MB) + the interpreter; before: ~4.5 x 144 MB
    assert peak < 480, f"peak {peak:.0f} MB"


LINES = [((0.5, 0.5), (299.5, 199.5)), ((-20, 50), (320, 60.3)), ((150.2, -5), (149.7, 230)),
         ((10, 10), (10.4, 10.2)), ((-50, -50), (-10, -3))]  # fmt: skip


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_line_profiles_read_from_the_file_equal_those_of_the_whole_plane(tmp_path, method):
    from qbi_desktop.core import measure
    from qbi_desktop.core.io import open_image

    for path in _layouts(tmp_path):
        source = open_image(path)
        try:
            for index in range(source.n_slices):
                plane = read_image(path, index)
                for start, end in LINES:
                    whole = measure.line_profile(plane, start, end, method)
                    read = measure.line_profile_of(source, index, start, end, method)
                    np.testing.assert_array_equal(read.values, whole.values, f"{path.name}")
        finally:
            source.close()


def test_a_line_profile_across_a_tiled_bomb_decodes_only_the_tiles_it_crosses(tmp_path):
    path = tmp_path / "big.tif"
    side, tile = 16384, 512
    ramp = np.arange(tile * tile, dtype=np.uint16).reshape(tile, tile) % 1000
    tiles = (ramp for _ in range((side // tile) ** 2))
    tifffile.imwrite(path, tiles, shape=(side, side), dtype=np.uint16, tile=(tile, tile),
                     compression="zlib")  # fmt: skip  # 512 MB decoded, a few MB on disk
    # the whole diagonal: 23 000 samples through 32 of the 1024 tiles
    peak, r = _peak_mb("measure", str(path), "--line", "0", "0", str(side), str(side), "--nearest")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()[1:]
    assert len(rows) > side
    d, x, y, v = rows[len(rows) // 3].split(",")
    assert float(v) == ramp[int(float(y)) % tile, int(float(x)) % tile]
    assert peak < 250, f"peak {peak:.0f} MB (the plane is 512 MB; the whole plane decoded: 1.17 GB)"
