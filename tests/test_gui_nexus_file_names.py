"""Two datasets of one NeXus/HDF5 file open side by side are named after their datasets in the
Files list and the window title (they were 'scan.h5 — /data/folder' and 'scan.h5 — /data/folder
(2)': nothing said which was the data and which the dark frames). A real HDF5 file written here,
opened through the Radiography panel as File > Open NeXus/HDF5… does."""

from __future__ import annotations

import h5py
import numpy as np

DATA = "/entry/data/data"
DARK = "/entry/instrument/detector/dark"


def _open(qtbot, window, path, dataset):
    task = window.panels["radiography"].open_nexus(str(path), dataset)
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    qtbot.waitUntil(lambda: window.current is not None and window.current.path == path)


def test_two_datasets_of_one_file_are_named_by_dataset(qtbot, main_window, tmp_path):
    rng = np.random.default_rng(3)
    scan = tmp_path / "scan.h5"
    with h5py.File(scan, "w") as f:
        f.create_dataset(DATA, data=rng.integers(1000, 3000, (2, 40, 50), dtype=np.uint16))
        f.create_dataset(DARK, data=rng.integers(90, 120, (2, 40, 50), dtype=np.uint16))
        f["/entry/data"].attrs["NX_class"] = "NXdata"
        f["/entry/data"].attrs["signal"] = "data"
    files = main_window.files_list

    _open(qtbot, main_window, scan, DATA)
    assert files.item(0).text() == "scan.h5"  # one dataset open: the file's name as before
    _open(qtbot, main_window, scan, DARK)
    qtbot.waitUntil(lambda: files.count() == 2)
    assert [files.item(i).text() for i in range(2)] == [f"scan.h5 {DATA}", f"scan.h5 {DARK}"]
    assert main_window.windowTitle() == f"scan.h5 {DARK} — QBI Desktop"
    files.setCurrentRow(0)
    qtbot.waitUntil(lambda: main_window.windowTitle() == f"scan.h5 {DATA} — QBI Desktop")
