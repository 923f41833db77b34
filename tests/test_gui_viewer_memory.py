"""Memory once the window has settled: a large image does not stay resident in the app after
the overview is built and the panels' whole-image work (the mask journal's hash) is done."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tifffile
from conftest import open_and_wait

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/smaps")

MB = 1024**2


def test_settled_window_holds_little_of_a_large_file(qtbot, main_window, tmp_path):
    from resident import mapped_file_bytes

    path = tmp_path / "big.tif"
    tile = np.random.default_rng(5).integers(0, 60000, (1024, 1024), dtype=np.uint16)
    tifffile.imwrite(path, np.tile(tile, (8, 8)))  # 8192^2 uint16: 128 MB, memory-mapped
    document = open_and_wait(qtbot, main_window, path, timeout=30000)
    pyramid = document.pyramid()
    assert pyramid is not None
    qtbot.waitUntil(lambda: pyramid.complete and not main_window.tasks.active(), timeout=60000)
    # the annotation session hashed the whole image through the map when it was shown
    qtbot.waitUntil(lambda: mapped_file_bytes(path) < 16 * MB, timeout=10000)
    # still showing the image, and reading it right
    assert main_window.current is document
    assert main_window.canvas.plane.value_at(5, 7) == int(tile[5, 7])
