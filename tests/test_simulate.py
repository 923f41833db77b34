"""The radiograph simulator: its ground truth is what it drew, it is physical and deterministic."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from qbi_desktop.commands import simulate as simulate_cmd
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.simulate import (
    SimulationParams,
    derive_image_seed,
    simulate_radiograph,
    write_simulated_set,
)

SMALL = SimulationParams(height=512, width=512)


@pytest.fixture(scope="module")
def pair():
    """A 512x512 radiograph and its twin without spots (same seed)."""
    with_spots = simulate_radiograph(SMALL, seed=7)
    without = simulate_radiograph(SMALL.replace(spot_rate_per_mpx=0.0), seed=7)
    return with_spots, without


# ---- ground truth -----------------------------------------------------------------------------


def test_spots_change_exactly_their_labelled_pixels(pair):
    sim, clean = pair
    assert sim.image.dtype == np.uint16 and sim.image.shape == (512, 512)
    assert sim.spot_labels.dtype == np.int32 and sim.object_labels.dtype == np.uint16
    assert clean.spots == [] and not clean.spot_mask.any()
    mask = sim.spot_mask
    assert mask.sum() > 0
    # Every spot pixel is brighter than the spot-free image, and nothing else changed.
    assert np.all(sim.image[mask] > clean.image[mask])
    assert np.array_equal(sim.image[~mask], clean.image[~mask])
    # The sample, beam and noise do not depend on the spots.
    assert np.array_equal(sim.object_labels, clean.object_labels)


def test_spot_records_describe_the_label_image(pair):
    sim, clean = pair
    labels = sim.spot_labels
    n = len(sim.spots)
    assert labels.max() == n and [s["id"] for s in sim.spots] == list(range(1, n + 1))
    delta = sim.image.astype(np.int64) - clean.image.astype(np.int64)
    ids = np.arange(1, n + 1)
    areas = ndimage.sum_labels(np.ones_like(labels), labels, ids)
    centroids = ndimage.center_of_mass(np.ones_like(labels), labels, ids)
    peaks = ndimage.maximum(delta, labels, ids)
    brightest = ndimage.maximum(sim.image, labels, ids)
    for rec, area, centroid, peak, top in zip(
        sim.spots, areas, centroids, peaks, brightest, strict=True
    ):
        assert rec["area_px"] == area and 1 <= area <= 20
        assert rec["centroid"] == pytest.approx(list(centroid))
        assert rec["peak_counts_above_background"] == peak
        assert rec["saturated"] == (top == 65535)
        y0, x0, y1, x1 = rec["bbox"]
        assert (labels[y0:y1, x0:x1] == rec["id"]).sum() == area
        assert rec["kind"] in ("dot", "blob", "track")
    assert {s["kind"] for s in sim.spots} == {"dot", "blob", "track"}


@pytest.mark.parametrize("spacing", [2, 4])
def test_spots_are_connected_and_never_touch(spacing):
    p = SimulationParams(height=384, width=384, spot_rate_per_mpx=2000, spot_min_spacing_px=spacing)
    sim = simulate_radiograph(p, seed=3)
    labels = sim.spot_labels
    # Any connectivity gives back exactly one component per spot.
    for structure in (None, np.ones((3, 3), bool)):
        comp, count = ndimage.label(sim.spot_mask, structure=structure)
        assert count == len(sim.spots)
        for lab_id, sl in enumerate(ndimage.find_objects(comp), start=1):
            assert len(np.unique(labels[sl][comp[sl] == lab_id])) == 1
    # Within `spacing` pixels (Chebyshev) of a spot pixel there is no other spot.
    size = 2 * spacing + 1
    biggest = ndimage.maximum_filter(labels, size=size)
    smallest = ndimage.minimum_filter(np.where(labels > 0, labels, 2**31 - 1), size=size)
    mask = sim.spot_mask
    assert np.all(biggest[mask] == labels[mask]) and np.all(smallest[mask] == labels[mask])


def test_spot_count_follows_the_rate():
    for rate, size in [(400.0, 2048), (2000.0, 512), (100.0, 1024)]:
        p = SimulationParams(height=size, width=size, spot_rate_per_mpx=rate)
        expected = rate * size * size / 1e6
        n = len(simulate_radiograph(p, seed=11).spots)
        # Poisson: 5 standard deviations.
        assert abs(n - expected) < 5 * math.sqrt(expected), (rate, size, n)


def test_saturated_spots_read_full_scale():
    p = SimulationParams(height=768, width=768, spot_saturated_fraction=0.5)
    sim = simulate_radiograph(p, seed=5)
    saturated = [s for s in sim.spots if s["saturated"]]
    assert 0.35 * len(sim.spots) < len(saturated) < 0.65 * len(sim.spots)
    for rec in saturated:
        assert sim.image[sim.spot_labels == rec["id"]].max() == 65535
    # With no saturating spots and faint ones nothing reaches full scale.
    faint = p.replace(spot_saturated_fraction=0.0, spot_counts=(2000.0, 10000.0))
    sim = simulate_radiograph(faint, seed=5)
    assert sim.spots and not any(s["saturated"] for s in sim.spots)
    assert sim.image.max() < 65535


def test_object_labels_cover_where_transmission_drops(pair):
    sim, _ = pair
    labelled = sim.object_labels > 0
    assert np.array_equal(labelled, sim.transmission < 1.0)
    assert set(np.unique(sim.object_labels)) == set(range(len(sim.objects) + 1))
    for rec in sim.objects:
        assert rec["area_px"] == (sim.object_labels == rec["id"]).sum() > 0
    # The recorded image is darker behind the objects than in the open beam.
    inner = ndimage.binary_erosion(labelled, iterations=4)
    outer = ~ndimage.binary_dilation(labelled, iterations=4) & ~sim.spot_mask
    assert np.median(sim.image[inner]) < np.median(sim.image[outer])


def test_flat_field_gives_beer_lambert_transmission():
    """(image - dark) / (open beam - dark) inside a plate is exp(-mu * thickness)."""
    p = SimulationParams(
        height=512,
        width=512,
        object_count=3,
        object_kinds=("plate",),
        spot_rate_per_mpx=0.0,
        dark_pattern_counts=0.0,
        beam_gradient=0.0,
    )
    sim = simulate_radiograph(p, seed=21)
    flat = simulate_radiograph(p.replace(object_count=0), seed=21)
    ratio = (sim.image.astype(np.float64) - p.dark_counts) / (flat.image - p.dark_counts)
    checked = 0
    for rec in sim.objects:
        inside = ndimage.binary_erosion(sim.object_labels == rec["id"], iterations=5)
        expected = math.exp(-rec["attenuation_per_mm"] * rec["thickness_mm"])
        # Only where this plate is alone (plates may overlap).
        alone = inside & np.isclose(sim.transmission, expected, rtol=1e-5)
        if alone.sum() < 500:
            continue
        assert np.median(ratio[alone]) == pytest.approx(expected, rel=0.02)
        checked += 1
    assert checked >= 1


def test_sphere_chord_and_poisson_noise_level():
    p = SimulationParams(
        height=256, width=256, object_count=1, object_kinds=("sphere",), spot_rate_per_mpx=0
    )
    sim = simulate_radiograph(p, seed=2)
    rec = sim.objects[0]
    cy, cx = (round(v) for v in rec["center"])
    r = rec["radius_px"]
    d2 = (cy - rec["center"][0]) ** 2 + (cx - rec["center"][1]) ** 2
    chord_mm = 2 * math.sqrt(r * r - d2) * p.pixel_size_mm
    expected = math.exp(-rec["attenuation_per_mm"] * chord_mm)
    assert sim.transmission[cy, cx] == pytest.approx(expected, rel=1e-4)
    # Open-beam noise: variance = gain * signal (+ read noise), as set by counts_per_neutron.
    open_region = (ndimage.distance_transform_edt(sim.object_labels == 0) > 5)[:-1, :]
    diff = sim.image[1:, :].astype(np.float64) - sim.image[:-1, :]  # removes the smooth beam
    signal = sim.image[:-1, :][open_region].mean() - p.dark_counts
    # Blur (sigma 1) correlates neighbours only in the expected signal, not in the noise.
    expected_var = p.counts_per_neutron * signal + p.read_noise_counts**2
    assert diff[open_region].var() / 2 == pytest.approx(expected_var, rel=0.1)


def test_few_neutrons_follow_the_poisson_law():
    """At 10 neutrons per pixel the counts are gain x Poisson(10): integer steps, var = mean."""
    p = SimulationParams(
        height=256,
        width=256,
        open_beam_counts=50.0,
        counts_per_neutron=5.0,
        read_noise_counts=0.0,
        dark_pattern_counts=0.0,
        beam_falloff=0.0,
        beam_gradient=0.0,
        object_count=0,
        spot_rate_per_mpx=0.0,
    )
    neutrons = (simulate_radiograph(p, seed=1).image.astype(np.float64) - p.dark_counts) / 5.0
    assert np.array_equal(neutrons, np.round(neutrons)) and neutrons.min() >= 0
    assert neutrons.mean() == pytest.approx(10.0, rel=0.02)
    assert neutrons.var() == pytest.approx(10.0, rel=0.05)
    assert (neutrons == 0).mean() == pytest.approx(math.exp(-10), abs=1e-4)


# ---- determinism ------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs():
    p = SimulationParams(height=256, width=320)
    a = simulate_radiograph(p, seed=42)
    b = simulate_radiograph(p, seed=42)
    c = simulate_radiograph(p, seed=43)
    assert a.image.shape == (256, 320)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.spot_labels.tobytes() == b.spot_labels.tobytes()
    assert a.object_labels.tobytes() == b.object_labels.tobytes()
    assert a.spots == b.spots and a.objects == b.objects
    assert a.image.tobytes() != c.image.tobytes()
    assert a.spot_labels.tobytes() != c.spot_labels.tobytes()


def test_written_image_does_not_depend_on_count(tmp_path):
    p = SimulationParams(height=64, width=64, spot_rate_per_mpx=3000)
    run_job(write_simulated_set(tmp_path / "two", 2, 9, p))
    run_job(write_simulated_set(tmp_path / "three", 3, 9, p))
    for name in ("sim_0001.tif", "sim_0001_spots.tif", "sim_0001_objects.tif"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "three" / name).read_bytes()
    assert (tmp_path / "two" / "sim_0000.tif").read_bytes() != (
        tmp_path / "two" / "sim_0001.tif"
    ).read_bytes()
    seeds2 = [
        e["seed"] for e in json.loads((tmp_path / "two" / "simulation.json").read_text())["images"]
    ]
    seeds3 = [
        e["seed"]
        for e in json.loads((tmp_path / "three" / "simulation.json").read_text())["images"]
    ]
    assert seeds3[:2] == seeds2 == [derive_image_seed(9, 0), derive_image_seed(9, 1)]
    assert len(set(seeds3)) == 3


# ---- files ------------------------------------------------------------------------------------


def test_written_set_reads_back(tmp_path):
    p = SimulationParams(height=96, width=128, spot_rate_per_mpx=2000, pixel_size_mm=0.05)
    job = write_simulated_set(tmp_path / "out", 2, 4, p)
    progress = []
    paths = run_job(job, on_progress=progress.append)
    out = tmp_path / "out"
    assert paths == [out / "sim_0000.tif", out / "sim_0001.tif"]
    assert [pr.done for pr in progress] == [0, 1, 2] and progress[-1].total == 2
    doc = json.loads((out / "simulation.json").read_text())
    assert doc["complete"] is True and doc["seed"] == 4 and doc["count"] == 2
    assert SimulationParams.from_dict(doc["params"]) == p
    for index, entry in enumerate(doc["images"]):
        files = entry["files"]
        assert files == {
            "image": f"sim_{index:04d}.tif",
            "spots": f"sim_{index:04d}_spots.tif",
            "objects": f"sim_{index:04d}_objects.tif",
        }
        image = tifffile.imread(out / files["image"])
        spots = tifffile.imread(out / files["spots"])
        objects = tifffile.imread(out / files["objects"])
        assert image.shape == spots.shape == objects.shape == (96, 128)
        assert image.dtype == np.uint16 and spots.dtype == np.uint16
        assert objects.dtype == np.uint16
        # The files hold exactly what the simulator returns for the recorded seed.
        sim = simulate_radiograph(p, entry["seed"])
        assert np.array_equal(image, sim.image)
        assert np.array_equal(spots, sim.spot_labels)
        assert np.array_equal(objects, sim.object_labels)
        assert entry["spots"] == sim.spots and entry["spot_count"] == spots.max() > 0
        with tifffile.TiffFile(out / files["image"]) as tif:
            assert tif.is_imagej and tif.imagej_metadata["unit"] == "mm"
            assert tif.pages[0].resolution == pytest.approx((20.0, 20.0))
        with tifffile.TiffFile(out / files["spots"]) as tif:
            assert tif.pages[0].compression == 8  # zlib / deflate
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_cancelled_set_lists_what_was_written(tmp_path):
    p = SimulationParams(height=64, width=64)
    job = write_simulated_set(tmp_path, 5, 0, p)
    next(job)  # before the first image
    next(job)  # first image written
    job.close()
    doc = json.loads((tmp_path / "simulation.json").read_text())
    assert doc["complete"] is False and [e["index"] for e in doc["images"]] == [0]
    assert (tmp_path / "sim_0000.tif").exists() and not (tmp_path / "sim_0001.tif").exists()


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, words",
    [
        ({"open_beam_count": 1000}, ["open_beam_count", "unknown"]),
        ({"open_beam_counts": "lots"}, ["open_beam_counts", "number"]),
        ({"height": 12.5}, ["height", "integer"]),
        ({"height": 8}, ["height", "16"]),
        ({"width": 40000}, ["width", "32768"]),
        ({"spot_size_px": [5, 2]}, ["spot_size_px", "min"]),
        ({"spot_counts": 5}, ["spot_counts", "pair"]),
        ({"object_kinds": ["cube"]}, ["object_kinds", "sphere"]),
        ({"spot_saturated_fraction": 1.5}, ["spot_saturated_fraction", "[0, 1]"]),
        ({"blur_sigma_px": True}, ["blur_sigma_px", "number"]),
        ({"open_beam_counts": float("nan")}, ["open_beam_counts", "finite"]),
    ],
)
def test_bad_params_are_rejected_naming_the_field(values, words):
    with pytest.raises(UserFacingError) as err:
        SimulationParams.from_dict(values)
    for word in words:
        assert word in str(err.value)


def test_params_round_trip_and_bad_calls():
    p = SimulationParams(height=100, spot_size_px=(2, 9), object_kinds=("sphere", "plate"))
    assert SimulationParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(UserFacingError, match="seed"):
        simulate_radiograph(p, seed=-1)
    with pytest.raises(UserFacingError, match="count"):
        write_simulated_set("/tmp/never-made-by-qbi", 0, 0, p)
    with pytest.raises(UserFacingError, match="height"):
        SimulationParams(height=10)
    with pytest.raises(UserFacingError, match="spot_size_px"):
        SimulationParams(spot_size_px="big")
    # Lists (as JSON gives them) and numpy numbers are accepted and normalised.
    q = SimulationParams(
        spot_size_px=[2, 9], height=np.int64(100), object_kinds=["sphere", "plate"]
    )
    assert q == p and json.dumps(q.to_dict())


def test_unwritable_out_dir_is_reported(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "below"):
        with pytest.raises(UserFacingError) as err:
            write_simulated_set(out, 1, 0, SimulationParams(height=32, width=32))
        assert str(out) in str(err.value)


# ---- command line -----------------------------------------------------------------------------


def _cli(argv):
    """Run the real `qbi-desktop` entry point (falls back to the sub-command alone)."""
    try:
        from qbi_desktop.cli import main
    except ImportError:  # entry point not in this checkout yet
        parser = argparse.ArgumentParser(prog="qbi-desktop")
        simulate_cmd.register(parser.add_subparsers(dest="command"))
        args = parser.parse_args(argv)
        return args.func(args)
    try:
        return main(argv)
    except SystemExit as stop:  # argparse refuses an option out of range itself
        return stop.code


def test_cli_writes_the_set(tmp_path, capsys):
    out = tmp_path / "new" / "folder"
    code = _cli(["simulate", "--count", "2", "--size", "48", "--seed", "3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.count("wrote ") == 2 and "simulation.json" in printed
    for index in range(2):
        for suffix in ("", "_spots", "_objects"):
            assert tifffile.imread(out / f"sim_{index:04d}{suffix}.tif").shape == (48, 48)
    doc = json.loads((out / "simulation.json").read_text())
    assert doc["seed"] == 3 and doc["params"]["height"] == 48 == doc["params"]["width"]


def test_cli_reads_params_file(tmp_path, capsys):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"height": 40, "width": 56, "object_count": 0}))
    assert _cli(["simulate", "--out", str(tmp_path / "o"), "--params", str(params)]) == 0
    image = tifffile.imread(tmp_path / "o" / "sim_0000.tif")
    objects = tifffile.imread(tmp_path / "o" / "sim_0000_objects.tif")
    assert image.shape == (40, 56) and not objects.any()


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--count", "0"], ["--count"]),
        (["--size", "8"], ["--size", "16"]),
        (["--size", "40000"], ["--size", "32,768"]),
        (["--seed", "-4"], ["--seed"]),
        (["--params", "{unknown}"], ["p.json", "colour"]),
        (["--params", "{badjson}"], ["p.json", "JSON"]),
        (["--params", "{missing}"], ["missing.json", "cannot read"]),
        (["--out", "{blocked}"], ["a-file", "cannot write"]),
    ],
)
def test_cli_bad_input_exits_2_with_a_message(tmp_path, capsys, extra, words):
    bad = tmp_path / "p.json"
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    fill = {
        "{unknown}": str(bad),
        "{badjson}": str(bad),
        "{missing}": str(tmp_path / "missing.json"),
        "{blocked}": str(blocker / "sub"),
    }
    if "{unknown}" in extra:
        bad.write_text(json.dumps({"colour": "blue"}))
    if "{badjson}" in extra:
        bad.write_text("{height: 12")
    extra = [fill.get(a, a) for a in extra]
    argv = ["simulate", "--size", "32"]
    if "--out" not in extra:
        argv += ["--out", str(tmp_path / "out")]
    assert _cli(argv + extra) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert not (tmp_path / "out" / "sim_0000.tif").exists()
