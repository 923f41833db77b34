"""Multi-page TIFFs in normalisation: a reference (open beam, dark current) holding several
frames is averaged, every frame weighing as one single-frame file (the lab's practice: several
open beams are taken to beat the noise); an image stack is normalised frame by frame into
``<stem>_<frame>.tif``, as a NeXus stack is. Before, only the first page of each was used,
without a word: a 3-frame open beam gave T = 0.47 where the averaged one gives 0.052."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need

from qbi_desktop.core.radiography import load_references, normalise
from qbi_desktop.core.radiography.normalise import NormaliseError
from qbi_desktop.core.radiography.provenance import read_provenance
from tests.cli_helpers import run_cli


def _stack(path, values, shape=(64, 64)):
    tifffile.imwrite(path, np.stack([np.full(shape, v, np.uint16) for v in values]))
    return path


def test_cli_averages_a_multiframe_open_beam_and_normalises_each_image_frame(tmp_path):
    ob = _stack(tmp_path / "ob_stack.tif", (2000, 200, 50000))  # mean 17400
    image = _stack(tmp_path / "img_stack.tif", (1000, 1500, 1900))
    dc = tmp_path / "dc.tif"
    tifffile.imwrite(dc, np.full((64, 64), 100, np.uint16))
    out = tmp_path / "out"
    r = run_cli("normalize", str(image), "--ob", str(ob), "--dc", str(dc), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "3 frames are averaged" in r.stderr and "ob_stack.tif" in r.stderr
    assert "img_stack.tif: holds 3 images" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "img_stack_0000.tif",
        "img_stack_0001.tif",
        "img_stack_0002.tif",
    ]
    for k, value in enumerate((1000, 1500, 1900)):
        t = tifffile.imread(out / f"img_stack_{k:04d}.tif")
        assert t.shape == (64, 64)
        np.testing.assert_allclose(t, (value - 100) / (17400 - 100), rtol=1e-6)
    record = read_provenance(out / "img_stack_0001.tif")
    assert record["input"].endswith("img_stack.tif [frame 1]")
    assert record["open_beam_frames"] == [3] and record["dark_current_frames"] == [1]


def test_frames_of_all_reference_files_weigh_the_same(tmp_path):
    ob_a = _stack(tmp_path / "a.tif", (1000, 3000, 5000), (8, 8))
    ob_b = _stack(tmp_path / "b.tif", (9000,), (8, 8))
    dc = _stack(tmp_path / "dc.tif", (0, 200), (8, 8))  # a dark-current stack: mean 100
    refs = load_references([ob_a, ob_b], [dc])
    expected_ob = (1000 + 3000 + 5000 + 9000) / 4
    np.testing.assert_allclose(refs.ob_minus_dc, expected_ob - 100)
    np.testing.assert_allclose(refs.dc, 100)
    assert refs.ob_frames == [3, 1] and refs.dc_frames == [2]
    assert len(refs.notes()) == 2


def test_a_reference_stack_of_another_shape_is_refused_before_reading_pixels(tmp_path):
    ob = _stack(tmp_path / "ob.tif", (1000,), (8, 8))
    dc = _stack(tmp_path / "dc.tif", (10, 20, 30), (8, 9))
    with pytest.raises(NormaliseError, match=r"dark current .*dc\.tif: has shape \(8, 9\)"):
        load_references([ob], [dc])


def test_real_multiframe_radiograph_as_open_beam_is_averaged(tmp_path):
    """The shared multiframe.tif (5 x 249 x 145): used as open beam, all five frames count."""
    real = need(RADIOGRAPHS / "multiframe.tif")
    frames = tifffile.imread(real)
    assert frames.shape[0] == 5
    dc = tmp_path / "dc.tif"
    tifffile.imwrite(dc, np.zeros(frames.shape[1:], frames.dtype))
    refs = load_references([real], [dc])
    mean = frames.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(refs.ob_minus_dc, mean.astype(np.float32), rtol=1e-6)
    t = normalise(frames[0], refs)
    good = mean > 0
    np.testing.assert_allclose(t.data[good], (frames[0][good] / mean[good]), rtol=1e-5)
    # each frame of the real stack as an image: one output per frame
    out = tmp_path / "out"
    r = run_cli("normalize", str(real), "--ob", str(real), "--dc", str(dc), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob("multiframe_*.tif"))) == 5
