"""Set-up shared by the Dataset > Audit… GUI tests: a project of digits and the review window
opened on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def digits_project(
    tmp_path: Path, x: np.ndarray, y: np.ndarray | None, train: int | None = None
) -> tuple[Path, list]:
    """``x``/``y`` saved as ``tmp_path/digits.npz`` and imported into ``tmp_path/proj`` (``y``
    None: no label at all); with ``train``, the first ``train`` items are the train split and
    the rest the test split. (root, item ids)."""
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=x, **({} if y is None else {"y_train": y}))
    root = tmp_path / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [npz]))
        ids = project.ids()
        if train is not None:
            project.set_split(ids[:train], "train")
            project.set_split(ids[train:], "test")
    return root, ids


def open_audit(qtbot, window, root: Path):
    """Open ``root`` in the Browser and run the audit; its review window, on screen."""
    assert window.panels["browser"].open_project(root)
    audit = window.panels["audit"]
    audit.start()
    qtbot.waitUntil(lambda: audit.dialog is not None, timeout=60000)
    dialog = audit.dialog
    qtbot.waitExposed(dialog)
    return dialog
