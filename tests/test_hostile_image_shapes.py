"""Hostile image shapes in the viewer: a 1 x 1 000 000 or 1 000 000 x 1 TIFF (valid files, a line
scan or a crafted one). They open in the window, are
drawn, and the window goes on; nothing raises out of a Qt slot (pytest-qt fails a test on
any exception raised in the event loop)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile


@pytest.mark.parametrize(
    "shape, compression",
    [((1, 1_000_000), None), ((1_000_000, 1), None), ((1, 1_000_000), "zlib")],
    ids=["wide", "tall", "wide-deflate"],
)
def test_a_one_pixel_thin_image_of_a_million_pixels_is_drawn(
    qtbot, main_window, tmp_path, shape, compression
):
    """The overview pyramid of a 1 x 1 000 000 image had levels of 0 rows: drawing them
    raised ZeroDivisionError in pyqtgraph's setRect out of the pyramid-built slot, and the
    canvas kept no picture."""
    data = (np.arange(1_000_000, dtype=np.uint32) % 60000).astype(np.uint16).reshape(shape)
    path = tmp_path / "line.tif"
    tifffile.imwrite(path, data, compression=compression)
    errors: list[str] = []
    main_window.report_error = errors.append
    main_window.open_file(path)
    qtbot.waitUntil(lambda: bool(main_window.documents) or bool(errors), timeout=30000)
    assert not errors, errors
    doc = main_window.documents[0]
    assert doc.source.slice_shape == shape

    def drawn() -> bool:  # the image's values, once decoded and its overview built
        base = main_window.canvas.base_array
        return base is not None and min(base.shape[:2]) >= 1 and int(base.max()) > 0

    qtbot.waitUntil(drawn, timeout=30000)
    qtbot.wait(2000)  # the overview pyramid is built after the first paint
    qtbot.waitUntil(lambda: not main_window.tasks.active(), timeout=60000)
    assert drawn()
    # the window still opens the next file
    other = tmp_path / "square.tif"
    tifffile.imwrite(other, np.ones((64, 64), np.uint16))
    main_window.open_file(other)
    qtbot.waitUntil(lambda: len(main_window.documents) == 2, timeout=30000)


@pytest.mark.parametrize("shape", [(1, 1_000_000), (1_000_000, 1), (3, 200_000)])
def test_the_overview_levels_of_a_thin_image_are_never_empty(shape):
    """Every pyramid level keeps at least one row and column, and reads back the image's
    values (a level of 0 rows was what the canvas could not draw)."""
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.core.planes import Plane
    from qbi_desktop.core.pyramid import Pyramid

    plane = Plane(np.full(shape, 7, np.uint16))
    pyramid = run_job(Pyramid(plane).build_job())
    for level in pyramid.levels.values():
        assert min(level.shape) >= 1 and int(level.min()) == 7
    region, step = pyramid.read(0, shape[0], 0, shape[1], 1024)
    assert min(region.shape) >= 1 and int(region.max()) == 7
