"""The GUI's import and export messages name each kind as its dialog shows it ("Folder per
class", "Data Package", "Regression sheet"), and the dialog's check boxes instead of the
command line's options; the command line keeps its own names ("imagefolder", "datapackage",
"--leave-out-rejected")."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog import targets as T
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.docks.browser_dialogs import (
    EXPORT_NAMES,
    IMPORT_NAMES,
    ExportDialog,
    ImportDialog,
)

#: the command line's words for kinds and options, which the GUI must not show
CLI_WORDS = re.compile(
    r"\b(imagefolder|datapackage|npz|mnist|yolo)\b|'sheet'|'coco'|'masks'|--leave-out"
)


def _project(tmp_path):
    """Five PNGs in two classes, one reviewed as rejected, all with a regression target."""
    root = tmp_path / "folder"
    rng = np.random.default_rng(1)
    for label, n in (("a", 3), ("b", 2)):
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (20, 24), dtype=np.uint8)).save(
                root / label / f"{label}{i}.png"
            )
    with open_project(tmp_path / "proj", create=True) as project:
        run_job(import_job(project, "imagefolder", [root]))
        T.define(project, T.TargetDef("thickness", "mm"))
        T.set_value(project, project.ids(), "thickness", 1.5)
        project.set_review(project.ids({"label": "b"})[:1], "rejected")
    return tmp_path / "proj"


def test_every_kind_is_named_as_its_dialog_entry_begins(qtbot):
    exporting, importing = ExportDialog(), ImportDialog()
    qtbot.addWidget(exporting)
    qtbot.addWidget(importing)
    for dialog, names in ((exporting, EXPORT_NAMES), (importing, IMPORT_NAMES)):
        kinds = [dialog.kind.itemData(i) for i in range(dialog.kind.count())]
        assert sorted(kinds) == sorted(names)
        for i, kind in enumerate(kinds):
            assert dialog.kind.itemText(i).startswith(names[kind]), kind


def test_the_export_note_names_kinds_and_check_boxes_as_the_dialog_does(
    qtbot, main_window, tmp_path
):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    root = _project(tmp_path)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    out = tmp_path / "out"

    def fill():
        dialog = QApplication.activeModalWidget()
        dialog.kind.setCurrentIndex(dialog.kind.findData("imagefolder"))
        dialog.leave_out_rejected.setChecked(False)  # the rejected item goes along: a note
        dialog.out.setText(str(out))
        dialog.accept()

    QTimer.singleShot(50, fill)
    panel.export_dialog()
    qtbot.waitUntil(lambda: getattr(panel, "last_export_note", None) is not None, timeout=20000)
    note = panel.last_export_note
    text = note.text()
    assert note.windowTitle() == "Export: Folder per class"
    assert text.startswith("Folder per class export to ")
    assert "not in the Folder per class export" in text and "targets of 5 item(s)" in text
    assert "export 'Data Package' to keep everything" in text
    assert "the export dialog's check box 'Leave out the … rejected item(s)'" in text
    assert not CLI_WORDS.search(text), text
    assert not CLI_WORDS.search(main_window.statusBar().currentMessage())
    titles = [t.title for t in main_window.tasks.tasks]
    assert "Export Folder per class" in titles and not any(CLI_WORDS.search(t) for t in titles)


def test_a_coco_export_note_names_the_kinds_that_keep_classes_as_the_dialog_does(
    qtbot, main_window, tmp_path
):
    root = _project(tmp_path)  # items with classes: a COCO export says where they fit
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    task = panel.run_export("coco", tmp_path / "coco")
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    text = panel.last_export_note.text()
    assert "export 'Folder per class' or 'Regression sheet' to keep them" in text
    assert not CLI_WORDS.search(text), text


def test_an_import_refusal_and_report_name_the_kind_as_the_dialog_does(
    qtbot, main_window, tmp_path
):
    root = _project(tmp_path)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    sheets = []
    for name in ("one.csv", "two.csv"):
        (tmp_path / name).write_text("image,x\n", encoding="utf-8")
        sheets.append(tmp_path / name)
    task = panel.run_import("sheet", sheets)  # the dialog takes several files; a sheet is one
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    assert main_window.last_error == "Regression sheet import takes one CSV or XLSX file"

    task = panel.run_import("imagefolder", [tmp_path / "folder"])
    qtbot.waitUntil(lambda: task.finished, timeout=20000)
    message = main_window.statusBar().currentMessage()
    assert message.startswith("Folder of images import of "), message
    assert "Import Folder of images" in [t.title for t in main_window.tasks.tasks]


def test_the_command_line_keeps_its_own_names(tmp_path):
    root = _project(tmp_path)
    with open_project(root) as project:
        report = run_job(export_job(project, "imagefolder", tmp_path / "out"))
    text = str(report)
    assert text.startswith("imagefolder export to ")
    assert "export 'datapackage' to keep everything" in text
    assert "(leave them out with --leave-out-rejected)" in text
