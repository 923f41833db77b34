"""Dataset > Export…: "Annotations" chooses the item's annotation only, or every annotator's
own as well (the CLI's ``export --annotations item|every``); the choice is remembered.

Real window, real dialog (its Export button clicked), the exported folder read back."""

from __future__ import annotations

import csv

import numpy as np
import tifffile
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.opinions import annotator_folder

try:
    from tests.test_gui_browser_annotate import SHAPE, _folder_project, _id_of
except ImportError:  # pragma: no cover
    from test_gui_browser_annotate import SHAPE, _folder_project, _id_of


def _export_through_dialog(qtbot, window, out, choice: str | None) -> dict:
    """Open Dataset > Export…, pick imagefolder, the folder and (unless None) the
    annotations choice, and click Export; returns what the dialog offered first."""
    seen: dict = {}

    def fill():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, fill)
            return
        seen["offered"] = dialog.annotations.currentData()
        seen["choices"] = [
            dialog.annotations.itemData(i) for i in range(dialog.annotations.count())
        ]
        dialog.kind.setCurrentIndex(dialog.kind.findData("imagefolder"))
        dialog.out.setText(str(out))
        if choice is not None:
            dialog.annotations.setCurrentIndex(dialog.annotations.findData(choice))
        box = dialog.findChild(QDialogButtonBox)
        qtbot.mouseClick(box.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)

    QTimer.singleShot(50, fill)
    window.panels["browser"].export_action.trigger()
    qtbot.waitUntil(lambda: "offered" in seen, timeout=5000)
    qtbot.waitUntil(lambda: out.is_dir() and not window.tasks.active(), timeout=15000)
    return seen


def test_export_dialog_writes_every_annotators_own_annotations_and_remembers_it(
    qtbot, main_window, tmp_path
):
    window = main_window
    root = _folder_project(tmp_path)
    bob_mask = np.zeros(SHAPE, np.uint8)
    bob_mask[2:6, 3:9] = 1
    with open_project(root) as project:
        a0, b0 = _id_of(project, "a0"), _id_of(project, "b0")
        project.set_label([a0], "a", "Ada")
        project.set_label([a0], "b", "Bob")
        project.set_label([b0], "b", "Ada")
        project.set_mask(a0, bob_mask, "Bob")
    window.annotator.set_name("Cleo")
    assert window.panels["browser"].open_project(root)

    out = tmp_path / "every"
    seen = _export_through_dialog(qtbot, window, out, "every")
    assert seen["offered"] == "item"  # the default: what every format holds
    assert seen["choices"] == ["item", "every"]
    with open(out / "annotators" / "annotations.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    labels = {(r["name"], r["annotator"]): r["value"] for r in rows if r["kind"] == "label"}
    assert labels == {("a0.png", "Ada"): '"a"', ("a0.png", "Bob"): '"b"', ("b0.png", "Ada"): '"b"'}
    (mask_row,) = [r for r in rows if r["kind"] == "mask" and r["annotator"] == "Bob"]
    written = out / "annotators" / annotator_folder("Bob") / "a0.tif"
    assert written.is_file() and mask_row["name"] == "a0.png"
    assert np.array_equal(tifffile.imread(written), bob_mask)

    # the choice is remembered: the next export offers "every" again; "item" leaves it out
    out2 = tmp_path / "item"
    seen = _export_through_dialog(qtbot, window, out2, "item")
    assert seen["offered"] == "every"
    assert not (out2 / "annotators").exists()
    assert (out2 / "a").is_dir() or any(out2.rglob("*.png"))
    # and kept in the settings, for the next session
    assert window.settings.value("export/annotations") == "item"
