"""`detect-spots` works on one 2-D image per file, like `clean-spots`: a file holding a stack
(the real 5 x 249 x 145 multiframe.tif, a 5-D hyperstack, planar channels) is refused with a
message naming the file and how many images it holds, not searched on its first frame with
the other frames silently dropped; the other files of the batch are still processed.
"""

from __future__ import annotations

import numpy as np
import tifffile

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pytest run from inside tests/
    from conftest import RADIOGRAPHS, need

from qbi_desktop.cli import main
from qbi_desktop.core.maskio import load_mask


def _spots(out, *inputs) -> int:
    return main(["detect-spots", "--no-hot-pixels", "--out", str(out), *map(str, inputs)])


def test_real_multiframe_stack_is_refused_naming_its_images(tmp_path, capsys):
    stack = need(RADIOGRAPHS / "multiframe.tif")
    single = need(RADIOGRAPHS / "edge20mm_0000.tif")
    out = tmp_path / "out"
    assert _spots(out, stack, single) == 2
    printed = capsys.readouterr()
    assert "multiframe.tif: holds 5 images (5 x 249 x 145" in printed.err
    assert "numbered series" in printed.err
    assert not (out / "multiframe_spots.tif").exists()  # no mask of one frame of five
    # the single image of the same batch was still searched, its mask the image's shape
    assert "edge20mm_0000.tif:" in printed.out
    shape = tifffile.imread(single).shape
    assert load_mask(out / "edge20mm_0000_spots.tif", shape).shape == shape


def test_clean_spots_refuses_the_same_stack(tmp_path, capsys):
    stack = need(RADIOGRAPHS / "multiframe.tif")
    code = main(["clean-spots", "--workers", "1", "--out", str(tmp_path / "c"), str(stack)])
    assert code == 2
    assert "holds 5 images" in capsys.readouterr().err


def test_hyperstack_and_channels_are_refused(tmp_path, capsys):
    five_d = tmp_path / "five_d.tif"
    tifffile.imwrite(five_d, np.zeros((2, 2, 2, 16, 16), np.uint16))
    planar = tmp_path / "planar.tif"
    tifffile.imwrite(
        planar, np.zeros((3, 32, 32), np.uint16), photometric="rgb", planarconfig="separate"
    )
    assert _spots(tmp_path / "out", five_d, planar) == 2
    err = capsys.readouterr().err
    assert "five_d.tif: holds 8 images (2 x 2 x 2 x 16 x 16" in err
    assert "planar.tif: holds 3 images" in err
    assert not list((tmp_path / "out").glob("*_spots.tif"))


def test_separate_images_in_one_tiff_are_named_in_a_note(tmp_path, capsys):
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tif:
        for i in range(3):  # three separate 2-D images (series), not one stack
            tif.write(np.full((32, 32), 100 + i, np.uint16), contiguous=False)
    assert _spots(tmp_path / "out", path) == 0
    out = capsys.readouterr().out
    assert "holds 3 separate images" in out and "only the first was searched" in out
    assert load_mask(tmp_path / "out" / "pages_spots.tif", (32, 32)).shape == (32, 32)
