"""The Augment dock speaks its own labels: the Write dataset dialog says which regression targets
the copies keep naming the options as the dock shows them ("Horizontal flip", "Rotation range"),
not as the pipeline JSON spells them (horizontal_flip, rotation_range); the core's words stay
for the command line and the provenance a front end maps. Real project, real dialog."""

from __future__ import annotations

import numpy as np
import tifffile

from qbi_desktop.core.augment import Pipeline
from qbi_desktop.core.augment.targets import describe, project_target_fates
from qbi_desktop.core.catalog import NewItem, open_project
from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.catalog.images import hash_file


def _project_with_targets(tmp_path):
    """Three 16-bit plates with a thickness (crop/zoom changes it) and a transmission
    (intensity changes it)."""
    data = tmp_path / "plates"
    data.mkdir()
    rng = np.random.default_rng(1)
    items = []
    for i in range(3):
        path = data / f"edge20mm_{i:04d}.tif"
        tifffile.imwrite(path, rng.integers(1000, 60000, (32, 40), dtype=np.uint16))
        items.append(
            NewItem(
                name=path.name,
                hash=hash_file(path),
                path=path,
                width=40,
                height=32,
                label="edge",
                targets={"thickness": 12.5 + i, "transmission": 0.5 + i / 10},
            )
        )
    project = open_project(tmp_path / "proj1", create=True)
    with project.transaction() as tx:
        tx.add_items(items)
    T.define(project, T.TargetDef("thickness", "mm", 0, 100, 1))
    T.define(project, T.TargetDef("transmission", "", 0, 1, 3, ("intensity",)))
    project.close()
    return tmp_path / "proj1"


def _panel(window):
    panel = window.panels["augment"]
    dock = window.docks["augment"]
    dock.show()
    dock.raise_()
    return panel


def test_the_write_dialog_names_options_as_the_dock_does(qtbot, main_window, tmp_path):
    from qbi_desktop.gui.docks.augment_batch import BatchDialog

    root = _project_with_targets(tmp_path)
    panel = _panel(main_window)
    # the walkthrough's settings, made in the dock: rotation 30, horizontal flip, brightness
    panel.form.editors["rotation_range"].spin.setValue(30)
    panel.form.editors["horizontal_flip"].box.setChecked(True)
    qtbot.wait(50)
    pipeline = panel.pipeline()
    assert pipeline.options["rotation_range"] == 30 and pipeline.options["horizontal_flip"]
    dialog = BatchDialog(panel, str(root), {}, pipeline)
    qtbot.addWidget(dialog)
    dialog.set_kind("project")
    dialog.input.setText(str(root))
    dialog.show()
    qtbot.waitUntil(lambda: dialog.targets_note.isVisible(), timeout=3000)
    text = dialog.targets_note.text()
    assert "thickness: kept: the pipeline (Horizontal flip, Rotation range) cannot change it" in (
        text
    )
    assert "horizontal_flip" not in text and "rotation_range" not in text
    # the labels are those of the dock's own rows
    labels = {w.text().rstrip(" *") for w in panel.form.findChildren(type(panel.pipeline_label))}
    assert {"Horizontal flip", "Rotation range"} <= labels


def test_a_dropped_target_names_the_dock_labels_and_the_core_keeps_its_names(tmp_path):
    from qbi_desktop.gui.docks.augment_editors import pretty

    root = _project_with_targets(tmp_path)
    zoom = Pipeline.from_options(seed=1, zoom_range=0.2, brightness_range=[0.8, 1.2])
    fates = project_target_fates(root, zoom)
    said = describe(fates, pretty)
    assert "✗ thickness: dropped: Zoom range may change it (it changes with crop/zoom)" in said
    assert "✗ transmission: dropped: Brightness range may change it" in said
    # the command line and the provenance keep the pipeline's names
    plain = describe(fates)
    assert "dropped: zoom_range may change it" in plain


def test_a_refused_pipeline_is_reported_in_the_docks_words(qtbot, main_window):
    from qbi_desktop.gui.docks.augment_editors import in_dock_words

    message = "width_shift_range: expected a number between 0 and 1, got 3 (rotation_range ok)"
    said = in_dock_words(message)
    assert said.startswith("Width shift range: expected a number")
    assert "(Rotation range ok)" in said
    # words that merely contain an option's name are left alone
    assert in_dock_words("my_rotation_range_file.json") == "my_rotation_range_file.json"
