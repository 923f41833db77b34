"""Small hostile inputs of the s17 campaign: each was a traceback, a leaked warning, a message
with Python's internals in it, or a silent wrong value. Real files, real commands."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile
from PIL import Image

from qbi_desktop.core.augment.options import validate_options
from qbi_desktop.core.errors import UserFacingError
from tests.cli_helpers import run_cli


@pytest.mark.parametrize("name", ["channel_shift_range", "width_shift_range", "height_shift_range"])
def test_a_range_too_wide_to_draw_from_is_refused_where_options_are_checked(name):
    """uniform(-1e308, 1e308) raised OverflowError in the middle of a batch."""
    with pytest.raises(UserFacingError, match=rf"{name}: 1e\+308 is out of range"):
        validate_options({name: 1e308})
    assert validate_options({name: 1e6})[name] == 1e6


def test_augment_with_a_huge_channel_shift_is_refused_by_the_command(tmp_path):
    pipeline = tmp_path / "p.json"
    pipeline.write_text(json.dumps({"format": "qbi-augment", "version": 1,
                                    "options": {"channel_shift_range": 1e308}}))  # fmt: skip
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "a.tif", np.arange(256, dtype=np.uint16).reshape(16, 16))
    r = run_cli("augment", "--pipeline", str(pipeline), "--input", str(src), "--output",
                str(tmp_path / "out"), "--copies", "1")  # fmt: skip
    assert r.returncode != 0 and "Traceback" not in r.stderr and "Overflow" not in r.stderr
    assert "channel_shift_range" in r.stderr


def test_detect_spots_with_an_enormous_k_finds_nothing_without_a_warning(tmp_path):
    image = tmp_path / "a.tif"
    rng = np.random.default_rng(0)
    pixels = rng.normal(1000, 10, (64, 64)).astype(np.uint16)
    pixels[30, 30] = 60000
    tifffile.imwrite(image, pixels)
    r = run_cli("detect-spots", str(image), "--k", "1e308", "--no-hot-pixels", "--out",
                str(tmp_path / "out"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "0 spots" in r.stdout


def test_a_number_of_5000_digits_is_named_without_pythons_advice(tmp_path):
    folder = tmp_path / "coco"
    (folder / "images").mkdir(parents=True)
    Image.new("L", (8, 8)).save(folder / "images" / "x.png")
    (folder / "ann.json").write_text(
        '{"images":[{"id":1,"file_name":"x.png","width":1' + "0" * 5000 + ',"height":8}],'
        '"annotations":[],"categories":[]}'
    )
    r = run_cli("import", "--project", str(tmp_path / "p"), "--kind", "coco", str(folder))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "ann.json" in r.stderr and "5001 digits" in r.stderr
    assert "set_int_max_str_digits" not in r.stderr


def test_labelme_embedded_garbage_is_named_without_an_object_address(tmp_path):
    folder = tmp_path / "lm"
    folder.mkdir()
    (folder / "x.json").write_text(json.dumps({
        "version": "5.2.1", "flags": {}, "imagePath": "gone.png", "imageData": "QUFBQQ==",
        "imageHeight": 32, "imageWidth": 48,
        "shapes": [{"label": "a", "points": [[1, 1], [10, 1], [10, 10]], "group_id": None,
                    "shape_type": "polygon", "flags": {}}]}))  # fmt: skip
    r = run_cli("import", "--project", str(tmp_path / "p"), "--kind", "labelme", str(folder))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "x.json" in r.stderr and "imageData" in r.stderr
    assert "object at 0x" not in r.stderr


def test_a_yolo_class_id_beyond_exact_numbers_is_shown_as_written(tmp_path):
    folder = tmp_path / "yolo"
    (folder / "images" / "train").mkdir(parents=True)
    (folder / "labels" / "train").mkdir(parents=True)
    Image.new("L", (48, 32)).save(folder / "images" / "train" / "x.png")
    huge = "99999999999999999999999"
    (folder / "labels" / "train" / "x.txt").write_text(f"{huge} 0.5 0.5 0.2 0.2\n")
    (folder / "data.yaml").write_text("names: [a, b]\n")
    r = run_cli("import", "--project", str(tmp_path / "p"), "--kind", "yolo", str(folder))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert huge in r.stderr and "99999999999999991611392" not in r.stderr


def test_measure_refuses_a_negative_size_and_a_region_outside_the_image(tmp_path):
    image = tmp_path / "a.tif"
    tifffile.imwrite(image, np.ones((64, 64), np.uint16))
    r = run_cli("measure", str(image), "--rect", "0", "0", "-64", "64")
    assert r.returncode == 2 and "must not be negative" in r.stderr
    r = run_cli("measure", str(image), "--ellipse", "100", "100", "4", "4")
    assert r.returncode == 2 and "holds no pixel" in r.stderr and "64 x 64" in r.stderr
    r = run_cli("measure", str(image), "--rect", "60", "60", "10", "10", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["count"] == 16  # clipped, still measured


@pytest.fixture
def project(tmp_path):
    src = tmp_path / "src" / "cls"
    src.mkdir(parents=True)
    for k in range(3):
        Image.new("L", (8, 8), k).save(src / f"{k}.png")
    r = run_cli("import", "--project", str(tmp_path / "p"), "--kind", "imagefolder",
                str(tmp_path / "src"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run_cli("target", "--project", str(tmp_path / "p"), "--name", "w", "--define")
    assert r.returncode == 0, r.stderr
    yield tmp_path / "p"
    shutil.rmtree(tmp_path / "p", ignore_errors=True)


def test_a_target_value_that_would_become_zero_is_refused(project):
    r = run_cli("target", "--project", str(project), "--name", "w", "--ids", "1-3",
                "--value", "1e-400")  # fmt: skip
    assert r.returncode != 0 and "1e-400" in r.stderr and "become 0" in r.stderr
    r = run_cli("target", "--project", str(project), "--name", "w", "--ids", "1",
                "--value", "0e-400")  # fmt: skip
    assert r.returncode == 0, r.stderr  # zero written with an exponent is zero


def test_an_id_range_beyond_the_largest_id_says_so(project):
    r = run_cli("target", "--project", str(project), "--name", "w", "--ids", "1-99999999999",
                "--value", "3")  # fmt: skip
    assert r.returncode != 0
    assert "beyond the largest item id" in r.stderr and "3" in r.stderr
    assert "not an id or a range" not in r.stderr
