"""Items without boxes or a mask in the exports whose annotations are boxes or masks (the
outside check of /tmp/s18/trips, problem 6): COCO and labelme tools read an image with no
objects as a confirmed background image, so the export counts them and
``--leave-out-unannotated`` (the Export dialog's check box of the same words) leaves them out;
``--leave-out-unlabelled`` ("no class") leaving out everything there is refused, naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from qbi_desktop.cli import main as cli_main
from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.catalog.project import Box
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import export_job, import_job
from qbi_desktop.core.formats.selection import export_filters
from qbi_desktop.core.jobs import run_job


def _project(tmp_path):
    """Five images: 0 and 1 with boxes, 2 with a mask, 3 and 4 with nothing (not annotated)."""
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(2)
    for k in range(5):
        Image.fromarray(rng.integers(0, 255, (40, 50), dtype=np.uint8)).save(src / f"im{k}.png")
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [src]))
        ids = project.ids(sort="name")
        project.set_boxes(ids[0], [Box("spot", 2, 3, 10, 8)])
        project.set_boxes(ids[1], [Box("crack", 5, 5, 20, 10)])
        mask = np.zeros((40, 50), np.uint8)
        mask[10:20, 10:30] = 1
        project.set_mask(ids[2], mask)
    return root


def test_coco_counts_background_images_and_the_filter_leaves_them_out(tmp_path):
    root = _project(tmp_path)
    with open_project(root) as project:
        report = run_job(export_job(project, "coco", tmp_path / "all"))
        kept = run_job(
            export_job(
                project,
                "coco",
                tmp_path / "annotated",
                filters=export_filters(leave_out_unannotated=True),
            )
        )
    assert "2 item(s) without boxes or a mask are written as images with no objects" in str(report)
    assert "im3.png" in str(report) and "--leave-out-unannotated" in str(report)
    (annotations,) = (tmp_path / "annotated").rglob("*.json")
    coco = COCO(str(annotations))
    names = sorted(image["file_name"].rsplit("/", 1)[-1] for image in coco.dataset["images"])
    assert names == ["im0.png", "im1.png", "im2.png"]  # every image has an object
    assert all(coco.getAnnIds(imgIds=[i]) for i in coco.getImgIds())
    assert kept.items == 3 and "2 item(s) without boxes or a mask left out" in str(kept)


def test_labelme_and_masks_leave_out_what_they_cannot_annotate(tmp_path):
    root = _project(tmp_path)
    with open_project(root) as project:
        labelme = run_job(
            export_job(
                project,
                "labelme",
                tmp_path / "lm",
                filters=export_filters(leave_out_unannotated=True),
            )
        )
        masks = run_job(
            export_job(
                project,
                "masks",
                tmp_path / "masks",
                filters=export_filters(leave_out_unannotated=True),
            )
        )
    shapes = {
        p.stem: json.loads(p.read_text())["shapes"] for p in (tmp_path / "lm").rglob("*.json")
    }
    assert sorted(shapes) == ["im0", "im1", "im2"] and all(shapes.values())
    assert labelme.items == 3
    # masks: "annotated" means a mask (boxes are not what it writes)
    assert sorted(p.name for p in (tmp_path / "masks").rglob("images/*")) == ["im2.png"]
    assert masks.items == 1 and "4 item(s) without a mask left out" in str(masks)


def test_leaving_out_everything_is_refused_naming_the_filter(tmp_path):
    root = _project(tmp_path)
    with open_project(root) as project:
        with pytest.raises(UserFacingError) as caught:
            run_job(export_job(project, "coco", tmp_path / "out", leave_out_unlabelled=True))
    text = str(caught.value)
    assert "the project holds 5 item(s)" in text
    assert "leaving out the items without a class (--leave-out-unlabelled): 0 left" in text
    assert "use --leave-out-unannotated instead" in text
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_split_and_the_filter_that_leave_nothing_are_named(tmp_path):
    root = _project(tmp_path)
    with open_project(root) as project:
        project.set_split(project.ids(sort="name")[3:], "test")
        with pytest.raises(UserFacingError) as caught:
            run_job(
                export_job(
                    project,
                    "labelme",
                    tmp_path / "out",
                    filters=export_filters({"split": "test"}, leave_out_unannotated=True),
                )
            )
    text = str(caught.value)
    assert "split 'test' (--split): 2 left" in text
    assert "(--leave-out-unannotated): 0 left" in text and "that filter removed every" in text


def test_the_command_line_option(tmp_path, capsys):
    root = _project(tmp_path)
    args = ["export", "--project", str(root), "--leave-out-unannotated"]
    assert cli_main([*args, "--kind", "coco", "--out", str(tmp_path / "c")]) == 0
    assert "3 item(s)" in capsys.readouterr().out
    assert cli_main([*args, "--kind", "npz", "--out", str(tmp_path / "n")]) == 2
    err = capsys.readouterr().err
    assert "--leave-out-unannotated applies to the exports whose annotations are boxes" in err
    assert not (tmp_path / "n").exists()


def test_the_export_dialog_offers_the_filter_for_box_and_mask_kinds(qtbot, main_window, tmp_path):
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    root = _project(tmp_path)
    panel = main_window.panels["browser"]
    assert panel.open_project(root)
    out = tmp_path / "out"
    seen = {}

    def fill():
        dialog = QApplication.activeModalWidget()
        try:
            box = dialog.leave_out_unannotated
            for kind in ("imagefolder", "masks", "coco"):
                dialog.kind.setCurrentIndex(dialog.kind.findData(kind))
                seen[kind] = (box.text(), box.isEnabled())
            qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=box.rect().center())
            dialog.out.setText(str(out))
            dialog.accept()
        except Exception:
            dialog.reject()  # the test fails below instead of waiting on the dialog
            raise

    QTimer.singleShot(50, fill)
    panel.export_dialog()
    qtbot.waitUntil(lambda: getattr(panel, "last_export_note", None) is not None, timeout=20000)
    assert seen["coco"] == ("Leave out the 2 item(s) with no boxes and no mask", True)
    assert seen["masks"] == ("Leave out the 4 item(s) with no mask", True)
    assert seen["imagefolder"][1] is False
    text = panel.last_export_note.text()
    assert text.startswith("COCO JSON export to ") and ": 3 item(s)" in text
    assert (
        "left out (the export dialog's check box 'Leave out the … item(s) with no boxes and no "
        "mask')" in text
    )
