"""Feature rows for label quality: intensity per modality, common size, the per-item cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import Cancelled, run_job
from qbi_desktop.core.quality.audit import audit_job
from qbi_desktop.core.quality.features import (
    common_size,
    intensity,
    item_vector,
    project_items_job,
)

RADIOGRAPH = Path(__file__).resolve().parents[2] / "shared/data/radiographs/edge20mm_0000.tif"


def test_intensity_per_modality():
    u8 = np.array([[0, 255], [51, 102]], np.uint8)
    np.testing.assert_allclose(intensity(u8)[0], u8 / 255)
    f = np.array([[-3.5, 0.25], [1e4, 2.0]], np.float32)
    np.testing.assert_array_equal(intensity(f)[0], f)  # physical values kept
    # 16-bit counts: a single hot pixel does not squash the rest into 0
    u16 = np.tile(np.arange(1000, 1100, dtype=np.uint16), (100, 1))
    u16[0, 0] = 65535
    grey, _ = intensity(u16)
    assert grey.max() == 1.0 and np.median(grey) == pytest.approx(0.5, abs=0.02)
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255
    grey, note = intensity(rgb)
    np.testing.assert_allclose(grey, 1 / 3)
    assert note == "colour averaged to grey"


def test_real_radiograph_is_resized_to_the_common_size():
    tifffile = pytest.importorskip("tifffile")
    try:
        image = tifffile.imread(RADIOGRAPH)
    except FileNotFoundError:
        pytest.skip("shared radiographs not present")
    size = common_size([image.shape, (28, 28), image.shape])
    assert size == (32, 32)
    row, note = item_vector(image, size)
    assert row.shape == (1024,) and 0 <= row.min() and row.max() <= 1
    assert note == "resized from 600x600 to 32x32"


def test_features_are_cached_by_content_and_the_audit_can_be_cancelled(tmp_path):
    d = load_digits()
    npz = tmp_path / "d.npz"
    np.savez(npz, x_train=(d.images[:300] * 16).astype(np.uint8), y_train=d.target[:300])
    project = open_project(tmp_path / "proj", create=True)
    run_job(import_job(project, "npz", [npz]))
    first = run_job(project_items_job(project))
    assert first.features.cached == 0
    again = run_job(project_items_job(project))
    assert again.features.cached == 300
    np.testing.assert_array_equal(again.features.X, first.features.X)
    assert again.features.pixel_hashes == first.features.pixel_hashes
    calls = []
    with pytest.raises(Cancelled):
        run_job(audit_job(again), should_stop=lambda: calls.append(1) or len(calls) >= 2)
    assert len(calls) == 2
