"""Dataset ▸ Import… of the Browser with the series and NeXus kinds: the dialog driven as a
user fills it, the frames listed as items named <stem>#<frame>, their thumbnails made."""

from __future__ import annotations

import h5py
import numpy as np
import tifffile
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project

try:
    from tests.conftest import RADIOGRAPHS, need
except ImportError:  # pragma: no cover - rootdir without package
    from conftest import RADIOGRAPHS, need


def _fill_import(kind, sources, dataset="", seen=None):
    def fill():
        dialog = QApplication.activeModalWidget()
        dialog.kind.setCurrentIndex(dialog.kind.findData(kind))
        if seen is not None:
            seen["dataset shown"] = dialog.dataset.isVisible()
        for source in sources:
            dialog.sources.addItem(str(source))
        if dataset:
            dialog.dataset.setText(dataset)
        dialog.accept()

    QTimer.singleShot(50, fill)


def _names(panel):
    return sorted(panel.model.item(r)["name"] for r in range(panel.model.rowCount()))


def test_browser_imports_a_nexus_dataset_and_a_series(qtbot, main_window, tmp_path):
    frames = np.arange(4 * 20 * 30, dtype=np.uint16).reshape(4, 20, 30)
    scan = tmp_path / "tomo.nxs"
    with h5py.File(scan, "w") as f:
        f.create_dataset("/entry/data/data", data=frames)
        f.create_dataset("/entry/instrument/detector/dark", data=frames[:2] * 0 + 9)
        f["/entry/data"].attrs["NX_class"] = "NXdata"
        f["/entry/data"].attrs["signal"] = "data"
    open_project(tmp_path / "proj", create=True).close()
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "proj")

    seen: dict = {}
    _fill_import("nexus", [scan], "/entry/instrument/detector/dark", seen)
    panel.import_dialog()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 2, timeout=20000)
    assert seen == {"dataset shown": True}
    assert _names(panel) == ["tomo-dark#0", "tomo-dark#1"]
    with open_project(tmp_path / "proj") as project:
        assert all(np.all(project.image(i) == 9) for i in project.ids())

    _fill_import("nexus", [scan])  # the default: the NXdata signal
    panel.import_dialog()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 6, timeout=20000)
    with open_project(tmp_path / "proj") as project:
        named = {project.get(i)["name"]: i for i in project.ids()}
        assert len(named) == 6
        np.testing.assert_array_equal(project.image(named["tomo#3"]), frames[3])
    # a frame opened from the Browser shows its pixels, and its mask is the item's
    qtbot.waitUntil(lambda: not main_window.tasks.active(), timeout=20000)
    panel.open_item(panel.model.row_of(named["tomo#3"]))  # what Enter / a double-click does
    qtbot.waitUntil(
        lambda: main_window.current is not None and main_window.current.title.startswith("tomo#3"),
        timeout=10000,
    )
    np.testing.assert_array_equal(main_window.current.plane().array, frames[3])
    annotate = main_window.panels["annotate"]
    qtbot.waitUntil(lambda: annotate.session is not None and annotate.session.ready, timeout=10000)
    assert annotate.session.store.item_id == named["tomo#3"]  # its mask goes into the project

    folder = tmp_path / "series"
    folder.mkdir()
    for i in range(1, 4):
        tifffile.imwrite(folder / f"edge_{i:03d}.tif", np.full((12, 14), i, np.uint16))
    _fill_import("series", [folder / "edge_002.tif"])  # one frame names its series
    panel.import_dialog()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 9, timeout=20000)
    assert [n for n in _names(panel) if n.startswith("edge")] == [
        "edge#001",
        "edge#002",
        "edge#003",
    ]
    # the thumbnails of the frames arrive in the table
    qtbot.waitUntil(lambda: not main_window.tasks.active(), timeout=20000)
    with open_project(tmp_path / "proj") as project:
        from qbi_desktop.core.catalog.thumbnails import thumbnail_job
        from qbi_desktop.core.jobs import run_job

        run_job(thumbnail_job(project, project.ids()))
        assert len(project.thumbnails(project.ids())) == 9


def test_browser_refuses_a_series_with_a_missing_frame_naming_it(qtbot, main_window, tmp_path):
    folder = tmp_path / "series"
    folder.mkdir()
    for i in (0, 1, 3):
        tifffile.imwrite(folder / f"p_{i:02d}.tif", np.zeros((8, 8), np.uint8))
    open_project(tmp_path / "proj", create=True).close()
    panel = main_window.panels["browser"]
    assert panel.open_project(tmp_path / "proj")
    errors: list[str] = []
    main_window.report_error = errors.append
    _fill_import("series", [folder])
    panel.import_dialog()
    qtbot.waitUntil(lambda: bool(errors), timeout=20000)
    assert "p_02.tif: frame 2" in errors[0] and "missing" in errors[0]
    assert panel.model.rowCount() == 0


def test_radiography_dock_cleans_every_frame_of_a_nexus_stack(qtbot, main_window, tmp_path):
    """Clean spots of a series… given a NeXus file cleans each frame of its NXdata signal into
    <file stem>_<frame>.tif (the input's type) and _spots.tif, as the command line does."""
    from qbi_desktop.cli import main

    frames = np.stack(
        [tifffile.imread(need(RADIOGRAPHS / f"edge20mm_000{i}.tif")) for i in range(4)]
    )
    scan = tmp_path / "tomo.nxs"
    with h5py.File(scan, "w") as f:
        f.create_dataset("/entry/data/data", data=frames, chunks=(1, 600, 600))
        f["/entry/data"].attrs["NX_class"] = "NXdata"
        f["/entry/data"].attrs["signal"] = "data"
    panel = main_window.panels["radiography"]
    panel.workers.setValue(1)
    out = tmp_path / "clean"
    task = panel.start_clean([str(scan)], str(out))
    qtbot.waitUntil(lambda: task.finished, timeout=60000)
    assert task.state == "done", task.error
    assert "4 frame(s) cleaned" in panel.clean_status.text()
    assert "4 frames of the series" in panel.clean_status.text()
    assert main(["clean-spots", str(scan), "--out", str(tmp_path / "cli"), "--workers", "1"]) == 0
    for i in range(4):
        cleaned = tifffile.imread(out / f"tomo_{i:04d}.tif")
        assert cleaned.dtype == np.uint16 and not np.array_equal(cleaned, frames[i])
        np.testing.assert_array_equal(
            cleaned, tifffile.imread(tmp_path / "cli" / f"tomo_{i:04d}.tif")
        )
        assert (out / f"tomo_{i:04d}_spots.tif").is_file()
