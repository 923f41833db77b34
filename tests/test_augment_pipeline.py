"""Pipelines as versioned JSON (validated on load), reproducibility, and modality profiles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qbi_desktop.core.augment import (
    BUILTIN_PROFILES,
    Pipeline,
    Profile,
    Standardizer,
    available_profiles,
    load_profile,
    save_profile,
)
from qbi_desktop.core.errors import UserFacingError

FULL = dict(
    rotation_range=20,
    width_shift_range=0.1,
    height_shift_range=[2, 4],
    shear_range=5,
    zoom_range=[0.9, 1.2],
    horizontal_flip=True,
    vertical_flip=True,
    fill_mode="reflect",
    cval=1.0,
    channel_shift_range=2.0,
    brightness_range=[0.8, 1.2],
    rescale=1 / 255,
    gaussian_noise={"std_range": [0, 3]},
    gaussian_blur={"sigma_range": [0, 1]},
    gamma_range=[0.8, 1.2],
    contrast_range=[0.9, 1.1],
    random_crop={"scale_range": [0.7, 1.0]},
    elastic={"alpha": 2, "sigma": 5},
    poisson_noise={"dose_range": [0.5, 1.0], "counts_per_unit": 10},
)


def test_json_round_trip_gives_the_same_outputs(tmp_path):
    p = Pipeline.from_options(seed=42, name="lecture", **FULL)
    p.save(tmp_path / "p.json")
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["format"] == "qbi-augment" and doc["version"] == 1
    q = Pipeline.load(tmp_path / "p.json")
    assert q == p
    x = (np.random.default_rng(0).random((40, 56)) * 200).astype(np.uint8)
    a, b = p.augment(x, item_index=3, copy_index=1), q.augment(x, item_index=3, copy_index=1)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.params == b.params
    # parameters survive JSON and reproduce the sample alone
    params = json.loads(json.dumps(a.params))
    np.testing.assert_array_equal(q.apply(x, params).image, a.image)


def test_same_seed_same_output_different_copy_different_output():
    x = (np.random.default_rng(1).random((32, 32)) * 1000).astype(np.uint16)
    p = Pipeline.from_options(seed=9, rotation_range=30, gaussian_noise={"std_range": [1, 5]})
    a = p.augment(x, item_index=2, copy_index=0).image
    np.testing.assert_array_equal(a, p.augment(x, item_index=2, copy_index=0).image)
    assert not np.array_equal(a, p.augment(x, item_index=2, copy_index=1).image)
    assert not np.array_equal(a, p.augment(x, item_index=3, copy_index=0).image)
    other = Pipeline.from_options(seed=10, rotation_range=30, gaussian_noise={"std_range": [1, 5]})
    assert not np.array_equal(a, other.augment(x, item_index=2, copy_index=0).image)


def _doc(**options):
    return {"format": "qbi-augment", "version": 1, "options": options}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_doc(rotaton_range=10), "options.rotaton_range"),
        (_doc(rotation_range="ten"), "options.rotation_range"),
        (_doc(rotation_range=400), "options.rotation_range"),
        (_doc(horizontal_flip=1), "options.horizontal_flip"),
        (_doc(zoom_range=[1.2, 0.8]), "options.zoom_range"),
        (_doc(width_shift_range=[1, "a"]), "options.width_shift_range[1]"),
        (_doc(fill_mode="mirror"), "options.fill_mode"),
        (_doc(gaussian_noise={"std": 3}), "options.gaussian_noise.std"),
        (_doc(poisson_noise={"dose_range": [0, 1]}), "options.poisson_noise.dose_range[0]"),
        ({**_doc(), "version": 2}, "version"),
        ({**_doc(), "format": "keras"}, "format"),
        ({**_doc(), "seed": -1}, "seed"),
        ({**_doc(), "code": "import os"}, "code"),
    ],
)
def test_invalid_pipelines_are_refused_naming_the_field(tmp_path, doc, field):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(UserFacingError) as err:
        Pipeline.load(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_broken_json_and_missing_file_get_clear_messages(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"format": "qbi-augment", ')
    with pytest.raises(UserFacingError, match="not valid JSON"):
        Pipeline.load(path)
    with pytest.raises(UserFacingError, match="cannot read"):
        Pipeline.load(tmp_path / "missing.json")


def test_ct_profile_forbids_flips_with_the_reason():
    p = Pipeline.from_options(profile="ct", rotation_range=5, horizontal_flip=True)
    x = np.zeros((16, 16), np.int16)
    with pytest.raises(UserFacingError) as err:
        p.augment(x)
    msg = str(err.value)
    assert "horizontal_flip" in msg and "'ct'" in msg and "anatomy" in msg
    # allowed options work, and Hounsfield values (negative int16) keep their dtype
    ok = Pipeline.from_options(profile="ct", rotation_range=5, fill_mode="constant", cval=-1000)
    out = ok.augment(np.full((16, 16), -500, np.int16)).image
    assert out.dtype == np.int16 and out.min() >= -1000


def test_radiograph_profile_allows_poisson_but_not_brightness_or_gaussian_noise():
    x = np.full((16, 16), 20000, np.uint16)
    Pipeline.from_options(profile="radiograph", poisson_noise={"dose_range": [0.5, 1]}).augment(x)
    for opt in ({"brightness_range": [0.8, 1.2]}, {"gaussian_noise": {"std_range": [0, 5]}}):
        with pytest.raises(UserFacingError, match=next(iter(opt))):
            Pipeline.from_options(profile="radiograph", **opt).augment(x)
    reasons = BUILTIN_PROFILES["radiograph"].disabled
    assert "transmission" in reasons["brightness_range"]


def test_user_profiles_load_validate_and_apply(tmp_path):
    mine = Profile("beamline-7", "our cell", {"vertical_flip": "gravity points down in our cell"})
    save_profile(mine, tmp_path / "beamline.json")
    assert load_profile(tmp_path / "beamline.json") == mine
    found = available_profiles([tmp_path])
    assert "beamline-7" in found and "ct" in found
    with pytest.raises(UserFacingError, match="gravity"):
        Pipeline.from_options(profile="beamline-7", vertical_flip=True).check([tmp_path])
    bad = {"format": "qbi-augment-profile", "version": 1, "name": "x", "disabled": {"flip": "no"}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(UserFacingError, match="disabled.flip"):
        load_profile(tmp_path / "bad.json")
    newer = {**bad, "version": 9, "disabled": {}}
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    with pytest.raises(UserFacingError, match="newer"):
        load_profile(tmp_path / "newer.json")
    with pytest.raises(UserFacingError, match="not known"):
        Pipeline.from_options(profile="nope").augment(np.zeros((4, 4), np.uint8))


def test_standardizer_settings_and_statistics_save_without_pickles(tmp_path):
    x = np.random.default_rng(2).random((10, 6, 6)).astype(np.float32)
    s = Pipeline.from_options(
        featurewise_center=True, featurewise_std_normalization=True
    ).standardizer()
    s.fit(x)
    s.save(tmp_path / "stats.npz")
    t = Standardizer.load(tmp_path / "stats.npz")
    np.testing.assert_array_equal(t.standardize(x), s.standardize(x))
    assert abs(float(t.standardize(x).mean())) < 1e-5
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserFacingError, match="junk.npz"):
        Standardizer.load(tmp_path / "junk.npz")
