"""The Browser's header is one row (the tab bar with a Filters button): with a project open, a
laptop screen (1366x768) shows at least six thumbnail rows; the filters, name search and class
list fold out under the button, which says how many filters are on."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QWidget

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job

SIZES = [(1366, 768), (1600, 1000)]


@pytest.fixture(scope="module")
def digits_project(tmp_path_factory):
    from sklearn.datasets import load_digits

    d = load_digits()
    tmp = tmp_path_factory.mktemp("compact")
    np.savez(tmp / "d.npz", x_train=(d.images[:60] * 16).clip(0, 255).astype(np.uint8))
    root = tmp / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "npz", [tmp / "d.npz"]))
        ids = project.ids()
        for i in range(20):
            project.set_label([ids[i]], str(d.target[i]))
    return root


def _window(qtbot, size):
    from qbi_desktop.gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(100)
    return window


def _rows_in_sight(window, panel) -> int:
    """Table rows whose whole height is on screen: inside the viewport, the dock and window."""
    table, model = panel.table, panel.model
    viewport = table.viewport()
    top_left = QWidget.mapTo(viewport, window, viewport.rect().topLeft())
    seen = window.rect().intersected(viewport.rect().translated(top_left))
    parent = viewport.parentWidget()
    while parent is not None and parent is not window:
        seen = seen.intersected(parent.rect().translated(QWidget.mapTo(parent, window, QPoint())))
        parent = parent.parentWidget()
    count = 0
    for row in range(model.rowCount()):
        rect = table.visualRect(model.index(row, 0))  # the thumbnail
        rect.moveTopLeft(QWidget.mapTo(viewport, window, rect.topLeft()))
        count += seen.contains(rect)
    return count


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_laptop_screen_shows_six_thumbnail_rows_under_a_one_row_header(
    qtbot, settings_dir, digits_project, size
):
    window = _window(qtbot, size)
    try:
        panel = window.panels["browser"]
        assert panel.open_project(digits_project)
        window.docks["browser"].raise_()
        qtbot.wait(200)
        assert _rows_in_sight(window, panel) >= 6
        # the thumbnails arrive (read and decoded on a worker) in the rows on screen
        qtbot.waitUntil(lambda: panel.model.thumbnail(panel.model.item_id(0)) is not None)
        assert not panel.filter_box.isVisible()
        assert panel.filters_button.isVisible() and panel.filters_button.text() == "Filters"
    finally:
        window.tasks.cancel_all()
        window.tasks.wait(5000)
        window.close()


def test_the_filters_fold_out_filter_and_say_how_many_are_on(qtbot, settings_dir, digits_project):
    window = _window(qtbot, SIZES[0])
    try:
        panel = window.panels["browser"]
        assert panel.open_project(digits_project)
        window.docks["browser"].raise_()
        qtbot.mouseClick(panel.filters_button, Qt.MouseButton.LeftButton)
        assert panel.filter_box.isVisible() and panel.label_filter.isVisible()
        assert panel.classes_edit.isVisible()
        assert "60 of 60 items" in panel.filters_button.toolTip()
        panel.label_filter.setCurrentIndex(panel.label_filter.findData(panel.classes()[0]))
        assert panel.filters_button.text() == "Filters (1)"
        shown = panel.model.rowCount()
        assert 0 < shown < 60
        assert all(panel.model.item(r)["label"] == panel.classes()[0] for r in range(shown))
        # folded back in: the filter stays on, and the button still says so
        qtbot.mouseClick(panel.filters_button, Qt.MouseButton.LeftButton)
        assert not panel.filter_box.isVisible()
        assert panel.model.rowCount() == shown
        assert panel.filters_button.text() == "Filters (1)"
    finally:
        window.tasks.cancel_all()
        window.tasks.wait(5000)
        window.close()
