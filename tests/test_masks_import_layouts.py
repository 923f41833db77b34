"""The masks import reads what our own tools write: a masks export with splits
(``<split>/images`` + ``<split>/masks``, every split, splits kept), detect-spots' and
simulate's ``<stem>_spots.tif`` beside or apart from their images; a mask it cannot pair names
the endings it accepts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile
from formats_roundtrip_helpers import image_of, new_project, save_image

from qbi_desktop.cli import main
from qbi_desktop.core.catalog import ImportRejected
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.simulate import SimulationParams
from qbi_desktop.core.simulate.files import write_simulated_set


def _state(project):
    return {
        row["name"]: (row["split"], None if (m := project.mask(row["id"])) is None else m.tolist())
        for row in project.query(limit=None)
    }


def test_a_masks_export_with_splits_imports_back_whole(tmp_path):
    src = tmp_path / "src"
    for k in range(6):
        save_image(src / "images" / f"im{k}.png", image_of(k))
        if k != 5:  # im5 has no mask: an image of the set all the same
            mask = np.zeros((20, 24), np.uint8)
            mask[k : k + 4, 2:9] = 1 + k % 2
            save_image(src / "masks" / f"im{k}_mask.png", mask)
    p = new_project(tmp_path)
    run_job(import_job(p, "masks", [src]))
    ids = sorted(p.ids())
    p.set_split(ids[:3], "train")
    p.set_split(ids[3:5], "val")  # ids[5] stays unassigned
    run_job(export_job(p, "masks", tmp_path / "out"))
    assert (tmp_path / "out" / "train" / "masks").is_dir()

    q = new_project(tmp_path, "q")
    report = run_job(import_job(q, "masks", [tmp_path / "out"]))  # was "no mask images found"
    assert _state(q) == _state(p)
    assert "splits read from the folders: train, unassigned, val" in str(report)
    assert q.metadata().get("mask_classes") == p.metadata().get("mask_classes")

    with pytest.raises(UserFacingError, match="give only this folder"):
        run_job(import_job(new_project(tmp_path, "r"), "masks", [tmp_path / "out", src]))


def test_an_empty_folder_names_the_layouts_a_masks_import_reads(tmp_path):
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(UserFacingError, match=r"<split>/masks with <split>/images"):
        run_job(import_job(new_project(tmp_path), "masks", [tmp_path / "empty"]))


def _simulated(tmp_path):
    params = SimulationParams(height=48, width=56, spot_rate_per_mpx=20000)
    run_job(write_simulated_set(tmp_path / "sim", 2, seed=5, params=params))
    return tmp_path / "sim"


def test_detect_spots_masks_pair_with_their_images(tmp_path):
    sim = _simulated(tmp_path)
    (tmp_path / "img").mkdir()
    for name in ("sim_0000.tif", "sim_0001.tif"):
        shutil.copy(sim / name, tmp_path / "img")
    for name in ("sim_0000.tif", "sim_0001.tif"):
        args = [str(tmp_path / "img" / name), "--out", str(tmp_path / "spots"), "--no-hot-pixels"]
        assert main(["detect-spots", *args]) == 0
    p = new_project(tmp_path)
    run_job(import_job(p, "masks", [tmp_path / "spots", tmp_path / "img"]))
    for row in p.query(limit=None):
        written = tifffile.imread(tmp_path / "spots" / row["name"].replace(".tif", "_spots.tif"))
        assert np.array_equal(p.mask(row["id"]), written)


def test_a_simulated_set_imports_from_its_one_folder_with_the_spot_masks(tmp_path):
    sim = _simulated(tmp_path)  # sim_0000.tif, sim_0000_spots.tif, sim_0000_objects.tif
    p = new_project(tmp_path)
    report = run_job(import_job(p, "masks", [sim, sim]))
    assert sorted(row["name"] for row in p.query(limit=None)) == ["sim_0000.tif", "sim_0001.tif"]
    for row in p.query(limit=None):
        spots = tifffile.imread(sim / row["name"].replace(".tif", "_spots.tif"))
        assert np.array_equal(p.mask(row["id"]), spots)
    assert "sim_0000_objects.tif" in str(report)  # left out, and said so


def test_a_mask_that_pairs_with_nothing_names_the_accepted_endings(tmp_path):
    sim = _simulated(tmp_path)
    (tmp_path / "m").mkdir()
    shutil.copy(sim / "sim_0000_spots.tif", tmp_path / "m" / "sim_0000_spotz.tif")
    with pytest.raises(ImportRejected) as caught:
        run_job(import_job(new_project(tmp_path), "masks", [tmp_path / "m", sim]))
    text = str(caught.value)
    assert "no image named 'sim_0000_spotz'" in text
    assert "_mask" in text and "_spots" in text and "_objects" in text
