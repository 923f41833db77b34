"""The Augment dock's "Write dataset" dialog: which items of a project it augments."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from tests.test_gui_augment import _image_folder, _panel


def test_batch_into_the_project_copies_training_items_unless_all_are_chosen(
    qtbot, main_window, tmp_path
):
    """Copies of val/test items went into val/test (near-duplicates scored as new images). The
    dialog now augments training items by default and says how many it left; "All items" is a
    choice made in the dialog."""
    from qbi_desktop.core.catalog import NewItem, open_project
    from qbi_desktop.core.catalog.images import hash_file

    panel = _panel(main_window)
    panel.form.editors["horizontal_flip"].box.setChecked(True)
    src = _image_folder(tmp_path / "in", 4)
    project = open_project(tmp_path / "proj", create=True)
    parts = ["train", "train", "val", "test"]
    with project.transaction() as tx:
        ids = tx.add_items(
            [
                NewItem(name=p.stem, hash=hash_file(p), path=p, label="a", split=part)
                for p, part in zip(sorted(src.glob("*.tif")), parts, strict=True)
            ]
        )
    choices = []

    def fill(items):
        def run():
            dialog = QApplication.activeModalWidget()
            dialog.set_kind("project")
            dialog.input.setText(str(project.root))
            dialog.into_project.setChecked(True)
            choices.append(dialog.items.currentData())  # what the dialog offers first
            dialog.items.setCurrentIndex(dialog.items.findData(items))
            dialog.copies.setValue(1)
            dialog.accept()

        QTimer.singleShot(50, run)

    added: list[list[int]] = []
    panel.items_added.connect(added.append)
    for items in ("train", "all"):
        fill(items)
        panel.batch_button.click()
        task = panel.batch_task
        qtbot.waitUntil(lambda task=task: task.finished, timeout=20000)
        assert task.state == "done", task.error
        if items == "train":
            message = main_window.statusBar().currentMessage()
            assert "2 items added to the project (2 val/test items not augmented)" in message
    assert choices[0] == "train"
    assert {project.get(i)["parent"] for i in added[0]} == set(ids[:2])
    assert {project.get(i)["split"] for i in added[0]} == {"train"}
    assert {project.get(i)["split"] for i in added[1]} == {"train", "val", "test"}
    project.close()
