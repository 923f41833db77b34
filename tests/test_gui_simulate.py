"""The Simulate dock (and the core jobs behind it): preview, generate into a project with exact
ground truth and provenance, cancel, generate to a folder, template phantoms."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QPoint, QRect, Qt

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.simulated import simulate_into_project_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.core.simulate import SimulationParams, derive_image_seed, simulate_radiograph

try:
    from tests.conftest import RADIOGRAPHS, need, open_and_wait
except ImportError:  # pragma: no cover
    from conftest import RADIOGRAPHS, need, open_and_wait

SMALL = SimulationParams(height=96, width=128, spot_rate_per_mpx=3000)


def _rows(root, sql, params=()):
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


# -- core --------------------------------------------------------------------------------------


def test_simulated_items_carry_exact_truth_and_reproducible_provenance(tmp_path):
    project = open_project(tmp_path / "p", create=True)
    ids = run_job(simulate_into_project_job(project, 3, seed=7, params=SMALL, mask="both"))
    assert len(ids) == 3 and len(project) == 3
    item = project.get(ids[1])
    prov = item["provenance_params"]
    assert item["provenance"] == "simulated" and prov["seed"] == derive_image_seed(7, 1)
    # The recipe in the catalog remakes the image and its truth bit for bit.
    again = simulate_radiograph(SimulationParams.from_dict(prov["params"]), prov["seed"])
    assert np.array_equal(project.image(ids[1]), again.image)
    expected = (again.object_labels > 0).astype(np.uint8)
    expected[again.spot_mask] = 2
    assert np.array_equal(project.mask(ids[1]), expected)
    assert item["targets"]["spot_count"] == len(again.spots)
    assert project.verify() == []  # the stored files match their hashes
    assert project.metadata()["mask_classes"] == {"1": "object", "2": "spot"}
    project.close()


def test_template_phantoms_paste_objects_cut_from_a_real_radiograph(tmp_path):
    from qbi_desktop.core.simulate.template import cut_objects, simulate_template_radiograph

    real = tifffile.imread(need(RADIOGRAPHS) / "edge20mm_0000.tif")
    template = cut_objects(real, source="edge20mm_0000.tif")
    assert template.patches and all(p.max() > 0 for p in template.patches)
    params = SMALL.replace(object_count=2, spot_rate_per_mpx=0)
    sim = simulate_template_radiograph(template, params, seed=3)
    assert sim.image.dtype == np.uint16 and sim.image.shape == (96, 128)
    inside = sim.object_labels > 0
    assert inside.any()
    # Objects absorb: darker than the open beam around them.
    assert sim.image[inside].mean() < sim.image[~inside].mean()
    again = simulate_template_radiograph(template, params, seed=3)
    assert np.array_equal(again.image, sim.image)


# -- the dock ---------------------------------------------------------------------------------


def _set_small(panel, count):
    panel.width_box.setValue(128)
    panel.height_box.setValue(96)
    panel.spot_rate.setValue(3000)
    panel.count.setValue(count)
    panel.seed.setValue(11)


def test_preview_then_generate_into_project_with_masks(qtbot, main_window, tmp_path):
    browser = main_window.panels["browser"]
    panel = main_window.panels["simulate"]
    root = tmp_path / "proj"
    assert browser.open_project(root, create=True)
    _set_small(panel, 4)
    task = panel.preview()
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    assert panel.preview_item.image.shape == (96, 128)
    assert "spots" in panel.status.text()
    # "Open in viewer" shows the very image previewed, full size, in the main viewer
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    shown = main_window.current
    assert shown is not None and "Simulated preview" in shown.title
    plane = shown.plane()
    np.testing.assert_array_equal(
        plane.read(0, plane.height, 0, plane.width), panel.preview_result.image
    )

    panel.mask_kind.setCurrentIndex(panel.mask_kind.findData("spots"))
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    task = panel.task
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "done", task.error
    rows = _rows(
        root,
        "SELECT items.id, provenance_kind, provenance, masks.path FROM items "
        "JOIN masks ON masks.item_id = items.id ORDER BY items.id",
    )
    assert len(rows) == 4 and {r[1] for r in rows} == {"simulated"}
    for n, (_id, _kind, prov, mask_path) in enumerate(rows):
        prov = json.loads(prov)
        assert prov["set_seed"] == 11 and prov["index"] == n
        truth = simulate_radiograph(SimulationParams.from_dict(prov["params"]), prov["seed"])
        assert np.array_equal(tifffile.imread(root / mask_path), truth.spot_mask.astype(np.uint8))
    # The browser shows the new items.
    assert browser.model.rowCount() == 4
    browser.set_filter(provenance="simulated")
    assert browser.model.rowCount() == 4


def test_cancel_keeps_the_project_consistent(qtbot, main_window, tmp_path):
    browser = main_window.panels["browser"]
    panel = main_window.panels["simulate"]
    root = tmp_path / "proj"
    browser.open_project(root, create=True)
    _set_small(panel, 2000)
    task = panel.generate()
    qtbot.waitUntil(lambda: task.last_progress.done >= 2, timeout=20000)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "cancelled"
    n = _rows(root, "SELECT COUNT(*) FROM items")[0][0]
    assert 2 <= n < 2000
    # Every item kept is complete: one mask each, and no stray image or mask files.
    assert _rows(root, "SELECT COUNT(*) FROM masks")[0][0] == n
    assert len(list((root / "images").glob("*.tif"))) == n
    assert len(list((root / "masks").glob("*.tif"))) == n
    with open_project(root) as project:
        assert project.verify() == []
    qtbot.waitUntil(lambda: browser.model.rowCount() == n, timeout=5000)


def test_generate_to_folder_without_project_and_refuses_without_one(qtbot, main_window, tmp_path):
    panel = main_window.panels["simulate"]
    _set_small(panel, 2)
    assert panel.generate() is None
    assert "no project" in main_window.last_error
    task = panel.generate_to_folder(tmp_path / "set")
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "done"
    assert sorted(p.name for p in (tmp_path / "set").glob("sim_????.tif")) == [
        "sim_0000.tif",
        "sim_0001.tif",
    ]


def test_template_from_the_viewer_image_into_project(qtbot, main_window, tmp_path):
    browser = main_window.panels["browser"]
    panel = main_window.panels["simulate"]
    browser.open_project(tmp_path / "proj", create=True)
    open_and_wait(qtbot, main_window, need(RADIOGRAPHS) / "edge20mm_0000.tif")
    panel.phantom.setCurrentIndex(panel.phantom.findData("template"))
    qtbot.mouseClick(panel.template_button, Qt.MouseButton.LeftButton)
    assert panel.template is not None and "object" in panel.template_label.text()
    _set_small(panel, 2)
    task = panel.generate()
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "done", task.error
    provs = [json.loads(r[0]) for r in _rows(tmp_path / "proj", "SELECT provenance FROM items")]
    assert [p["phantom"] for p in provs] == ["template", "template"]
    assert provs[0]["template"].endswith("edge20mm_0000.tif")


@pytest.mark.parametrize("size", [(1600, 1000), (1280, 800)])
def test_preview_gets_a_useful_share_of_the_docked_panel(qtbot, main_window, size):
    """In the default layout the preview image (what people look at) takes at least 35 % of the
    dock's height, the whole panel fits (no scrolling it), and every knob is on a tab."""
    main_window.resize(*size)
    panel = main_window.panels["simulate"]
    dock = main_window.docks["simulate"]
    dock.show()
    dock.raise_()
    qtbot.waitUntil(lambda: panel.isVisible() and dock.height() > 0)
    _set_small(panel, 1)
    task = panel.preview()
    qtbot.waitUntil(lambda: task.finished, timeout=10000)
    qtbot.wait(50)  # the status line grew: let the layouts settle
    assert not dock.isFloating() and dock.width() < 600
    # the part of the image view on screen: the scroll area every dock sits in could hide some
    outer = dock.widget()
    viewport = outer.viewport()
    top_left = panel.view.mapTo(viewport, QPoint(0, 0))
    shown = QRect(top_left, panel.view.size()).intersected(viewport.rect()).height()
    assert shown == panel.view.height() >= 0.35 * dock.height(), (shown, dock.height())
    assert not outer.verticalScrollBar().isVisible()
    assert not outer.horizontalScrollBar().isVisible()
    for w in (panel.open_button, panel.show_truth, panel.preview_button, panel.generate_button):
        assert w.isVisible() and w.visibleRegion().boundingRect().size() == w.size()
    # each parameter is reachable: on one of the tabs, shown when its tab is chosen
    knobs = [panel.phantom, *panel.kinds.values(), panel.template_button, panel.object_count]
    knobs += [panel.size_min, panel.size_max, panel.width_box, panel.height_box, panel.mu_min]
    knobs += [panel.mu_max, panel.counts, panel.gain, panel.read_noise, panel.blur]
    knobs += [panel.spot_rate, panel.spot_size_max, panel.count, panel.seed, panel.mask_kind]
    for knob in knobs:
        page = next(
            i
            for i in range(panel.param_tabs.count())
            if panel.param_tabs.widget(i).isAncestorOf(knob)
        )
        panel.param_tabs.setCurrentIndex(page)
        assert knob.isVisible()
    # keyboard: Tab walks the knobs in reading order, then on to the run buttons
    panel.param_tabs.setCurrentIndex(2)
    panel.mask_kind.setFocus()
    qtbot.keyClick(panel.mask_kind, Qt.Key.Key_Tab)
    assert panel.preview_button.hasFocus()
    # the parameters take no more height than they need; the rest goes to the preview
    top, bottom = panel.splitter.sizes()
    assert top <= panel.splitter.widget(0).sizeHint().height() and bottom > 0
