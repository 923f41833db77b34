"""The Browser's columns at a laptop's 1366x768 and at 1600x1000: the thumbnail, the label, the
name and the ID are in view without scrolling sideways (the ID was reached only by scrolling),
the other columns are as wide as what they show up to a maximum, and a column hidden from the
header's context menu stays hidden in the next session."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication

from qbi_desktop.core.catalog import open_project
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job
from qbi_desktop.gui.docks.browser_model import (
    COL_ID,
    COL_LABEL,
    COL_NAME,
    COL_THUMB,
    COLUMNS,
)

CLASSES = ("calibration", "reference", "plate")
COL_SOURCE = next(i for i, c in enumerate(COLUMNS) if c[0] == "Source")
COL_PROVENANCE = next(i for i, c in enumerate(COLUMNS) if c[0] == "Provenance")


@pytest.fixture(scope="module")
def long_names_project(tmp_path_factory):
    """Eighteen radiographs in three class folders, with a series' long names and a long
    source path."""
    tmp = tmp_path_factory.mktemp("columns")
    rng = np.random.default_rng(0)
    deep = tmp / "beamtime_2026_neutron_imaging_station" / "sample_holder_edge_series"
    for k, name in enumerate(CLASSES):
        folder = deep / name
        folder.mkdir(parents=True)
        for i in range(6):
            image = rng.normal(1000 + 3000 * k, 50, (24, 24)).clip(0, 65535).astype(np.uint16)
            tifffile.imwrite(folder / f"specimen_edge20mm_exposure_{k}{i:03d}.tif", image)
    root = tmp / "proj"
    with open_project(root, create=True) as project:
        run_job(import_job(project, "imagefolder", [deep]))
    return root


def _window(qtbot, size, settings=None):
    from qbi_desktop.gui.main_window import MainWindow

    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(100)
    return window


def _close(window):
    window.tasks.cancel_all()
    window.tasks.wait(5000)
    window.close()


def _in_view(table, column) -> bool:
    left = table.columnViewportPosition(column)
    return 0 <= left and left + table.columnWidth(column) <= table.viewport().width()


@pytest.mark.parametrize("size", [(1366, 768), (1600, 1000)])
def test_thumbnail_label_name_and_id_fit_the_docked_browser(
    qtbot, settings_dir, long_names_project, size
):
    window = _window(qtbot, size)
    try:
        panel = window.panels["browser"]
        assert panel.open_project(long_names_project)
        qtbot.waitUntil(lambda: panel.model.rowCount() == 18)
        QApplication.processEvents()
        qtbot.wait(50)
        table = panel.table
        assert table.horizontalScrollBar().value() == 0
        for column in (COL_THUMB, COL_LABEL, COL_NAME, COL_ID):
            assert _in_view(table, column), (size, column, table.viewport().width())
        metrics = table.fontMetrics()
        # the ID reads whole, the name has room to be read (elided in the middle)
        assert table.columnWidth(COL_ID) >= metrics.horizontalAdvance("18") + 8
        assert table.columnWidth(COL_NAME) >= 80
        # the long source path does not take a screen's width: it is cut at its maximum
        assert table.columnWidth(COL_SOURCE) <= 220
        # a short column is as wide as its title and its text, not more
        title = table.horizontalHeader().fontMetrics().horizontalAdvance("Provenance")
        assert title <= table.columnWidth(COL_PROVENANCE) <= 100
        # still scrolled to when chosen (a cell far right)
        far = panel.model.index(0, COL_SOURCE)
        table.setCurrentIndex(far)
        QApplication.processEvents()
        assert 0 <= table.columnViewportPosition(COL_SOURCE) < table.viewport().width()
    finally:
        _close(window)


def test_columns_hidden_from_the_header_menu_stay_hidden_next_session(
    qtbot, settings_dir, long_names_project
):
    from qbi_desktop.gui.settings import open_settings

    window = _window(qtbot, (1366, 768), open_settings())
    try:
        panel = window.panels["browser"]
        assert panel.open_project(long_names_project)
        header = panel.table.horizontalHeader()
        header.customContextMenuRequested.emit(QPoint(10, 5))  # a right click on the header
        menu = panel.columns.menu
        assert menu is not None and menu.isVisible()
        entries = {a.text(): a for a in menu.actions()}
        assert {"Thumbnail", "ID", "Name", "Label", "Source", "Suggested"} <= set(entries)
        assert all(a.isChecked() for a in entries.values())
        entries["Provenance"].trigger()  # unchecked: hidden
        assert header.isSectionHidden(COL_PROVENANCE)
        menu.close()
        header.customContextMenuRequested.emit(QPoint(10, 5))
        entries = {a.text(): a for a in panel.columns.menu.actions()}
        assert not entries["Provenance"].isChecked()
        entries["Label"].trigger()
        assert header.isSectionHidden(COL_LABEL)
        panel.columns.menu.close()
    finally:
        _close(window)

    again = _window(qtbot, (1366, 768), open_settings())
    try:
        panel = again.panels["browser"]
        assert panel.open_project(long_names_project)
        header = panel.table.horizontalHeader()
        assert header.isSectionHidden(COL_PROVENANCE) and header.isSectionHidden(COL_LABEL)
        assert not header.isSectionHidden(COL_NAME)
        # shown again from the menu: back for good
        header.customContextMenuRequested.emit(QPoint(10, 5))
        entries = {a.text(): a for a in panel.columns.menu.actions()}
        entries["Label"].trigger()
        assert not header.isSectionHidden(COL_LABEL)
        panel.columns.menu.close()
    finally:
        _close(again)
    third = _window(qtbot, (1366, 768), open_settings())
    try:
        header = third.panels["browser"].table.horizontalHeader()
        assert not header.isSectionHidden(COL_LABEL) and header.isSectionHidden(COL_PROVENANCE)
    finally:
        _close(third)
