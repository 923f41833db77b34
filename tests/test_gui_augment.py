"""The Augment dock, driven through its real widgets in the real main window."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.augment import Pipeline, sample_seed
from qbi_desktop.core.augment.batch import read_manifest

try:
    from tests.conftest import RADIOGRAPHS, need, open_and_wait
except ImportError:  # tests/ as rootdir
    from conftest import RADIOGRAPHS, need, open_and_wait

RADIOGRAPH = RADIOGRAPHS / "edge20mm_0000.tif"


def _panel(window):
    from qbi_desktop.gui.docks import augment

    panel = window.panels.get("augment")
    if panel is None:
        panel = augment.install(window)
        window.panels["augment"] = panel
    dock = window.docks["augment"]
    dock.show()
    dock.raise_()
    return panel


def _fresh_preview(qtbot, panel, change, timeout=3000):
    """Apply ``change`` (a widget edit) and return the preview it produced."""
    with qtbot.waitSignal(panel.preview_shown, timeout=timeout) as blocker:
        change()
    # a newer preview may follow if the change fired more than one signal: take the last one
    qtbot.wait(60)
    return panel.result if panel.result is not None else blocker.args[0]


@pytest.fixture
def radiograph_panel(qtbot, main_window):
    need(RADIOGRAPH)
    panel = _panel(main_window)
    open_and_wait(qtbot, main_window, RADIOGRAPH)
    qtbot.waitUntil(lambda: panel.result is not None and not panel.runner.busy, timeout=5000)
    return panel


def test_rotation_control_redraws_the_grid(qtbot, radiograph_panel):
    panel = radiograph_panel
    before = [rgb.copy() for rgb in panel.result.sample_rgb]
    assert len(before) == 8
    start = time.perf_counter()
    result = _fresh_preview(
        qtbot, panel, lambda: panel.form.editors["rotation_range"].spin.setValue(40)
    )
    assert time.perf_counter() - start < 2.0
    assert [p["theta"] for p in result.params] != [0.0] * 8
    assert all(abs(p["theta"]) <= 40 for p in result.params)
    changed = [not np.array_equal(a, b) for a, b in zip(before, result.sample_rgb, strict=True)]
    assert sum(changed) >= 7  # a random rotation of every sample (one may draw ~0 degrees)
    # the tiles show the new images (what the user sees, not just the data)
    shown = panel.grid.tiles[0].image
    assert (shown.width(), shown.height()) == result.sample_rgb[0].shape[1::-1]
    # the preview is drawn with the viewer's levels: same mapping as the canvas's levels
    doc = panel.window.current
    assert result.levels == tuple(float(v) for v in doc.levels)


def test_ct_profile_disables_flips_and_says_why(qtbot, radiograph_panel):
    panel = radiograph_panel
    flip = panel.form.editors["horizontal_flip"]
    flip.box.click()
    assert panel.pipeline().options["horizontal_flip"] is True
    panel.profile.setCurrentIndex(panel.profile.findData("ct"))
    for name in ("horizontal_flip", "vertical_flip"):
        editor = panel.form.editors[name]
        assert not editor.widget.isEnabled()
        assert "anatomy has a side" in editor.widget.toolTip()
        assert "'ct'" in panel.form.labels[name].toolTip()
    assert panel.pipeline().options["horizontal_flip"] is False  # switched off, not hidden
    # the note is short (a count, and what was switched off now); the reasons are its tooltip
    note = panel.profile_note.text()
    assert panel.profile_note.isVisible()
    n_off = len(panel.current_profile().disabled)
    assert note.splitlines()[0] == f"CT: {n_off} options off — hover for why"
    assert "Switched off now: Horizontal flip" in note
    why = panel.profile_note.toolTip()
    assert "Horizontal flip" in why and "anatomy has a side" in why and "Hounsfield" in why
    # allowed options stay usable
    assert panel.form.editors["rotation_range"].widget.isEnabled()
    # back to no profile: everything enabled again, and the flip the profile took comes back
    panel.profile.setCurrentIndex(panel.profile.findData(None))
    assert flip.widget.isEnabled() and flip.box.isChecked()
    assert panel.profile_note.text() == "Restored: Horizontal flip"


def test_profile_switches_give_back_what_an_earlier_profile_switched_off(
    qtbot, radiograph_panel, tmp_path
):
    """No profile: flip and Poisson noise (with its own dose range). CT switches both off;
    Radiograph allows them again, so both come back with their values, and the note says so.
    A value set by hand in between (rotation under CT) is kept."""
    panel = radiograph_panel
    ed = panel.form.editors
    ed["horizontal_flip"].box.click()
    ed["poisson_noise"].on.click()
    ed["poisson_noise"].inner.fields["dose_range"].slider.setValue((0.5, 0.9))
    ed["poisson_noise"].inner.fields["counts_per_unit"].spin.setValue(2.5)
    poisson = panel.pipeline().options["poisson_noise"]
    assert poisson == {"dose_range": [0.5, 0.9], "counts_per_unit": 2.5}

    panel.profile.setCurrentIndex(panel.profile.findData("ct"))
    assert "Switched off now: Horizontal flip, Poisson noise" in panel.profile_note.text()
    off = panel.pipeline().options
    assert off["horizontal_flip"] is False and off["poisson_noise"] is None
    ed["rotation_range"].spin.setValue(12)  # by hand, under CT

    panel.profile.setCurrentIndex(panel.profile.findData("radiograph"))
    note = panel.profile_note.text()
    assert "Restored: Horizontal flip, Poisson noise" in note
    assert ed["horizontal_flip"].widget.isEnabled() and ed["poisson_noise"].on.isEnabled()
    path = tmp_path / "p.json"
    assert panel.save_pipeline(path)
    saved = Pipeline.load(path)
    assert saved.profile == "radiograph"
    assert saved.options["horizontal_flip"] is True
    assert saved.options["poisson_noise"] == poisson  # its previous values, not the defaults
    assert saved.options["rotation_range"] == 12  # the hand-set value is not touched
    # the preview follows: flips are drawn again
    result = _fresh_preview(qtbot, panel, lambda: panel.seed.setValue(3))
    assert any(p["flip_horizontal"] for p in result.params)

    # a pipeline loaded meanwhile replaces what was held: nothing older comes back over it
    panel.profile.setCurrentIndex(panel.profile.findData("ct"))
    Pipeline.from_options(profile="ct", rotation_range=5).save(path)
    assert panel.load_pipeline(path) is not None
    panel.profile.setCurrentIndex(panel.profile.findData("radiograph"))
    now = panel.pipeline().options
    assert now["horizontal_flip"] is False and now["poisson_noise"] is None
    assert now["rotation_range"] == 5
    assert "Restored" not in panel.profile_note.text()


def test_sample_tooltip_shows_the_parameters_drawn_for_it(qtbot, radiograph_panel):
    panel = radiograph_panel
    panel.form.editors["zoom_range"].set_value(0.2)
    result = _fresh_preview(
        qtbot, panel, lambda: panel.form.editors["rotation_range"].spin.setValue(30)
    )
    pipeline = panel.pipeline()
    shape = tifffile.imread(RADIOGRAPH).shape
    for k in (0, 5):
        # the same parameters a batch run draws for copy k of this image
        expected = pipeline.sample_params(shape, sample_seed(pipeline.seed, 0, k))
        assert result.params[k] == expected
        tip = panel.grid.tiles[k].toolTip()
        assert f"Sample {k + 1}" in tip
        assert f"rotation: {expected['theta']:.4g}°" in tip
        assert f"zoom x: {expected['zx']:.4g}" in tip


def test_seed_and_reroll_are_deterministic(qtbot, radiograph_panel):
    panel = radiograph_panel
    panel.form.editors["rotation_range"].spin.setValue(25)
    first = _fresh_preview(qtbot, panel, lambda: panel.seed.setValue(5))
    pixels = [s.copy() for s in first.samples]
    rerolled = _fresh_preview(qtbot, panel, panel.reroll.click)
    assert panel.seed.value() != 5
    assert not np.array_equal(rerolled.samples[0], pixels[0])
    again = _fresh_preview(qtbot, panel, lambda: panel.seed.setValue(5))
    for a, b in zip(pixels, again.samples, strict=True):
        np.testing.assert_array_equal(a, b)  # same seed, same pixels


def test_difference_view_shows_the_selected_sample(qtbot, radiograph_panel):
    panel = radiograph_panel
    result = _fresh_preview(
        qtbot, panel, lambda: panel.form.editors["rotation_range"].spin.setValue(20)
    )
    qtbot.mouseDClick(panel.grid.tiles[3], __import__("PySide6.QtCore").QtCore.Qt.LeftButton)
    assert panel.tabs.currentWidget() is panel.difference
    assert panel.grid.selected_index == 3
    expected = np.abs(result.samples[3].astype(np.float32) - result.original.astype(np.float32))
    np.testing.assert_allclose(panel.difference.difference, expected)
    assert "Sample #4" in panel.difference.summary.text()


def test_invalid_pipeline_file_names_the_field(qtbot, radiograph_panel, tmp_path):
    panel = radiograph_panel
    panel.form.editors["rotation_range"].spin.setValue(15)
    bad = Pipeline.from_options(rotation_range=10).to_json()
    bad["options"]["rotation_range"] = 500
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert panel.load_pipeline(path) is None
    assert "options.rotation_range" in panel.window.last_error
    assert "out of range" in panel.window.last_error
    assert panel.form.editors["rotation_range"].value() == 15  # the controls are kept
    bad["options"] = {"rotation": 5}
    path.write_text(json.dumps(bad))
    panel.load_pipeline(path)
    assert "options.rotation" in panel.window.last_error
    assert "unknown option" in panel.window.last_error


def test_pipeline_saves_and_loads_through_the_controls(qtbot, radiograph_panel, tmp_path):
    panel = radiograph_panel
    ed = panel.form.editors
    ed["width_shift_range"].spin.setValue(0.1)
    ed["poisson_noise"].on.setChecked(True)
    panel.keras.setChecked(True)
    panel.seed.setValue(77)
    path = tmp_path / "p.json"
    assert panel.save_pipeline(path)
    saved = Pipeline.load(path)
    assert saved.options["width_shift_range"] == pytest.approx(0.1)
    assert saved.options["poisson_noise"]["dose_range"] == [0.3, 1.0]
    assert saved.keras_compat and saved.seed == 77
    # a pipeline written by hand (Keras int shift form) round-trips unchanged
    manual = Pipeline.from_options(seed=3, width_shift_range=4, profile="radiograph")
    manual.save(path)
    panel.load_pipeline(path)
    assert panel.pipeline().to_json() == manual.to_json()
    assert panel.profile.currentData() == "radiograph"


def test_user_profile_from_the_allowed_options(qtbot, radiograph_panel):
    panel = radiograph_panel
    path = panel.save_profile_as(
        "beamline-7", "our cell", {"vertical_flip": "gravity points down in our cell"}
    )
    assert path.exists()
    assert panel.profile.currentData() == "beamline-7"
    editor = panel.form.editors["vertical_flip"]
    assert not editor.widget.isEnabled()
    assert "gravity points down" in editor.widget.toolTip()
    assert "gravity points down" in panel.profile_note.toolTip()
    assert panel.profile_note.text() == "beamline-7: 1 option off — hover for why"
    assert "(user)" in panel.profile.currentText()


def test_preview_shows_the_annotate_mask_following_the_geometry(qtbot, radiograph_panel):
    panel = radiograph_panel
    annotate = panel.window.panels.get("annotate")
    if annotate is None:
        pytest.skip("no Annotate panel installed")
    annotate.unsaved_answer = "discard"  # no modal save question when the window closes
    qtbot.waitUntil(
        lambda: getattr(annotate, "session", None) is not None and annotate.session.ready,
        timeout=5000,
    )
    mask = np.zeros((600, 600), np.uint8)
    mask[:, :150] = 1  # the left quarter
    annotate.session.replace(mask)
    ed = panel.form.editors
    ed["horizontal_flip"].box.setChecked(True)
    result = _fresh_preview(qtbot, panel, lambda: annotate.mask_changed.emit(None))
    assert result.has_mask
    for k, params in enumerate(result.params):
        rgb = result.sample_rgb[k].astype(int)
        left = rgb[:, :20].mean(axis=(0, 1))
        right = rgb[:, -20:].mean(axis=(0, 1))
        tinted, plain = (right, left) if params["flip_horizontal"] else (left, right)
        # the overlay colour (red-dominant label 1) sits on the side the mask moved to
        assert tinted[0] - tinted[2] > plain[0] - plain[2] + 20


def test_latest_only_runner_drops_stale_requests(qtbot):
    from qbi_desktop.gui.docks.augment_preview import LatestOnlyRunner

    runner = LatestOnlyRunner()
    ran: list[int] = []
    shown: list[int] = []
    runner.done.connect(lambda _gen, value: shown.append(value))

    def job(n, delay=0.0):
        def run():
            time.sleep(delay)
            ran.append(n)
            return n

        return run

    runner.submit(job(1, 0.3))
    for n in (2, 3, 4):
        runner.submit(job(n))
    qtbot.waitUntil(lambda: not runner.busy, timeout=3000)
    assert ran == [1, 4]  # 2 and 3 were superseded before they started
    assert shown == [4]  # 1 finished after newer requests: never shown
    runner.wait()


def _image_folder(root, n, size=64):
    rng = np.random.default_rng(2)
    root.mkdir()
    for i in range(n):
        tifffile.imwrite(root / f"im{i:03d}.tif", rng.integers(0, 4000, (size, size), np.uint16))
    return root


def _fill_dialog_and_accept(**fields):
    def fill():
        dialog = QApplication.activeModalWidget()
        dialog.set_kind(fields["kind"])
        dialog.input.setText(str(fields["input"]))
        if "output" in fields:
            dialog.output.setText(str(fields["output"]))
        dialog.into_project.setChecked(fields.get("into_project", False))
        dialog.copies.setValue(fields["copies"])
        dialog.scheduler.setText(fields.get("scheduler", ""))
        dialog.accept()

    QTimer.singleShot(50, fill)


def test_batch_dialog_writes_k_copies_with_a_manifest(qtbot, main_window, tmp_path):
    panel = _panel(main_window)
    panel.form.editors["rotation_range"].spin.setValue(10)
    src = _image_folder(tmp_path / "in", 4)
    out = tmp_path / "out"
    _fill_dialog_and_accept(kind="folder", input=src, output=out, copies=3)
    panel.batch_button.click()  # opens the real dialog; the timer fills and accepts it
    task = panel.batch_task
    assert task is not None
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "done", task.error
    header, records = read_manifest(out)
    assert header["copies"] == 3 and header["pipeline"]["options"]["rotation_range"] == 10
    assert len(records) == 12 and len(list((out / "images").glob("*.tif"))) == 12
    assert {r["parent"] for r in records} == {str(p) for p in sorted(src.glob("*.tif"))}
    assert "12 written" in main_window.statusBar().currentMessage()
    assert panel.batch_button.isEnabled() and not panel.batch_progress.isVisible()


def test_a_pipeline_that_changes_nothing_asks_before_writing_identical_copies(
    qtbot, main_window, tmp_path
):
    """With every step off (the dock as it opens), Write dataset… asks first: Enter (the
    default, Cancel) writes nothing; "Write anyway" writes the copies."""
    panel = _panel(main_window)
    src = _image_folder(tmp_path / "in", 3)
    out = tmp_path / "out"
    _fill_dialog_and_accept(kind="folder", input=src, output=out, copies=2)
    panel.batch_button.click()
    qtbot.waitUntil(lambda: panel.batch_question is not None)
    box = panel.batch_question
    assert "changes nothing" in box.text() and "each of the 2 copies" in box.text()
    QApplication.processEvents()
    qtbot.keyClick(QApplication.focusWidget() or box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.batch_question is None)
    assert panel.batch_task is None and not out.exists()
    assert "Nothing written" in main_window.statusBar().currentMessage()

    _fill_dialog_and_accept(kind="folder", input=src, output=out, copies=2)
    panel.batch_button.click()
    qtbot.waitUntil(lambda: panel.batch_question is not None)
    box = panel.batch_question
    write = next(b for b in box.buttons() if b.text() == "Write anyway")
    qtbot.mouseClick(write, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: panel.batch_task is not None and panel.batch_task.finished, timeout=20000
    )
    assert panel.batch_task.state == "done", panel.batch_task.error
    assert len(read_manifest(out)[1]) == 6

    # a pipeline with a step on is written without a question
    panel.form.editors["rotation_range"].spin.setValue(10)
    _fill_dialog_and_accept(kind="folder", input=src, output=tmp_path / "rotated", copies=1)
    before = panel.batch_task
    panel.batch_button.click()
    qtbot.waitUntil(
        lambda: panel.batch_task is not before and panel.batch_task.finished, timeout=20000
    )
    assert panel.batch_question is None and len(read_manifest(tmp_path / "rotated")[1]) == 3


@pytest.mark.parametrize("size", [(1366, 740), (1600, 1000)])
def test_a_running_batch_keeps_the_panel_within_its_dock(qtbot, main_window, tmp_path, size):
    """While a batch runs its progress bar and Cancel take the Write button's place: the
    panel needs no more width than before (it grew past the dock's edge, cutting its
    buttons off)."""
    main_window.resize(*size)
    panel = _panel(main_window)
    panel.form.editors["rotation_range"].spin.setValue(10)
    qtbot.wait(100)
    idle = panel.minimumSizeHint().width()
    from qbi_desktop.gui.docks.augment_batch import BatchRequest

    src = _image_folder(tmp_path / "in", 20, size=32)
    request = BatchRequest("folder", str(src), str(tmp_path / "out"), copies=500)
    task = panel.start_batch(request)
    qtbot.waitUntil(lambda: "written" in panel.batch_progress.format(), timeout=20000)
    assert panel.batch_progress.isVisible() and panel.batch_cancel.isVisible()
    assert panel.minimumSizeHint().width() <= idle
    dock = main_window.docks["augment"]
    cancel = panel.batch_cancel
    right = cancel.mapTo(dock, cancel.rect().topRight()).x()
    assert right < dock.width(), f"Cancel reaches x={right} in a {dock.width()} px dock"
    cancel.click()
    qtbot.waitUntil(lambda: task.finished, timeout=20000)


def test_batch_on_a_dask_cluster_writes_what_a_local_run_writes(qtbot, main_window, tmp_path):
    """The scheduler address typed into the dialog sends the work to that cluster, and the files
    are the ones a local run of the same pipeline and seed writes."""
    distributed = pytest.importorskip("distributed")
    panel = _panel(main_window)
    panel.form.editors["rotation_range"].spin.setValue(15)
    panel.form.editors["horizontal_flip"].box.setChecked(True)
    src = _image_folder(tmp_path / "in", 3)
    outputs = {}
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        transitions = {}
        for name, scheduler in (("local", ""), ("dask", cluster.scheduler_address)):
            outputs[name] = tmp_path / name
            _fill_dialog_and_accept(
                kind="folder", input=src, output=outputs[name], copies=2, scheduler=scheduler
            )
            panel.batch_button.click()
            task = panel.batch_task
            qtbot.waitUntil(lambda task=task: task.finished, timeout=30000)
            assert task.state == "done", task.error
            transitions[name] = cluster.scheduler.transition_counter
        assert transitions["local"] == 0 < transitions["dask"]  # only the second ran there
        # the dialog remembers the address for the next run
        last = json.loads(main_window.settings.value("augment/batch"))
        assert last["scheduler"] == cluster.scheduler_address
    local, remote = (read_manifest(outputs[k])[1] for k in ("local", "dask"))
    assert len(local) == len(remote) == 6
    for a, b in zip(local, remote, strict=True):
        assert a["params"] == b["params"]
        left = tifffile.imread(outputs["local"] / a["image"])
        right = tifffile.imread(outputs["dask"] / b["image"])
        assert left.dtype == right.dtype == np.uint16
        np.testing.assert_array_equal(left, right)


def test_batch_cancel_keeps_complete_outputs_and_rerun_resumes(qtbot, main_window, tmp_path):
    panel = _panel(main_window)
    panel.form.editors["rotation_range"].spin.setValue(10)
    panel.form.editors["elastic"].on.setChecked(True)  # slow enough to cancel part way
    src = _image_folder(tmp_path / "in", 40, size=256)
    out = tmp_path / "out"
    from qbi_desktop.gui.docks.augment_batch import BatchRequest

    request = BatchRequest("folder", str(src), str(out), copies=2)
    task = panel.start_batch(request)
    task.progress.connect(lambda p: panel.batch_cancel.click() if p.done >= 2 else None)
    qtbot.waitUntil(lambda: task.finished, timeout=30000)
    assert task.state == "cancelled"
    _header, records = read_manifest(out)
    assert 2 <= len(records) < 80
    for rec in records:  # every recorded output is complete
        assert tifffile.imread(out / rec["image"]).shape == (256, 256)
    again = panel.start_batch(request)
    qtbot.waitUntil(lambda: again.finished, timeout=60000)
    assert again.state == "done", again.error
    assert again.result.skipped == len(records)
    assert again.result.skipped + again.result.written == 80


def test_batch_into_the_project_adds_augmented_items(qtbot, main_window, tmp_path):
    from qbi_desktop.core.catalog import NewItem, open_project
    from qbi_desktop.core.catalog.images import hash_file

    panel = _panel(main_window)
    panel.form.editors["horizontal_flip"].box.setChecked(True)
    src = _image_folder(tmp_path / "in", 2)
    project = open_project(tmp_path / "proj", create=True)
    with project.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(name=p.stem, hash=hash_file(p), path=p, label="a", split="train")
                for p in sorted(src.glob("*.tif"))
            ]
        )
    _fill_dialog_and_accept(kind="project", input=project.root, into_project=True, copies=2)
    added: list[list[int]] = []
    panel.items_added.connect(added.append)
    panel.batch_button.click()
    task = panel.batch_task
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert task.state == "done", task.error
    assert len(added) == 1 and len(added[0]) == 4
    for new in added[0]:
        row = project.get(new)
        assert row["provenance"] == "augmented"
        assert row["parent"] in ids
        assert row["label"] == "a" and row["split"] == "train"
        assert "flip_horizontal" in row["provenance_params"]["params"]
    assert "4 items added to the project" in main_window.statusBar().currentMessage()
    project.close()


@pytest.mark.parametrize("size", [(1600, 1000), (1280, 800)])
def test_controls_fit_the_docked_width_without_sideways_scrolling(qtbot, main_window, size):
    """At the default layout the right column is ~27 % of the window (345-430 px): every
    option's control (and the settings of optional steps, under their switch) is visible
    without a horizontal scrollbar."""
    from qbi_desktop.core.augment import SPECS

    main_window.resize(*size)
    panel = _panel(main_window)
    dock = main_window.docks["augment"]
    qtbot.waitUntil(lambda: panel.scroll.viewport().width() > 0 and dock.width() < 600)
    qtbot.wait(50)  # let the layouts settle
    assert 340 <= dock.width() <= 480  # the docked column, not a floating or stretched panel
    scroll = panel.scroll
    viewport = scroll.viewport().width()
    assert scroll.widget().minimumSizeHint().width() <= viewport
    assert not scroll.horizontalScrollBar().isVisible()
    assert panel.splitter.orientation() == Qt.Orientation.Vertical  # preview under the controls
    controls = scroll.widget()
    for spec in SPECS:
        editor = panel.form.editors[spec.name]
        widgets = [panel.form.labels[spec.name], editor.widget]
        widgets += [w for pair in editor.sub_rows() for w in pair]
        for w in widgets:
            assert w.isVisibleTo(controls), spec.name
            right = w.mapTo(controls, w.rect().topRight()).x()
            assert 0 <= w.mapTo(controls, w.rect().topLeft()).x() and right < viewport, (
                f"{spec.name}: {type(w).__name__} reaches x={right} in a {viewport} px view"
            )
    # Random crop's ranges sit on their own rows under its switch, and follow it
    crop = panel.form.editors["random_crop"]
    labels = [label.text() for label, _ in crop.sub_rows()]
    assert labels == ["Scale range", "Ratio range"]
    switch_y = crop.on.mapTo(controls, crop.on.rect().topLeft()).y()
    assert all(w.mapTo(controls, w.rect().topLeft()).y() > switch_y for _, w in crop.sub_rows())
    assert not any(w.isEnabled() for _, w in crop.sub_rows())
    crop.on.click()
    assert all(w.isEnabled() for _, w in crop.sub_rows())
    assert panel.pipeline().options["random_crop"]["scale_range"] == [0.6, 1.0]
    # the option's help is still the tooltip of every part of it
    assert all(w.toolTip() == panel.form.help["random_crop"] for w, _ in crop.sub_rows())


def test_a_wide_floating_panel_puts_the_controls_beside_the_preview(qtbot, main_window):
    panel = _panel(main_window)
    dock = main_window.docks["augment"]
    dock.setFloating(True)
    dock.resize(1300, 600)
    qtbot.waitUntil(lambda: panel.splitter.orientation() == Qt.Orientation.Horizontal)
    controls, preview = panel.splitter.sizes()
    assert controls >= panel.scroll.widget().minimumSizeHint().width() and preview > controls
    assert not panel.scroll.horizontalScrollBar().isVisible()


def test_default_layout_shows_option_rows_below_a_compact_header(qtbot, main_window):
    """At 1600x1000 the docked controls area is short: with a profile chosen (and its note
    saying what it switched off), the first three Geometry rows are visible without scrolling."""
    main_window.resize(1600, 1000)
    panel = _panel(main_window)
    dock = main_window.docks["augment"]
    ed = panel.form.editors
    ed["horizontal_flip"].box.click()
    ed["poisson_noise"].on.click()
    panel.profile.setCurrentIndex(panel.profile.findData("ct"))
    qtbot.waitUntil(lambda: panel.scroll.viewport().width() > 0 and dock.width() < 600)
    qtbot.wait(50)  # let the layouts settle
    assert 340 <= dock.width() <= 480 and not dock.isFloating()  # docked in its column
    assert panel.profile_note.isVisible()
    assert len(panel.profile_note.text().splitlines()) == 2  # summary + what was switched off
    viewport = panel.scroll.viewport()
    assert panel.scroll.verticalScrollBar().value() == 0
    for name in ("rotation_range", "width_shift_range", "height_shift_range"):
        w = ed[name].widget
        top = w.mapTo(viewport, w.rect().topLeft()).y()
        bottom = w.mapTo(viewport, w.rect().bottomLeft()).y()
        assert w.isVisible() and 0 <= top and bottom < viewport.height(), (
            f"{name}: y {top}..{bottom} in a {viewport.height()} px tall view"
        )
    # the header's explanations are tooltips, not lines: Keras' defects, the profile's reasons
    assert "height_shift_range moves horizontally" in panel.keras.toolTip()
    assert "Hounsfield units" in panel.profile_note.toolTip()
    assert "anatomy has a side" in ed["vertical_flip"].widget.toolTip()


def test_keras_mode_greys_out_the_opencv_resampler(qtbot, radiograph_panel):
    from qbi_desktop.core.augment import cvwarp

    if not cvwarp.available():
        pytest.skip("OpenCV is not installed: its resampler is greyed out anyway")
    panel = radiograph_panel
    editor = panel.form.editors["resampler"]
    opencv = editor.choices.index("opencv")
    assert editor.choice_enabled("opencv")
    _fresh_preview(qtbot, panel, lambda: editor.combo.setCurrentIndex(opencv))
    assert panel.pipeline().options["resampler"] == "opencv"

    result = _fresh_preview(qtbot, panel, lambda: panel.keras.click())
    # switched to exact and said so, instead of a refusal over a stale grid
    assert panel.pipeline().options["resampler"] == "exact" and panel.pipeline().keras_compat
    assert editor.combo.currentText() == "exact"
    assert not editor.choice_enabled("opencv")
    assert "Keras" in editor.combo.itemData(opencv, Qt.ItemDataRole.ToolTipRole)
    assert "Resampler set to exact" in panel.status.text()
    assert "d04040" not in panel.status.text()  # nothing refused
    assert not panel.grid.stale and len(result.samples) == 8
    # the combo cannot pick it while Keras mode is on
    editor.combo.setFocus()
    qtbot.keyClick(editor.combo, Qt.Key.Key_Down)
    assert editor.combo.currentText() == "exact"
    # Keras mode off: OpenCV can be chosen again, and the notice goes
    _fresh_preview(qtbot, panel, lambda: panel.keras.click())
    assert editor.choice_enabled("opencv")
    assert "Resampler set to exact" not in panel.status.text()


def test_a_refused_pipeline_greys_out_the_samples_on_screen(qtbot, radiograph_panel):
    """The user's profile file is edited on disk to forbid rotation while a rotation is set:
    the refusal is shown, and the samples drawn for earlier settings are greyed out (the
    difference view emptied) until the settings are valid again."""
    panel = radiograph_panel
    rotation = panel.form.editors["rotation_range"].spin
    _fresh_preview(qtbot, panel, lambda: rotation.setValue(20))
    path = panel.save_profile_as("upright", "our cell", {"vertical_flip": "gravity points down"})
    qtbot.waitUntil(lambda: not panel.runner.busy, timeout=3000)
    assert not panel.grid.stale and panel.result is not None
    doc = json.loads(path.read_text())
    doc["disabled"]["rotation_range"] = "our sample must stay upright"
    path.write_text(json.dumps(doc))

    rotation.setValue(25)
    qtbot.waitUntil(lambda: "not allowed" in panel.status.text(), timeout=3000)
    qtbot.wait(100)  # nothing computed for earlier settings may replace the refusal
    assert "Rotation range" in panel.status.text() and "stay upright" in panel.status.text()
    assert panel.grid.stale and panel.result is None
    assert all(tile.stale for tile in panel.grid.tiles)
    assert "stay upright" in panel.grid.tiles[0].toolTip()
    assert panel.difference.difference is None
    # valid again (no rotation): a fresh grid, no longer greyed
    result = _fresh_preview(qtbot, panel, lambda: rotation.setValue(0))
    assert not panel.grid.stale and panel.result is result
    assert all(p["theta"] == 0 for p in result.params)
