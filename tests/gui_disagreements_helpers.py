"""Set-up shared by the Review Disagreements GUI tests: a project where Ada and Bob masked the
same item differently, the queue opened on it, and the item's mask read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def two_annotator_project(tmp_path: Path, ada: np.ndarray, bob: np.ndarray) -> tuple[Path, int]:
    """Import the one image under ``tmp_path/images`` into ``tmp_path/proj``; Bob then Ada save
    their masks of the class 'plate', so the item's mask is Ada's. (root, item id)."""
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [tmp_path / "images"]))
        project.set_metadata(mask_classes={"1": "plate"})
        (item,) = project.ids()
        project.set_mask(item, bob, "Bob")
        project.set_mask(item, ada, "Ada")
    return root, int(item)


def open_queue(qtbot, window, root: Path, timeout: int = 20000):
    """Cleo opens the project and the disagreements queue; the queue, active."""
    window.annotator.set_name("Cleo")
    assert window.panels["browser"].open_project(root)
    window.panels["disagreements"].action.trigger()
    qtbot.waitUntil(lambda: window.panels["disagreements"].dialog is not None, timeout=timeout)
    queue = window.panels["disagreements"].dialog
    queue.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is queue, timeout=3000)
    return queue


def item_mask(root: Path, item: int) -> tuple[np.ndarray, str]:
    """The item's mask on disk and who it is by."""
    with open_project(root) as project:
        return project.mask(item), project.get(item)["mask"]["annotator"]
