"""The Radiography dock as a user drives it: references chosen once per folder, the unit
switched with one key and the read-out following it, a series and a NeXus file opened as
stacks from the File menu's paths, and the whole-scan spot cleaning run and cancelled."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import h5py
import numpy as np
import tifffile
from conftest import RADIOGRAPHS, need, open_and_wait
from PySide6.QtCore import QPoint, QPointF, Qt


def _viewport_point(canvas, x: float, y: float) -> QPoint:
    scene = canvas.view.mapViewToScene(QPointF(x + 0.5, y + 0.5))
    return canvas.mapFromScene(scene)


def _panel(window):
    return window.panels["radiography"]


def _read_value(qtbot, window, x, y) -> tuple[int, int, str]:
    """Hover pixel (x, y) (moving in from beside it, so the canvas sees a move): the pixel the
    read-out names and its text."""
    canvas = window.canvas
    window.readout.setText("")
    qtbot.mouseMove(canvas.viewport(), _viewport_point(canvas, x + 5, y))
    qtbot.waitUntil(lambda: window.readout.text() != "", timeout=3000)
    window.readout.setText("")
    qtbot.mouseMove(canvas.viewport(), _viewport_point(canvas, x, y))
    qtbot.waitUntil(lambda: window.readout.text() != "", timeout=3000)
    text = window.readout.text()
    words = text.split()
    return int(words[1]), int(words[3]), text


def _with_references(qtbot, window):
    panel = _panel(window)
    task = panel.set_references(
        [str(need(RADIOGRAPHS / "ob.tif"))], [str(need(RADIOGRAPHS / "dc.tif"))]
    )
    qtbot.waitUntil(lambda: task.finished and panel.refs is not None, timeout=10000)
    return panel


def test_unit_key_switches_the_readout_between_counts_transmission_attenuation(qtbot, main_window):
    path = need(RADIOGRAPHS / "edge20mm_0000.tif")
    open_and_wait(qtbot, main_window, path)
    panel = _with_references(qtbot, main_window)
    raw = tifffile.imread(path).astype(np.float64)
    ob = tifffile.imread(RADIOGRAPHS / "ob.tif").astype(np.float64)
    dc = tifffile.imread(RADIOGRAPHS / "dc.tif").astype(np.float64)
    qtbot.keyClick(main_window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)  # 1:1
    rect = main_window.canvas.view.viewRect()
    cx, cy = int(rect.center().x()), int(rect.center().y())

    def t_at(x, y):
        return (raw[y, x] - dc[y, x]) / (ob[y, x] - dc[y, x])

    def shown(text):
        return float(text.split("value ")[1].split()[0])

    x, y, text = _read_value(qtbot, main_window, cx, cy)
    assert shown(text) == raw[y, x] and "(" not in text  # counts
    main_window.canvas.setFocus()
    qtbot.keyClick(main_window.canvas, Qt.Key.Key_U)
    assert panel.unit.currentData() == "transmission"
    x, y, text = _read_value(qtbot, main_window, cx, cy)
    assert text.endswith("(transmission)")
    assert abs(shown(text) - t_at(x, y)) < 1e-5
    assert abs(shown(text) - raw[y, x]) > 100  # not the counts any more
    assert main_window.info_panel.value("Pixel type") == "float32"
    qtbot.keyClick(main_window.canvas, Qt.Key.Key_U)
    x, y, text = _read_value(qtbot, main_window, cx, cy)
    assert text.endswith("(attenuation)")
    assert abs(shown(text) + np.log(t_at(x, y))) < 1e-4
    # levels were re-fitted to the new unit: the window spans attenuation values, not counts
    vmin, vmax = main_window.levels_panel.levels()
    assert -1 < vmin < vmax < 10
    qtbot.keyClick(main_window.canvas, Qt.Key.Key_U)
    x, y, text = _read_value(qtbot, main_window, cx, cy)
    assert shown(text) == raw[y, x] and "(" not in text
    # the key is listed in Help > Keyboard Shortcuts
    from qbi_desktop.gui.help import shortcut_rows

    assert any(keys == "U" and "Unit" in what for _where, what, keys in shortcut_rows(main_window))


def test_references_are_remembered_for_the_folder(qtbot, main_window, tmp_path):
    folder = tmp_path / "beamtime"
    folder.mkdir()
    for name in ("edge20mm_0000.tif", "edge20mm_0001.tif", "ob.tif", "dc.tif"):
        shutil.copy(need(RADIOGRAPHS / name), folder)
    open_and_wait(qtbot, main_window, folder / "edge20mm_0000.tif")
    panel = _panel(main_window)
    task = panel.set_references([str(folder / "ob.tif")], [str(folder / "dc.tif")])
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    panel.unit.setCurrentIndex(1)
    # a new window (a later session) offers them again for an image of the same folder
    from qbi_desktop.gui.main_window import MainWindow

    second = MainWindow(settings=main_window.settings)
    qtbot.addWidget(second)
    second.show()
    try:
        open_and_wait(qtbot, second, folder / "edge20mm_0001.tif")
        other = _panel(second)
        qtbot.waitUntil(lambda: other.refs is not None, timeout=10000)
        assert other.ob_paths == [str(folder / "ob.tif")]
        assert other.dc_paths == [str(folder / "dc.tif")]
    finally:
        second.tasks.cancel_all()
        second.tasks.wait(5000)
        second.close()


def test_an_image_of_another_folder_is_not_normalised_with_this_folders_references(
    qtbot, main_window, tmp_path
):
    """References are kept per folder: a scan from elsewhere shows counts and the panel asks for
    its own references; back in the first folder its references come back."""
    from qbi_desktop.core.radiography.view import unit_of

    first, other = tmp_path / "beamtime", tmp_path / "elsewhere"
    first.mkdir()
    other.mkdir()
    for name in ("edge20mm_0000.tif", "ob.tif", "dc.tif"):
        shutil.copy(need(RADIOGRAPHS / name), first)
    shutil.copy(need(RADIOGRAPHS / "edge20mm_0001.tif"), other)
    shutil.copy(need(RADIOGRAPHS / "edge20mm_0002.tif"), first)
    open_and_wait(qtbot, main_window, first / "edge20mm_0000.tif")
    panel = _panel(main_window)
    task = panel.set_references([str(first / "ob.tif")], [str(first / "dc.tif")])
    qtbot.waitUntil(lambda: task.finished and panel.refs is not None, timeout=10000)
    panel.unit.setCurrentIndex(1)  # transmission
    assert unit_of(main_window.current.source) == "transmission"
    open_and_wait(qtbot, main_window, other / "edge20mm_0001.tif")
    assert panel.refs is None and not panel.ob_paths
    assert unit_of(main_window.current.source) == "counts"
    assert str(other) in panel.status.text()
    open_and_wait(qtbot, main_window, first / "edge20mm_0002.tif")
    qtbot.waitUntil(lambda: panel.refs is not None, timeout=10000)
    assert panel.ob_paths == [str(first / "ob.tif")]


def test_references_of_another_shape_are_refused_and_counts_stay(qtbot, main_window, tmp_path):
    open_and_wait(qtbot, main_window, need(RADIOGRAPHS / "spotprojection_0001.tif"))
    panel = _with_references(qtbot, main_window)
    errors = []
    main_window.error_reported.connect(errors.append)
    panel.unit.setCurrentIndex(1)
    assert errors and "spotprojection_0001.tif" in errors[-1] and "600 x 600" in errors[-1]
    assert main_window.current.source.metadata.get("unit") is None
    assert main_window.info_panel.value("Pixel type") == "float32"  # its own type: counts


def test_series_and_nexus_open_as_stacks(qtbot, main_window, tmp_path):
    folder = tmp_path / "scan"
    folder.mkdir()
    for i in range(3):
        shutil.copy(need(RADIOGRAPHS / f"edge20mm_000{i}.tif"), folder)
    panel = _panel(main_window)
    before = len(main_window.documents)
    task = panel.open_series(str(folder / "edge20mm_0001.tif"))
    qtbot.waitUntil(lambda: task.finished and len(main_window.documents) > before, timeout=10000)
    doc = main_window.current
    assert doc.source.n_slices == 3 and main_window.slice_bar.isVisible()
    main_window.go_to_slice(2)
    np.testing.assert_array_equal(
        main_window.canvas.plane.array, tifffile.imread(folder / "edge20mm_0002.tif")
    )
    path = tmp_path / "scan.nxs"
    frames = np.random.default_rng(2).integers(0, 1000, (4, 32, 40)).astype(np.uint16)
    with h5py.File(path, "w") as f:
        f.create_group("entry/data").attrs["signal"] = "stack"
        f["entry/data"].attrs["NX_class"] = "NXdata"
        f["entry/data/stack"] = frames
    before = len(main_window.documents)
    task = panel.open_nexus(str(path))
    qtbot.waitUntil(lambda: task.finished and len(main_window.documents) > before, timeout=10000)
    assert main_window.current.source.n_slices == 4
    main_window.go_to_slice(3)
    np.testing.assert_array_equal(main_window.canvas.plane.array, frames[3])
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f["x"] = np.arange(3)
    errors = []
    main_window.error_reported.connect(errors.append)
    task = panel.open_nexus(str(empty))
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    assert errors and "empty.h5" in errors[-1] and "no image dataset" in errors[-1]


def test_clean_spots_job_from_the_dock_with_cancel_and_resume(qtbot, main_window, tmp_path):
    folder = tmp_path / "scan"
    folder.mkdir()
    paths = [
        str(shutil.copy(need(RADIOGRAPHS / f"edge20mm_000{i % 4}.tif"), folder / f"f_{i:04d}.tif"))
        for i in range(8)
    ]
    out = tmp_path / "clean"
    panel = _panel(main_window)
    panel.workers.setValue(1)
    # The job's thread waits at its first report of a cleaned frame until Cancel is clicked:
    # the 8 frames take ~0.3 s, and under load all were once cleaned before the click landed.
    clicked = threading.Event()

    def hold_at_first_frame(progress):  # the job's thread, between two frames
        if progress.total == 8 and progress.done >= 1:
            clicked.wait(20)

    def gate(task):  # emitted by submit before the job can start
        task._w_progress.connect(hold_at_first_frame, Qt.ConnectionType.DirectConnection)

    main_window.tasks.task_added.connect(gate)
    task = panel.start_clean(paths, str(out))
    main_window.tasks.task_added.disconnect(gate)
    assert panel.cancel_button.isEnabled() and not panel.clean_button.isEnabled()
    qtbot.waitUntil(lambda: len(list(out.glob("f_*_spots.tif"))) >= 1, timeout=20000)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    clicked.set()
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "cancelled"
    assert "Cancelled" in panel.clean_status.text()
    assert panel.clean_button.isEnabled() and not panel.cancel_button.isEnabled()
    cleaned = sorted(p.name for p in out.glob("f_????.tif"))
    assert 1 <= len(cleaned) < 8
    for name in cleaned:  # every frame written is complete: its labels are there too
        assert (out / name.replace(".tif", "_spots.tif")).is_file()
    # run again: the frames done are skipped, the rest cleaned
    task = panel.start_clean(paths, str(out))
    qtbot.waitUntil(lambda: task.finished, timeout=60000)
    assert task.state == "done", task.error
    run = panel.last_run
    assert run.skipped == len(cleaned) and len(run.frames) == 8 - len(cleaned)
    assert f"{8 - len(cleaned)} frame(s) cleaned, {len(cleaned)} already done" in (
        panel.clean_status.text()
    )
    assert "Hot pixels from 4 frames of the series" in panel.clean_status.text()
    raw = tifffile.imread(paths[5])
    result = tifffile.imread(out / "f_0005.tif")
    labels = tifffile.imread(out / "f_0005_spots.tif")
    assert np.array_equal(result[labels == 0], raw[labels == 0])
    assert (result[labels > 0] != raw[labels > 0]).mean() > 0.9
    assert Path(out).is_dir()


def test_dose_correction_from_the_drawn_region(qtbot, main_window):
    path = need(RADIOGRAPHS / "edge20mm_0000.tif")
    open_and_wait(qtbot, main_window, path)
    panel = _with_references(qtbot, main_window)
    panel.unit.setCurrentIndex(1)
    plain = np.array(main_window.canvas.plane.array)
    qtbot.mouseClick(panel.dose, Qt.MouseButton.LeftButton)
    assert panel.dose.isChecked() and panel.roi is not None
    assert panel.roi in main_window.canvas.view.addedItems
    panel.roi.setPos((20, 30))  # the user drags the rectangle onto the open beam
    panel.roi.setSize((60, 50))
    y0, y1, x0, x1 = panel._dose_region()
    assert (y0, y1, x0, x1) == (30, 80, 20, 80)
    shown = main_window.canvas.plane.array
    # the region's dose now equals the open beam's: its mean transmission is 1
    raw = tifffile.imread(path).astype(np.float64)
    ob = tifffile.imread(RADIOGRAPHS / "ob.tif").astype(np.float64)
    dc = tifffile.imread(RADIOGRAPHS / "dc.tif").astype(np.float64)
    factor = (ob - dc)[y0:y1, x0:x1].sum() / (raw - dc)[y0:y1, x0:x1].sum()
    assert abs(factor - 1) > 1e-3  # the beam did change between image and open beam
    np.testing.assert_allclose(shown, plain * factor, rtol=1e-5)
    qtbot.mouseClick(panel.dose, Qt.MouseButton.LeftButton)
    assert panel.roi is None
    np.testing.assert_allclose(main_window.canvas.plane.array, plain, rtol=1e-6)
