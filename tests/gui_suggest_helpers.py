"""Set-up shared by the Browser's suggestion tests: a project of scikit-learn's digits (real
handwriting), some labelled by their true digit, opened with the classes 0-9 and its first
suggestions in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

try:
    from tests.gui_audit_helpers import digits_project
except ImportError:  # pragma: no cover
    from gui_audit_helpers import digits_project

from qbi_desktop.core.catalog import open_project


def labelling_project(tmp_path: Path, n: int, labelled: int = 0):
    """The first ``n`` digits as ``tmp_path/proj``, unlabelled but the first ``labelled`` (by
    their true digit). (root, item ids, the ``n`` true digits)."""
    d = load_digits()
    root, ids = digits_project(tmp_path, (d.images[:n] * 16).clip(0, 255).astype(np.uint8), None)
    if labelled:
        with open_project(root) as project:
            for i in range(labelled):
                project.set_label([ids[i]], str(d.target[i]))
    return root, ids, d.target[:n]


def open_with_suggestions(qtbot, window, root: Path, store_classes: bool = False):
    """``root`` opened in the Browser with the classes 0-9 typed (``store_classes``: and kept
    in the catalog, as when the box is left), once the first suggestions with every feature
    read have come. (Browser panel, its suggestions)."""
    panel = window.panels["browser"]
    assert panel.open_project(root)
    panel.classes_edit.setText(", ".join(str(c) for c in range(10)))
    if store_classes:
        panel._classes_edited()
    suggest = panel.suggestions
    qtbot.waitUntil(lambda: suggest.table is not None and not suggest.table.pending, timeout=30000)
    return panel, suggest
