"""Open-beam / dark-current normalisation: values on constructed data and on the real
radiographs, masked divisions counted (never silent inf/NaN), references refused by name, and
float32 outputs with their provenance."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need

from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.radiography import References, load_references, normalise
from qbi_desktop.core.radiography.normalise import NormaliseError, normalise_files_job
from qbi_desktop.core.radiography.provenance import read_provenance


def _refs(ob, dc, **kw):
    return References.from_arrays(ob, dc, **kw)


def test_transmission_and_attenuation_on_constructed_data():
    rng = np.random.default_rng(1)
    dc = rng.integers(90, 120, (40, 50)).astype(np.uint16)
    ob1 = (dc + rng.integers(20000, 30000, (40, 50))).astype(np.uint16)
    ob2 = (dc + rng.integers(20000, 30000, (40, 50))).astype(np.uint16)
    true_t = rng.uniform(0.05, 1.0, (40, 50))
    ob_mean = (ob1.astype(float) + ob2) / 2
    image = np.rint(dc + true_t * (ob_mean - dc)).astype(np.uint16)
    refs = _refs([ob1, ob2], [dc])
    t = normalise(image, refs)
    expected = (image.astype(float) - dc) / (ob_mean - dc)
    assert t.data.dtype == np.float32
    np.testing.assert_allclose(t.data, expected, rtol=1e-5)
    np.testing.assert_allclose(t.data, true_t, atol=1e-3)  # rounding of the counts only
    a = normalise(image, refs, unit="attenuation")
    np.testing.assert_allclose(a.data, -np.log(expected), rtol=1e-4, atol=1e-6)
    assert t.masked == 0 and a.masked == 0


def test_open_beam_darker_than_dark_current_is_masked_and_counted():
    dc = np.full((8, 8), 100, np.uint16)
    ob = np.full((8, 8), 1100, np.uint16)
    ob[2, 3] = 100  # equal: division by zero
    ob[5, 5] = 50  # darker: division by a negative number
    image = np.full((8, 8), 600, np.uint16)
    result = normalise(image, _refs([ob], [dc]))
    assert result.reference_masked == 2
    assert np.isnan(result.data[2, 3]) and np.isnan(result.data[5, 5])
    assert not np.isinf(result.data).any()
    finite = np.isfinite(result.data)
    assert finite.sum() == 62 and np.allclose(result.data[finite], 0.5)
    assert "2 pixel(s) masked" in result.summary()
    # attenuation: a pixel at or below the dark current has no logarithm: masked, counted once
    image[0, 0] = 90
    att = normalise(image, _refs([ob], [dc]), unit="attenuation")
    assert att.reference_masked == 2 and att.nonpositive == 1
    assert np.isnan(att.data[0, 0]) and not np.isinf(att.data).any()


def test_dose_correction_scales_the_open_region_to_one():
    dc = np.zeros((20, 30), np.float32)
    ob = np.full((20, 30), 1000, np.float32)
    image = np.full((20, 30), 400, np.float32)
    image[:, :10] = 900  # the open part got 90 % of the open beam's dose
    result = normalise(image, _refs([ob], [dc]), dose_region=(0, 20, 0, 10))
    assert result.dose_factor == pytest.approx(1000 / 900)
    np.testing.assert_allclose(result.data[:, :10], 1.0, rtol=1e-6)
    np.testing.assert_allclose(result.data[:, 10:], 400 / 900, rtol=1e-6)
    with pytest.raises(NormaliseError, match="outside"):
        normalise(image, _refs([ob], [dc]), dose_region=(0, 50, 0, 10))
    with pytest.raises(NormaliseError, match="no dose"):
        normalise(np.zeros_like(image), _refs([ob], [dc]), dose_region=(0, 5, 0, 5))


def test_references_of_another_shape_or_type_are_refused_by_name(tmp_path):
    ob = need(RADIOGRAPHS / "ob.tif")
    dc = need(RADIOGRAPHS / "dc.tif")
    small = tmp_path / "small_ob.tif"
    tifffile.imwrite(small, np.ones((10, 10), np.uint16))
    floaty = tmp_path / "float_dc.tif"
    tifffile.imwrite(floaty, np.ones((600, 600), np.float32))
    with pytest.raises(NormaliseError, match="small_ob.tif.*shape"):
        load_references([ob, small], [dc])
    with pytest.raises(NormaliseError, match="float_dc.tif.*pixel type"):
        load_references([ob], [floaty])
    refs = load_references([ob], [dc])
    with pytest.raises(NormaliseError, match="frame.tif.*shape"):
        normalise(np.ones((5, 5), np.uint16), refs, name="frame.tif")
    with pytest.raises(NormaliseError, match="frame.tif.*pixel type"):
        normalise(np.ones((600, 600), np.float32), refs, name="frame.tif")


def test_real_radiograph_open_part_is_near_one_and_plate_absorbs(tmp_path):
    frame = need(RADIOGRAPHS / "edge20mm_0000.tif")
    refs = load_references([need(RADIOGRAPHS / "ob.tif")], [need(RADIOGRAPHS / "dc.tif")])
    run = run_job(normalise_files_job([frame], refs, tmp_path / "out", attenuation=False))
    ((target, result),) = run
    assert target == tmp_path / "out" / "edge20mm_0000.tif"
    data = tifffile.imread(target)
    assert data.dtype == np.float32 and data.shape == (600, 600)
    np.testing.assert_array_equal(data, result.data)
    # the beam outside the plate: transmission ~1; through the absorbing plate: a few %
    t = data[np.isfinite(data)]
    assert 0.97 < np.percentile(t, 97) < 1.06
    assert np.median(t) < 0.1
    record = read_provenance(target)
    assert record["operation"] == "normalise" and record["unit"] == "transmission"
    assert record["open_beam"] == [str(RADIOGRAPHS / "ob.tif")]
    assert record["dark_current"] == [str(RADIOGRAPHS / "dc.tif")]
    assert record["input"] == str(frame)


def test_a_bad_file_in_the_list_stops_before_anything_is_written(tmp_path):
    frame = need(RADIOGRAPHS / "edge20mm_0000.tif")
    refs = load_references([need(RADIOGRAPHS / "ob.tif")], [need(RADIOGRAPHS / "dc.tif")])
    odd = tmp_path / "odd.tif"
    tifffile.imwrite(odd, np.ones((300, 600), np.uint16))
    out = tmp_path / "out"
    with pytest.raises(NormaliseError, match="odd.tif.*shape"):
        run_job(normalise_files_job([frame, odd], refs, out))
    assert not out.exists() or not any(out.iterdir())
