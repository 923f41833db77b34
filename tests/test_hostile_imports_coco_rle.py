"""Hostile COCO compressed RLE (pycocotools' 6-bit strings): numbers beyond int64, strings
far longer than any valid one for the mask, runs beyond the mask are refused with the file, the
annotation and the problem named, in linear time; valid strings decode exactly as pycocotools
decodes them."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from formats_hostile_helpers import _cli, _coco, _refused, _within

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.formats.coco_rle import counts_to_rle_string, rle_decode, rle_string_runs
from qbi_desktop.core.jobs import run_job

mask_api = pytest.importorskip("pycocotools.mask")


def _rle_file(folder: Path, counts, size=(30, 40)) -> Path:
    return _coco(
        folder,
        annotations=[
            {
                "id": 77,
                "image_id": 1,
                "category_id": 1,
                "bbox": [2, 3, 10, 5],
                "iscrowd": 0,
                "segmentation": {"size": list(size), "counts": counts},
            }
        ],
    )


@pytest.mark.parametrize(
    ("counts", "problem"),
    [
        ("o" * 20 + "0", "more than a mask of 1200 pixels allows"),  # was OverflowError
        ("o" * 300_000 + "0", "longer than any for a mask of 1200 pixels"),  # was quadratic
        ("1" * 3000, "3000 runs for an image of 1200 pixels"),
        ("oo", "ends in the middle of a number"),
        ("0 1", "is not part of COCO's compressed RLE alphabet"),
        ("0p", "is not part of COCO's compressed RLE alphabet"),
        ("ooo?", "run 0 decodes to 524287, beyond the mask's 1200 pixels"),
    ],
)
def test_bad_compressed_rle_is_refused_naming_file_and_annotation(
    tmp_path, capsys, counts, problem
):
    ann = _rle_file(tmp_path / "in", counts)
    with open_project(tmp_path / "p", create=True) as project, _within(10):
        message = _refused(project, "coco", [ann])
    assert str(ann) in message or ann.name in message
    assert "annotations[0].segmentation: " in message and "(annotation id 77)" in message
    assert problem in message
    code, err = _cli(capsys, "import", "--kind", "coco", ann, "--project", tmp_path / "q")
    assert code == 2 and problem in err and "Traceback" not in err


def test_runs_beyond_the_mask_and_negative_runs_are_refused(tmp_path):
    # one run of 2400 pixels (a 60x40 mask) for a 30x40 image
    too_long = mask_api.encode(np.asfortranarray(np.zeros((60, 40), np.uint8)))["counts"]
    ann = _rle_file(tmp_path / "a", too_long.decode())
    with open_project(tmp_path / "p", create=True) as project:
        assert "run 0 decodes to 2400, beyond the mask's 1200 pixels" in _refused(
            project, "coco", [ann]
        )
    # delta coding that goes below zero: the fourth number ("@") is a delta of -16 from run 1
    text = counts_to_rle_string([10, 10, 10, 10])[:3] + "@"
    with pytest.raises(ValueError, match="negative run"):
        rle_string_runs(text, 30, 40)


def test_long_hostile_string_is_refused_in_linear_time(tmp_path):
    # A 4 M-character string on a 2048 x 2048 mask passes the length bound: decoding must
    # still be linear (the old decoder took minutes on such strings).
    h = w = 2048
    text = "o" * 4_000_000 + "0"
    start = time.perf_counter()
    with pytest.raises(ValueError, match="digits"):
        rle_string_runs(text, h, w)
    # 4 M numbers of 1: each run fits the mask (delta-coded, they grow to 2 M), together they
    # cover far more than it
    runs = rle_string_runs("1" * (h * w), h, w)
    with pytest.raises(ValueError, match="covers more than"):
        rle_decode(runs, h, w)
    assert time.perf_counter() - start < 5


def _real_masks():
    """Masks with real shapes: scikit-learn's bundled digits (8x8, upscaled) thresholded, plus
    random and edge cases (empty, full, first pixel set)."""
    from sklearn.datasets import load_digits

    digits = load_digits().images[:60]
    for image in digits:
        yield np.kron(image > 7, np.ones((5, 3), bool)).astype(np.uint8)
    rng = np.random.default_rng(3)
    for _ in range(60):
        h, w = rng.integers(1, 70, 2)
        yield (rng.random((h, w)) < rng.random()).astype(np.uint8)
    yield np.zeros((7, 9), np.uint8)
    yield np.ones((7, 9), np.uint8)
    corner = np.zeros((300, 500), np.uint8)
    corner[0, 0] = 1
    corner[100:280, 20:490] = 1
    yield corner


def test_valid_strings_decode_as_pycocotools_does():
    for m in _real_masks():
        h, w = m.shape
        text = mask_api.encode(np.asfortranarray(m))["counts"].decode()
        ours = rle_decode(rle_string_runs(text, h, w), h, w)
        reference = mask_api.decode({"size": [h, w], "counts": text}).astype(bool)
        assert np.array_equal(ours, reference)
        assert np.array_equal(ours, m.astype(bool))


def test_real_rle_file_imports_the_mask_pycocotools_reads(tmp_path):
    m = np.zeros((30, 40), np.uint8)
    m[3:20, 5:33] = 1
    m[10:12, 10:30] = 0
    text = mask_api.encode(np.asfortranarray(m))["counts"].decode()
    ann = _rle_file(tmp_path / "in", text)
    with open_project(tmp_path / "p", create=True) as project:
        run_job(import_job(project, "coco", [str(ann)]))
        (item,) = [r["id"] for r in project.query(limit=None) if r["name"] == "a.png"]
        assert np.array_equal(project.mask(item) > 0, m.astype(bool))
