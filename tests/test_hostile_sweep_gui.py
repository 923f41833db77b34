"""Hostile stacks in the window: a scan whose slice 1 cannot be read (a damaged chunk). Stepping
onto it is a message naming the file and the slice; the last good slice stays shown and the
slices after it are still reached. Before, the step raised out of the slider's slot (a traceback
on stderr) and left the window on a slice it could not draw."""

from __future__ import annotations

import h5py
import numpy as np

from tests.conftest import open_and_wait


def test_stepping_onto_a_damaged_slice_names_it_and_keeps_the_last_one(
    qtbot, main_window, tmp_path
):
    path = tmp_path / "scan.nxs"
    frames = np.random.default_rng(0).integers(100, 200, (3, 32, 32)).astype(np.uint16)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("data", data=frames, chunks=(1, 32, 32), compression="gzip")
        ds.id.write_direct_chunk((1, 0, 0), b"not zlib" * 8)
    errors: list[str] = []
    main_window.report_error = errors.append
    document = open_and_wait(qtbot, main_window, path)
    slider = main_window.slice_bar.slider
    assert document.source.n_slices == 3 and slider.value() == 0

    slider.setValue(1)  # what a drag or an arrow key on the slider does
    assert len(errors) == 1 and str(path) in errors[0] and "slice 1" in errors[0], errors
    assert document.index == 0 and slider.value() == 0
    assert np.array_equal(main_window.canvas.plane.array, frames[0])

    slider.setValue(2)
    assert document.index == 2 and len(errors) == 1
    assert np.array_equal(main_window.canvas.plane.array, frames[2])
